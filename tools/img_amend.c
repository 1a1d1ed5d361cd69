/*
 * vireo-img amend: change options of a qcow2 image in place, with
 * qemu-img's option names, refusals and messages. Options that only
 * image creation takes are named as such, as qemu-img does.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2.h"
#include "lib/util.h"
#include "img.h"

static const char *const create_only[] = {
	"cluster_size", "preallocation", "extended_l2", "compression_type",
	"encryption", "encrypt.format", "data_file", "data_file_raw",
	"nocow", "extent_size_hint",
};

static int parse_bool_opt(const char *k, const char *v, int *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes"))
		*out = 1;
	else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no"))
		*out = 0;
	else {
		img_err("Parameter '%s' expects 'on' or 'off'", k);
		return -EINVAL;
	}
	return 0;
}

/* Parse -o for amend; strings in o point into `buf` (modified). */
static int parse_amend_opts(char *buf, struct blk_amend_opts *o)
{
	char *save = NULL;

	for (char *kv = strtok_r(buf, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');
		uint64_t n;

		if (v)
			*v++ = 0;
		for (size_t i = 0; i < ARRAY_SIZE(create_only); i++) {
			if (!strcmp(kv, create_only[i])) {
				img_err("Invalid parameter '%s'", kv);
				fprintf(stderr, "This option is only supported "
					"for image creation\n");
				return -EINVAL;
			}
		}
		if (!strcmp(kv, "compat") && v) {
			if (!strcmp(v, "0.10") || !strcmp(v, "v2"))
				o->version = 2;
			else if (!strcmp(v, "1.1") || !strcmp(v, "v3"))
				o->version = 3;
			else {
				img_err("Unknown compatibility level %s", v);
				return -EINVAL;
			}
		} else if (!strcmp(kv, "lazy_refcounts")) {
			if (parse_bool_opt(kv, v ? v : "on", &o->lazy_refcounts) < 0)
				return -EINVAL;
		} else if (!strcmp(kv, "refcount_bits") && v) {
			if (parse_uint(v, 0, UINT32_MAX, &n) < 0 || !n ||
			    n > 64 || (n & (n - 1))) {
				img_err("Refcount width must be a power of two "
					"and may not exceed 64 bits");
				return -EINVAL;
			}
			o->refcount_bits = (unsigned)n;
		} else if (!strcmp(kv, "size") && v) {
			if (img_parse_size(v, &o->size) < 0) {
				img_err("Parameter 'size' expects a non-negative "
					"number below 2^64");
				return -EINVAL;
			}
		} else if (!strcmp(kv, "backing_file") && v) {
			o->backing_file = v;
		} else if (!strcmp(kv, "backing_fmt") && v) {
			o->backing_fmt = v;
		} else {
			img_err("Invalid parameter '%s'", kv);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Open read-write; where that fails for an image we only read (extended
 * L2 entries), say what qemu-img says when the amend could not work anyway.
 */
static struct blk *open_for_amend(const char *file, const char *fmt,
				  const char *opts)
{
	struct blk_open_opts oo = { .format = fmt };
	char err[BLK_ERR_LEN], err2[BLK_ERR_LEN];
	struct blk *b;

	if (blk_open(&b, file, &oo, err, sizeof(err)) == 0)
		return b;
	oo.read_only = true;
	if (blk_open(&b, file, &oo, err2, sizeof(err2)) == 0) {
		struct blk_amend_opts o = { .lazy_refcounts = -1 };
		char *dup = strdup(opts);

		if (dup && !strcmp(b->drv->name, "qcow2") &&
		    qcow2_of(b)->ext_l2 && parse_amend_opts(dup, &o) == 0 &&
		    o.version == 2)
			snprintf(err, sizeof(err), "Cannot downgrade an image "
				 "with incompatible features 0x%llx set",
				 (unsigned long long)(qcow2_of(b)->incompat &
						      ~QCOW2_INCOMPAT_COMPRESSION));
		free(dup);
		blk_close(b);
	}
	img_err("%s", err);
	return NULL;
}

static const struct option amend_long[] = {
	{ "force", no_argument, NULL, 256 },
	{ "object", required_argument, NULL, 257 },
	{ "image-opts", no_argument, NULL, 258 },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_amend(int argc, char **argv)
{
	struct blk_amend_opts o = { .lazy_refcounts = -1 };
	const char *fmt = NULL;
	char *opts = NULL;
	bool quiet = false, progress = false;
	struct blk *b;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:f:t:pq", amend_long,
				NULL)) != -1) {
		switch (c) {
		case 'o':
			/* Like qemu-img, repeated -o options add up. */
			if (opts) {
				char *both = NULL;

				if (asprintf(&both, "%s,%s", opts, optarg) < 0)
					return 1;
				free(opts);
				opts = both;
			} else {
				opts = strdup(optarg);
			}
			break;
		case 'f': fmt = optarg; break;
		case 't': break;	/* cache mode: we always write through */
		case 'p': progress = true; break;
		case 'q': quiet = true; break;
		case 256: break;	/* --force: only encryption needs it */
		case 257: case 258:
			img_err("--object and --image-opts are not supported");
			free(opts);
			return 1;
		default:
			free(opts);
			return 1;
		}
	}
	if (!opts) {
		img_err("Must specify options (-o)");
		fprintf(stderr, "Try 'vireo-img --help' for more information\n");
		return 1;
	}
	if (optind != argc - 1) {
		img_err("Expecting one image file name");
		free(opts);
		return 1;
	}
	b = open_for_amend(argv[optind], fmt, opts);
	if (!b) {
		free(opts);
		return 1;
	}
	if (strcmp(b->drv->name, "qcow2")) {
		img_err("Format driver '%s' does not support option amendment",
			b->drv->name);
		ret = -ENOTSUP;
	} else {
		ret = parse_amend_opts(opts, &o);
	}
	if (progress && !quiet)
		printf("    (0.00/100%%)\r");
	if (ret == 0) {
		ret = blk_amend(b, &o);
		if (ret < 0)
			img_err("%s", blk_errmsg(b));
	}
	if (progress && !quiet && ret == 0)
		printf("    (100.00/100%%)\n");
	if (blk_flush(b) < 0 && ret == 0) {
		img_err("%s", blk_errmsg(b));
		ret = -EIO;
	}
	blk_close(b);
	free(opts);
	return ret < 0 ? 1 : 0;
}
