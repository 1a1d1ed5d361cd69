/*
 * qcow2 header: parse and validate the fixed header, its extensions, the L1
 * table and the snapshot table of a (hostile) image; rewrite the fields
 * that change at run time. Every offset and size is checked before use and
 * a failure names what is wrong.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "lib/util.h"

enum qcow2_ctype qcow2_l2_type(const struct qcow2 *q, uint64_t e)
{
	if (e & QCOW2_OFLAG_COMPRESSED)
		return QCOW2_C_COMPRESSED;
	if ((e & QCOW2_OFLAG_ZERO) && !q->ext_l2)
		return (e & QCOW2_L2E_OFFSET_MASK) ? QCOW2_C_ZERO_ALLOC :
						     QCOW2_C_ZERO_PLAIN;
	return (e & QCOW2_L2E_OFFSET_MASK) ? QCOW2_C_NORMAL :
					     QCOW2_C_UNALLOCATED;
}

/* A metadata table must be cluster-aligned and not absurdly far away. */
int qcow2_check_table_offset(struct qcow2 *q, uint64_t off, uint64_t len,
			     const char *what)
{
	if (!off || off & (q->cluster_size - 1)) {
		blk_set_err(q->b, "%s offset %#llx is not cluster-aligned "
			    "(image corrupt)", what, (unsigned long long)off);
		return -EINVAL;
	}
	if (off > (1ULL << 56) || len > (1ULL << 56) - off) {
		blk_set_err(q->b, "%s at %#llx (+%#llx) lies beyond the largest "
			    "possible image (image corrupt)", what,
			    (unsigned long long)off, (unsigned long long)len);
		return -EINVAL;
	}
	return 0;
}

static int read_extensions(struct qcow2 *q, struct blk *b, uint64_t start,
			   uint64_t end)
{
	uint8_t *buf;
	uint64_t pos = 0, len = end - start;
	int ret = 0;

	if (end <= start)
		return 0;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	ret = blk_file_pread(q->fd, buf, len, start);
	if (ret < 0)
		goto out;
	while (pos + 8 <= len) {
		uint32_t type = be32_get(buf + pos);
		uint32_t elen = be32_get(buf + pos + 4);

		pos += 8;
		if (type == QCOW2_EXT_END)
			break;
		if (elen > len - pos) {
			blk_set_err(b, "header extension %#x (length %u) "
				    "overruns the header cluster", type, elen);
			ret = -EINVAL;
			goto out;
		}
		switch (type) {
		case QCOW2_EXT_BACKING_FMT:
			free(b->backing_fmt);
			b->backing_fmt = strndup((char *)buf + pos, elen);
			break;
		case QCOW2_EXT_CRYPTO:
			blk_set_err(b, "encrypted images are not supported");
			ret = -ENOTSUP;
			goto out;
		case QCOW2_EXT_DATA_FILE:
			blk_set_err(b, "external data files are not supported");
			ret = -ENOTSUP;
			goto out;
		default:	/* feature table, bitmaps, unknown: keep as is */
			break;
		}
		pos += ALIGN_UP((uint64_t)elen, 8);
	}
out:
	free(buf);
	return ret;
}

static int read_backing_name(struct qcow2 *q, struct blk *b, uint64_t off,
			     uint32_t len)
{
	char *name;
	int ret;

	if (!off)
		return 0;
	if (len == 0 || len > QCOW2_MAX_BACKING_NAME ||
	    off + len > q->cluster_size) {
		blk_set_err(b, "backing file name (offset %#llx, length %u) is "
			    "invalid: it must lie in the header cluster and be "
			    "at most %d bytes", (unsigned long long)off, len,
			    QCOW2_MAX_BACKING_NAME);
		return -EINVAL;
	}
	name = calloc(1, len + 1);
	if (!name)
		return -ENOMEM;
	ret = blk_file_pread(q->fd, name, len, off);
	if (ret < 0 || memchr(name, 0, len)) {
		free(name);
		blk_set_err(b, "backing file name is unreadable or contains NUL");
		return ret < 0 ? ret : -EINVAL;
	}
	b->backing_name = name;
	return 0;
}

