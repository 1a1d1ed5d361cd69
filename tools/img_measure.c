/*
 * vireo-img measure: how large an image of a given format would be, for a
 * virtual size (--size) or for the contents of an existing image. The
 * figures are qemu-img's to the byte, so a management tool may size a
 * volume with either tool: "fully allocated" is every data cluster plus
 * the metadata a preallocated qcow2 needs (header, L2 and L1 tables, the
 * refcount blocks and table covering all of them); "required" keeps only
 * the data clusters the input really has.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "lib/util.h"
#include "img.h"

#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))

enum { OPT_OUTPUT = 256, OPT_SIZE, OPT_OBJECT, OPT_IMAGE_OPTS };

struct measure {
	uint64_t required, fully_allocated;
	bool has_bitmaps;
};

/*
 * Size of the refcount blocks and table that count `clusters` clusters
 * and themselves: iterate to the fixed point, as qemu does, because new
 * refcount blocks need counting too.
 */
static uint64_t refcount_metadata_size(uint64_t clusters, uint64_t cs,
				       unsigned refcount_order)
{
	uint64_t per_table_cluster = cs / 8;
	uint64_t per_block = cs * 8 / (1ULL << refcount_order);
	uint64_t table = 0, blocks = 0, n = 0, last;

	do {
		last = n;
		blocks = DIV_ROUND_UP(clusters + table + blocks, per_block);
		table = DIV_ROUND_UP(blocks, per_table_cluster);
		n = clusters + blocks + table;
	} while (n != last);
	return (blocks + table) * cs;
}

/* A fully preallocated qcow2 of virtual size `size`, metadata included. */
static uint64_t qcow2_prealloc_size(uint64_t size, uint64_t cs,
				    unsigned refcount_order, bool ext_l2)
{
	uint64_t l2e_size = ext_l2 ? 16 : 8;
	uint64_t aligned = ALIGN_UP(size, cs);
	uint64_t meta = cs;			/* the header cluster */
	uint64_t nl2e = ALIGN_UP(aligned / cs, cs / l2e_size);
	uint64_t nl1e = ALIGN_UP(nl2e * l2e_size / cs, cs / 8);

	meta += nl2e * l2e_size + nl1e * 8;
	meta += refcount_metadata_size((meta + aligned) / cs, cs,
				       refcount_order);
	return meta + aligned;
}

/*
 * qemu looks through a qcow2 data cluster to its host file only when the
 * image looks metadata-preallocated: more clusters have a reference than
 * the file has blocks allocated (by a tenth, or two clusters).
 */
static int metadata_preallocated(struct blk *b, bool *out)
{
	struct qcow2 *q = qcow2_of(b);
	int64_t alloc = blk_file_allocated(b->fd);
	off_t end = lseek(b->fd, 0, SEEK_END);
	uint64_t real, threshold, count = 0, clusters;

	*out = false;
	if (alloc < 0 || end < 0)
		return alloc < 0 ? (int)alloc : -errno;
	real = (uint64_t)alloc / q->cluster_size;
	threshold = MAX(real * 10 / 9, real + 2);
	clusters = DIV_ROUND_UP((uint64_t)end, q->cluster_size);
	for (uint64_t i = 0; i < clusters && count < threshold; i++) {
		uint64_t rc;
		int ret = qcow2_get_refcount(q, i, &rc);

		if (ret < 0)
			return ret;
		count += rc != 0;
	}
	*out = count >= threshold;
	return 0;
}

/* Whether [host, host + *pnum) of the file is a hole; shortens *pnum. */
static bool host_is_hole(int fd, uint64_t host, uint64_t *pnum)
{
	off_t data = lseek(fd, (off_t)host, SEEK_DATA), hole;

	if (data < 0)
		return errno == ENXIO;	/* past the last data: reads zero */
	if ((uint64_t)data > host) {
		*pnum = MIN(*pnum, (uint64_t)data - host);
		return true;
	}
	hole = lseek(fd, (off_t)host, SEEK_HOLE);
	if (hole > (off_t)host)
		*pnum = MIN(*pnum, (uint64_t)hole - host);
	return false;
}

/*
 * Block status through the backing chain, as qemu's block_status_above:
 * returns true when [off, off + *pnum) reads as zeroes, false when it
 * holds data in some layer.
 */
