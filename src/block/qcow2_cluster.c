/*
 * qcow2 guest-to-host mapping: L2 lookups through the cache, reads (normal,
 * zero, compressed, backing, extended-L2 subclusters), allocating writes
 * with copy-on-write of the untouched parts of a cluster, zeroing and
 * discard, block status, L1 growth and compressed writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "lib/util.h"

#define SUBCLUSTERS 32

static int bad_entry(struct qcow2 *q, uint64_t guest_off, uint64_t e,
		     const char *why)
{
	blk_set_err(q->b, "L2 entry %#llx for guest offset %#llx %s "
		    "(image corrupt)", (unsigned long long)e,
		    (unsigned long long)guest_off, why);
	return -EIO;
}

/*
 * Find the L2 table covering guest_off. With alloc, a missing table is
 * created and a shared one (L1 entry without COPIED) is copied first.
 * *tbl is NULL when the table does not exist and alloc is false.
 */
int qcow2_get_l2(struct qcow2 *q, uint64_t guest_off, bool alloc,
		 uint8_t **tbl, uint64_t *idx)
{
	uint64_t l1i = guest_off >> (q->cluster_bits + q->l2_bits);
	uint64_t l1e, off;
	uint8_t *old;
	int64_t noff;
	int ret;

	*idx = (guest_off >> q->cluster_bits) & (qcow2_l2_entries(q) - 1);
	*tbl = NULL;
	if (l1i >= q->l1_size) {
		if (!alloc)
			return 0;
		blk_set_err(q->b, "guest offset %#llx beyond the L1 table",
			    (unsigned long long)guest_off);
		return -EIO;
	}
	l1e = q->l1[l1i];
	off = l1e & QCOW2_L1E_OFFSET_MASK;
	if (l1e & QCOW2_L1E_RESERVED || (off & (q->cluster_size - 1))) {
		blk_set_err(q->b, "L1 entry %llu (%#llx) is invalid (image "
			    "corrupt)", (unsigned long long)l1i,
			    (unsigned long long)l1e);
		return -EIO;
	}
	if (!off) {
		if (!alloc)
			return 0;
		noff = qcow2_alloc_clusters(q, 1);
		if (noff < 0)
			return (int)noff;
		ret = qcow2_cache_get(q, &q->l2_cache, (uint64_t)noff, true, tbl);
		if (ret < 0)
			return ret;
		qcow2_cache_dirty(&q->l2_cache, *tbl);
		q->l1[l1i] = (uint64_t)noff | QCOW2_OFLAG_COPIED;
		q->l1_dirty = true;
		return 0;
	}
	ret = qcow2_check_table_offset(q, off, q->cluster_size, "L2 table");
	if (ret < 0)
		return ret;
	if (alloc && !(l1e & QCOW2_OFLAG_COPIED)) {
		/* Shared with a snapshot: copy the table before changing it. */
		uint8_t *copy = malloc(q->cluster_size);

		if (!copy)
			return -ENOMEM;
		ret = qcow2_cache_get(q, &q->l2_cache, off, false, &old);
		if (ret == 0)
			memcpy(copy, old, q->cluster_size);
		noff = ret < 0 ? ret : qcow2_alloc_clusters(q, 1);
		if (noff >= 0)
			ret = qcow2_cache_get(q, &q->l2_cache, (uint64_t)noff,
					      true, tbl);
		if (noff < 0 || ret < 0) {
			free(copy);
			return noff < 0 ? (int)noff : ret;
		}
		memcpy(*tbl, copy, q->cluster_size);
		free(copy);
		qcow2_cache_dirty(&q->l2_cache, *tbl);
		q->l1[l1i] = (uint64_t)noff | QCOW2_OFLAG_COPIED;
		q->l1_dirty = true;
		return qcow2_free_deferred(q, off, q->cluster_size);
	}
	return qcow2_cache_get(q, &q->l2_cache, off, false, tbl);
}

