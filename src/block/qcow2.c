/*
 * qcow2 driver: the struct blk_driver glue. Open validates the header and
 * tables (hostile input), sets the dirty bit while lazy refcounts are in
 * use, and close/flush write the metadata back in order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "block/qcow2.h"
#include "lib/util.h"

/* As QEMU: about 1 MiB of L2 tables (8 GiB mapped with 64 KiB clusters),
 * within bounds that keep the cache's linear lookup cheap. */
#define L2_CACHE_BYTES	(1 * MiB)
#define L2_CACHE_MIN	16
#define L2_CACHE_MAX	256
#define RC_CACHE_BLOCKS	16

static int qcow2_probe(const uint8_t *buf, size_t len)
{
	if (len >= 8 && be32_get(buf) == QCOW2_MAGIC &&
	    (be32_get(buf + 4) == 2 || be32_get(buf + 4) == 3))
		return 100;
	return 0;
}

static void qcow2_free(struct qcow2 *q)
{
	if (!q)
		return;
	qcow2_cache_free(&q->l2_cache);
	qcow2_cache_free(&q->rc_cache);
	for (uint32_t i = 0; q->snaps && i < q->nb_snapshots; i++) {
		free(q->snaps[i].id);
		free(q->snaps[i].name);
	}
	free(q->snaps);
	free(q->l1);
	free(q->rt);
	free(q->pending);
	free(q->cbuf);
	if (q->zstd_dctx)
		ZSTD_freeDCtx(q->zstd_dctx);
	free(q);
}

static int qcow2_open(struct blk *b, const struct blk_open_opts *o)
{
	struct qcow2 *q = calloc(1, sizeof(*q));
	int ret;

	if (!q)
		return -ENOMEM;
	b->priv = q;
	q->b = b;
	q->fd = b->fd;
	ret = qcow2_read_header(q, b, o->read_only || o->check_only);
	if (ret < 0)
		goto fail;
	if (q->ext_l2 && !o->read_only) {
		blk_set_err(b, "writing images with extended L2 entries is not "
			    "supported yet; open read-only");
		ret = -ENOTSUP;
		goto fail;
	}
	ret = qcow2_cache_init(&q->l2_cache,
			       (unsigned)MIN(MAX(L2_CACHE_BYTES / q->cluster_size,
						 L2_CACHE_MIN), L2_CACHE_MAX),
			       q->cluster_size);
	if (ret == 0)
		ret = qcow2_cache_init(&q->rc_cache, RC_CACHE_BLOCKS,
				       q->cluster_size);
	if (ret < 0)
		goto fail;
	q->cbuf = malloc(2 * q->cluster_size);
	if (!q->cbuf) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = qcow2_load_refcount_table(q);
	if (ret < 0)
		goto fail;
	if ((q->incompat & QCOW2_INCOMPAT_DIRTY) && !o->read_only &&
	    !o->check_only) {
		/* Lazy refcounts were in use when the writer stopped. */
		struct blk_check_result r = { 0 };

		ret = qcow2_check(q, BLK_FIX_LEAKS | BLK_FIX_ERRORS, &r);
		if (ret == 0 && r.corruptions) {
			blk_set_err(b, "dirty image could not be repaired "
				    "(%llu corruptions)",
				    (unsigned long long)r.corruptions);
			ret = -EIO;
		}
		if (ret == 0)
			ret = qcow2_set_incompat(q, QCOW2_INCOMPAT_DIRTY, false);
		if (ret < 0)
			goto fail;
	}
	return 0;
fail:
	if (!b->err[0])
		blk_set_err(b, "%s", strerror(-ret));
	qcow2_free(q);
	b->priv = NULL;
	return ret;
}

static int qcow2_flush(struct blk *b)
{
	return qcow2_flush_meta(qcow2_of(b));
}

static void qcow2_close(struct blk *b)
{
	struct qcow2 *q = qcow2_of(b);

	if (!q)
		return;
	if (!b->read_only)
		qcow2_flush_meta(q);
	qcow2_free(q);
	b->priv = NULL;
}

static int qcow2_pread(struct blk *b, uint64_t off, void *buf, size_t len)
{
	return qcow2_read_data(qcow2_of(b), off, buf, len);
}

static int qcow2_pwrite(struct blk *b, uint64_t off, const void *buf,
			size_t len)
{
	return qcow2_write_data(qcow2_of(b), off, buf, len);
}

static int qcow2_discard(struct blk *b, uint64_t off, uint64_t len)
{
	return qcow2_zero_or_discard(qcow2_of(b), off, len, QCOW2_DISCARD);
}

static int qcow2_write_zeroes(struct blk *b, uint64_t off, uint64_t len,
			      unsigned flags)
{
	return qcow2_zero_or_discard(qcow2_of(b), off, len, QCOW2_ZERO);
}

