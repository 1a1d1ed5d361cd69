/*
 * qcow2 refcounts and cluster allocation. A refcount block covers
 * 2^rb_shift clusters; the refcount table lists the blocks. New blocks are
 * placed at the first cluster of the range they cover and count
 * themselves, so creating one never needs another allocation. A block or
 * table that appears in the middle of an operation is written and synced
 * before the structure that points at it (see qcow2_cache.c for the rest of
 * the ordering).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "lib/util.h"

uint64_t qcow2_rb_get(const struct qcow2 *q, const uint8_t *blk, uint64_t i)
{
	switch (q->refcount_order) {
	case 3: return blk[i];
	case 4: return be16_get(blk + 2 * i);
	case 5: return be32_get(blk + 4 * i);
	case 6: return be64_get(blk + 8 * i);
	default: {
		unsigned bits = q->refcount_bits, per = 8 / bits;

		return (blk[i / per] >> ((i % per) * bits)) & ((1u << bits) - 1);
	}
	}
}

void qcow2_rb_set(const struct qcow2 *q, uint8_t *blk, uint64_t i, uint64_t v)
{
	switch (q->refcount_order) {
	case 3: blk[i] = (uint8_t)v; break;
	case 4: be16_put(blk + 2 * i, (uint16_t)v); break;
	case 5: be32_put(blk + 4 * i, (uint32_t)v); break;
	case 6: be64_put(blk + 8 * i, v); break;
	default: {
		unsigned bits = q->refcount_bits, per = 8 / bits;
		unsigned shift = (unsigned)(i % per) * bits;
		uint8_t mask = (uint8_t)(((1u << bits) - 1) << shift);

		blk[i / per] = (uint8_t)((blk[i / per] & ~mask) | ((v << shift) & mask));
	}
	}
}

int qcow2_load_refcount_table(struct qcow2 *q)
{
	uint64_t bytes = (uint64_t)q->rt_clusters << q->cluster_bits;
	struct stat st;
	int ret;

	q->rt_entries = bytes / 8;
	q->rt = malloc(bytes);
	if (!q->rt)
		return -ENOMEM;
	ret = blk_file_pread(q->fd, q->rt, bytes, q->rt_offset);
	if (ret < 0) {
		blk_set_err(q->b, "reading the refcount table: %s",
			    strerror(-ret));
		return ret;
	}
	for (uint64_t i = 0; i < q->rt_entries; i++)
		q->rt[i] = be64toh(q->rt[i]);
	if (fstat(q->fd, &st) < 0)
		return -errno;
	q->alloc_end = ALIGN_UP((uint64_t)st.st_size, q->cluster_size) >>
		       q->cluster_bits;
	q->free_hint = 0;
	return 0;
}

static int refblock_offset(struct qcow2 *q, uint64_t rti, uint64_t *off)
{
	uint64_t o;

	if (rti >= q->rt_entries) {
		*off = 0;
		return 0;
	}
	o = q->rt[rti] & QCOW2_RTE_OFFSET_MASK;
	if (o && (o & (q->cluster_size - 1))) {
		blk_set_err(q->b, "refcount block %llu at unaligned offset %#llx "
			    "(image corrupt)", (unsigned long long)rti,
			    (unsigned long long)o);
		return -EINVAL;
	}
	*off = o;
	return 0;
}

int qcow2_get_refcount(struct qcow2 *q, uint64_t cluster, uint64_t *rc)
{
	uint64_t off;
	uint8_t *blk;
	int ret = refblock_offset(q, cluster >> q->rb_shift, &off);

	if (ret < 0)
		return ret;
	if (!off) {
		*rc = 0;
		return 0;
	}
	ret = qcow2_cache_get(q, &q->rc_cache, off, false, &blk);
	if (ret < 0)
		return ret;
	*rc = qcow2_rb_get(q, blk, cluster & ((1ULL << q->rb_shift) - 1));
	return 0;
}

static int sync_or_fail(struct qcow2 *q)
{
	if (fdatasync(q->fd) < 0) {
		blk_set_err(q->b, "fdatasync: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int write_rt_entry(struct qcow2 *q, uint64_t rti)
{
	uint8_t v[8];

	be64_put(v, q->rt[rti]);
	return blk_file_pwrite(q->fd, v, 8, q->rt_offset + rti * 8);
}

/*
 * Replace the refcount table by a larger one. It goes into fresh regions
 * past everything in use: m new refcount blocks first (block i covers
 * region R0+i), then the k table clusters, all counted in the new blocks.
 * Order: blocks and table written and synced, the header switched and
 * synced, then the old table's clusters freed.
 */