uint64_t qcow2_l2_entry_at(const struct qcow2 *q, const uint8_t *tbl,
			   uint64_t idx, uint64_t *bitmap)
{
	if (bitmap)
		*bitmap = q->ext_l2 ? be64_get(tbl + idx * 16 + 8) : 0;
	return be64_get(tbl + idx * q->l2_entry_size);
}

void qcow2_set_l2_entry(struct qcow2 *q, uint8_t *tbl, uint64_t idx, uint64_t e)
{
	be64_put(tbl + idx * q->l2_entry_size, e);
	qcow2_cache_dirty(&q->l2_cache, tbl);
}

int qcow2_get_l2e(struct qcow2 *q, uint64_t guest_off, uint64_t *l2e,
		  uint64_t *bitmap)
{
	uint8_t *tbl;
	uint64_t idx;
	int ret = qcow2_get_l2(q, guest_off, false, &tbl, &idx);

	*l2e = 0;
	if (bitmap)
		*bitmap = 0;
	if (ret < 0 || !tbl)
		return ret;
	*l2e = qcow2_l2_entry_at(q, tbl, idx, bitmap);
	return 0;
}

/* Validate a normal entry's host offset; returns it or a negative error. */
static int64_t normal_host(struct qcow2 *q, uint64_t guest_off, uint64_t e)
{
	uint64_t host = e & QCOW2_L2E_OFFSET_MASK;

	if (e & QCOW2_L2E_RESERVED)
		return bad_entry(q, guest_off, e, "has reserved bits set");
	if (host & (q->cluster_size - 1))
		return bad_entry(q, guest_off, e, "is not cluster-aligned");
	return (int64_t)host;
}

static int read_backing(struct qcow2 *q, uint64_t off, uint8_t *buf, size_t n)
{
	struct blk *bk = q->b->backing;
	size_t have = 0;
	int ret;

	if (bk && off < bk->size) {
		have = (size_t)MIN((uint64_t)n, bk->size - off);
		ret = blk_pread(bk, off, buf, have);
		if (ret < 0) {
			blk_set_err(q->b, "backing file: %s", blk_errmsg(bk));
			return ret;
		}
	}
	memset(buf + have, 0, n - have);
	return 0;
}

static int read_compressed(struct qcow2 *q, uint64_t guest_off, uint64_t e,
			   uint8_t *out)
{
	uint64_t host = e & ((1ULL << q->csize_shift) - 1);
	uint64_t sectors = ((e >> q->csize_shift) & q->csize_mask) + 1;
	uint64_t clen = sectors * 512 - (host & 511);
	int ret;

	if (e & QCOW2_OFLAG_COPIED)
		return bad_entry(q, guest_off, e, "is compressed and COPIED");
	if (host < q->cluster_size)
		return bad_entry(q, guest_off, e, "points into the header");
	ret = blk_file_pread(q->fd, q->cbuf, clen, host);
	if (ret < 0) {
		blk_set_err(q->b, "reading compressed cluster: %s",
			    strerror(-ret));
		return ret;
	}
	ret = qcow2_decompress(q, q->cbuf, clen, out, q->cluster_size);
	if (ret < 0)
		return bad_entry(q, guest_off, e, "holds data that does not "
				 "decompress");
	return 0;
}

