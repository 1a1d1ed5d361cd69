/*
 * qcow2 internals shared by the driver's files. On-disk facts come from
 * QEMU's docs/interop/qcow2.txt; all integers on disk are big-endian.
 */
#ifndef VIREO_BLOCK_QCOW2_H
#define VIREO_BLOCK_QCOW2_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "block/block.h"

#define QCOW2_MAGIC		0x514649fbU	/* "QFI\xfb" */
#define QCOW2_V2_HDR_LEN	72
#define QCOW2_V3_HDR_LEN	104
#define QCOW2_MIN_CLUSTER_BITS	9
#define QCOW2_MAX_CLUSTER_BITS	21
#define QCOW2_MAX_L1_BYTES	(32ULL << 20)	/* as QEMU: 32 MiB */
#define QCOW2_MAX_RT_BYTES	(8ULL << 20)	/* as QEMU: 8 MiB */
#define QCOW2_MAX_BACKING_NAME	1023
#define QCOW2_MAX_SNAPSHOTS	65536
#define QCOW2_PRECOMPRESSED_MAX	BLK_PRECOMPRESSED_MAX

/* Header extension types */
#define QCOW2_EXT_END		0x00000000U
#define QCOW2_EXT_BACKING_FMT	0xe2792acaU
#define QCOW2_EXT_FEATURES	0x6803f857U
#define QCOW2_EXT_BITMAPS	0x23852875U
#define QCOW2_EXT_CRYPTO	0x0537be77U
#define QCOW2_EXT_DATA_FILE	0x44415441U

/* Feature bits */
#define QCOW2_INCOMPAT_DIRTY		(1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT		(1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE	(1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION	(1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2		(1ULL << 4)
#define QCOW2_INCOMPAT_KNOWN		0x1fULL
#define QCOW2_COMPAT_LAZY_REFCOUNTS	(1ULL << 0)

#define QCOW2_COMPRESS_ZLIB	0
#define QCOW2_COMPRESS_ZSTD	1

/* Table entries */
#define QCOW2_OFLAG_COPIED	(1ULL << 63)
#define QCOW2_OFLAG_COMPRESSED	(1ULL << 62)
#define QCOW2_OFLAG_ZERO	(1ULL << 0)
#define QCOW2_L1E_OFFSET_MASK	0x00fffffffffffe00ULL
#define QCOW2_L2E_OFFSET_MASK	0x00fffffffffffe00ULL
#define QCOW2_RTE_OFFSET_MASK	0xfffffffffffffe00ULL
#define QCOW2_L1E_RESERVED	0x7f000000000001ffULL
#define QCOW2_L2E_RESERVED	0x3f000000000001feULL

enum qcow2_ctype {
	QCOW2_C_UNALLOCATED,
	QCOW2_C_ZERO_PLAIN,
	QCOW2_C_ZERO_ALLOC,
	QCOW2_C_NORMAL,
	QCOW2_C_COMPRESSED,
};

/* A write-back cache of cluster-sized tables (L2 or refcount blocks). */
struct qcow2_cache_entry {
	uint64_t offset;	/* 0: slot empty */
	uint8_t *data;
	bool dirty;
	uint64_t lru;
};

struct qcow2_cache {
	struct qcow2_cache_entry *e;
	unsigned n;
	uint64_t tick;
	unsigned last;		/* slot of the last hit */
};

struct qcow2_snapshot {
	uint64_t l1_offset;
	uint32_t l1_size;
	char *id;
	char *name;
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_nsec;
	uint64_t vm_state_size;
	uint64_t disk_size;
	uint32_t extra_size;
};

/* A pending free; punch: give its clusters back to the host file once
 * unreferenced (freed by a zero or discard request). */
struct qcow2_extent { uint64_t off, len; bool punch; };

struct qcow2 {
	struct blk *b;
	int fd;
	uint32_t version;
	unsigned cluster_bits;
	uint64_t cluster_size;
	bool ext_l2;
	unsigned l2_entry_size;		/* 8, or 16 with extended L2 */
	unsigned l2_bits;		/* log2(entries per L2 table) */
	unsigned csize_shift;		/* compressed descriptor: x */
	uint64_t csize_mask;

