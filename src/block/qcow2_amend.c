/*
 * Amending qcow2 images in place (qemu-img amend): compat level up and
 * down, lazy refcounts, the refcount width and the virtual size, in
 * qemu's order (upgrade first, downgrade last) and with its refusals.
 *
 * Crash safety follows the rest of the driver: whatever a new header will
 * point at (a rewritten snapshot table, new refcount structures, data
 * clusters replacing zero clusters) is written and synced before the
 * header switches to it, the header is one write of at most its first
 * few sectors, and the structures it no longer uses are freed only after
 * that write is synced; a crash leaves at worst leaked clusters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "lib/util.h"

#define DIV_ROUND_UP_U64(n, d) (((n) + (d) - 1) / (d))

static int sync_fd(struct qcow2 *q)
{
	if (fdatasync(q->fd) < 0) {
		blk_set_err(q->b, "fdatasync: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/*
 * Rewrite the header cluster for `version`: the fixed fields from q, the
 * backing format, qemu's feature-name table (v3 with clusters above 4 KiB,
 * as qemu writes it), the other extensions as they were, the backing name.
 */
static int rewrite_header(struct qcow2 *q, unsigned version)
{
	uint64_t cs = q->cluster_size, old_boff;
	uint8_t *h = calloc(1, cs), *nh = calloc(1, cs);
	size_t pos, rd;
	int ret;

	if (!h || !nh) {
		ret = -ENOMEM;
		goto out;
	}
	ret = blk_file_pread(q->fd, h, cs, 0);
	if (ret < 0)
		goto out;
	old_boff = be64_get(h + 8);
	memcpy(nh, h, QCOW2_V2_HDR_LEN);
	be32_put(nh + 4, version);
	if (version >= 3) {
		be64_put(nh + 72, q->incompat);
		be64_put(nh + 80, q->compat);
		be64_put(nh + 88, q->autoclear);
		be32_put(nh + 96, q->refcount_order);
		be32_put(nh + 100, 112);
		nh[104] = q->compression_type;
		pos = 112;
	} else {
		pos = QCOW2_V2_HDR_LEN;
	}
	if (q->b->backing_name && q->b->backing_fmt)
		pos += qcow2_put_ext(nh + pos, QCOW2_EXT_BACKING_FMT,
				     q->b->backing_fmt,
				     (uint32_t)strlen(q->b->backing_fmt));
	if (version >= 3 && cs > 4096)
		pos += qcow2_put_feature_table(nh + pos);
	rd = q->version == 2 ? QCOW2_V2_HDR_LEN :
	     ALIGN_UP((size_t)q->header_length, 8);
	while (rd + 8 <= (old_boff && old_boff < cs ? old_boff : cs)) {
		uint32_t type = be32_get(h + rd), len = be32_get(h + rd + 4);
		size_t tot = 8 + ALIGN_UP((size_t)len, 8);

		if (type == QCOW2_EXT_END || tot > cs - rd)
			break;
		if (type != QCOW2_EXT_BACKING_FMT && type != QCOW2_EXT_FEATURES) {
			if (pos + tot + 8 > cs) {
				blk_set_err(q->b, "header extensions do not fit "
					    "in the header cluster");
				ret = -ENOSPC;
				goto out;
			}
			memcpy(nh + pos, h + rd, tot);
			pos += tot;
		}
		rd += tot;
	}
	pos += 8;	/* end of extensions */
	if (q->b->backing_name) {
		size_t l = strlen(q->b->backing_name);

		if (pos + l > cs) {
			blk_set_err(q->b, "the backing file name does not fit "
				    "in the header cluster");
			ret = -ENOSPC;
			goto out;
		}
		be64_put(nh + 8, pos);
		be32_put(nh + 16, (uint32_t)l);
		memcpy(nh + pos, q->b->backing_name, l);
		pos += l;
	} else {
		be64_put(nh + 8, 0);
		be32_put(nh + 16, 0);
	}
	/* Clear what the old header used past the new one's end. */
	ret = blk_file_pwrite(q->fd, nh, MIN(cs, ALIGN_UP(MAX(pos, rd), 512)), 0);
	if (ret == 0)
		ret = sync_fd(q);
	if (ret == 0) {
		q->version = version;
		q->header_length = version >= 3 ? 112 : QCOW2_V2_HDR_LEN;
	}
out:
	if (ret < 0 && !q->b->err[0])
		blk_set_err(q->b, "Failed to update the image header: %s",
			    strerror(-ret));
	free(h);
	free(nh);
	return ret;
}

