/* vireo-img create and resize. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "img.h"

static void print_formatting(const char *file, const char *fmt,
			     const struct blk_create_opts *o)
{
	printf("Formatting '%s', fmt=%s", file, fmt);
	if (!strcmp(fmt, "qcow2")) {
		printf(" cluster_size=%llu extended_l2=%s compression_type=%s",
		       (unsigned long long)(o->cluster_size ? o->cluster_size :
					    65536),
		       o->extended_l2 ? "on" : "off",
		       o->compression_type ? "zstd" : "zlib");
		printf(" size=%llu", (unsigned long long)o->size);
		if (o->backing_file)
			printf(" backing_file=%s", o->backing_file);
		if (o->backing_fmt)
			printf(" backing_fmt=%s", o->backing_fmt);
		if (o->preallocation)
			printf(" preallocation=%s", o->preallocation);
		printf(" lazy_refcounts=%s refcount_bits=%u",
		       o->lazy_refcounts ? "on" : "off",
		       o->refcount_bits ? o->refcount_bits : 16);
	} else {
		printf(" size=%llu", (unsigned long long)o->size);
		if (o->preallocation)
			printf(" preallocation=%s", o->preallocation);
	}
	printf("\n");
}

int cmd_create(int argc, char **argv)
{
	struct blk_create_opts o = { 0 };
	const char *fmt = "raw", *file;
	char err[BLK_ERR_LEN];
	bool quiet = false, unsafe = false;
	int c;

	optind = 1;
	while ((c = getopt(argc, argv, "f:o:b:F:quh")) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'o':
			if (!strcmp(optarg, "help") || !strcmp(optarg, "?")) {
				printf("Supported options:\n  backing_file\n"
				       "  backing_fmt\n  cluster_size\n  compat\n"
				       "  compression_type\n  extended_l2\n"
				       "  lazy_refcounts\n  preallocation\n"
				       "  refcount_bits\n  size\n");
				return 0;
			}
			if (img_parse_create_opts(optarg, &o, NULL) < 0)
				return 1;
			break;
		case 'b': o.backing_file = optarg; break;
		case 'F': o.backing_fmt = optarg; break;
		case 'q': quiet = true; break;
		case 'u': unsafe = true; break;
		default: return 1;
		}
	}
	if (optind >= argc) {
		img_err("Expecting image file name");
		return 1;
	}
	file = argv[optind++];
	if (optind < argc) {
		if (img_parse_size(argv[optind], &o.size) < 0) {
			img_err("Invalid image size specified. You may use k, M, "
				"G, T, P or E suffixes for");
			img_err("kilobytes, megabytes, gigabytes, terabytes, "
				"petabytes and exabytes.");
			return 1;
		}
		optind++;
	}
	if (optind != argc) {
		img_err("Invalid number of arguments");
		return 1;
	}
	if (o.backing_file && !unsafe) {
		/* The backing file must open; it also gives the default size. */
		char *path = blk_resolve_backing(file, o.backing_file);
		struct blk *bk = path ? img_open(path, o.backing_fmt, false,
						 true, false) : NULL;

		free(path);
		if (!bk)
			return 1;
		if (!o.size && optind == argc)
			o.size = bk->size;
		if (!o.backing_fmt)
			o.backing_fmt = strdup(bk->drv->name);
		blk_close(bk);
	}
	if (!quiet)
		print_formatting(file, fmt, &o);
	fflush(stdout);
	if (blk_create(fmt, file, &o, err, sizeof(err)) < 0) {
		img_err("%s: %s", file, err);
		return 1;
	}
	return 0;
}

enum { OPT_SHRINK = 256, OPT_PREALLOC };

int cmd_resize(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "shrink", no_argument, NULL, OPT_SHRINK },
		{ "preallocation", required_argument, NULL, OPT_PREALLOC },
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt = NULL, *file, *sz;
	bool shrink = false, quiet = false;
	uint64_t n, size;
	struct blk *b;
	int c, ret;

	optind = 1;
	/* "-1G" must stay a size, so stop at the first non-option. */
	while ((c = getopt_long(argc, argv, "+f:qh", lopts, NULL)) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'q': quiet = true; break;
		case OPT_SHRINK: shrink = true; break;
		case OPT_PREALLOC: break;
		default: return 1;
		}
	}
	if (argc - optind != 2) {
		img_err("Expecting image file name and size");
		return 1;
	}
	file = argv[optind];
	sz = argv[optind + 1];
	if (img_parse_size(sz + (*sz == '+' || *sz == '-'), &n) < 0) {
		img_err("Invalid size specified.");
		return 1;
	}
	b = img_open(file, fmt, true, false, true);
	if (!b)
		return 1;
	if (*sz == '+')
		size = b->size + n;
	else if (*sz == '-')
		size = n > b->size ? 0 : b->size - n;
	else
		size = n;
	if (size < b->size && !shrink) {
		img_err("Use the --shrink option to perform a shrink operation.");
		blk_close(b);
		return 1;
	}
	ret = blk_truncate(b, size, shrink);
	if (ret == 0)
		ret = blk_flush(b);
	if (ret < 0) {
		img_err("Error resizing image: %s", blk_errmsg(b));
		blk_close(b);
		return 1;
	}
	blk_close(b);
	if (!quiet)
		printf("Image resized.\n");
	return 0;
}
