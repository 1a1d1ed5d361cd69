/*
 * Block layer: one driver interface over byte ranges, used by vireo-img and
 * (later) by virtio-blk inside the VMM. Nothing here prints: every call
 * returns 0 or -errno, and a failing call leaves a human-readable reason in
 * blk_errmsg(). Calls on one struct blk are serialised by its mutex, so an
 * I/O thread and the main loop may share it; an asynchronous front end can
 * queue requests to worker threads on top of these calls.
 */
#ifndef VIREO_BLOCK_BLOCK_H
#define VIREO_BLOCK_BLOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define BLK_ERR_LEN 256
#define BLK_MAX_CHAIN 64	/* deepest backing chain we follow */

struct blk;

struct blk_open_opts {
	const char *format;	/* "raw", "qcow2" or NULL to probe */
	bool read_only;
	bool direct;		/* O_DIRECT on the image file */
	bool force_share;	/* take no locks and ignore others' (-U) */
	bool no_backing;	/* do not open the backing file */
	bool check_only;	/* open even a dirty/corrupt qcow2 read-only */
};

/* Block status flags (blk_block_status). */
#define BLK_STATUS_DATA		0x1	/* reads come from data in some layer */
#define BLK_STATUS_ZERO		0x2	/* reads as zeroes */
#define BLK_STATUS_OFFSET_VALID	0x4	/* *host_off is where the data lives */
#define BLK_STATUS_ALLOCATED	0x8	/* decided by this layer, not backing */
#define BLK_STATUS_COMPRESSED	0x10

/* write_zeroes flags */
#define BLK_ZERO_MAY_UNMAP	0x1

/* Consistency check (qemu-img check). */
#define BLK_FIX_LEAKS	0x1
#define BLK_FIX_ERRORS	0x2

struct blk_check_result {
	uint64_t corruptions, leaks, check_errors;
	uint64_t corruptions_fixed, leaks_fixed;
	uint64_t total_clusters, allocated_clusters;
	uint64_t fragmented_clusters, compressed_clusters;
	uint64_t image_end_offset;
	/* Called once per problem found (may be NULL). */
	void (*report)(void *opaque, const char *msg);
	void *opaque;
};

struct blk_driver {
	const char *name;
	/* pread and block_status keep no state between calls, so they may
	 * run on many threads at once without the image's lock. */
	bool unlocked_reads;
	/* pwrite likewise, except on an O_DIRECT image (bounce buffers). */
	bool unlocked_writes;
	/* Score how likely buf (the first bytes of the file) is ours. */
	int (*probe)(const uint8_t *buf, size_t len);
	int (*open)(struct blk *b, const struct blk_open_opts *o);
	void (*close)(struct blk *b);
	int (*pread)(struct blk *b, uint64_t off, void *buf, size_t len);
	int (*pwrite)(struct blk *b, uint64_t off, const void *buf, size_t len);
	/*
	 * Optional: the same for a list of buffers, in one system call where
	 * the format allows (a guest's request is one buffer per page). The
	 * iovec array is the driver's to modify. Without them blk_preadv and
	 * blk_pwritev go buffer by buffer.
	 */
	int (*preadv)(struct blk *b, uint64_t off, struct iovec *iov, int iovcnt);
	int (*pwritev)(struct blk *b, uint64_t off, struct iovec *iov, int iovcnt);
	int (*flush)(struct blk *b);
	int (*discard)(struct blk *b, uint64_t off, uint64_t len);
	int (*write_zeroes)(struct blk *b, uint64_t off, uint64_t len,
			    unsigned flags);
	/* Status of [off, off+len): returns flags, sets *pnum (>0) bytes. */
	int (*block_status)(struct blk *b, uint64_t off, uint64_t len,
			    uint64_t *pnum, uint64_t *host_off);
	int (*truncate)(struct blk *b, uint64_t size, bool shrink);
	/* Write a compressed cluster (optional; off cluster-aligned). */
	int (*pwrite_compressed)(struct blk *b, uint64_t off, const void *buf,
				 size_t len);
	/* Optional internal snapshots (op: 'c'reate, 'a'pply, 'd'elete). */
	int (*snapshot)(struct blk *b, int op, const char *name);
	/* Optional: -ENOTSUP when the format has nothing to check. */
	int (*check)(struct blk *b, int fix, struct blk_check_result *r);
};

struct blk {
	const struct blk_driver *drv;
	void *priv;			/* driver state */
	char *filename;
	int fd;				/* the image file */
	bool read_only;
	bool direct;
	uint64_t size;			/* virtual size in bytes */
	struct blk *backing;		/* NULL when none */
	char *backing_name;		/* as recorded in the image */
	char *backing_fmt;		/* as recorded, or NULL */
	pthread_mutex_t lock;
	char err[BLK_ERR_LEN];
};

extern const struct blk_driver blk_raw_driver;
extern const struct blk_driver blk_qcow2_driver;

const struct blk_driver *blk_find_driver(const char *name);

/*
 * Open an image. On failure returns -errno and writes the reason into
 * err (errlen bytes). The backing chain is opened read-only as well
 * unless o->no_backing.
 */
int blk_open(struct blk **out, const char *filename,
	     const struct blk_open_opts *o, char *err, size_t errlen);
void blk_close(struct blk *b);
const char *blk_errmsg(const struct blk *b);