static int upgrade(struct qcow2 *q)
{
	bool short_extra = false;
	int ret;

	/* v3 wants every snapshot's 64-bit VM state size and disk size. */
	for (uint32_t i = 0; i < q->nb_snapshots; i++)
		short_extra |= q->snaps[i].extra_size < 16;
	if (short_extra) {
		ret = qcow2_snapshot_rewrite_table(q);
		if (ret < 0)
			return ret;
	}
	q->incompat = 0;
	q->compat = 0;
	q->autoclear = 0;
	q->refcount_order = 4;
	return rewrite_header(q, 3);
}

/* Whether an L2 table of some snapshot holds zero clusters (v3 only). */
static int snapshots_have_zero_clusters(struct qcow2 *q, bool *found)
{
	uint64_t cs = q->cluster_size;
	uint8_t *l2 = malloc(cs);
	int ret = 0;

	*found = false;
	if (!l2)
		return -ENOMEM;
	for (uint32_t s = 0; s < q->nb_snapshots && !*found && !ret; s++) {
		uint32_t n = q->snaps[s].l1_size;
		uint64_t *l1 = calloc(n ? n : 1, 8);

		if (!l1) {
			ret = -ENOMEM;
			break;
		}
		ret = blk_file_pread(q->fd, l1, (size_t)n * 8,
				     q->snaps[s].l1_offset);
		for (uint32_t i = 0; i < n && !*found && !ret; i++) {
			uint64_t l2off = be64toh(l1[i]) & QCOW2_L1E_OFFSET_MASK;

			if (!l2off)
				continue;
			ret = blk_file_pread(q->fd, l2, cs, l2off);
			for (uint64_t j = 0; j < cs / 8 && !ret; j++) {
				enum qcow2_ctype t = qcow2_l2_type(q,
						be64_get(l2 + j * 8));

				if (t == QCOW2_C_ZERO_PLAIN ||
				    t == QCOW2_C_ZERO_ALLOC) {
					*found = true;
					break;
				}
			}
		}
		free(l1);
	}
	free(l2);
	return ret;
}

/* Scan the active layer for zero clusters and compressed clusters. */
static int scan_active(struct qcow2 *q, bool *zero, bool *compressed)
{
	uint64_t pnum, host;

	*zero = *compressed = false;
	for (uint64_t off = 0; off < q->b->size; off += pnum) {
		int st = qcow2_status(q, off, q->b->size - off, &pnum, &host);

		if (st < 0)
			return st;
		if ((st & BLK_STATUS_ZERO) && (st & BLK_STATUS_ALLOCATED))
			*zero = true;
		if (st & BLK_STATUS_COMPRESSED)
			*compressed = true;
	}
	return 0;
}

/*
 * v2 has no zero clusters: each becomes unallocated (no backing file) or
 * a data cluster of zeroes (so the backing file stays hidden). The v2
 * rules of qcow2_zero_or_discard do exactly that, through the ordinary
 * allocating write path.
 */
static int expand_zero_clusters(struct qcow2 *q)
{
	uint32_t version = q->version;
	uint64_t pnum, host;
	int ret = 0;

	q->version = 2;
	for (uint64_t off = 0; off < q->b->size && !ret; off += pnum) {
		int st = qcow2_status(q, off, q->b->size - off, &pnum, &host);

		if (st < 0)
			ret = st;
		else if ((st & BLK_STATUS_ZERO) && (st & BLK_STATUS_ALLOCATED))
			ret = qcow2_zero_or_discard(q, off, pnum, QCOW2_ZERO);
	}
	q->version = version;
	if (ret == 0)
		ret = qcow2_flush_meta(q);
	return ret;
}

static int downgrade(struct qcow2 *q)
{
	bool zero, compressed, snap_zero;
	int ret;

	if (q->refcount_order != 4) {
		blk_set_err(q->b, "compat=0.10 requires refcount_bits=16");
		return -ENOTSUP;
	}
	for (uint32_t i = 0; i < q->nb_snapshots; i++) {
		if (q->snaps[i].vm_state_size > UINT32_MAX ||
		    q->snaps[i].disk_size != q->b->size) {
			blk_set_err(q->b, "Internal snapshots prevent downgrade "
				    "of image");
			return -ENOTSUP;
		}
	}
	q->incompat &= ~QCOW2_INCOMPAT_DIRTY;	/* repaired on open */
	if (q->incompat & ~QCOW2_INCOMPAT_COMPRESSION) {
		blk_set_err(q->b, "Cannot downgrade an image with incompatible "
			    "features 0x%llx set", (unsigned long long)
			    (q->incompat & ~QCOW2_INCOMPAT_COMPRESSION));
		return -ENOTSUP;
	}
	ret = scan_active(q, &zero, &compressed);
	if (ret == 0)
		ret = snapshots_have_zero_clusters(q, &snap_zero);
	if (ret < 0)
		return ret;
	if ((q->incompat & QCOW2_INCOMPAT_COMPRESSION) && compressed) {
		blk_set_err(q->b, "Cannot downgrade an image with zstd "
			    "compression type and existing compressed clusters");
		return -ENOTSUP;
	}
	if (snap_zero) {
		/* qemu rewrites them in the snapshots' tables; we do not yet. */
		blk_set_err(q->b, "Cannot downgrade an image whose internal "
			    "snapshots hold zero clusters");
		return -ENOTSUP;
	}
	if (zero) {
		ret = expand_zero_clusters(q);
		if (ret < 0)
			return ret;
	}
	q->incompat = 0;
	q->compat = 0;
	q->autoclear = 0;
	q->compression_type = QCOW2_COMPRESS_ZLIB;
	return rewrite_header(q, 2);
}