static int qcow2_block_status(struct blk *b, uint64_t off, uint64_t len,
			      uint64_t *pnum, uint64_t *host_off)
{
	return qcow2_status(qcow2_of(b), off, len, pnum, host_off);
}

static int qcow2_truncate(struct blk *b, uint64_t size, bool shrink)
{
	struct qcow2 *q = qcow2_of(b);
	uint64_t span = q->cluster_size << q->l2_bits;
	uint64_t old = b->size;
	int ret;

	if (q->nb_snapshots && size < old) {
		blk_set_err(b, "cannot shrink an image that has snapshots");
		return -ENOTSUP;
	}
	if (size % 512) {
		blk_set_err(b, "size must be a multiple of 512");
		return -EINVAL;
	}
	if (size < old) {
		/* Free everything past the new end (whole clusters only). */
		uint64_t start = ALIGN_UP(size, q->cluster_size);

		b->size = old;
		if (start < old) {
			ret = qcow2_zero_or_discard(q, start, old - start,
						    QCOW2_FULL_DISCARD);
			if (ret < 0)
				return ret;
			for (uint64_t o = start; o < old; o += q->cluster_size) {
				uint64_t e;

				ret = qcow2_get_l2e(q, o, &e, NULL);
				if (ret < 0)
					return ret;
				if (e) {
					blk_set_err(b, "cannot shrink: data "
						    "beyond the new end is still "
						    "mapped");
					return -EBUSY;
				}
			}
		}
	} else {
		ret = qcow2_grow_l1(q, (size + span - 1) / span);
		if (ret < 0)
			return ret;
	}
	ret = qcow2_flush_meta(q);
	if (ret < 0)
		return ret;
	b->size = size;
	ret = qcow2_write_header_fields(q);
	if (ret == 0 && fdatasync(q->fd) < 0)
		ret = -errno;
	return ret;
}

static int qcow2_check_op(struct blk *b, int fix, struct blk_check_result *r)
{
	return qcow2_check(qcow2_of(b), fix, r);
}

static int qcow2_snapshot_op(struct blk *b, int op, const char *name)
{
	switch (op) {
	case 'c': return qcow2_snapshot_create(qcow2_of(b), name);
	case 'a': return qcow2_snapshot_apply(qcow2_of(b), name);
	case 'd': return qcow2_snapshot_delete(qcow2_of(b), name);
	default: return -EINVAL;
	}
}

static int qcow2_pwrite_compressed(struct blk *b, uint64_t off,
				   const void *buf, size_t len)
{
	return qcow2_write_compressed(qcow2_of(b), off, buf, len);
}

const struct blk_driver blk_qcow2_driver = {
	.name = "qcow2",
	.probe = qcow2_probe,
	.open = qcow2_open,
	.close = qcow2_close,
	.pread = qcow2_pread,
	.pwrite = qcow2_pwrite,
	.flush = qcow2_flush,
	.discard = qcow2_discard,
	.write_zeroes = qcow2_write_zeroes,
	.block_status = qcow2_block_status,
	.truncate = qcow2_truncate,
	.pwrite_compressed = qcow2_pwrite_compressed,
	.check = qcow2_check_op,
	.snapshot = qcow2_snapshot_op,
};

ssize_t blk_compress_cluster(struct blk *b, const void *buf, size_t len,
			     void *dst)
{
	if (b->drv != &blk_qcow2_driver)
		return -ENOTSUP;
	return qcow2_compress_cluster(qcow2_of(b), buf, len, dst);
}

int blk_pwrite_precompressed(struct blk *b, uint64_t off, const void *cdata,
			     size_t clen)
{
	int ret;

	if (b->drv != &blk_qcow2_driver || b->read_only)
		return -ENOTSUP;
	if (!range_within(off, 1, b->size))
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	ret = qcow2_write_precompressed(qcow2_of(b), off, cdata, clen);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int blk_pwrite_precompressed_run(struct blk *b, uint64_t off,
				 const struct iovec *cl, unsigned n)
{
	int ret;

	if (b->drv != &blk_qcow2_driver || b->read_only)
		return -ENOTSUP;
	if (!n)
		return 0;
	if (!range_within(off, 1, b->size) ||
	    (n > 1 && !range_within(off + (uint64_t)(n - 1) *
				    qcow2_of(b)->cluster_size, 1, b->size)))
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	ret = qcow2_write_precompressed_run(qcow2_of(b), off, cl, n);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

uint64_t blk_cluster_size(struct blk *b)
{
	return b->drv == &blk_qcow2_driver ? qcow2_of(b)->cluster_size : 65536;
}
