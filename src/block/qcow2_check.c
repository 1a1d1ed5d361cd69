/*
 * qcow2 consistency check (what `qemu-img check` does): count every
 * reference to every host cluster from the metadata, compare with the
 * stored refcounts, check the COPIED flags of the active tables, and
 * optionally repair leaks (-r leaks) or everything (-r all).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "lib/util.h"

struct ck {
	struct qcow2 *q;
	struct blk_check_result *r;
	uint32_t *refs;		/* computed references per host cluster */
	uint64_t nclusters;
	uint64_t last_data;	/* for fragmentation counting */
};

static void report(struct ck *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!c->r->report)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->r->report(c->r->opaque, msg);
}

/* Count one reference to every cluster of [off, off+len). */
static void add_ref(struct ck *c, uint64_t off, uint64_t len, const char *what)
{
	uint64_t first = off >> c->q->cluster_bits;
	uint64_t last = (off + len - 1) >> c->q->cluster_bits;

	if (!len)
		return;
	for (uint64_t i = first; i <= last; i++) {
		if (i >= c->nclusters) {
			report(c, "ERROR %s at offset %#llx is beyond the end of "
			       "the image file", what,
			       (unsigned long long)(i << c->q->cluster_bits));
			c->r->corruptions++;
			return;
		}
		if (c->refs[i] != UINT32_MAX)
			c->refs[i]++;
	}
}

static int read_table(struct qcow2 *q, uint64_t off, uint8_t *buf)
{
	return blk_file_pread(q->fd, buf, q->cluster_size, off);
}

static int check_l2(struct ck *c, uint64_t l2off, bool active, uint8_t *tbl)
{
	struct qcow2 *q = c->q;
	int ret = read_table(q, l2off, tbl);

	if (ret < 0)
		return ret;
	for (uint64_t i = 0; i < qcow2_l2_entries(q); i++) {
		uint64_t e = be64_get(tbl + i * q->l2_entry_size);
		uint64_t host = e & QCOW2_L2E_OFFSET_MASK;

		switch (qcow2_l2_type(q, e)) {
		case QCOW2_C_COMPRESSED: {
			uint64_t h = e & ((1ULL << q->csize_shift) - 1);
			uint64_t sec = ((e >> q->csize_shift) & q->csize_mask) + 1;

			add_ref(c, h & ~511ULL, sec * 512, "compressed cluster");
			if (active) {	/* compressed: fragmented by nature */
				c->r->allocated_clusters++;
				c->r->compressed_clusters++;
				c->r->fragmented_clusters++;
			}
			break;
		}
		case QCOW2_C_NORMAL:
		case QCOW2_C_ZERO_ALLOC:
			if (host & (q->cluster_size - 1)) {
				report(c, "ERROR offset=%llx: Cluster is not "
				       "properly aligned; L2 entry corrupted.",
				       (unsigned long long)host);
				c->r->corruptions++;
				break;
			}
			add_ref(c, host, q->cluster_size, "data cluster");
			if (active) {
				c->r->allocated_clusters++;
				if (c->last_data && host != c->last_data +
				    q->cluster_size)
					c->r->fragmented_clusters++;
				c->last_data = host;
			}
			break;
		default:
			break;
		}
	}
	return 0;
}

static int check_l1(struct ck *c, uint64_t l1off, uint32_t l1size,
		    const uint64_t *l1_host, bool active)
{
	struct qcow2 *q = c->q;
	uint8_t *tbl = malloc(q->cluster_size);
	uint64_t *l1 = NULL;
	int ret = 0;

	if (!tbl)
		return -ENOMEM;
	if (l1size)
		add_ref(c, l1off, (uint64_t)l1size * 8, "L1 table");
	if (!l1_host) {
		l1 = calloc(l1size ? l1size : 1, 8);
		if (!l1) {
			free(tbl);
			return -ENOMEM;
		}
		ret = blk_file_pread(q->fd, l1, (uint64_t)l1size * 8, l1off);
		for (uint32_t i = 0; i < l1size; i++)
			l1[i] = be64toh(l1[i]);
		l1_host = l1;
	}
	for (uint32_t i = 0; i < l1size && ret == 0; i++) {
		uint64_t off = l1_host[i] & QCOW2_L1E_OFFSET_MASK;

		if (!off)
			continue;
		if (off & (q->cluster_size - 1)) {
			report(c, "ERROR l2_offset=%llx: Table is not cluster "
			       "aligned; L1 entry corrupted",
			       (unsigned long long)off);
			c->r->corruptions++;
			continue;
		}
		if ((off >> q->cluster_bits) >= c->nclusters) {
			add_ref(c, off, q->cluster_size, "L2 table");
			continue;
		}
		add_ref(c, off, q->cluster_size, "L2 table");
		ret = check_l2(c, off, active, tbl);
	}
	free(l1);
	free(tbl);
	return ret;
}