static int chain_is_zero(struct blk *top, uint64_t off, uint64_t len,
			 uint64_t *pnum, bool look_through, bool *zero)
{
	for (struct blk *b = top; b; b = b->backing) {
		uint64_t host;
		int st;

		if (off >= b->size) {	/* past a shorter backing file */
			*pnum = len;
			*zero = true;
			return 0;
		}
		st = blk_block_status(b, off, MIN(len, b->size - off), pnum,
				      &host);
		if (st < 0) {
			img_err("Unable to get block status: %s", blk_errmsg(b));
			return st;
		}
		len = *pnum;
		if (st & BLK_STATUS_ZERO) {
			*zero = true;
			return 0;
		}
		if (st & BLK_STATUS_DATA) {
			*zero = b == top && look_through &&
				(st & BLK_STATUS_OFFSET_VALID) &&
				!(st & BLK_STATUS_COMPRESSED) &&
				host_is_hole(b->fd, host, pnum);
			return 0;
		}
	}
	*pnum = len;
	*zero = true;
	return 0;
}

/* Bytes of output clusters that hold some data of the input. */
static int count_data(struct blk *in, uint64_t cs, uint64_t *out)
{
	bool look_through = false;
	uint64_t pnum;
	int ret;

	*out = 0;
	if (!strcmp(in->drv->name, "qcow2")) {
		ret = metadata_preallocated(in, &look_through);
		if (ret < 0) {
			img_err("Unable to get block status: %s", strerror(-ret));
			return ret;
		}
	}
	for (uint64_t off = 0; off < in->size; off += pnum) {
		bool zero;

		ret = chain_is_zero(in, off, in->size - off, &pnum,
				    look_through, &zero);
		if (ret < 0)
			return ret;
		if (zero)
			continue;
		/* Count whole clusters and move on to the next one. */
		pnum = ALIGN_UP(off + pnum, cs) - off;
		*out += off % cs + pnum;
	}
	return 0;
}

static int measure_qcow2(const struct blk_create_opts *o, struct blk *in,
			 struct measure *m)
{
	uint64_t cs = o->cluster_size ? o->cluster_size : 64 * KiB;
	unsigned version = o->compat ? o->compat : 3;
	unsigned rbits = o->refcount_bits ? o->refcount_bits : 16;
	uint64_t l2e_size = o->extended_l2 ? 16 : 8, vsize, data = 0;
	const char *pre = o->preallocation ? o->preallocation : "off";

	if (cs < 512 || cs > 2 * MiB || (cs & (cs - 1))) {
		img_err("Cluster size must be a power of two between 512 and "
			"2048k");
		return -EINVAL;
	}
	if (o->extended_l2 && cs < 16 * KiB) {
		img_err("Extended L2 entries are only supported with cluster "
			"sizes of at least 16384 bytes");
		return -EINVAL;
	}
	if (rbits & (rbits - 1)) {
		img_err("Refcount width must be a power of two and may not "
			"exceed 64 bits");
		return -EINVAL;
	}
	if (version == 2 && rbits != 16) {
		img_err("Different refcount widths than 16 bits require "
			"compatibility level 1.1 or above (use compat=1.1 or "
			"greater)");
		return -EINVAL;
	}
	if (strcmp(pre, "off") && strcmp(pre, "metadata") &&
	    strcmp(pre, "falloc") && strcmp(pre, "full")) {
		img_err("Invalid parameter '%s'", pre);
		return -EINVAL;
	}
	/* qemu checks the L1 limit against -o size / --size, not the input. */
	vsize = ALIGN_UP(o->size, cs);
	if (DIV_ROUND_UP(vsize / cs, cs / l2e_size) * l2e_size >
	    QCOW2_MAX_L1_BYTES) {
		img_err("The image size is too large (try using a larger "
			"cluster size)");
		return -EINVAL;
	}
	if (in) {
		vsize = ALIGN_UP(ALIGN_UP(in->size, 512), cs);
		if (o->backing_file) {
			/* The new backing file may share nothing: all data. */
			data = vsize;
		} else {
			int ret = count_data(in, cs, &data);

			if (ret < 0)
				return ret;
		}
	}
	if (!strcmp(pre, "full") || !strcmp(pre, "falloc"))
		data = vsize;
	m->fully_allocated = qcow2_prealloc_size(vsize, cs,
						 (unsigned)__builtin_ctz(rbits),
						 o->extended_l2);
	m->required = m->fully_allocated - vsize + data;
	m->has_bitmaps = version >= 3 && in && !strcmp(in->drv->name, "qcow2") &&
			 qcow2_of(in)->version >= 3;
	return 0;
}