static int grow_refcount_table(struct qcow2 *q, uint64_t min_entries)
{
	uint64_t per_cluster = q->cluster_size / 8, rs = 1ULL << q->rb_shift;
	uint64_t r0 = (q->alloc_end + rs - 1) >> q->rb_shift;
	uint64_t entries, k = 0, m = 1, first, old_off, old_k;
	uint64_t *nt = NULL;
	uint8_t *blocks = NULL;
	int ret;

	for (;;) {	/* k and m depend on each other; this settles fast */
		entries = MAX(MAX(min_entries, q->rt_entries * 2), r0 + m);
		k = (entries + per_cluster - 1) / per_cluster;
		if (m >= (m + k + rs - 1) / rs)
			break;
		m = (m + k + rs - 1) / rs;
	}
	if (k << q->cluster_bits > QCOW2_MAX_RT_BYTES) {
		blk_set_err(q->b, "refcount table would exceed %llu bytes",
			    QCOW2_MAX_RT_BYTES);
		return -EFBIG;
	}
	nt = calloc(k, q->cluster_size);
	blocks = calloc(m, q->cluster_size);
	if (!nt || !blocks) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(nt, q->rt, q->rt_entries * 8);
	first = r0 << q->rb_shift;
	for (uint64_t u = first; u < first + m + k; u++)
		qcow2_rb_set(q, blocks + ((u - first) >> q->rb_shift) *
			     q->cluster_size, u & (rs - 1), 1);
	for (uint64_t i = 0; i < m; i++)
		nt[r0 + i] = (first + i) << q->cluster_bits;
	for (uint64_t i = 0; i < k * per_cluster; i++)
		nt[i] = htobe64(nt[i]);
	ret = blk_file_pwrite(q->fd, blocks, m << q->cluster_bits,
			      first << q->cluster_bits);
	if (ret == 0)
		ret = blk_file_pwrite(q->fd, nt, k << q->cluster_bits,
				      (first + m) << q->cluster_bits);
	for (uint64_t i = 0; i < k * per_cluster; i++)
		nt[i] = be64toh(nt[i]);
	if (ret == 0)
		ret = sync_or_fail(q);
	if (ret < 0)
		goto out;
	old_off = q->rt_offset;
	old_k = q->rt_clusters;
	free(q->rt);
	q->rt = nt;
	nt = NULL;
	q->rt_offset = (first + m) << q->cluster_bits;
	q->rt_clusters = (uint32_t)k;
	q->rt_entries = k * per_cluster;
	q->alloc_end = MAX(q->alloc_end, first + m + k);
	ret = qcow2_write_header_fields(q);
	if (ret == 0)
		ret = sync_or_fail(q);
	if (ret == 0)
		ret = qcow2_update_refcount(q, old_off, old_k << q->cluster_bits,
					    -1);
out:
	free(nt);
	free(blocks);
	if (ret < 0 && !q->b->err[0])
		blk_set_err(q->b, "growing the refcount table: %s",
			    strerror(-ret));
	return ret;
}

