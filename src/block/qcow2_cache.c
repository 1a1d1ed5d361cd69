/*
 * Write-back cache of cluster-sized qcow2 tables (L2 tables and refcount
 * blocks), least-recently-used eviction. Dirty tables reach the disk only
 * through qcow2_flush_meta(), which orders the writes:
 *
 *   1. refcount blocks (new allocations counted), then fdatasync;
 *   2. L2 tables and the L1 table (new references), then fdatasync;
 *   3. refcount decrements held back for references dropped in step 2.
 *
 * So a reference on disk never points at a cluster whose refcount on disk
 * is 0, and a crash at any point leaves at worst leaked clusters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2.h"

int qcow2_cache_init(struct qcow2_cache *c, unsigned n, uint64_t csize)
{
	c->e = calloc(n, sizeof(*c->e));
	if (!c->e)
		return -ENOMEM;
	c->n = n;
	for (unsigned i = 0; i < n; i++) {
		c->e[i].data = aligned_alloc(4096, csize < 4096 ? 4096 : csize);
		if (!c->e[i].data)
			return -ENOMEM;
	}
	return 0;
}

void qcow2_cache_free(struct qcow2_cache *c)
{
	for (unsigned i = 0; c->e && i < c->n; i++)
		free(c->e[i].data);
	free(c->e);
	c->e = NULL;
	c->n = 0;
}

static int write_entry(struct qcow2 *q, struct qcow2_cache_entry *e)
{
	int ret = blk_file_pwrite(q->fd, e->data, q->cluster_size, e->offset);

	if (ret < 0) {
		blk_set_err(q->b, "writing metadata at %#llx: %s",
			    (unsigned long long)e->offset, strerror(-ret));
		return ret;
	}
	e->dirty = false;
	return 0;
}

int qcow2_cache_writeback(struct qcow2 *q, struct qcow2_cache *c)
{
	for (unsigned i = 0; i < c->n; i++) {
		if (c->e[i].dirty) {
			int ret = write_entry(q, &c->e[i]);

			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static bool cache_dirty(const struct qcow2_cache *c)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->e[i].dirty)
			return true;
	return false;
}

static int sync_file(struct qcow2 *q)
{
	if (fdatasync(q->fd) < 0) {
		blk_set_err(q->b, "fdatasync: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int write_l1(struct qcow2 *q)
{
	size_t bytes = (size_t)q->l1_size * 8;
	uint64_t *be = malloc(bytes ? bytes : 8);
	int ret;

	if (!be)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->l1_size; i++)
		be[i] = htobe64(q->l1[i]);
	ret = blk_file_pwrite(q->fd, be, bytes, q->l1_offset);
	free(be);
	if (ret < 0) {
		blk_set_err(q->b, "writing the L1 table: %s", strerror(-ret));
		return ret;
	}
	q->l1_dirty = false;
	return 0;
}

int qcow2_flush_meta(struct qcow2 *q)
{
	int ret;

	if (cache_dirty(&q->rc_cache)) {
		ret = qcow2_cache_writeback(q, &q->rc_cache);
		if (ret < 0)
			return ret;
	}
	/* Data and refcounts must be stable before tables point at them. */
	ret = sync_file(q);
	if (ret < 0)
		return ret;
	if (cache_dirty(&q->l2_cache) || q->l1_dirty) {
		ret = qcow2_cache_writeback(q, &q->l2_cache);
		if (ret == 0 && q->l1_dirty)
			ret = write_l1(q);
		if (ret == 0)
			ret = sync_file(q);
		if (ret < 0)
			return ret;
	}
	if (q->n_pending) {
		ret = qcow2_apply_pending_frees(q);
		if (ret == 0)
			ret = qcow2_cache_writeback(q, &q->rc_cache);
		if (ret == 0)
			ret = sync_file(q);
	}
	return ret;
}

/*
 * Return the table at host offset off, reading it unless `fresh` (a newly
 * allocated table whose content the caller fills). The pointer stays valid
 * until the next qcow2_cache_get on the same cache.
 */
int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t off,
		    bool fresh, uint8_t **data)
{
	struct qcow2_cache_entry *victim = NULL;
	int ret;

	if (c->e[c->last].offset == off) {
		c->e[c->last].lru = ++c->tick;
		*data = c->e[c->last].data;
		if (fresh)
			memset(*data, 0, q->cluster_size);
		return 0;
	}
	for (unsigned i = 0; i < c->n; i++) {
		struct qcow2_cache_entry *e = &c->e[i];

		if (e->offset == off) {
			e->lru = ++c->tick;
			c->last = i;
			*data = e->data;
			if (fresh)
				memset(*data, 0, q->cluster_size);
			return 0;
		}
		if (!victim || e->lru < victim->lru)
			victim = e;
	}
	if (victim->dirty && c == &q->l2_cache) {
		/* An L2 table may point at clusters counted only in cached
		 * refcount blocks: those go to disk, and are synced, first. */
		ret = qcow2_cache_writeback(q, &q->rc_cache);
		if (ret == 0)
			ret = sync_file(q);
		if (ret == 0)
			ret = write_entry(q, victim);
		if (ret < 0)
			return ret;
	} else if (victim->dirty) {
		/* Refcount blocks hold only increments (decrements wait for
		 * qcow2_flush_meta), which may reach the disk at any time. */
		ret = write_entry(q, victim);
		if (ret < 0)
			return ret;
	}
	victim->offset = 0;
	if (fresh) {
		memset(victim->data, 0, q->cluster_size);
	} else {
		ret = blk_file_pread(q->fd, victim->data, q->cluster_size, off);
		if (ret < 0) {
			blk_set_err(q->b, "reading metadata at %#llx: %s",
				    (unsigned long long)off, strerror(-ret));
			return ret;
		}
	}
	victim->offset = off;
	victim->lru = ++c->tick;
	c->last = (unsigned)(victim - c->e);
	*data = victim->data;
	return 0;
}

void qcow2_cache_dirty(struct qcow2_cache *c, const uint8_t *data)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->e[i].data == data) {
			c->e[i].dirty = true;
			return;
		}
}

/* Forget a table whose cluster was freed (its content no longer matters). */
void qcow2_cache_drop(struct qcow2_cache *c, uint64_t off)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->e[i].offset == off) {
			c->e[i].offset = 0;
			c->e[i].dirty = false;
			c->e[i].lru = 0;
		}
}
