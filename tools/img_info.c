/*
 * vireo-img info, check and map: read-only views of an image, printed as
 * qemu-img prints them (human or --output=json with the same keys).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block/qcow2.h"
#include "lib/util.h"
#include "img.h"

enum { OPT_OUTPUT = 256, OPT_CHAIN, OPT_FORCE_SHARE };

static const struct option view_opts[] = {
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "backing-chain", no_argument, NULL, OPT_CHAIN },
	{ "force-share", no_argument, NULL, 'U' },
	{ "format", required_argument, NULL, 'f' },
	{ "repair", required_argument, NULL, 'r' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct view_args {
	const char *fmt, *file;
	bool json, chain, force_share;
	int repair;
};

static int parse_view(int argc, char **argv, struct view_args *a, bool check)
{
	int c;

	memset(a, 0, sizeof(*a));
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:hr:qUT:", view_opts, NULL)) != -1) {
		switch (c) {
		case 'f': a->fmt = optarg; break;
		case 'U': a->force_share = true; break;
		case 'q': case 'T': break;
		case OPT_CHAIN: a->chain = true; break;
		case OPT_OUTPUT:
			if (!strcmp(optarg, "json"))
				a->json = true;
			else if (strcmp(optarg, "human")) {
				img_err("--output must be used with human or json "
					"as argument.");
				return -1;
			}
			break;
		case 'r':
			if (!check)
				return -1;
			if (!strcmp(optarg, "leaks"))
				a->repair = BLK_FIX_LEAKS;
			else if (!strcmp(optarg, "all"))
				a->repair = BLK_FIX_LEAKS | BLK_FIX_ERRORS;
			else {
				img_err("Unknown option value for -r (expecting "
					"'leaks' or 'all'): %s", optarg);
				return -1;
			}
			break;
		default:
			return -1;
		}
	}
	if (optind != argc - 1) {
		img_err("Expecting one image file name");
		return -1;
	}
	a->file = argv[optind];
	return 0;
}

static void dump_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(4) | JSON_PRESERVE_ORDER);

	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(j);
}

static json_t *info_json(struct blk *b)
{
	json_t *j = json_object();
	struct qcow2 *q = !strcmp(b->drv->name, "qcow2") ? b->priv : NULL;
	int64_t actual = blk_file_allocated(b->fd);

	if (b->backing_name && b->backing_fmt)
		json_object_set_new(j, "backing-filename-format",
				    json_string(b->backing_fmt));
	json_object_set_new(j, "virtual-size", json_integer((json_int_t)b->size));
	json_object_set_new(j, "filename", json_string(b->filename));
	if (q)
		json_object_set_new(j, "cluster-size",
				    json_integer((json_int_t)q->cluster_size));
	json_object_set_new(j, "format", json_string(b->drv->name));
	json_object_set_new(j, "actual-size", json_integer(actual));
	if (q) {
		json_t *fs = json_object(), *d = json_object();

		json_object_set_new(d, "compat",
				    json_string(q->version == 2 ? "0.10" : "1.1"));
		json_object_set_new(d, "compression-type",
				    json_string(q->compression_type ? "zstd" : "zlib"));
		if (q->version == 3)
			json_object_set_new(d, "lazy-refcounts", json_boolean(
				q->compat & QCOW2_COMPAT_LAZY_REFCOUNTS));
		json_object_set_new(d, "refcount-bits",
				    json_integer(q->refcount_bits));
		if (q->version == 3) {
			json_object_set_new(d, "corrupt", json_boolean(
				q->incompat & QCOW2_INCOMPAT_CORRUPT));
			json_object_set_new(d, "extended-l2",
					    json_boolean(q->ext_l2));
		}
		json_object_set_new(fs, "type", json_string("qcow2"));
		json_object_set_new(fs, "data", d);
		json_object_set_new(j, "format-specific", fs);
	}
	if (b->backing_name) {
		char *full = blk_resolve_backing(b->filename, b->backing_name);

		json_object_set_new(j, "full-backing-filename",
				    json_string(full ? full : b->backing_name));
		free(full);
		json_object_set_new(j, "backing-filename",
				    json_string(b->backing_name));
	}
	json_object_set_new(j, "dirty-flag", json_boolean(
		q && (q->incompat & QCOW2_INCOMPAT_DIRTY)));
	return j;
}

static void info_human(struct blk *b)
{
	struct qcow2 *q = !strcmp(b->drv->name, "qcow2") ? b->priv : NULL;
	char vs[32], ds[32];

	img_size_str(b->size, vs, sizeof(vs));
	img_size_str((uint64_t)MAX(blk_file_allocated(b->fd), 0), ds, sizeof(ds));
	printf("image: %s\nfile format: %s\n", b->filename, b->drv->name);
	printf("virtual size: %s (%llu bytes)\ndisk size: %s\n", vs,
	       (unsigned long long)b->size, ds);
	if (q)
		printf("cluster_size: %llu\n", (unsigned long long)q->cluster_size);
	if (b->backing_name) {
		char *full = blk_resolve_backing(b->filename, b->backing_name);

		if (full && strcmp(full, b->backing_name))
			printf("backing file: %s (actual path: %s)\n",
			       b->backing_name, full);
		else
			printf("backing file: %s\n", b->backing_name);
		free(full);
		if (b->backing_fmt)
			printf("backing file format: %s\n", b->backing_fmt);
	}
	if (q && q->nb_snapshots) {
		printf("Snapshot list:\n%-10s%-17s%8s%20s%13s%11s\n", "ID",
		       "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
		for (uint32_t i = 0; i < q->nb_snapshots; i++) {
			struct qcow2_snapshot *s = &q->snaps[i];
			char date[32], vm[32];
			time_t t = s->date_sec;
			struct tm tm;
			uint64_t secs = s->vm_clock_nsec / 1000000000ULL;

			localtime_r(&t, &tm);
			strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
			img_size_str(s->vm_state_size, vm, sizeof(vm));
			printf("%-9s %-16s %7s %19s %04llu:%02llu:%02llu.%03llu %10s\n",
			       s->id, s->name, s->vm_state_size ? vm : "0 B",
			       date, (unsigned long long)(secs / 3600),
			       (unsigned long long)(secs / 60 % 60),
			       (unsigned long long)(secs % 60),
			       (unsigned long long)(s->vm_clock_nsec / 1000000 % 1000),
			       "");
		}
	}
	if (q) {
		printf("Format specific information:\n");
		printf("    compat: %s\n", q->version == 2 ? "0.10" : "1.1");
		printf("    compression type: %s\n",
		       q->compression_type ? "zstd" : "zlib");
		if (q->version == 3)
			printf("    lazy refcounts: %s\n",
			       q->compat & QCOW2_COMPAT_LAZY_REFCOUNTS ?
			       "true" : "false");
		printf("    refcount bits: %u\n", q->refcount_bits);
		if (q->version == 3) {
			printf("    corrupt: %s\n", q->incompat &
			       QCOW2_INCOMPAT_CORRUPT ? "true" : "false");
			printf("    extended l2: %s\n", q->ext_l2 ? "true" : "false");
		}
	}
}

int cmd_info(int argc, char **argv)
{
	struct view_args a;
	struct blk *b, *cur;
	json_t *arr = NULL;

	if (parse_view(argc, argv, &a, false) < 0)
		return 1;
	b = img_open(a.file, a.fmt, false, a.force_share, !a.chain);
	if (!b)
		return 1;
	if (a.chain && a.json)
		arr = json_array();
	for (cur = b; cur; cur = a.chain ? cur->backing : NULL) {
		if (arr)
			json_array_append_new(arr, info_json(cur));
		else if (a.json)
			dump_json(info_json(cur));
		else {
			if (cur != b)
				printf("\n");
			info_human(cur);
		}
	}
	if (arr)
		dump_json(arr);
	blk_close(b);
	return 0;
}

static void report_stderr(void *opaque, const char *msg)
{
	fprintf(stderr, "%s\n", msg);
}

static void check_human(const struct blk_check_result *r)
{
	if (!r->corruptions && !r->leaks && !r->check_errors)
		printf("No errors were found on the image.\n");
	if (r->corruptions)
		printf("\n%llu errors were found on the image.\nData may be "
		       "corrupted, or further writes to the image may corrupt "
		       "it.\n", (unsigned long long)r->corruptions);
	if (r->leaks)
		printf("\n%llu leaked clusters were found on the image.\nThis "
		       "means waste of disk space, but no harm to data.\n",
		       (unsigned long long)r->leaks);
	if (r->check_errors)
		printf("\n%llu internal errors have occurred during the check.\n",
		       (unsigned long long)r->check_errors);
	if (r->total_clusters && r->allocated_clusters)
		printf("%llu/%llu = %.2f%% allocated, %.2f%% fragmented, %.2f%% "
		       "compressed clusters\n",
		       (unsigned long long)r->allocated_clusters,
		       (unsigned long long)r->total_clusters,
		       r->allocated_clusters * 100.0 / r->total_clusters,
		       r->fragmented_clusters * 100.0 / r->allocated_clusters,
		       r->compressed_clusters * 100.0 / r->allocated_clusters);
	if (r->image_end_offset)
		printf("Image end offset: %llu\n",
		       (unsigned long long)r->image_end_offset);
}

static void check_json(const struct blk_check_result *r, struct blk *b)
{
	json_t *j = json_object();

	json_object_set_new(j, "image-end-offset",
			    json_integer((json_int_t)r->image_end_offset));
	if (r->compressed_clusters)
		json_object_set_new(j, "compressed-clusters",
				    json_integer((json_int_t)r->compressed_clusters));
	json_object_set_new(j, "total-clusters",
			    json_integer((json_int_t)r->total_clusters));
	if (r->corruptions)
		json_object_set_new(j, "corruptions",
				    json_integer((json_int_t)r->corruptions));
	json_object_set_new(j, "check-errors",
			    json_integer((json_int_t)r->check_errors));
	if (r->leaks)
		json_object_set_new(j, "leaks", json_integer((json_int_t)r->leaks));
	if (r->leaks_fixed)
		json_object_set_new(j, "leaks-fixed",
				    json_integer((json_int_t)r->leaks_fixed));
	if (r->corruptions_fixed)
		json_object_set_new(j, "corruptions-fixed",
				    json_integer((json_int_t)r->corruptions_fixed));
	json_object_set_new(j, "allocated-clusters",
			    json_integer((json_int_t)r->allocated_clusters));
	json_object_set_new(j, "filename", json_string(b->filename));
	json_object_set_new(j, "format", json_string(b->drv->name));
	if (r->fragmented_clusters)
		json_object_set_new(j, "fragmented-clusters",
				    json_integer((json_int_t)r->fragmented_clusters));
	dump_json(j);
}

int cmd_check(int argc, char **argv)
{
	struct blk_check_result r = { .report = report_stderr };
	struct view_args a;
	struct blk *b;
	int ret;

	if (parse_view(argc, argv, &a, true) < 0)
		return 1;
	{
		struct blk_open_opts o = {
			.format = a.fmt, .read_only = !a.repair,
			.force_share = a.force_share, .no_backing = true,
			.check_only = true,
		};
		char err[BLK_ERR_LEN];

		if (blk_open(&b, a.file, &o, err, sizeof(err)) < 0) {
			img_err("Could not open '%s': %s", a.file, err);
			return 1;
		}
	}
	ret = blk_check(b, a.repair, &r);
	if (ret == -ENOTSUP) {
		img_err("This image format does not support checks");
		blk_close(b);
		return 63;
	}
	if (ret == 0 && (r.leaks_fixed || r.corruptions_fixed)) {
		uint64_t lf = r.leaks_fixed, cf = r.corruptions_fixed;

		if (!a.json)
			printf("The following inconsistencies were found and "
			       "repaired:\n\n    %llu leaked clusters\n    %llu "
			       "corruptions\n\nDouble checking the fixed image "
			       "now...\n", (unsigned long long)lf,
			       (unsigned long long)cf);
		ret = blk_check(b, 0, &r);
		r.leaks_fixed = lf;
		r.corruptions_fixed = cf;
	}
	if (ret < 0 && !r.check_errors) {
		img_err("Check failed: %s", blk_errmsg(b));
		blk_close(b);
		return 1;
	}
	if (ret < 0)
		fprintf(stderr, "vireo-img: %s\n", blk_errmsg(b));
	if (a.json)
		check_json(&r, b);
	else
		check_human(&r);
	blk_close(b);
	if (r.check_errors)
		return 1;
	if (r.corruptions)
		return 2;
	if (r.leaks)
		return 3;
	return 0;
}

/* One run of the map: what reading [start, start+len) gives and where. */
struct map_ent {
	uint64_t start, len, offset;
	int depth;
	bool present, zero, data, has_offset;
	const char *file;
};