static int read_l1(struct qcow2 *q, struct blk *b)
{
	uint64_t bytes = (uint64_t)q->l1_size * 8;
	uint64_t need = (b->size + (q->cluster_size << q->l2_bits) - 1) >>
			(q->cluster_bits + q->l2_bits);
	int ret;

	if (bytes > QCOW2_MAX_L1_BYTES) {
		blk_set_err(b, "L1 table has %u entries, more than the %llu "
			    "allowed (image corrupt)", q->l1_size,
			    QCOW2_MAX_L1_BYTES / 8);
		return -EFBIG;
	}
	if (q->l1_size < need) {
		blk_set_err(b, "L1 table has %u entries but the virtual size "
			    "needs %llu (image corrupt)", q->l1_size,
			    (unsigned long long)need);
		return -EINVAL;
	}
	q->l1 = calloc(q->l1_size ? q->l1_size : 1, 8);
	if (!q->l1)
		return -ENOMEM;
	if (!q->l1_size)
		return 0;
	ret = qcow2_check_table_offset(q, q->l1_offset, bytes, "L1 table");
	if (ret < 0)
		return ret;
	ret = blk_file_pread(q->fd, q->l1, bytes, q->l1_offset);
	if (ret < 0) {
		blk_set_err(b, "reading the L1 table: %s", strerror(-ret));
		return ret;
	}
	for (uint32_t i = 0; i < q->l1_size; i++)
		q->l1[i] = be64toh(q->l1[i]);
	return 0;
}

static int read_snapshots(struct qcow2 *q, struct blk *b)
{
	uint64_t pos = q->snapshots_offset;
	uint8_t h[40];
	struct stat st;
	int ret;

	if (!q->nb_snapshots)
		return 0;
	if (q->nb_snapshots > QCOW2_MAX_SNAPSHOTS) {
		blk_set_err(b, "%u snapshots, more than %d (image corrupt)",
			    q->nb_snapshots, QCOW2_MAX_SNAPSHOTS);
		return -EFBIG;
	}
	ret = qcow2_check_table_offset(q, pos, 0, "snapshot table");
	if (ret < 0)
		return ret;
	if (fstat(q->fd, &st) < 0)
		return -errno;
	q->snaps = calloc(q->nb_snapshots, sizeof(*q->snaps));
	if (!q->snaps)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->nb_snapshots; i++) {
		struct qcow2_snapshot *s = &q->snaps[i];
		uint16_t idlen, namelen;
		uint8_t extra[24] = { 0 };

		/*
		 * Every snapshot header was written, so one past the end of
		 * the file is corruption; stopping here also keeps a hostile
		 * count from costing 65536 rounds of reads of nothing.
		 */
		if (pos + sizeof(h) > (uint64_t)st.st_size) {
			blk_set_err(b, "snapshot %u lies beyond the end of the "
				    "file (image corrupt)", i);
			return -EINVAL;
		}
		ret = blk_file_pread(q->fd, h, sizeof(h), pos);
		if (ret < 0)
			return ret;
		s->l1_offset = be64_get(h);
		s->l1_size = be32_get(h + 8);
		idlen = be16_get(h + 12);
		namelen = be16_get(h + 14);
		s->date_sec = be32_get(h + 16);
		s->date_nsec = be32_get(h + 20);
		s->vm_clock_nsec = be64_get(h + 24);
		s->vm_state_size = be32_get(h + 32);
		s->extra_size = be32_get(h + 36);
		if (s->extra_size > 1024 || (uint64_t)s->l1_size * 8 >
		    QCOW2_MAX_L1_BYTES) {
			blk_set_err(b, "snapshot %u has an invalid header "
				    "(image corrupt)", i);
			return -EINVAL;
		}
		pos += sizeof(h);
		ret = blk_file_pread(q->fd, extra, MIN(s->extra_size, 24), pos);
		if (ret < 0)
			return ret;
		if (s->extra_size >= 8)
			s->vm_state_size = be64_get(extra);
		s->disk_size = s->extra_size >= 16 ? be64_get(extra + 8) : b->size;
		pos += s->extra_size;
		s->id = calloc(1, idlen + 1u);
		s->name = calloc(1, namelen + 1u);
		if (!s->id || !s->name)
			return -ENOMEM;
		ret = blk_file_pread(q->fd, s->id, idlen, pos);
		if (ret == 0)
			ret = blk_file_pread(q->fd, s->name, namelen, pos + idlen);
		if (ret < 0)
			return ret;
		pos = ALIGN_UP(pos + idlen + namelen, 8);
	}
	return 0;
}