/* Stored refcount of cluster i straight from disk tables via the cache. */
static int compare_refcounts(struct ck *c, int fix)
{
	struct qcow2 *q = c->q;
	uint64_t max = c->nclusters;	/* as qemu: leaks past EOF are not seen */
	uint64_t highest = 0;

	for (uint64_t i = 0; i < max; i++) {
		uint64_t rti = i >> q->rb_shift, stored, want;
		int ret;

		if (rti >= q->rt_entries) {
			stored = 0;
			goto compare;
		}
		ret = qcow2_get_refcount(q, i, &stored);
		if (ret < 0)
			return ret;
compare:
		want = c->refs[i];
		if (stored || want)
			highest = i;
		if (stored == want)
			continue;
		if (stored > want) {
			report(c, "%s cluster %llu refcount=%llu reference=%llu",
			       fix & BLK_FIX_LEAKS ? "Repairing" : "Leaked",
			       (unsigned long long)i, (unsigned long long)stored,
			       (unsigned long long)want);
			c->r->leaks++;
			if (fix & BLK_FIX_LEAKS) {
				ret = qcow2_update_refcount(q, i << q->cluster_bits,
							    1, (int64_t)want -
							    (int64_t)stored);
				if (ret < 0)
					return ret;
				c->r->leaks_fixed++;
			}
		} else {
			report(c, "%s cluster %llu refcount=%llu reference=%llu",
			       fix & BLK_FIX_ERRORS ? "Repairing" : "ERROR",
			       (unsigned long long)i, (unsigned long long)stored,
			       (unsigned long long)want);
			c->r->corruptions++;
			if (fix & BLK_FIX_ERRORS) {
				if (want > q->refcount_max)
					return -ERANGE;
				ret = qcow2_update_refcount(q, i << q->cluster_bits,
							    1, (int64_t)(want -
							    stored));
				if (ret < 0)
					return ret;
				c->r->corruptions_fixed++;
			}
		}
	}
	c->r->image_end_offset = (highest + 1) << q->cluster_bits;
	return 0;
}

/* COPIED must be set exactly when the refcount is 1 (active tables). */
static int check_copied(struct ck *c, int fix)
{
	struct qcow2 *q = c->q;
	uint8_t *tbl = malloc(q->cluster_size);
	int ret = 0;

	if (!tbl)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->l1_size && ret == 0; i++) {
		uint64_t l1e = q->l1[i], off = l1e & QCOW2_L1E_OFFSET_MASK, rc;
		bool dirty = false;

		if (!off || (off & (q->cluster_size - 1)) ||
		    (off >> q->cluster_bits) >= c->nclusters)
			continue;
		ret = qcow2_get_refcount(q, off >> q->cluster_bits, &rc);
		if (ret < 0)
			break;
		if ((rc == 1) != !!(l1e & QCOW2_OFLAG_COPIED)) {
			report(c, "%s OFLAG_COPIED L2 cluster: l1_index=%u "
			       "l1_entry=%llx refcount=%llu",
			       fix & BLK_FIX_ERRORS ? "Repairing" : "ERROR", i,
			       (unsigned long long)l1e, (unsigned long long)rc);
			c->r->corruptions++;
			if (fix & BLK_FIX_ERRORS) {
				q->l1[i] = rc == 1 ? l1e | QCOW2_OFLAG_COPIED :
						     l1e & ~QCOW2_OFLAG_COPIED;
				q->l1_dirty = true;
				c->r->corruptions_fixed++;
			}
		}
		ret = read_table(q, off, tbl);
		for (uint64_t j = 0; ret == 0 && j < qcow2_l2_entries(q); j++) {
			uint8_t *p = tbl + j * q->l2_entry_size;
			uint64_t e = be64_get(p), h = e & QCOW2_L2E_OFFSET_MASK;
			enum qcow2_ctype t = qcow2_l2_type(q, e);

			if ((t != QCOW2_C_NORMAL && t != QCOW2_C_ZERO_ALLOC) ||
			    (h & (q->cluster_size - 1)) ||
			    (h >> q->cluster_bits) >= c->nclusters)
				continue;
			ret = qcow2_get_refcount(q, h >> q->cluster_bits, &rc);
			if (ret < 0)
				break;
			if ((rc == 1) == !!(e & QCOW2_OFLAG_COPIED))
				continue;
			report(c, "%s OFLAG_COPIED data cluster: l2_entry=%llx "
			       "refcount=%llu",
			       fix & BLK_FIX_ERRORS ? "Repairing" : "ERROR",
			       (unsigned long long)e, (unsigned long long)rc);
			c->r->corruptions++;
			if (fix & BLK_FIX_ERRORS) {
				be64_put(p, rc == 1 ? e | QCOW2_OFLAG_COPIED :
					 e & ~QCOW2_OFLAG_COPIED);
				dirty = true;
				c->r->corruptions_fixed++;
			}
		}
		if (ret == 0 && dirty) {
			qcow2_cache_drop(&q->l2_cache, off);
			ret = blk_file_pwrite(q->fd, tbl, q->cluster_size, off);
		}
	}
	free(tbl);
	return ret;
}