/* Make sure refcount block rti exists; a new one counts itself. */
static int ensure_refblock(struct qcow2 *q, uint64_t rti)
{
	uint64_t off;
	uint8_t *blk;
	int ret;

	if (rti >= q->rt_entries) {
		ret = grow_refcount_table(q, rti + 1);
		if (ret < 0)
			return ret;
	}
	ret = refblock_offset(q, rti, &off);
	if (ret < 0 || off)
		return ret;
	if (rti == 0) {
		/* The header lives there: the block cannot be missing. */
		blk_set_err(q->b, "refcount table has no block for the header "
			    "cluster (image corrupt)");
		return -EIO;
	}
	off = (rti << q->rb_shift) << q->cluster_bits;
	ret = qcow2_cache_get(q, &q->rc_cache, off, true, &blk);
	if (ret < 0)
		return ret;
	qcow2_rb_set(q, blk, 0, 1);
	ret = blk_file_pwrite(q->fd, blk, q->cluster_size, off);
	if (ret == 0)
		ret = sync_or_fail(q);
	if (ret < 0)
		return ret;
	q->rt[rti] = off;
	ret = write_rt_entry(q, rti);
	if (ret < 0)
		return ret;
	q->alloc_end = MAX(q->alloc_end, (off >> q->cluster_bits) + 1);
	return 0;
}

int qcow2_update_refcount(struct qcow2 *q, uint64_t off, uint64_t len,
			  int64_t delta)
{
	uint64_t first, last;

	if (!len)
		return 0;
	first = off >> q->cluster_bits;
	last = (off + len - 1) >> q->cluster_bits;
	for (uint64_t c = first; c <= last; c++) {
		uint64_t rti = c >> q->rb_shift, boff, v;
		uint8_t *blk;
		int ret;

		if (delta > 0) {
			ret = ensure_refblock(q, rti);
			if (ret < 0)
				return ret;
		}
		ret = refblock_offset(q, rti, &boff);
		if (ret < 0)
			return ret;
		if (!boff) {
			blk_set_err(q->b, "cluster %#llx has no refcount block "
				    "but is referenced (image corrupt)",
				    (unsigned long long)(c << q->cluster_bits));
			return -EINVAL;
		}
		ret = qcow2_cache_get(q, &q->rc_cache, boff, false, &blk);
		if (ret < 0)
			return ret;
		v = qcow2_rb_get(q, blk, c & ((1ULL << q->rb_shift) - 1));
		if ((delta < 0 && v < (uint64_t)-delta) ||
		    (delta > 0 && q->refcount_max - v < (uint64_t)delta)) {
			blk_set_err(q->b, "refcount of cluster %#llx would "
				    "%s (image corrupt)",
				    (unsigned long long)(c << q->cluster_bits),
				    delta < 0 ? "drop below 0" : "overflow");
			return -EINVAL;
		}
		v += (uint64_t)delta;
		qcow2_rb_set(q, blk, c & ((1ULL << q->rb_shift) - 1), v);
		qcow2_cache_dirty(&q->rc_cache, blk);
		if (v == 0) {
			/* A freed table must not be served from the cache. */
			qcow2_cache_drop(&q->l2_cache, c << q->cluster_bits);
			if (c < q->free_hint)
				q->free_hint = c;
		}
		if (delta > 0)
			q->alloc_end = MAX(q->alloc_end, c + 1);
	}
	return 0;
}

/*
 * A run too long to fit between the refcount blocks that sit at the start
 * of each region goes into fresh regions past everything in use: m new
 * self-describing blocks, then the n clusters, all counted in the blocks.
 */
static int64_t alloc_fresh(struct qcow2 *q, uint64_t n)
{
	uint64_t rs = 1ULL << q->rb_shift, r0, m, first;
	uint8_t *blocks;
	int ret;

	for (;;) {
		r0 = (q->alloc_end + rs - 1) >> q->rb_shift;
		for (m = 1; m < (m + n + rs - 1) / rs; )
			m = (m + n + rs - 1) / rs;
		if (r0 + m <= q->rt_entries)
			break;
		ret = grow_refcount_table(q, r0 + m);
		if (ret < 0)
			return ret;
	}
	first = r0 << q->rb_shift;
	blocks = calloc(m, q->cluster_size);
	if (!blocks)
		return -ENOMEM;
	for (uint64_t u = first; u < first + m + n; u++)
		qcow2_rb_set(q, blocks + ((u - first) >> q->rb_shift) *
			     q->cluster_size, u & (rs - 1), 1);
	ret = blk_file_pwrite(q->fd, blocks, m << q->cluster_bits,
			      first << q->cluster_bits);
	free(blocks);
	if (ret == 0)
		ret = sync_or_fail(q);
	for (uint64_t i = 0; ret == 0 && i < m; i++) {
		q->rt[r0 + i] = (first + i) << q->cluster_bits;
		ret = write_rt_entry(q, r0 + i);
	}
	if (ret < 0)
		return ret;
	q->alloc_end = first + m + n;
	return (int64_t)((first + m) << q->cluster_bits);
}