int qcow2_read_header(struct qcow2 *q, struct blk *b, bool read_only)
{
	uint8_t h[QCOW2_V3_HDR_LEN + 8] = { 0 };
	uint64_t backing_off;
	uint32_t backing_len, crypt;
	int ret = blk_file_pread(q->fd, h, sizeof(h), 0);

	if (ret < 0) {
		blk_set_err(b, "reading the header: %s", strerror(-ret));
		return ret;
	}
	if (be32_get(h) != QCOW2_MAGIC) {
		blk_set_err(b, "not a qcow2 image (bad magic)");
		return -EINVAL;
	}
	q->version = be32_get(h + 4);
	if (q->version != 2 && q->version != 3) {
		blk_set_err(b, "unsupported qcow2 version %u", q->version);
		return -ENOTSUP;
	}
	backing_off = be64_get(h + 8);
	backing_len = be32_get(h + 16);
	q->cluster_bits = be32_get(h + 20);
	b->size = be64_get(h + 24);
	crypt = be32_get(h + 32);
	q->l1_size = be32_get(h + 36);
	q->l1_offset = be64_get(h + 40);
	q->rt_offset = be64_get(h + 48);
	q->rt_clusters = be32_get(h + 56);
	q->nb_snapshots = be32_get(h + 60);
	q->snapshots_offset = be64_get(h + 64);

	if (q->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    q->cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
		blk_set_err(b, "cluster size 2^%u is outside 512 B .. 2 MiB "
			    "(image corrupt)", q->cluster_bits);
		return -EINVAL;
	}
	q->cluster_size = 1ULL << q->cluster_bits;
	if (crypt) {
		blk_set_err(b, "encrypted images are not supported");
		return -ENOTSUP;
	}
	if (q->version == 2) {
		q->header_length = QCOW2_V2_HDR_LEN;
		q->refcount_order = 4;
	} else {
		q->incompat = be64_get(h + 72);
		q->compat = be64_get(h + 80);
		q->autoclear = be64_get(h + 88);
		q->refcount_order = be32_get(h + 96);
		q->header_length = be32_get(h + 100);
		if (q->header_length < QCOW2_V3_HDR_LEN ||
		    q->header_length > q->cluster_size) {
			blk_set_err(b, "header length %u is invalid (image "
				    "corrupt)", q->header_length);
			return -EINVAL;
		}
		if (q->header_length > QCOW2_V3_HDR_LEN)
			q->compression_type = h[104];
	}
	if (q->incompat & ~QCOW2_INCOMPAT_KNOWN) {
		blk_set_err(b, "unsupported incompatible features %#llx",
			    (unsigned long long)(q->incompat &
						 ~QCOW2_INCOMPAT_KNOWN));
		return -ENOTSUP;
	}
	if ((q->incompat & QCOW2_INCOMPAT_CORRUPT) && !read_only) {
		blk_set_err(b, "image is marked corrupt; it can only be opened "
			    "read-only (run 'check -r all')");
		return -EACCES;
	}
	if (!!(q->incompat & QCOW2_INCOMPAT_COMPRESSION) !=
	    (q->compression_type != QCOW2_COMPRESS_ZLIB) ||
	    q->compression_type > QCOW2_COMPRESS_ZSTD) {
		blk_set_err(b, "compression type %u is invalid or does not "
			    "match the incompatible feature bit",
			    q->compression_type);
		return -EINVAL;
	}
	if (q->refcount_order > 6) {
		blk_set_err(b, "refcount order %u is above 6 (image corrupt)",
			    q->refcount_order);
		return -EINVAL;
	}
	q->refcount_bits = 1u << q->refcount_order;
	q->refcount_max = q->refcount_bits == 64 ? UINT64_MAX :
			  (1ULL << q->refcount_bits) - 1;
	q->rb_shift = q->cluster_bits + 3 - q->refcount_order;
	q->ext_l2 = q->incompat & QCOW2_INCOMPAT_EXTL2;
	if (q->ext_l2 && q->cluster_bits < 14) {
		blk_set_err(b, "extended L2 entries need clusters of at least "
			    "16 KiB (image corrupt)");
		return -EINVAL;
	}
	q->l2_entry_size = q->ext_l2 ? 16 : 8;
	q->l2_bits = q->cluster_bits - (q->ext_l2 ? 4 : 3);
	q->csize_shift = 62 - (q->cluster_bits - 8);
	q->csize_mask = (1ULL << (q->cluster_bits - 8)) - 1;

	if (b->size > (1ULL << 55)) {
		blk_set_err(b, "virtual size %llu is too large (image corrupt)",
			    (unsigned long long)b->size);
		return -EFBIG;
	}
	ret = read_backing_name(q, b, backing_off, backing_len);
	if (ret < 0)
		return ret;
	{	/* v2 images have extensions too (qemu writes the format) */
		uint64_t ext_end = backing_off ? backing_off : q->cluster_size;

		ret = read_extensions(q, b, ALIGN_UP((uint64_t)q->header_length, 8),
				      MIN(ext_end, q->cluster_size));
		if (ret < 0)
			return ret;
	}
	if ((uint64_t)q->rt_clusters << q->cluster_bits > QCOW2_MAX_RT_BYTES ||
	    !q->rt_clusters) {
		blk_set_err(b, "refcount table of %u clusters is invalid "
			    "(image corrupt)", q->rt_clusters);
		return -EINVAL;
	}
	ret = qcow2_check_table_offset(q, q->rt_offset,
				       (uint64_t)q->rt_clusters << q->cluster_bits,
				       "refcount table");
	if (ret < 0)
		return ret;
	ret = read_l1(q, b);
	if (ret < 0)
		return ret;
	return read_snapshots(q, b);
}