int blk_pread(struct blk *b, uint64_t off, void *buf, size_t len);
int blk_pwrite(struct blk *b, uint64_t off, const void *buf, size_t len);
/* Vectored: iov (iovcnt > 0) may be changed by the call. */
int blk_preadv(struct blk *b, uint64_t off, struct iovec *iov, int iovcnt);
int blk_pwritev(struct blk *b, uint64_t off, struct iovec *iov, int iovcnt);
/*
 * Read [host_off, host_off+len) of b's own image file: where
 * blk_block_status said a range's data lives (BLK_STATUS_OFFSET_VALID
 * with BLK_STATUS_DATA, not BLK_STATUS_COMPRESSED). No lock, so a copy
 * loop reads on many threads at once; -ENOTSUP on an O_DIRECT image
 * (blk_pread then), past the end of the file reads as zeroes.
 */
int blk_pread_host(struct blk *b, uint64_t host_off, void *buf, size_t len);
int blk_flush(struct blk *b);
int blk_discard(struct blk *b, uint64_t off, uint64_t len);
int blk_write_zeroes(struct blk *b, uint64_t off, uint64_t len,
		     unsigned flags);
int blk_block_status(struct blk *b, uint64_t off, uint64_t len,
		     uint64_t *pnum, uint64_t *host_off);
int blk_truncate(struct blk *b, uint64_t size, bool shrink);
int blk_pwrite_compressed(struct blk *b, uint64_t off, const void *buf,
			  size_t len);

int blk_check(struct blk *b, int fix, struct blk_check_result *r);
/*
 * Compression split in two so callers can compress on many threads:
 * blk_compress_cluster needs no lock (returns the length, 0 if it does not
 * pay, -errno; dst holds a cluster), blk_pwrite_precompressed stores it.
 */
ssize_t blk_compress_cluster(struct blk *b, const void *buf, size_t len,
			     void *dst);
int blk_pwrite_precompressed(struct blk *b, uint64_t off, const void *cdata,
			     size_t clen);
/* n (<= BLK_PRECOMPRESSED_MAX) compressed clusters, cl[i] for guest
 * cluster off + i clusters, written in as few system calls as fit. */
#define BLK_PRECOMPRESSED_MAX 64
struct iovec;
int blk_pwrite_precompressed_run(struct blk *b, uint64_t off,
				 const struct iovec *cl, unsigned n);
/* Start writing the image's dirty pages to disk without waiting for
 * them, so a later flush has less to wait for (long sequential writes). */
int blk_start_writeback(struct blk *b);
uint64_t blk_cluster_size(struct blk *b);
/* Internal snapshots: op 'c' create, 'a' apply, 'd' delete (by id or name). */
int blk_snapshot(struct blk *b, int op, const char *name);

struct blk_create_opts {
	uint64_t size;
	uint64_t cluster_size;		/* qcow2; 0: 64 KiB */
	unsigned compat;		/* qcow2 version 2 or 3; 0: 3 */
	unsigned refcount_bits;		/* 0: 16 */
	const char *backing_file;
	const char *backing_fmt;
	bool lazy_refcounts;
	bool extended_l2;
	int compression_type;		/* 0 zlib, 1 zstd */
	const char *preallocation;	/* off, metadata, falloc, full */
};

/* Create an image; -errno with the reason in err. */
int blk_create(const char *format, const char *filename,
	       const struct blk_create_opts *o, char *err, size_t errlen);
int qcow2_create(const char *filename, const struct blk_create_opts *o,
		 char *err, size_t errlen);

/*
 * Change options of an open qcow2 image in place (qemu-img amend); zero
 * fields and lazy_refcounts < 0 leave a setting as it is. The backing
 * file cannot change (rebase does that): naming other ones fails.
 */
struct blk_amend_opts {
	unsigned version;		/* 2 or 3 */
	int lazy_refcounts;		/* -1 unchanged, 0 off, 1 on */
	unsigned refcount_bits;
	uint64_t size;
	const char *backing_file;
	const char *backing_fmt;
};

int blk_amend(struct blk *b, const struct blk_amend_opts *o);
int qcow2_amend(struct blk *b, const struct blk_amend_opts *o);

/* Format guess from the first bytes of a file; "raw" when nothing fits. */
const char *blk_probe_format(int fd);

/*
 * Resolve a backing file name as QEMU does: an absolute name stands, a
 * relative one is taken relative to the directory of the overlay. Returns
 * a malloc'd path or NULL.
 */
char *blk_resolve_backing(const char *overlay, const char *backing);

/* Allocated size of the file on the host (st_blocks * 512). */
int64_t blk_file_allocated(int fd);

/* Set b->err (printf-like). Drivers call it before returning -errno. */
void blk_set_err(struct blk *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Image locking compatible with QEMU's byte-range (OFD) locks. */
int blk_lock_image(int fd, bool write, char *err, size_t errlen);

/* pread/pwrite helpers that loop over short transfers; -errno. */
int blk_file_pread(int fd, void *buf, size_t len, uint64_t off);
int blk_file_pwrite(int fd, const void *buf, size_t len, uint64_t off);
/* preadv/pwritev to completion (iov is consumed); reads past EOF are zeroes. */
int blk_file_preadv(int fd, struct iovec *iov, int iovcnt, uint64_t off);
int blk_file_pwritev(int fd, struct iovec *iov, int iovcnt, uint64_t off);

#endif