	uint64_t incompat, compat, autoclear;
	uint32_t header_length;
	uint8_t compression_type;
	unsigned refcount_order;
	unsigned refcount_bits;
	uint64_t refcount_max;
	unsigned rb_shift;		/* log2(entries per refcount block) */

	uint64_t l1_offset;
	uint32_t l1_size;
	uint64_t *l1;			/* host-endian copy */
	bool l1_dirty;

	uint64_t rt_offset;
	uint32_t rt_clusters;
	uint64_t rt_entries;
	uint64_t *rt;			/* host-endian copy */

	uint32_t nb_snapshots;
	uint64_t snapshots_offset;
	struct qcow2_snapshot *snaps;

	struct qcow2_cache l2_cache, rc_cache;
	uint64_t free_hint;		/* first cluster that may be free */
	uint64_t alloc_end;		/* clusters below this may be in use */
	uint64_t free_byte_offset;	/* compressed-data packing */

	/* Refcount decrements held back until the tables that dropped the
	 * references are on disk (so a crash leaks, never corrupts). */
	struct qcow2_extent *pending;
	size_t n_pending, cap_pending;

	uint8_t *cbuf;			/* compressed data, 2 clusters */
	void *zstd_dctx;
};

static inline uint16_t be16_get(const void *p) { uint16_t v; __builtin_memcpy(&v, p, 2); return be16toh(v); }
static inline uint32_t be32_get(const void *p) { uint32_t v; __builtin_memcpy(&v, p, 4); return be32toh(v); }
static inline uint64_t be64_get(const void *p) { uint64_t v; __builtin_memcpy(&v, p, 8); return be64toh(v); }
static inline void be16_put(void *p, uint16_t v) { v = htobe16(v); __builtin_memcpy(p, &v, 2); }
static inline void be32_put(void *p, uint32_t v) { v = htobe32(v); __builtin_memcpy(p, &v, 4); }
static inline void be64_put(void *p, uint64_t v) { v = htobe64(v); __builtin_memcpy(p, &v, 8); }

static inline struct qcow2 *qcow2_of(struct blk *b) { return b->priv; }
static inline uint64_t qcow2_l2_entries(const struct qcow2 *q) { return 1ULL << q->l2_bits; }
static inline uint64_t qcow2_offset_in_cluster(const struct qcow2 *q, uint64_t off)
{
	return off & (q->cluster_size - 1);
}

/* qcow2_header.c */
int qcow2_read_header(struct qcow2 *q, struct blk *b, bool read_only);
int qcow2_write_header_fields(struct qcow2 *q);
int qcow2_set_incompat(struct qcow2 *q, uint64_t bits, bool on);
int qcow2_set_backing(struct qcow2 *q, const char *name, const char *fmt);
enum qcow2_ctype qcow2_l2_type(const struct qcow2 *q, uint64_t e);
int qcow2_check_table_offset(struct qcow2 *q, uint64_t off, uint64_t len,
			     const char *what);

/* qcow2_cache.c */
int qcow2_cache_init(struct qcow2_cache *c, unsigned n, uint64_t csize);
void qcow2_cache_free(struct qcow2_cache *c);
int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t off,
		    bool fresh, uint8_t **data);
void qcow2_cache_dirty(struct qcow2_cache *c, const uint8_t *data);
int qcow2_cache_writeback(struct qcow2 *q, struct qcow2_cache *c);
void qcow2_cache_drop(struct qcow2_cache *c, uint64_t off);
int qcow2_flush_meta(struct qcow2 *q);

/* qcow2_refcount.c */
int qcow2_load_refcount_table(struct qcow2 *q);
int qcow2_get_refcount(struct qcow2 *q, uint64_t cluster, uint64_t *rc);
int qcow2_update_refcount(struct qcow2 *q, uint64_t off, uint64_t len,
			  int64_t delta);