/*
 * New refcount structures for a new width, written past the end of the
 * file: every refcount copied from the old ones (so the old structures
 * count as in use), the new blocks and table counted once. The header
 * then switches to them in one sector write, and only after that are the
 * old table and blocks freed.
 */
static int change_refcount_order(struct qcow2 *q, unsigned order)
{
	uint64_t cs = q->cluster_size, bits = 1ULL << order;
	uint64_t max = bits == 64 ? UINT64_MAX : (1ULL << bits) - 1;
	uint64_t per_block = cs * 8 / bits, nclusters, blocks = 0, table = 0;
	uint64_t last, n = 0, old_rt = q->rt_offset, old_rt_clusters = q->rt_clusters;
	uint64_t *rc = NULL, *old_blocks = NULL, n_old = 0;
	uint8_t *buf = NULL, hdr[104];
	struct stat st;
	struct qcow2 nq;
	int ret = qcow2_flush_meta(q);

	if (ret < 0)
		return ret;
	if (fstat(q->fd, &st) < 0)
		return -errno;
	nclusters = MAX(ALIGN_UP((uint64_t)st.st_size, cs) / cs, q->alloc_end);
	rc = calloc(nclusters ? nclusters : 1, sizeof(*rc));
	old_blocks = calloc(q->rt_entries ? q->rt_entries : 1, sizeof(*old_blocks));
	buf = malloc(cs);
	if (!rc || !old_blocks || !buf) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint64_t c = 0; c < nclusters; c++) {
		ret = qcow2_get_refcount(q, c, &rc[c]);
		if (ret < 0)
			goto out;
		if (rc[c] > max) {
			blk_set_err(q->b, "Cannot decrease refcount entry width "
				    "to %u bits: Cluster at offset %#llx has a "
				    "refcount of %llu", (unsigned)bits,
				    (unsigned long long)(c * cs),
				    (unsigned long long)rc[c]);
			ret = -EINVAL;
			goto out;
		}
	}
	for (uint64_t i = 0; i < q->rt_entries; i++)
		if (q->rt[i] & QCOW2_RTE_OFFSET_MASK)
			old_blocks[n_old++] = q->rt[i] & QCOW2_RTE_OFFSET_MASK;
	/* Blocks and table that also count themselves: the fixed point. */
	do {
		last = n;
		blocks = DIV_ROUND_UP_U64(nclusters + blocks + table, per_block);
		table = DIV_ROUND_UP_U64(blocks * 8, cs);
		n = nclusters + blocks + table;
	} while (n != last);
	if (table * cs > QCOW2_MAX_RT_BYTES) {
		blk_set_err(q->b, "the refcount table would exceed %llu bytes",
			    (unsigned long long)QCOW2_MAX_RT_BYTES);
		ret = -EFBIG;
		goto out;
	}
	nq = *q;	/* for the packing helpers of the new width */
	nq.refcount_order = order;
	nq.refcount_bits = (unsigned)bits;
	for (uint64_t b = 0; b < blocks; b++) {
		memset(buf, 0, cs);
		for (uint64_t i = 0; i < per_block; i++) {
			uint64_t c = b * per_block + i;

			if (c < nclusters)
				qcow2_rb_set(&nq, buf, i, rc[c]);
			else if (c < n)
				qcow2_rb_set(&nq, buf, i, 1);
		}
		ret = blk_file_pwrite(q->fd, buf, cs, (nclusters + b) * cs);
		if (ret < 0)
			goto out;
	}
	for (uint64_t t = 0; t < table; t++) {
		memset(buf, 0, cs);
		for (uint64_t i = 0; i < cs / 8 && t * (cs / 8) + i < blocks; i++)
			be64_put(buf + i * 8,
				 (nclusters + t * (cs / 8) + i) * cs);
		ret = blk_file_pwrite(q->fd, buf, cs,
				      (nclusters + blocks + t) * cs);
		if (ret < 0)
			goto out;
	}
	ret = sync_fd(q);
	if (ret < 0)
		goto out;
	/* The switch: table offset, its size and the width, in sector 0. */
	ret = blk_file_pread(q->fd, hdr, sizeof(hdr), 0);
	if (ret < 0)
		goto out;
	be64_put(hdr + 48, (nclusters + blocks) * cs);
	be32_put(hdr + 56, (uint32_t)table);
	be32_put(hdr + 96, order);
	ret = blk_file_pwrite(q->fd, hdr, sizeof(hdr), 0);
	if (ret == 0)
		ret = sync_fd(q);
	if (ret < 0)
		goto out;
	/* Now the image is the new one; reload and free the old structures. */
	for (unsigned i = 0; i < q->rc_cache.n; i++)
		q->rc_cache.e[i].offset = 0;
	free(q->rt);
	q->rt = NULL;
	q->refcount_order = order;
	q->refcount_bits = (unsigned)bits;
	q->refcount_max = max;
	q->rb_shift = q->cluster_bits + 3 - order;
	q->rt_offset = (nclusters + blocks) * cs;
	q->rt_clusters = (uint32_t)table;
	ret = qcow2_load_refcount_table(q);
	if (ret == 0)
		ret = qcow2_update_refcount(q, old_rt, old_rt_clusters * cs, -1);
	for (uint64_t i = 0; i < n_old && ret == 0; i++)
		ret = qcow2_update_refcount(q, old_blocks[i], cs, -1);
	if (ret == 0)
		ret = qcow2_flush_meta(q);