/* Read [off, off+n) inside one guest cluster whose entry is e. */
static int read_in_cluster(struct qcow2 *q, uint64_t off, uint64_t e,
			   uint64_t bitmap, uint8_t *buf, size_t n)
{
	uint64_t in = qcow2_offset_in_cluster(q, off);
	int64_t host;
	int ret;

	switch (qcow2_l2_type(q, e)) {
	case QCOW2_C_ZERO_PLAIN:
	case QCOW2_C_ZERO_ALLOC:
		memset(buf, 0, n);
		return 0;
	case QCOW2_C_COMPRESSED: {
		uint8_t *tmp = malloc(q->cluster_size);

		if (!tmp)
			return -ENOMEM;
		ret = read_compressed(q, off, e, tmp);
		if (ret == 0)
			memcpy(buf, tmp + in, n);
		free(tmp);
		return ret;
	}
	case QCOW2_C_UNALLOCATED:
		if (!q->ext_l2 || !(bitmap & 0xffffffff00000000ULL))
			return read_backing(q, off, buf, n);
		host = 0;
		break;
	case QCOW2_C_NORMAL:
		host = normal_host(q, off, e);
		if (host < 0)
			return (int)host;
		if (!q->ext_l2) {
			ret = blk_file_pread(q->fd, buf, n, (uint64_t)host + in);
			if (ret < 0)
				blk_set_err(q->b, "read: %s", strerror(-ret));
			return ret;
		}
		break;
	default:
		return -EIO;
	}
	/* Extended L2: each subcluster is allocated, zero or unallocated. */
	{
		uint64_t scs = q->cluster_size / SUBCLUSTERS;

		if ((bitmap & 0xffffffffULL) & (bitmap >> 32))
			return bad_entry(q, off, e, "has subclusters both "
					 "allocated and zero");
		while (n) {
			unsigned sc = (unsigned)(in / scs);
			size_t part = (size_t)MIN((uint64_t)n, (sc + 1) * scs - in);

			if (bitmap & (1ULL << sc)) {
				if (!host)
					return bad_entry(q, off, e, "has allocated "
							 "subclusters but no offset");
				ret = blk_file_pread(q->fd, buf, part,
						     (uint64_t)host + in);
			} else if (bitmap & (1ULL << (sc + 32))) {
				memset(buf, 0, part);
				ret = 0;
			} else {
				ret = read_backing(q, off, buf, part);
			}
			if (ret < 0)
				return ret;
			buf += part;
			off += part;
			in += part;
			n -= part;
		}
	}
	return 0;
}