int64_t qcow2_alloc_clusters(struct qcow2 *q, uint64_t n);
int64_t qcow2_alloc_bytes(struct qcow2 *q, uint64_t size);
int qcow2_free_deferred(struct qcow2 *q, uint64_t off, uint64_t len);
int qcow2_apply_pending_frees(struct qcow2 *q);
uint64_t qcow2_rb_get(const struct qcow2 *q, const uint8_t *blk, uint64_t i);
void qcow2_rb_set(const struct qcow2 *q, uint8_t *blk, uint64_t i, uint64_t v);
int qcow2_free_entry_clusters(struct qcow2 *q, uint64_t l2e);
/* The same for an entry dropped by a zero or discard request: clusters
 * left unreferenced are punched out of the file too (as qemu does). */
int qcow2_discard_entry_clusters(struct qcow2 *q, uint64_t l2e);

/* qcow2_cluster.c */
int qcow2_get_l2e(struct qcow2 *q, uint64_t guest_off, uint64_t *l2e,
		  uint64_t *bitmap);
int qcow2_read_data(struct qcow2 *q, uint64_t off, uint8_t *buf, size_t len);
int qcow2_write_data(struct qcow2 *q, uint64_t off, const uint8_t *buf,
		     size_t len);
enum { QCOW2_ZERO, QCOW2_DISCARD, QCOW2_FULL_DISCARD };
int qcow2_zero_or_discard(struct qcow2 *q, uint64_t off, uint64_t len,
			  int mode);
int qcow2_status(struct qcow2 *q, uint64_t off, uint64_t len,
		 uint64_t *pnum, uint64_t *host_off);
int qcow2_grow_l1(struct qcow2 *q, uint64_t min_size);
int qcow2_preallocate(struct qcow2 *q, const char *mode);
ssize_t qcow2_compress_cluster(const struct qcow2 *q, const uint8_t *buf,
			       size_t len, uint8_t *dst);
int qcow2_get_l2(struct qcow2 *q, uint64_t guest_off, bool alloc,
		 uint8_t **tbl, uint64_t *idx);
uint64_t qcow2_l2_entry_at(const struct qcow2 *q, const uint8_t *tbl,
			   uint64_t idx, uint64_t *bitmap);
void qcow2_set_l2_entry(struct qcow2 *q, uint8_t *tbl, uint64_t idx, uint64_t e);

/* qcow2_bulk.c */
struct iovec;
int qcow2_write_precompressed_run(struct qcow2 *q, uint64_t off,
				  const struct iovec *cl, unsigned n);
int qcow2_write_precompressed(struct qcow2 *q, uint64_t off,
			      const uint8_t *cdata, size_t clen);
int qcow2_write_compressed(struct qcow2 *q, uint64_t off, const uint8_t *buf,
			   size_t len);

/* qcow2_create.c: header extension writers; return the bytes used. */
size_t qcow2_put_ext(uint8_t *p, uint32_t type, const void *data,
		     uint32_t len);
size_t qcow2_put_feature_table(uint8_t *p);

/* qcow2_check.c */
int qcow2_check(struct qcow2 *q, int fix, struct blk_check_result *r);

/* qcow2_snapshot.c */
/* Write the snapshot list anew (v3 extra data for each) and switch to it. */
int qcow2_snapshot_rewrite_table(struct qcow2 *q);
int qcow2_snapshot_create(struct qcow2 *q, const char *name);
int qcow2_snapshot_apply(struct qcow2 *q, const char *name);
int qcow2_snapshot_delete(struct qcow2 *q, const char *name);

/* qcow2_compress.c */
int qcow2_decompress(struct qcow2 *q, const uint8_t *src, size_t slen,
		     uint8_t *dst, size_t dlen);
/* Returns compressed length, 0 when it does not pay, or -errno. */
ssize_t qcow2_compress(int type, const uint8_t *src, size_t slen,
		       uint8_t *dst, size_t dcap);
/* Free this thread's compression state (it is also freed at thread exit). */
void qcow2_compress_thread_done(void);

#endif
