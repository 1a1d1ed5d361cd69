/*
 * vireo-img: create, inspect, check and convert disk images, with
 * qemu-img's subcommands, options, output and exit codes.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"
#include "img.h"
#include "vireo-version.h"

void img_err(const char *fmt, ...)
{
	va_list ap;

	fputs("vireo-img: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

struct blk *img_open(const char *filename, const char *fmt, bool writable,
		     bool force_share, bool no_backing)
{
	struct blk_open_opts o = {
		.format = fmt, .read_only = !writable,
		.force_share = force_share, .no_backing = no_backing,
	};
	char err[BLK_ERR_LEN];
	struct blk *b;

	if (blk_open(&b, filename, &o, err, sizeof(err)) < 0) {
		img_err("%s", err);
		return NULL;
	}
	return b;
}

void img_size_str(uint64_t v, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB",
					    "PiB", "EiB" };
	int i = 0;

	while (i < 6 && v >= (1ULL << ((i + 1) * 10)))
		i++;
	snprintf(buf, len, "%0.3g %s", (double)v / (double)(1ULL << (i * 10)),
		 unit[i]);
}

int img_parse_size(const char *s, uint64_t *out)
{
	char *end;
	double mul = 1;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 0: break;
	case 'b': case 'B': break;
	case 'k': case 'K': mul = (double)KiB; break;
	case 'm': case 'M': mul = (double)MiB; break;
	case 'g': case 'G': mul = (double)GiB; break;
	case 't': case 'T': mul = (double)(1024 * GiB); break;
	case 'p': case 'P': mul = (double)(1024 * 1024 * GiB); break;
	default: return -EINVAL;
	}
	if (*end && end[1])
		return -EINVAL;
	if ((double)v * mul > 9.2e18)
		return -ERANGE;
	*out = (uint64_t)v * (uint64_t)mul;
	return 0;
}

static bool parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes")) {
		*out = true;
		return true;
	}
	if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no")) {
		*out = false;
		return true;
	}
	return false;
}

int img_parse_create_opts(const char *s, struct blk_create_opts *o,
			  const char **unused)
{
	char *dup = strdup(s), *save = NULL, *kv;
	int ret = 0;

	for (kv = strtok_r(dup, ",", &save); kv && !ret;
	     kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');
		uint64_t n;

		if (!v) {
			img_err("Invalid option '%s': expected key=value", kv);
			ret = -EINVAL;
			break;
		}
		*v++ = 0;
		if (!strcmp(kv, "cluster_size")) {
			if (img_parse_size(v, &n) < 0)
				ret = -EINVAL;
			o->cluster_size = n;
		} else if (!strcmp(kv, "compat")) {
			if (!strcmp(v, "0.10") || !strcmp(v, "v2"))
				o->compat = 2;
			else if (!strcmp(v, "1.1") || !strcmp(v, "v3"))
				o->compat = 3;
			else
				ret = -EINVAL;
		} else if (!strcmp(kv, "compression_type")) {
			if (!strcmp(v, "zlib"))
				o->compression_type = 0;
			else if (!strcmp(v, "zstd"))
				o->compression_type = 1;
			else
				ret = -EINVAL;
		} else if (!strcmp(kv, "backing_file")) {
			o->backing_file = strdup(v);
		} else if (!strcmp(kv, "backing_fmt")) {
			o->backing_fmt = strdup(v);
		} else if (!strcmp(kv, "preallocation")) {
			o->preallocation = strdup(v);
		} else if (!strcmp(kv, "lazy_refcounts")) {
			if (!parse_bool(v, &o->lazy_refcounts))
				ret = -EINVAL;
		} else if (!strcmp(kv, "extended_l2")) {
			if (!parse_bool(v, &o->extended_l2))
				ret = -EINVAL;
		} else if (!strcmp(kv, "refcount_bits")) {
			if (parse_uint(v, 1, 64, &n) < 0)
				ret = -EINVAL;
			o->refcount_bits = (unsigned)n;
		} else if (!strcmp(kv, "size")) {
			if (img_parse_size(v, &o->size) < 0)
				ret = -EINVAL;
		} else {
			img_err("Invalid parameter '%s'", kv);
			ret = -EINVAL;
			break;
		}
		if (ret)
			img_err("Invalid value '%s' for option '%s'", v, kv);
	}
	free(dup);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f,
"vireo-img version " VIREO_VERSION "\n"
"usage: vireo-img [standard options] command [command options]\n"
"Commands:\n"
"  create [-f fmt] [-o options] [-b backing_file [-F backing_fmt]] filename [size]\n"
"  info [-f fmt] [--output=human|json] [--backing-chain] [-U] filename\n"
"  check [-f fmt] [--output=human|json] [-r leaks|all] [-U] filename\n"
"  convert [-U] [-f fmt] [-O output_fmt] [-c] [-p] [-W] [-m num] [-S size] [-n] [-o options] filename [filename2 [...]] output_filename\n"
"  map [-f fmt] [--output=human|json] [-U] filename\n"
"  resize [-f fmt] [--shrink] filename [+ | -]size\n"
"  snapshot [-l | -a snapshot | -c snapshot | -d snapshot] [-U] filename\n"
"  compare [-f fmt] [-F fmt] [-s] [-q] [-U] filename1 filename2\n"
"  rebase [-f fmt] [-u] -b backing_file [-F backing_fmt] filename\n"
"  commit [-f fmt] [-d] [-q] filename\n"
"  measure [--output=human|json] [-O output_fmt] [-o options] [--size N | [-f fmt] filename]\n"
"  amend [-f fmt] [-p] [-q] [--force] -o options filename\n");
}

static const struct { const char *name; int (*fn)(int, char **); } cmds[] = {
	{ "create", cmd_create },
	{ "info", cmd_info },
	{ "check", cmd_check },
	{ "convert", cmd_convert },
	{ "map", cmd_map },
	{ "resize", cmd_resize },
	{ "snapshot", cmd_snapshot },
	{ "compare", cmd_compare },
	{ "rebase", cmd_rebase },
	{ "commit", cmd_commit },
	{ "measure", cmd_measure },
	{ "amend", cmd_amend },
};

int main(int argc, char **argv)
{
	log_set_program("vireo-img");
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("vireo-img version %s\n", VIREO_VERSION);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	img_err("Command not found: %s", argv[1]);
	return 1;
}