static int map_status(struct blk *top, uint64_t off, uint64_t len,
		      struct map_ent *m)
{
	struct blk *b = top;
	uint64_t pnum = len, host = 0;
	int depth = 0, st;

	for (;;) {
		uint64_t n;

		st = blk_block_status(b, off, pnum, &n, &host);
		if (st < 0) {
			img_err("Could not read the map of '%s': %s",
				b->filename, blk_errmsg(b));
			return st;
		}
		pnum = n;
		if ((st & BLK_STATUS_ALLOCATED) || !b->backing)
			break;
		if (off >= b->backing->size) {
			st = BLK_STATUS_ZERO;
			break;
		}
		pnum = MIN(pnum, b->backing->size - off);
		b = b->backing;
		depth++;
	}
	m->start = off;
	m->len = pnum;
	m->depth = depth;
	m->present = st & BLK_STATUS_ALLOCATED;
	m->zero = st & BLK_STATUS_ZERO;
	m->data = st & BLK_STATUS_DATA;
	m->has_offset = st & BLK_STATUS_OFFSET_VALID;
	m->offset = host;
	m->file = b->filename;
	if ((st & BLK_STATUS_COMPRESSED) && !m->has_offset)
		m->has_offset = false;
	return st;
}

static bool mergeable(const struct map_ent *a, const struct map_ent *b)
{
	return a->depth == b->depth && a->present == b->present &&
	       a->zero == b->zero && a->data == b->data &&
	       a->has_offset == b->has_offset && a->file == b->file &&
	       (!a->has_offset || a->offset + a->len == b->offset);
}