static int measure_raw(const struct blk_create_opts *o, struct blk *in,
		       struct measure *m)
{
	if (o->cluster_size || o->compat || o->refcount_bits ||
	    o->backing_file || o->backing_fmt || o->lazy_refcounts ||
	    o->extended_l2) {
		img_err("Invalid options for file format 'raw'");
		return -EINVAL;
	}
	/* Raw stores every byte of the virtual size, in whole sectors. */
	m->required = ALIGN_UP(in ? in->size : o->size, 512);
	m->fully_allocated = m->required;
	return 0;
}

static void print_measure(const struct measure *m, bool json)
{
	if (json) {
		json_t *j = json_object();
		char *s;

		/* qemu's key order. */
		if (m->has_bitmaps)
			json_object_set_new(j, "bitmaps", json_integer(0));
		json_object_set_new(j, "required",
				    json_integer((json_int_t)m->required));
		json_object_set_new(j, "fully-allocated",
				    json_integer((json_int_t)m->fully_allocated));
		s = json_dumps(j, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(j);
		return;
	}
	printf("required size: %llu\n", (unsigned long long)m->required);
	printf("fully allocated size: %llu\n",
	       (unsigned long long)m->fully_allocated);
	if (m->has_bitmaps)
		printf("bitmaps size: 0\n");
}

static const struct option measure_opts[] = {
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "object", required_argument, NULL, OPT_OBJECT },
	{ "image-opts", no_argument, NULL, OPT_IMAGE_OPTS },
	{ "force-share", no_argument, NULL, 'U' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_measure(int argc, char **argv)
{
	const char *fmt = NULL, *out_fmt = "raw", *opts = NULL, *file = NULL;
	struct blk_create_opts o = { 0 };
	struct measure m = { 0 };
	bool json = false, force_share = false, have_size = false;
	uint64_t size = 0;
	struct blk *in = NULL;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hf:O:o:l:U", measure_opts,
				NULL)) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'O': out_fmt = optarg; break;
		case 'o': opts = optarg; break;
		case 'U': force_share = true; break;
		case OPT_OUTPUT:
			if (!strcmp(optarg, "json"))
				json = true;
			else if (strcmp(optarg, "human")) {
				img_err("--output must be used with human or "
					"json as argument.");
				return 1;
			}
			break;
		case OPT_SIZE:
			if (img_parse_size(optarg, &size) < 0) {
				img_err("Invalid image size specified. You may "
					"use k, M, G, T, P or E suffixes for");
				img_err("kilobytes, megabytes, gigabytes, "
					"terabytes, petabytes and exabytes.");
				return 1;
			}
			have_size = true;
			break;
		case 'l':
			img_err("measure -l (snapshots) is not supported");
			return 1;
		case OPT_OBJECT:
		case OPT_IMAGE_OPTS:
			img_err("--object and --image-opts are not supported");
			return 1;
		default:
			return 1;
		}
	}
	if (optind < argc)
		file = argv[optind++];
	if (optind < argc) {
		img_err("Expecting at most one image file name");
		return 1;
	}
	if (file && have_size) {
		img_err("--size N cannot be used together with a filename.");
		return 1;
	}
	if (!file && !have_size) {
		img_err("Either --size N or one filename must be specified.");
		return 1;
	}
	if (strcmp(out_fmt, "raw") && strcmp(out_fmt, "qcow2")) {
		img_err("Block driver '%s' does not support size measurement",
			out_fmt);
		return 1;
	}
	if (opts && img_parse_create_opts(opts, &o, NULL) < 0) {
		img_err("Invalid options for file format '%s'", out_fmt);
		return 1;
	}
	if (have_size)
		o.size = size;
	if (file) {
		in = img_open(file, fmt, false, force_share, false);
		if (!in)
			return 1;
	}
	ret = !strcmp(out_fmt, "qcow2") ? measure_qcow2(&o, in, &m)
					: measure_raw(&o, in, &m);
	if (in)
		blk_close(in);
	free((char *)o.backing_file);
	free((char *)o.backing_fmt);
	free((char *)o.preallocation);
	if (ret < 0)
		return 1;
	print_measure(&m, json);
	return 0;
}