/* Allocate n contiguous free clusters; returns the host offset. */
int64_t qcow2_alloc_clusters(struct qcow2 *q, uint64_t n)
{
	uint64_t start, c, rc;
	int ret;

	if (n > (1ULL << q->rb_shift) / 4)
		return alloc_fresh(q, n);
restart:
	start = q->free_hint;
	for (c = start; c < start + n; c++) {
		uint64_t rti = c >> q->rb_shift, boff;

		ret = refblock_offset(q, rti, &boff);
		if (ret < 0)
			return ret;
		if (!boff) {
			/* Create the block first: it may take a candidate. */
			ret = ensure_refblock(q, rti);
			if (ret < 0)
				return ret;
			goto restart;
		}
		/* Past everything in use nothing can be allocated: this also
		 * bounds the scan on a hostile image whose refcount blocks
		 * claim every cluster. */
		if (c >= q->alloc_end)
			continue;
		ret = qcow2_get_refcount(q, c, &rc);
		if (ret < 0)
			return ret;
		if (rc) {
			if (start == q->free_hint)
				q->free_hint = c + 1;
			start = c + 1;
			if (start >> (56 - q->cluster_bits)) {
				blk_set_err(q->b, "image is full");
				return -ENOSPC;
			}
		}
	}
	ret = qcow2_update_refcount(q, start << q->cluster_bits,
				    n << q->cluster_bits, 1);
	if (ret < 0)
		return ret;
	if (q->free_hint == start)
		q->free_hint = start + n;
	return (int64_t)(start << q->cluster_bits);
}

/*
 * Room for `size` bytes of compressed data: packed after the previous
 * compressed cluster while it fits in the same host cluster, else in a
 * fresh cluster. Every host cluster a compressed cluster touches is counted
 * once for it.
 */
int64_t qcow2_alloc_bytes(struct qcow2 *q, uint64_t size)
{
	uint64_t fbo = q->free_byte_offset;
	int64_t off;
	int ret;

	if (fbo && qcow2_offset_in_cluster(q, fbo) &&
	    size <= q->cluster_size - qcow2_offset_in_cluster(q, fbo)) {
		ret = qcow2_update_refcount(q, fbo, 1, 1);
		if (ret < 0)
			return ret;
		q->free_byte_offset = fbo + size;
		return (int64_t)fbo;
	}
	if (fbo && qcow2_offset_in_cluster(q, fbo) && size <= q->cluster_size) {
		/*
		 * Does not fit in what is left: as qemu, run on into the next
		 * cluster when it is the one allocated next, so compressed
		 * data stays packed without gaps.
		 */
		uint64_t rest = q->cluster_size - qcow2_offset_in_cluster(q, fbo);

		off = qcow2_alloc_clusters(q, 1);
		if (off < 0)
			return off;
		if ((uint64_t)off == fbo + rest) {
			ret = qcow2_update_refcount(q, fbo, 1, 1);
			if (ret < 0)
				return ret;
			q->free_byte_offset = fbo + size;
			return (int64_t)fbo;
		}
		q->free_byte_offset = (uint64_t)off + size;
		return off;
	}
	off = qcow2_alloc_clusters(q, (size + q->cluster_size - 1) >>
				   q->cluster_bits);
	if (off < 0)
		return off;
	q->free_byte_offset = (uint64_t)off + size;
	return off;
}