out:
	free(rc);
	free(old_blocks);
	free(buf);
	return ret;
}

static int set_lazy_refcounts(struct qcow2 *q, bool on)
{
	uint8_t v[8];
	uint64_t compat = on ? q->compat | QCOW2_COMPAT_LAZY_REFCOUNTS :
			       q->compat & ~QCOW2_COMPAT_LAZY_REFCOUNTS;
	int ret = qcow2_flush_meta(q);	/* clean before lazy goes away */

	if (ret < 0)
		return ret;
	be64_put(v, compat);
	ret = blk_file_pwrite(q->fd, v, 8, 80);
	if (ret == 0)
		ret = sync_fd(q);
	if (ret < 0) {
		blk_set_err(q->b, "Failed to update the image header: %s",
			    strerror(-ret));
		return ret;
	}
	q->compat = compat;
	return 0;
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

int qcow2_amend(struct blk *b, const struct blk_amend_opts *o)
{
	struct qcow2 *q = qcow2_of(b);
	unsigned version = o->version ? o->version : q->version;
	unsigned rbits = o->refcount_bits ? o->refcount_bits : q->refcount_bits;
	bool lazy = q->compat & QCOW2_COMPAT_LAZY_REFCOUNTS;
	int ret;

	if (rbits > 64 || (rbits & (rbits - 1))) {
		blk_set_err(b, "Refcount width must be a power of two and may "
			    "not exceed 64 bits");
		return -EINVAL;
	}
	if (rbits != q->refcount_bits && rbits != 16 && version < 3) {
		blk_set_err(b, "Refcount widths other than 16 bits require "
			    "compatibility level 1.1 or above (use compat=1.1 "
			    "or greater)");
		return -EINVAL;
	}
	if ((o->backing_file || o->backing_fmt) &&
	    (!same_str(o->backing_file, b->backing_name) ||
	     !same_str(o->backing_fmt, b->backing_fmt))) {
		blk_set_err(b, "Cannot amend the backing file\nYou can use "
			    "'vireo-img rebase' instead.");
		return -EINVAL;
	}
	if (o->lazy_refcounts >= 0 && o->lazy_refcounts != lazy &&
	    o->lazy_refcounts && version < 3) {
		blk_set_err(b, "Lazy refcounts only supported with "
			    "compatibility level 1.1 and above (use compat=1.1 "
			    "or greater)");
		return -EINVAL;
	}
	if (version > q->version) {
		ret = upgrade(q);
		if (ret < 0)
			return ret;
	}
	if (rbits != q->refcount_bits) {
		ret = change_refcount_order(q, (unsigned)__builtin_ctz(rbits));
		if (ret < 0)
			return ret;
	}
	if (o->lazy_refcounts >= 0 && o->lazy_refcounts != lazy) {
		ret = set_lazy_refcounts(q, o->lazy_refcounts);
		if (ret < 0)
			return ret;
	}
	if (o->size && o->size != b->size) {
		ret = blk_truncate(b, o->size, true);
		if (ret < 0)
			return ret;
	}
	if (version < q->version)
		return downgrade(q);
	return 0;
}