static void print_ent(const struct map_ent *m, bool json, bool first)
{
	if (json) {
		printf("%s{ \"start\": %llu, \"length\": %llu, \"depth\": %d, "
		       "\"present\": %s, \"zero\": %s, \"data\": %s",
		       first ? "[" : ",\n", (unsigned long long)m->start,
		       (unsigned long long)m->len, m->depth,
		       m->present ? "true" : "false", m->zero ? "true" : "false",
		       m->data ? "true" : "false");
		if (m->has_offset)
			printf(", \"offset\": %llu", (unsigned long long)m->offset);
		printf("}");
	} else if (m->data && m->has_offset) {
		printf("%#-16llx%#-16llx%#-16llx%s\n",
		       (unsigned long long)m->start, (unsigned long long)m->len,
		       (unsigned long long)m->offset, m->file);
	}
}

int cmd_map(int argc, char **argv)
{
	struct view_args a;
	struct map_ent cur = { 0 }, next;
	bool have = false, first = true;
	struct blk *b;
	uint64_t off = 0;

	if (parse_view(argc, argv, &a, false) < 0)
		return 1;
	b = img_open(a.file, a.fmt, false, a.force_share, false);
	if (!b)
		return 1;
	if (!a.json)
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to",
		       "File");
	while (off < b->size) {
		int st = map_status(b, off, MIN(b->size - off, 1 * GiB), &next);

		if (st < 0) {
			blk_close(b);
			return 1;
		}
		if (!a.json && next.data && !next.has_offset) {
			img_err("File contains external, encrypted or compressed "
				"clusters.");
			blk_close(b);
			return 1;
		}
		if (have && mergeable(&cur, &next)) {
			cur.len += next.len;
		} else {
			if (have) {
				print_ent(&cur, a.json, first);
				first = false;
			}
			cur = next;
			have = true;
		}
		off += next.len;
	}
	if (have)
		print_ent(&cur, a.json, first);
	if (a.json)
		printf("%s]\n", first && !have ? "[" : "");
	blk_close(b);
	return 0;
}