static int defer_free(struct qcow2 *q, uint64_t off, uint64_t len,
		      bool punch)
{
	if (q->n_pending == q->cap_pending) {
		size_t cap = q->cap_pending ? q->cap_pending * 2 : 64;
		struct qcow2_extent *p = realloc(q->pending, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		q->pending = p;
		q->cap_pending = cap;
	}
	if (q->n_pending && q->pending[q->n_pending - 1].off +
	    q->pending[q->n_pending - 1].len == off &&
	    q->pending[q->n_pending - 1].punch == punch &&
	    !qcow2_offset_in_cluster(q, off) && !qcow2_offset_in_cluster(q, len)) {
		q->pending[q->n_pending - 1].len += len;
		return 0;
	}
	q->pending[q->n_pending].off = off;
	q->pending[q->n_pending].len = len;
	q->pending[q->n_pending].punch = punch;
	q->n_pending++;
	return 0;
}

int qcow2_free_deferred(struct qcow2 *q, uint64_t off, uint64_t len)
{
	return defer_free(q, off, len, false);
}

/*
 * Punch the clusters of [off, off+len) that no longer have a reference
 * out of the file, runs of them at once. Called after the tables that
 * pointed at them are on disk, so a crash cannot bring the old pointers
 * back to zeroed data. Advice: a file system without holes keeps them.
 */
static int punch_unreferenced(struct qcow2 *q, uint64_t off, uint64_t len)
{
	uint64_t c = off >> q->cluster_bits;
	uint64_t end = (off + len + q->cluster_size - 1) >> q->cluster_bits;
	uint64_t run = 0, rc;

	for (; c <= end; c++) {
		int ret = c < end ? qcow2_get_refcount(q, c, &rc) : 0;

		if (ret < 0)
			return ret;
		if (c < end && rc == 0) {
			run++;
			continue;
		}
		if (run && fallocate(q->fd, FALLOC_FL_PUNCH_HOLE |
				     FALLOC_FL_KEEP_SIZE,
				     (off_t)((c - run) << q->cluster_bits),
				     (off_t)(run << q->cluster_bits)) < 0 &&
		    errno != EOPNOTSUPP && errno != ENOSYS) {
			blk_set_err(q->b, "discard: %s", strerror(errno));
			return -errno;
		}
		run = 0;
	}
	return 0;
}

int qcow2_apply_pending_frees(struct qcow2 *q)
{
	struct qcow2_extent *list = q->pending;
	size_t n = q->n_pending;
	int ret = 0;

	/* Detach first: updating may evict and flush re-entrantly. */
	q->pending = NULL;
	q->n_pending = q->cap_pending = 0;
	for (size_t i = 0; i < n && ret == 0; i++) {
		ret = qcow2_update_refcount(q, list[i].off, list[i].len, -1);
		qcow2_cache_drop(&q->l2_cache, list[i].off);
		if (ret == 0 && list[i].punch)
			ret = punch_unreferenced(q, list[i].off, list[i].len);
	}
	free(list);
	return ret;
}

/* Drop (deferred) the references an L2 entry holds. */
static int free_entry(struct qcow2 *q, uint64_t e, bool punch)
{
	switch (qcow2_l2_type(q, e)) {
	case QCOW2_C_NORMAL:
	case QCOW2_C_ZERO_ALLOC:
		return defer_free(q, e & QCOW2_L2E_OFFSET_MASK,
				  q->cluster_size, punch);
	case QCOW2_C_COMPRESSED: {
		uint64_t off = e & ((1ULL << q->csize_shift) - 1);
		uint64_t sectors = ((e >> q->csize_shift) & q->csize_mask) + 1;
		uint64_t end = (off & ~511ULL) + sectors * 512;

		return defer_free(q, off, end - off, punch);
	}
	default:
		return 0;
	}
}

int qcow2_free_entry_clusters(struct qcow2 *q, uint64_t e)
{
	return free_entry(q, e, false);
}

int qcow2_discard_entry_clusters(struct qcow2 *q, uint64_t e)
{
	return free_entry(q, e, true);
}