int qcow2_read_data(struct qcow2 *q, uint64_t off, uint8_t *buf, size_t len)
{
	while (len) {
		uint8_t *tbl;
		uint64_t idx, e, bitmap, in = qcow2_offset_in_cluster(q, off);
		size_t n = (size_t)MIN((uint64_t)len, q->cluster_size - in);
		int ret = qcow2_get_l2(q, off, false, &tbl, &idx);

		if (ret < 0)
			return ret;
		e = tbl ? qcow2_l2_entry_at(q, tbl, idx, &bitmap) : 0;
		if (!tbl)
			bitmap = 0;
		if (!q->ext_l2 && qcow2_l2_type(q, e) == QCOW2_C_NORMAL) {
			/* Coalesce host-contiguous clusters into one read. */
			int64_t host = normal_host(q, off, e);

			if (host < 0)
				return (int)host;
			while (n < len && idx + 1 < qcow2_l2_entries(q)) {
				uint64_t ne = qcow2_l2_entry_at(q, tbl, idx + 1, NULL);

				if (qcow2_l2_type(q, ne) != QCOW2_C_NORMAL ||
				    (ne & QCOW2_L2E_OFFSET_MASK) !=
				    (uint64_t)host + (n + in))
					break;
				idx++;
				n += (size_t)MIN((uint64_t)(len - n), q->cluster_size);
			}
			ret = blk_file_pread(q->fd, buf, n, (uint64_t)host + in);
			if (ret < 0) {
				blk_set_err(q->b, "read: %s", strerror(-ret));
				return ret;
			}
		} else {
			ret = read_in_cluster(q, off, e, bitmap, buf, n);
			if (ret < 0)
				return ret;
		}
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

static bool writable_in_place(const struct qcow2 *q, uint64_t e)
{
	return qcow2_l2_type(q, e) == QCOW2_C_NORMAL &&
	       (e & QCOW2_OFLAG_COPIED);
}

/*
 * Allocating write of [off, off+len) starting in table slot idx: take a
 * run of clusters that need new space, fill the head and tail of the run
 * from what the guest saw before (copy-on-write), write it all, then point
 * the L2 entries at it and drop the old references (deferred).
 */
static int write_alloc(struct qcow2 *q, uint64_t off, const uint8_t *buf,
		       uint64_t len, uint64_t *done)
{
	uint64_t in = qcow2_offset_in_cluster(q, off), idx, k = 0, bytes, end;
	uint64_t first_e, last_e;
	uint8_t *tbl, *head = NULL, *tail = NULL;
	struct iovec iov[3];
	int niov = 0, ret;
	int64_t host;

	ret = qcow2_get_l2(q, off, true, &tbl, &idx);
	if (ret < 0)
		return ret;
	/* Runs stay within one L2 table and well inside a refcount region. */
	while (idx + k < qcow2_l2_entries(q) && k * q->cluster_size < in + len &&
	       k < MAX(1, (1ULL << q->rb_shift) / 4) &&
	       !writable_in_place(q, qcow2_l2_entry_at(q, tbl, idx + k, NULL)))
		k++;
	bytes = MIN(len, k * q->cluster_size - in);
	end = in + bytes;
	first_e = qcow2_l2_entry_at(q, tbl, idx, NULL);
	last_e = qcow2_l2_entry_at(q, tbl, idx + k - 1, NULL);
	host = qcow2_alloc_clusters(q, k);
	if (host < 0)
		return (int)host;
	if (in) {
		head = malloc(in);
		if (!head)
			return -ENOMEM;
		ret = read_in_cluster(q, off - in, first_e, 0, head, in);
		if (ret < 0)
			goto out;
		iov[niov++] = (struct iovec){ head, in };
	}
	iov[niov++] = (struct iovec){ (void *)buf, bytes };
	if (end & (q->cluster_size - 1)) {
		uint64_t t = q->cluster_size - (end & (q->cluster_size - 1));

		tail = malloc(t);
		if (!tail) {
			ret = -ENOMEM;
			goto out;
		}
		ret = read_in_cluster(q, off - in + end, last_e, 0, tail, t);
		if (ret < 0)
			goto out;
		iov[niov++] = (struct iovec){ tail, t };
	}
	{
		uint64_t pos = (uint64_t)host;

		for (int i = 0; i < niov; i++) {
			ret = blk_file_pwrite(q->fd, iov[i].iov_base,
					      iov[i].iov_len, pos);
			if (ret < 0) {
				blk_set_err(q->b, "write: %s", strerror(-ret));
				goto out;
			}
			pos += iov[i].iov_len;
		}
	}
	/* The table may have left the cache while we read the COW data. */
	ret = qcow2_get_l2(q, off, true, &tbl, &idx);
	if (ret < 0)
		goto out;
	for (uint64_t i = 0; i < k; i++) {
		uint64_t old = qcow2_l2_entry_at(q, tbl, idx + i, NULL);

		qcow2_set_l2_entry(q, tbl, idx + i, ((uint64_t)host + i * q->cluster_size) |
			  QCOW2_OFLAG_COPIED);
		ret = qcow2_free_entry_clusters(q, old);
		if (ret < 0)
			goto out;
	}
	*done = bytes;
out:
	free(head);
	free(tail);
	return ret;
}

int qcow2_write_data(struct qcow2 *q, uint64_t off, const uint8_t *buf,
		     size_t len)
{
	while (len) {
		uint8_t *tbl;
		uint64_t idx, e, in = qcow2_offset_in_cluster(q, off), n = 0;
		int ret = qcow2_get_l2(q, off, true, &tbl, &idx);

		if (ret < 0)
			return ret;
		e = qcow2_l2_entry_at(q, tbl, idx, NULL);
		if (writable_in_place(q, e)) {
			int64_t host = normal_host(q, off, e);

			if (host < 0)
				return (int)host;
			n = MIN((uint64_t)len, q->cluster_size - in);
			while (n < len && idx + 1 < qcow2_l2_entries(q)) {
				uint64_t ne = qcow2_l2_entry_at(q, tbl, idx + 1, NULL);

				if (!writable_in_place(q, ne) ||
				    (ne & QCOW2_L2E_OFFSET_MASK) !=
				    (uint64_t)host + in + n)
					break;
				idx++;
				n += MIN((uint64_t)len - n, q->cluster_size);
			}
			ret = blk_file_pwrite(q->fd, buf, n, (uint64_t)host + in);
			if (ret < 0) {
				blk_set_err(q->b, "write: %s", strerror(-ret));
				return ret;
			}
		} else {
			ret = write_alloc(q, off, buf, len, &n);
			if (ret < 0)
				return ret;
		}
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int write_zero_bytes(struct qcow2 *q, uint64_t off, uint64_t len)
{
	uint8_t *z = calloc(1, q->cluster_size);
	int ret = 0;

	if (!z)
		return -ENOMEM;
	while (len && !ret) {
		uint64_t n = MIN(len, q->cluster_size -
				 qcow2_offset_in_cluster(q, off));

		ret = qcow2_write_data(q, off, z, n);
		off += n;
		len -= n;
	}
	free(z);
	return ret;
}

/*
 * Zero (or discard) [off, off+len). Whole clusters become zero clusters
 * (v3), or unallocated where that reads as zeroes; the old space is freed.
 * Partial clusters are written with zeroes, or left alone by discard.
 */
int qcow2_zero_or_discard(struct qcow2 *q, uint64_t off, uint64_t len,
			  int mode)
{
	bool has_backing = q->b->backing_name != NULL;
	bool discard = mode != QCOW2_ZERO;

	while (len) {
		uint64_t in = qcow2_offset_in_cluster(q, off);
		uint64_t n = MIN(len, q->cluster_size - in), idx, old, ne;
		uint8_t *tbl;
		int ret;

		if (in || n < q->cluster_size || (off + n > q->b->size &&
						  q->b->size % q->cluster_size)) {
			if (!discard) {
				ret = write_zero_bytes(q, off, n);
				if (ret < 0)
					return ret;
			}
			goto next;
		}
		if (mode == QCOW2_FULL_DISCARD)
			ne = 0;
		else if (q->version >= 3)
			ne = QCOW2_OFLAG_ZERO;
		else if (!has_backing)
			ne = 0;
		else if (discard)
			ne = 0;
		else {
			ret = write_zero_bytes(q, off, n);
			if (ret < 0)
				return ret;
			goto next;
		}
		ret = qcow2_get_l2e(q, off, &old, NULL);
		if (ret < 0)
			return ret;
		if (old == ne || (!old && (!has_backing || mode == QCOW2_FULL_DISCARD) &&
				       (discard || q->version < 3)))
			goto next;
		ret = qcow2_get_l2(q, off, true, &tbl, &idx);
		if (ret < 0)
			return ret;
		old = qcow2_l2_entry_at(q, tbl, idx, NULL);
		qcow2_set_l2_entry(q, tbl, idx, ne);
		ret = qcow2_discard_entry_clusters(q, old);
		if (ret < 0)
			return ret;
next:
		off += n;
		len -= n;
	}
	return 0;
}

int qcow2_status(struct qcow2 *q, uint64_t off, uint64_t len,
		 uint64_t *pnum, uint64_t *host_off)
{
	uint64_t e, bitmap, n, in = qcow2_offset_in_cluster(q, off);
	enum qcow2_ctype t;
	int ret = qcow2_get_l2e(q, off, &e, &bitmap), flags;

	if (ret < 0)
		return ret;
	t = qcow2_l2_type(q, e);
	n = MIN(len, q->cluster_size - in);
	if (q->ext_l2 && t != QCOW2_C_COMPRESSED) {
		uint64_t scs = q->cluster_size / SUBCLUSTERS;
		unsigned sc = (unsigned)(in / scs);

		n = MIN(len, (sc + 1) * scs - in);
		*pnum = n;
		if (bitmap & (1ULL << sc)) {
			int64_t host = normal_host(q, off, e);

			if (host < 0)
				return (int)host;
			*host_off = (uint64_t)host + in;
			return BLK_STATUS_DATA | BLK_STATUS_ALLOCATED |
			       BLK_STATUS_OFFSET_VALID;
		}
		if (bitmap & (1ULL << (sc + 32)))
			return BLK_STATUS_ZERO | BLK_STATUS_ALLOCATED;
		return q->b->backing ? 0 : BLK_STATUS_ZERO;
	}
	switch (t) {
	case QCOW2_C_NORMAL: {
		/* Checked as a read checks it: callers read *host_off. */
		int64_t host = normal_host(q, off, e);

		if (host < 0)
			return (int)host;
		*host_off = (uint64_t)host + in;
		flags = BLK_STATUS_DATA | BLK_STATUS_ALLOCATED |
			BLK_STATUS_OFFSET_VALID;
		break;
	}
	case QCOW2_C_ZERO_PLAIN:
		flags = BLK_STATUS_ZERO | BLK_STATUS_ALLOCATED;
		break;
	case QCOW2_C_ZERO_ALLOC:
		*host_off = (e & QCOW2_L2E_OFFSET_MASK) + in;
		flags = BLK_STATUS_ZERO | BLK_STATUS_ALLOCATED |
			BLK_STATUS_OFFSET_VALID;
		break;
	case QCOW2_C_COMPRESSED:
		flags = BLK_STATUS_DATA | BLK_STATUS_ALLOCATED |
			BLK_STATUS_COMPRESSED;
		break;
	default:
		flags = q->b->backing ? 0 : BLK_STATUS_ZERO;
		break;
	}
	/* Extend over following clusters of the same kind. */
	while (n < len) {
		uint64_t ne, nb;

		ret = qcow2_get_l2e(q, off + n, &ne, &nb);
		if (ret < 0)
			return ret;
		if (qcow2_l2_type(q, ne) != t || t == QCOW2_C_COMPRESSED)
			break;
		if (t == QCOW2_C_NORMAL && (ne & QCOW2_L2E_RESERVED))
			break;	/* the next call reports it */
		if ((t == QCOW2_C_NORMAL || t == QCOW2_C_ZERO_ALLOC) &&
		    (ne & QCOW2_L2E_OFFSET_MASK) !=
		    (e & QCOW2_L2E_OFFSET_MASK) + in + n)
			break;
		n += MIN(len - n, q->cluster_size);
	}
	*pnum = n;
	return flags;
}

/* Make the L1 table at least min_size entries: written to new clusters,
 * synced, then the header switched, then the old table freed. */
int qcow2_grow_l1(struct qcow2 *q, uint64_t min_size)
{
	uint64_t bytes = min_size * 8, old_off = q->l1_offset;
	uint64_t old_bytes = (uint64_t)q->l1_size * 8;
	uint64_t *nl1, *be;
	int64_t off;
	int ret;

	if (min_size <= q->l1_size)
		return 0;
	if (bytes > QCOW2_MAX_L1_BYTES) {
		blk_set_err(q->b, "L1 table would exceed %llu bytes",
			    QCOW2_MAX_L1_BYTES);
		return -EFBIG;
	}
	nl1 = calloc(min_size, 8);
	be = calloc(min_size, 8);
	if (!nl1 || !be) {
		free(nl1);
		free(be);
		return -ENOMEM;
	}
	memcpy(nl1, q->l1, old_bytes);
	off = qcow2_alloc_clusters(q, ALIGN_UP(bytes, q->cluster_size) >>
				   q->cluster_bits);
	ret = off < 0 ? (int)off : qcow2_flush_meta(q);
	for (uint64_t i = 0; i < min_size; i++)
		be[i] = htobe64(nl1[i]);
	if (ret == 0)
		ret = blk_file_pwrite(q->fd, be, bytes, (uint64_t)off);
	if (ret == 0 && fdatasync(q->fd) < 0)
		ret = -errno;
	free(be);
	if (ret < 0) {
		free(nl1);
		return ret;
	}
	free(q->l1);
	q->l1 = nl1;
	q->l1_offset = (uint64_t)off;
	q->l1_size = (uint32_t)min_size;
	ret = qcow2_write_header_fields(q);
	if (ret == 0 && fdatasync(q->fd) < 0)
		ret = -errno;
	if (ret == 0 && old_bytes)
		ret = qcow2_update_refcount(q, old_off, old_bytes, -1);
	return ret;
}

/*
 * Compress one guest cluster (the image's last one may be short and is
 * padded with zeroes). Returns the compressed length, 0 when compression
 * does not pay (the caller then writes the data plainly), or -errno.
 * Needs no lock: many threads may compress at once.
 */
ssize_t qcow2_compress_cluster(const struct qcow2 *q, const uint8_t *buf,
			       size_t len, uint8_t *dst)
{
	uint8_t *src = (uint8_t *)buf;
	ssize_t clen;

	if (len > q->cluster_size)
		return -EINVAL;
	if (len < q->cluster_size) {
		src = calloc(1, q->cluster_size);
		if (!src)
			return -ENOMEM;
		memcpy(src, buf, len);
	}
	clen = qcow2_compress(q->compression_type, src, q->cluster_size, dst,
			      q->cluster_size - 512);
	if (src != buf)
		free(src);
	return clen;
}

/* Store clen bytes of compressed data as guest cluster off. */
int qcow2_write_precompressed(struct qcow2 *q, uint64_t off,
			      const uint8_t *cdata, size_t clen)
{
	struct iovec one = { (void *)cdata, clen };

	return qcow2_write_precompressed_run(q, off, &one, 1);
}

int qcow2_write_compressed(struct qcow2 *q, uint64_t off, const uint8_t *buf,
			   size_t len)
{
	uint8_t *dst;
	ssize_t clen;
	int ret;

	if (qcow2_offset_in_cluster(q, off) || len > q->cluster_size) {
		blk_set_err(q->b, "compressed writes must be whole clusters");
		return -EINVAL;
	}
	dst = malloc(q->cluster_size);
	if (!dst)
		return -ENOMEM;
	clen = qcow2_compress_cluster(q, buf, len, dst);
	if (clen < 0)
		ret = (int)clen;
	else if (clen == 0)	/* does not shrink: store it plain */
		ret = qcow2_write_data(q, off, buf, len);
	else
		ret = qcow2_write_precompressed(q, off, dst, (size_t)clen);
	free(dst);
	return ret;
}

/* preallocation=metadata|falloc|full: map every guest cluster now. */
int qcow2_preallocate(struct qcow2 *q, const char *mode)
{
	uint64_t off = 0, end = 0;

	if (strcmp(mode, "metadata") && strcmp(mode, "falloc") &&
	    strcmp(mode, "full")) {
		blk_set_err(q->b, "Invalid preallocation mode: '%s'", mode);
		return -EINVAL;
	}
	while (off < q->b->size) {
		uint64_t idx, k;
		uint8_t *tbl;
		int64_t host;
		int ret = qcow2_get_l2(q, off, true, &tbl, &idx);

		if (ret < 0)
			return ret;
		k = MIN(qcow2_l2_entries(q) - idx,
			(q->b->size - off + q->cluster_size - 1) >> q->cluster_bits);
		host = qcow2_alloc_clusters(q, k);
		if (host < 0)
			return (int)host;
		ret = qcow2_get_l2(q, off, true, &tbl, &idx);
		if (ret < 0)
			return ret;
		for (uint64_t i = 0; i < k; i++)
			qcow2_set_l2_entry(q, tbl, idx + i, ((uint64_t)host +
				  i * q->cluster_size) | QCOW2_OFLAG_COPIED);
		if (!strcmp(mode, "falloc") &&
		    posix_fallocate(q->fd, host, (off_t)(k * q->cluster_size)))
			return -EIO;
		if (!strcmp(mode, "full")) {
			uint8_t *z = calloc(1, q->cluster_size);

			for (uint64_t i = 0; z && i < k && !ret; i++)
				ret = blk_file_pwrite(q->fd, z, q->cluster_size,
						      (uint64_t)host +
						      i * q->cluster_size);
			free(z);
			if (!z || ret)
				return ret ? ret : -ENOMEM;
		}
		end = MAX(end, (uint64_t)host + k * q->cluster_size);
		off += k * q->cluster_size - qcow2_offset_in_cluster(q, off);
	}
	if (end && ftruncate(q->fd, (off_t)MAX(end, q->alloc_end <<
						q->cluster_bits)) < 0)
		return -errno;
	return 0;
}