/* Rewrite the fixed header fields that change while the image is open. */
int qcow2_write_header_fields(struct qcow2 *q)
{
	uint8_t h[QCOW2_V3_HDR_LEN - 24];	/* bytes 24..103 */
	size_t len = q->version == 2 ? QCOW2_V2_HDR_LEN - 24 : 80 - 24 + 8;
	int ret;

	be64_put(h + 0, q->b->size);
	be32_put(h + 8, 0);
	be32_put(h + 12, q->l1_size);
	be64_put(h + 16, q->l1_offset);
	be64_put(h + 24, q->rt_offset);
	be32_put(h + 32, q->rt_clusters);
	be32_put(h + 36, q->nb_snapshots);
	be64_put(h + 40, q->snapshots_offset);
	be64_put(h + 48, q->incompat);
	be64_put(h + 56, q->compat);
	ret = blk_file_pwrite(q->fd, h, len, 24);
	if (ret < 0)
		blk_set_err(q->b, "writing the header: %s", strerror(-ret));
	return ret;
}

int qcow2_set_incompat(struct qcow2 *q, uint64_t bits, bool on)
{
	uint8_t v[8];
	uint64_t n = on ? q->incompat | bits : q->incompat & ~bits;

	if (q->version < 3 || n == q->incompat)
		return 0;
	q->incompat = n;
	be64_put(v, n);
	return blk_file_pwrite(q->fd, v, 8, 72);
}

/*
 * Point the image at another backing file (rebase): the header cluster is
 * rewritten with the extensions it had (backing format replaced) and the
 * new name after them. NULL name removes the backing file.
 */
int qcow2_set_backing(struct qcow2 *q, const char *name, const char *fmt)
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
	pos = q->version == 2 ? QCOW2_V2_HDR_LEN : q->header_length;
	memcpy(nh, h, pos);
	pos = ALIGN_UP(pos, 8);
	{
		rd = pos;
		if (name && fmt) {
			size_t l = strlen(fmt);

			be32_put(nh + pos, QCOW2_EXT_BACKING_FMT);
			be32_put(nh + pos + 4, (uint32_t)l);
			memcpy(nh + pos + 8, fmt, l);
			pos += 8 + ALIGN_UP(l, 8);
		}
		while (rd + 8 <= (old_boff ? old_boff : cs)) {
			uint32_t type = be32_get(h + rd), len = be32_get(h + rd + 4);
			size_t tot = 8 + ALIGN_UP((size_t)len, 8);

			if (type == QCOW2_EXT_END || rd + tot > cs)
				break;
			if (type != QCOW2_EXT_BACKING_FMT) {
				if (pos + tot > cs) {
					ret = -ENOSPC;
					goto out;
				}
				memcpy(nh + pos, h + rd, tot);
				pos += tot;
			}
			rd += tot;
		}
		pos += 8;	/* end marker (zeroes) */
	}
	if (name) {
		size_t l = strlen(name);

		if (l > QCOW2_MAX_BACKING_NAME || pos + l > cs) {
			blk_set_err(q->b, "backing file name too long");
			ret = -EINVAL;
			goto out;
		}
		be64_put(nh + 8, pos);
		be32_put(nh + 16, (uint32_t)l);
		memcpy(nh + pos, name, l);
	} else {
		be64_put(nh + 8, 0);
		be32_put(nh + 16, 0);
	}
	ret = blk_file_pwrite(q->fd, nh, cs, 0);
	if (ret == 0 && fdatasync(q->fd) < 0)
		ret = -errno;
	if (ret == 0) {
		free(q->b->backing_name);
		free(q->b->backing_fmt);
		q->b->backing_name = name ? strdup(name) : NULL;
		q->b->backing_fmt = name && fmt ? strdup(fmt) : NULL;
	}
out:
	free(h);
	free(nh);
	return ret;
}
