/*
 * qcow2 internal snapshots: create, apply (revert), delete. A snapshot is
 * a copy of the L1 table plus one more reference on every L2 table and
 * data cluster it reaches; the active tables then lose their COPIED flags,
 * so the next write copies first. Orders: reference counts go up (synced)
 * before a new table or header points at them, and go down only after
 * nothing on disk points at them any more.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "lib/util.h"

#define SNAP_EXTRA 24	/* vm_state_size_large, disk_size, icount */

static int sync_fd(struct qcow2 *q)
{
	if (fdatasync(q->fd) < 0) {
		blk_set_err(q->b, "fdatasync: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int read_l1(struct qcow2 *q, uint64_t off, uint32_t size, uint64_t **out)
{
	uint64_t *l1 = calloc(size ? size : 1, 8);
	int ret;

	if (!l1)
		return -ENOMEM;
	ret = qcow2_check_table_offset(q, off, (uint64_t)size * 8, "snapshot L1");
	if (ret == 0)
		ret = blk_file_pread(q->fd, l1, (uint64_t)size * 8, off);
	if (ret < 0) {
		free(l1);
		return ret;
	}
	for (uint32_t i = 0; i < size; i++)
		l1[i] = be64toh(l1[i]);
	*out = l1;
	return 0;
}

static int write_l1_copy(struct qcow2 *q, const uint64_t *l1, uint32_t size,
			 uint64_t off, bool clear_copied)
{
	uint64_t *be = calloc(size ? size : 1, 8);
	int ret;

	if (!be)
		return -ENOMEM;
	for (uint32_t i = 0; i < size; i++)
		be[i] = htobe64(clear_copied ? l1[i] & ~QCOW2_OFLAG_COPIED : l1[i]);
	ret = blk_file_pwrite(q->fd, be, (uint64_t)size * 8, off);
	free(be);
	return ret;
}

/*
 * Add delta to the refcount of every L2 table and data cluster l1 reaches.
 * With `active`, also make the COPIED flags of the active tables match the
 * refcounts (delta 0 does only that).
 */
static int update_refs(struct qcow2 *q, uint64_t *l1, uint32_t l1_size,
		       int delta, bool active)
{
	for (uint32_t i = 0; i < l1_size; i++) {
		uint64_t l2off = l1[i] & QCOW2_L1E_OFFSET_MASK, rc;
		uint8_t *tbl;
		int ret;

		if (!l2off)
			continue;
		ret = qcow2_check_table_offset(q, l2off, q->cluster_size, "L2 table");
		if (ret < 0)
			return ret;
		if (delta) {
			for (uint64_t j = 0; j < qcow2_l2_entries(q); j++) {
				uint64_t e, h;

				ret = qcow2_cache_get(q, &q->l2_cache, l2off, false,
						      &tbl);
				if (ret < 0)
					return ret;
				e = be64_get(tbl + j * q->l2_entry_size);
				switch (qcow2_l2_type(q, e)) {
				case QCOW2_C_NORMAL:
				case QCOW2_C_ZERO_ALLOC:
					ret = qcow2_update_refcount(q, e &
						QCOW2_L2E_OFFSET_MASK,
						q->cluster_size, delta);
					break;
				case QCOW2_C_COMPRESSED: {
					uint64_t sec = ((e >> q->csize_shift) &
							q->csize_mask) + 1;

					h = e & ((1ULL << q->csize_shift) - 1);
					ret = qcow2_update_refcount(q, h & ~511ULL,
						sec * 512 - 0, delta);
					break;
				}
				default:
					break;
				}
				if (ret < 0)
					return ret;
			}
			ret = qcow2_update_refcount(q, l2off, q->cluster_size,
						    delta);
			if (ret < 0)
				return ret;
		}
		if (!active)
			continue;
		ret = qcow2_get_refcount(q, l2off >> q->cluster_bits, &rc);
		if (ret < 0)
			return ret;
		l1[i] = rc == 1 ? l1[i] | QCOW2_OFLAG_COPIED :
				  l1[i] & ~QCOW2_OFLAG_COPIED;
		for (uint64_t j = 0; j < qcow2_l2_entries(q); j++) {
			uint64_t e, ne;
			enum qcow2_ctype t;

			ret = qcow2_cache_get(q, &q->l2_cache, l2off, false, &tbl);
			if (ret < 0)
				return ret;
			e = be64_get(tbl + j * q->l2_entry_size);
			t = qcow2_l2_type(q, e);
			if (t != QCOW2_C_NORMAL && t != QCOW2_C_ZERO_ALLOC)
				continue;
			ret = qcow2_get_refcount(q, (e & QCOW2_L2E_OFFSET_MASK) >>
						 q->cluster_bits, &rc);
			if (ret < 0)
				return ret;
			ne = rc == 1 ? e | QCOW2_OFLAG_COPIED : e & ~QCOW2_OFLAG_COPIED;
			if (ne == e)
				continue;
			ret = qcow2_cache_get(q, &q->l2_cache, l2off, false, &tbl);
			if (ret < 0)
				return ret;
			be64_put(tbl + j * q->l2_entry_size, ne);
			qcow2_cache_dirty(&q->l2_cache, tbl);
		}
	}
	if (active)
		q->l1_dirty = true;
	return 0;
}

static size_t snap_entry_size(const struct qcow2_snapshot *s)
{
	return ALIGN_UP(40 + SNAP_EXTRA + strlen(s->id) + strlen(s->name), 8);
}

/* Write the table (snaps[0..n)) to new clusters and switch the header. */
static int write_snapshot_table(struct qcow2 *q, struct qcow2_snapshot *snaps,
				uint32_t n)
{
	uint64_t size = 0, pos = 0, old_off = q->snapshots_offset, old_size = 0;
	uint8_t *buf;
	int64_t off = 0;
	int ret;

	for (uint32_t i = 0; i < q->nb_snapshots; i++)
		old_size += snap_entry_size(&q->snaps[i]);
	for (uint32_t i = 0; i < n; i++)
		size += snap_entry_size(&snaps[i]);
	buf = calloc(1, size ? size : 1);
	if (!buf)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct qcow2_snapshot *s = &snaps[i];
		uint8_t *p = buf + pos;
		size_t il = strlen(s->id), nl = strlen(s->name);

		be64_put(p, s->l1_offset);
		be32_put(p + 8, s->l1_size);
		be16_put(p + 12, (uint16_t)il);
		be16_put(p + 14, (uint16_t)nl);
		be32_put(p + 16, s->date_sec);
		be32_put(p + 20, s->date_nsec);
		be64_put(p + 24, s->vm_clock_nsec);
		be32_put(p + 32, (uint32_t)MIN(s->vm_state_size, UINT32_MAX));
		be32_put(p + 36, SNAP_EXTRA);
		be64_put(p + 40, s->vm_state_size);
		be64_put(p + 48, s->disk_size);
		be64_put(p + 56, 0);
		memcpy(p + 64, s->id, il);
		memcpy(p + 64 + il, s->name, nl);
		pos += snap_entry_size(s);
	}
	if (size) {
		off = qcow2_alloc_clusters(q, ALIGN_UP(size, q->cluster_size) >>
					   q->cluster_bits);
		ret = off < 0 ? (int)off : blk_file_pwrite(q->fd, buf, size,
							   (uint64_t)off);
		if (ret < 0) {
			free(buf);
			return ret;
		}
	}
	free(buf);
	ret = qcow2_flush_meta(q);	/* counts on disk before the header */
	if (ret < 0)
		return ret;
	q->snapshots_offset = (uint64_t)off;
	q->nb_snapshots = n;
	ret = qcow2_write_header_fields(q);
	if (ret == 0)
		ret = sync_fd(q);
	if (ret == 0 && old_size)
		ret = qcow2_update_refcount(q, old_off, old_size, -1);
	return ret;
}

int qcow2_snapshot_rewrite_table(struct qcow2 *q)
{
	return write_snapshot_table(q, q->snaps, q->nb_snapshots);
}

static int find_snapshot(struct qcow2 *q, const char *name)
{
	for (uint32_t i = 0; i < q->nb_snapshots; i++)
		if (!strcmp(q->snaps[i].id, name))
			return (int)i;
	for (uint32_t i = 0; i < q->nb_snapshots; i++)
		if (!strcmp(q->snaps[i].name, name))
			return (int)i;
	return -1;
}

int qcow2_snapshot_create(struct qcow2 *q, const char *name)
{
	struct qcow2_snapshot *snaps, *s;
	uint64_t next_id = 1;
	struct timespec ts;
	int64_t l1off;
	int ret;

	if (find_snapshot(q, name) >= 0) {
		blk_set_err(q->b, "Snapshot '%s' already exists", name);
		return -EEXIST;
	}
	if (q->nb_snapshots >= QCOW2_MAX_SNAPSHOTS || strlen(name) > 65535)
		return -EFBIG;
	for (uint32_t i = 0; i < q->nb_snapshots; i++)
		next_id = MAX(next_id, strtoull(q->snaps[i].id, NULL, 10) + 1);
	ret = qcow2_flush_meta(q);
	if (ret < 0)
		return ret;
	/* 1. A copy of the L1 table; 2. one more reference on all it reaches. */
	l1off = qcow2_alloc_clusters(q, ALIGN_UP((uint64_t)q->l1_size * 8,
				     q->cluster_size) >> q->cluster_bits);
	if (l1off < 0)
		return (int)l1off;
	ret = update_refs(q, q->l1, q->l1_size, 1, true);
	if (ret == 0)
		ret = write_l1_copy(q, q->l1, q->l1_size, (uint64_t)l1off, true);
	if (ret < 0)
		return ret;
	snaps = calloc(q->nb_snapshots + 1, sizeof(*snaps));
	if (!snaps)
		return -ENOMEM;
	memcpy(snaps, q->snaps, q->nb_snapshots * sizeof(*snaps));
	s = &snaps[q->nb_snapshots];
	clock_gettime(CLOCK_REALTIME, &ts);
	s->l1_offset = (uint64_t)l1off;
	s->l1_size = q->l1_size;
	s->date_sec = (uint32_t)ts.tv_sec;
	s->date_nsec = (uint32_t)(ts.tv_nsec / 1000 * 1000);
	s->disk_size = q->b->size;
	s->extra_size = SNAP_EXTRA;
	s->name = strdup(name);
	if (asprintf(&s->id, "%llu", (unsigned long long)next_id) < 0)
		s->id = NULL;
	if (!s->name || !s->id) {
		free(s->name);
		free(snaps);
		return -ENOMEM;
	}
	/* 3. The table naming it; 4. the header (inside). */
	ret = write_snapshot_table(q, snaps, q->nb_snapshots + 1);
	if (ret < 0) {
		free(s->id);
		free(s->name);
		free(snaps);
		return ret;
	}
	free(q->snaps);
	q->snaps = snaps;
	return qcow2_flush_meta(q);
}

int qcow2_snapshot_delete(struct qcow2 *q, const char *name)
{
	int idx = find_snapshot(q, name);
	struct qcow2_snapshot gone, *snaps;
	uint64_t *l1;
	int ret;

	if (idx < 0) {
		blk_set_err(q->b, "Can't find the snapshot '%s'", name);
		return -ENOENT;
	}
	ret = qcow2_flush_meta(q);
	if (ret < 0)
		return ret;
	gone = q->snaps[idx];
	ret = read_l1(q, gone.l1_offset, gone.l1_size, &l1);
	if (ret < 0)
		return ret;
	snaps = calloc(q->nb_snapshots, sizeof(*snaps));
	if (!snaps) {
		free(l1);
		return -ENOMEM;
	}
	memcpy(snaps, q->snaps, (size_t)idx * sizeof(*snaps));
	memcpy(snaps + idx, q->snaps + idx + 1,
	       (q->nb_snapshots - (uint32_t)idx - 1) * sizeof(*snaps));
	/* 1. Unlink it (header synced); 2. drop its references (synced);
	 * 3. then COPIED may come back on the active tables. */
	ret = write_snapshot_table(q, snaps, q->nb_snapshots - 1);
	if (ret < 0) {
		free(snaps);
		free(l1);
		return ret;
	}
	free(q->snaps);
	q->snaps = snaps;
	ret = update_refs(q, l1, gone.l1_size, -1, false);
	if (ret == 0)
		ret = qcow2_update_refcount(q, gone.l1_offset,
					    (uint64_t)gone.l1_size * 8, -1);
	free(l1);
	free(gone.id);
	free(gone.name);
	if (ret == 0)
		ret = qcow2_flush_meta(q);
	if (ret == 0)
		ret = update_refs(q, q->l1, q->l1_size, 0, true);
	if (ret == 0)
		ret = qcow2_flush_meta(q);
	return ret;
}

int qcow2_snapshot_apply(struct qcow2 *q, const char *name)
{
	int idx = find_snapshot(q, name);
	struct qcow2_snapshot *s;
	uint64_t *l1, *old_l1 = q->l1, old_off = q->l1_offset;
	uint32_t old_size = q->l1_size;
	int64_t off;
	int ret;

	if (idx < 0) {
		blk_set_err(q->b, "Can't find the snapshot '%s'", name);
		return -ENOENT;
	}
	s = &q->snaps[idx];
	ret = qcow2_flush_meta(q);
	if (ret < 0)
		return ret;
	ret = read_l1(q, s->l1_offset, s->l1_size, &l1);
	if (ret < 0)
		return ret;
	/* 1. References for the new active table first (synced inside). */
	ret = update_refs(q, l1, s->l1_size, 1, false);
	off = ret < 0 ? ret : qcow2_alloc_clusters(q,
		ALIGN_UP((uint64_t)MAX(s->l1_size, 1) * 8, q->cluster_size) >>
		q->cluster_bits);
	if (off >= 0)
		ret = write_l1_copy(q, l1, s->l1_size, (uint64_t)off, false);
	if (off < 0 || ret < 0 || (ret = qcow2_flush_meta(q)) < 0) {
		free(l1);
		return off < 0 ? (int)off : ret;
	}
	/* 2. Switch the header to it. */
	q->l1 = l1;
	q->l1_offset = (uint64_t)off;
	q->l1_size = s->l1_size;
	q->b->size = s->disk_size;
	q->l1_dirty = false;
	ret = qcow2_write_header_fields(q);
	if (ret == 0)
		ret = sync_fd(q);
	/* 3. Drop the old active table's references; 4. fix COPIED. */
	if (ret == 0)
		ret = update_refs(q, old_l1, old_size, -1, false);
	if (ret == 0 && old_size)
		ret = qcow2_update_refcount(q, old_off, (uint64_t)old_size * 8, -1);
	free(old_l1);
	if (ret == 0)
		ret = qcow2_flush_meta(q);
	if (ret == 0)
		ret = update_refs(q, q->l1, q->l1_size, 0, true);
	if (ret == 0)
		ret = qcow2_flush_meta(q);
	return ret;
}