int qcow2_check(struct qcow2 *q, int fix, struct blk_check_result *r)
{
	struct ck c = { .q = q, .r = r };
	struct stat st;
	int ret;

	if (fix && q->b->read_only)
		return -EROFS;
	if (fix) {	/* start from what is on disk */
		ret = qcow2_flush_meta(q);
		if (ret < 0)
			return ret;
	}
	if (fstat(q->fd, &st) < 0)
		return -errno;
	r->corruptions = r->leaks = r->check_errors = 0;
	r->corruptions_fixed = r->leaks_fixed = 0;
	r->allocated_clusters = r->fragmented_clusters = 0;
	r->compressed_clusters = 0;
	r->total_clusters = (q->b->size + q->cluster_size - 1) >> q->cluster_bits;
	c.nclusters = ALIGN_UP((uint64_t)st.st_size, q->cluster_size) >>
		      q->cluster_bits;
	c.refs = calloc(c.nclusters ? c.nclusters : 1, sizeof(*c.refs));
	if (!c.refs)
		return -ENOMEM;

	add_ref(&c, 0, q->cluster_size, "header");
	ret = check_l1(&c, q->l1_offset, q->l1_size, q->l1, true);
	for (uint32_t i = 0; ret == 0 && i < q->nb_snapshots; i++)
		ret = check_l1(&c, q->snaps[i].l1_offset, q->snaps[i].l1_size,
			       NULL, false);
	if (ret == 0 && q->nb_snapshots) {
		/* The snapshot table's size: walk the entries again. */
		uint64_t end = q->snapshots_offset;

		for (uint32_t i = 0; i < q->nb_snapshots; i++) {
			struct qcow2_snapshot *s = &q->snaps[i];

			end = ALIGN_UP(end + 40 + s->extra_size + strlen(s->id) +
				       strlen(s->name), 8);
		}
		add_ref(&c, q->snapshots_offset, end - q->snapshots_offset,
			"snapshot table");
	}
	if (ret == 0) {
		add_ref(&c, q->rt_offset, (uint64_t)q->rt_clusters <<
			q->cluster_bits, "refcount table");
		for (uint64_t i = 0; i < q->rt_entries; i++) {
			uint64_t off = q->rt[i] & QCOW2_RTE_OFFSET_MASK;

			if (!off)
				continue;
			if (off & (q->cluster_size - 1)) {
				report(&c, "ERROR refcount block %llu is not "
				       "cluster aligned; refcount table entry "
				       "corrupted", (unsigned long long)i);
				r->corruptions++;
				continue;
			}
			add_ref(&c, off, q->cluster_size, "refcount block");
		}
	}
	if (ret == 0)
		ret = compare_refcounts(&c, fix);
	if (ret == 0)
		ret = check_copied(&c, fix);
	if (ret == 0 && fix)
		ret = qcow2_flush_meta(q);
	free(c.refs);
	if (ret < 0) {
		r->check_errors++;
		if (!q->b->err[0])
			blk_set_err(q->b, "check failed: %s", strerror(-ret));
	}
	return ret;
}
