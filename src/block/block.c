/*
 * Generic half of the block layer: opening an image (probe, lock, driver,
 * backing chain), request dispatch with bounds checks and the per-image
 * mutex, and small file helpers shared by the drivers.
 */
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

static const struct blk_driver *const drivers[] = {
	&blk_qcow2_driver,
	&blk_raw_driver,
};

const struct blk_driver *blk_find_driver(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(drivers); i++)
		if (!strcmp(drivers[i]->name, name))
			return drivers[i];
	return NULL;
}

void blk_set_err(struct blk *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->err, sizeof(b->err), fmt, ap);
	va_end(ap);
}

const char *blk_errmsg(const struct blk *b)
{
	return b->err[0] ? b->err : "unknown error";
}

int blk_file_pread(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {	/* past end of file reads as zeroes */
			memset(p, 0, len);
			return 0;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int blk_file_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* Drop the first n bytes of iov[*first..cnt); true when nothing is left. */
static bool iov_advance(struct iovec *iov, int *first, int cnt, size_t n)
{
	while (*first < cnt && n >= iov[*first].iov_len) {
		n -= iov[*first].iov_len;
		(*first)++;
	}
	if (*first < cnt) {
		iov[*first].iov_base = (uint8_t *)iov[*first].iov_base + n;
		iov[*first].iov_len -= n;
	}
	return *first == cnt;
}

static int file_rwv(int fd, struct iovec *iov, int cnt, uint64_t off, bool write)
{
	int first = 0;

	/* Zero-length entries would read as EOF: skip them up front. */
	if (iov_advance(iov, &first, cnt, 0))
		return 0;
	for (;;) {
		int n_iov = MIN(cnt - first, IOV_MAX);
		ssize_t n = write ? pwritev(fd, iov + first, n_iov, (off_t)off)
				  : preadv(fd, iov + first, n_iov, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0 && !write) {	/* past end of file reads as zeroes */
			for (; first < cnt; first++)
				memset(iov[first].iov_base, 0, iov[first].iov_len);
			return 0;
		}
		if (n == 0)
			return -EIO;
		off += (uint64_t)n;
		if (iov_advance(iov, &first, cnt, (size_t)n))
			return 0;
	}
}

int blk_file_preadv(int fd, struct iovec *iov, int iovcnt, uint64_t off)
{
	return file_rwv(fd, iov, iovcnt, off, false);
}

int blk_file_pwritev(int fd, struct iovec *iov, int iovcnt, uint64_t off)
{
	return file_rwv(fd, iov, iovcnt, off, true);
}

int64_t blk_file_allocated(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	return (int64_t)st.st_blocks * 512;
}

const char *blk_probe_format(int fd)
{
	uint8_t buf[512];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	const char *best = "raw";
	int best_score = 0;

	if (n <= 0)
		return best;
	for (size_t i = 0; i < ARRAY_SIZE(drivers); i++) {
		int s = drivers[i]->probe ? drivers[i]->probe(buf, (size_t)n) : 0;

		if (s > best_score) {
			best_score = s;
			best = drivers[i]->name;
		}
	}
	return best;
}

char *blk_resolve_backing(const char *overlay, const char *backing)
{
	char *dup, *dir, *out;

	if (backing[0] == '/' || !strchr(overlay, '/'))
		return strdup(backing);
	dup = strdup(overlay);
	if (!dup)
		return NULL;
	dir = dirname(dup);
	if (asprintf(&out, "%s/%s", dir, backing) < 0)
		out = NULL;
	free(dup);
	return out;
}

static int open_one(struct blk **out, const char *filename,
		    const struct blk_open_opts *o, int depth,
		    char *err, size_t errlen)
{
	struct blk *b;
	int flags = o->read_only ? O_RDONLY : O_RDWR;
	int ret;

	if (depth > BLK_MAX_CHAIN) {
		snprintf(err, errlen, "backing chain of '%s' is deeper than %d "
			 "(a loop?)", filename, BLK_MAX_CHAIN);
		return -ELOOP;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->fd = -1;
	pthread_mutex_init(&b->lock, NULL);
	b->filename = strdup(filename);
	b->read_only = o->read_only;
	b->direct = o->direct;
	b->fd = open(filename, flags | O_CLOEXEC);
	if (b->fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "Could not open '%s': %s", filename,
			 strerror(errno));
		goto fail;
	}
	if (!o->force_share) {
		ret = blk_lock_image(b->fd, !o->read_only, err, errlen);
		if (ret < 0)
			goto fail;
	}
	if (o->format) {
		b->drv = blk_find_driver(o->format);
		if (!b->drv) {
			snprintf(err, errlen, "Unknown driver '%s'", o->format);
			ret = -EINVAL;
			goto fail;
		}
	} else {
		b->drv = blk_find_driver(blk_probe_format(b->fd));
	}
	if (o->direct) {
		/* Set after probing, whose small reads O_DIRECT would refuse. */
		if (b->drv != &blk_raw_driver) {
			snprintf(err, errlen, "O_DIRECT is supported for raw "
				 "images only");
			ret = -ENOTSUP;
			goto fail;
		}
		if (fcntl(b->fd, F_SETFL, fcntl(b->fd, F_GETFL) | O_DIRECT) < 0) {
			ret = -errno;
			snprintf(err, errlen, "Could not use O_DIRECT on '%s': %s",
				 filename, strerror(errno));
			goto fail;
		}
	}
	ret = b->drv->open(b, o);
	if (ret < 0) {
		snprintf(err, errlen, "Could not open '%s': %s", filename,
			 blk_errmsg(b));
		b->drv = NULL;
		goto fail;
	}
	if (b->backing_name && !o->no_backing) {
		struct blk_open_opts bo = *o;
		char *path = blk_resolve_backing(filename, b->backing_name);

		bo.read_only = true;
		bo.format = b->backing_fmt;
		bo.direct = false;
		if (!path) {
			ret = -ENOMEM;
			goto fail;
		}
		ret = open_one(&b->backing, path, &bo, depth + 1, err, errlen);
		free(path);
		if (ret < 0)
			goto fail;
	}
	*out = b;
	return 0;
fail:
	blk_close(b);
	return ret;
}

int blk_open(struct blk **out, const char *filename,
	     const struct blk_open_opts *o, char *err, size_t errlen)
{
	struct blk_open_opts def = { 0 };

	return open_one(out, filename, o ? o : &def, 0, err, errlen);
}

void blk_close(struct blk *b)
{
	if (!b)
		return;
	if (b->drv && b->drv->close)
		b->drv->close(b);
	if (b->backing)
		blk_close(b->backing);
	if (b->fd >= 0)
		close(b->fd);
	pthread_mutex_destroy(&b->lock);
	free(b->filename);
	free(b->backing_name);
	free(b->backing_fmt);
	free(b);
}

/* Every request is checked against the virtual size before a driver sees it. */
static int check_req(struct blk *b, uint64_t off, uint64_t len, bool write)
{
	if (write && b->read_only) {
		blk_set_err(b, "image '%s' is read-only", b->filename);
		return -EROFS;
	}
	if (!range_within(off, len, b->size)) {
		blk_set_err(b, "request [%#llx, +%#llx) beyond end of image "
			    "(%#llx)", (unsigned long long)off,
			    (unsigned long long)len,
			    (unsigned long long)b->size);
		return -EINVAL;
	}
	return 0;
}

int blk_pread(struct blk *b, uint64_t off, void *buf, size_t len)
{
	int ret = check_req(b, off, len, false);

	if (ret < 0 || !len)
		return ret;
	if (b->drv->unlocked_reads)
		return b->drv->pread(b, off, buf, len);
	pthread_mutex_lock(&b->lock);
	ret = b->drv->pread(b, off, buf, len);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int blk_pwrite(struct blk *b, uint64_t off, const void *buf, size_t len)
{
	int ret = check_req(b, off, len, true);

	if (ret < 0 || !len)
		return ret;
	if (b->drv->unlocked_writes && !b->direct)
		return b->drv->pwrite(b, off, buf, len);
	pthread_mutex_lock(&b->lock);
	ret = b->drv->pwrite(b, off, buf, len);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int blk_pread_host(struct blk *b, uint64_t host_off, void *buf, size_t len)
{
	int ret;

	if (b->direct)
		return -ENOTSUP;
	if (host_off > INT64_MAX || len > INT64_MAX - host_off) {
		blk_set_err(b, "host read [%#llx, +%#zx) out of range",
			    (unsigned long long)host_off, len);
		return -EINVAL;
	}
	ret = blk_file_pread(b->fd, buf, len, host_off);
	if (ret < 0)
		blk_set_err(b, "read at host offset %#llx: %s",
			    (unsigned long long)host_off, strerror(-ret));
	return ret;
}

static int rwv(struct blk *b, uint64_t off, struct iovec *iov, int cnt, bool write)
{
	uint64_t len = 0;
	int ret;

	for (int i = 0; i < cnt; i++)
		len += iov[i].iov_len;
	ret = check_req(b, off, len, write);
	if (ret < 0 || !len)
		return ret;
	pthread_mutex_lock(&b->lock);
	if (write ? b->drv->pwritev != NULL : b->drv->preadv != NULL) {
		ret = write ? b->drv->pwritev(b, off, iov, cnt) : b->drv->preadv(b, off, iov, cnt);
	} else {
		for (int i = 0; i < cnt && ret == 0; i++) {
			if (iov[i].iov_len)
				ret = write ? b->drv->pwrite(b, off, iov[i].iov_base, iov[i].iov_len)
					    : b->drv->pread(b, off, iov[i].iov_base, iov[i].iov_len);
			off += iov[i].iov_len;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int blk_preadv(struct blk *b, uint64_t off, struct iovec *iov, int iovcnt)
{
	return rwv(b, off, iov, iovcnt, false);
}

int blk_pwritev(struct blk *b, uint64_t off, struct iovec *iov, int iovcnt)
{
	return rwv(b, off, iov, iovcnt, true);
}

int blk_pwrite_compressed(struct blk *b, uint64_t off, const void *buf,
			  size_t len)
{
	int ret = check_req(b, off, len, true);

	if (ret < 0 || !len)
		return ret;
	if (!b->drv->pwrite_compressed) {
		blk_set_err(b, "format '%s' does not support compression",
			    b->drv->name);
		return -ENOTSUP;
	}
	pthread_mutex_lock(&b->lock);
	ret = b->drv->pwrite_compressed(b, off, buf, len);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int blk_flush(struct blk *b)
{
	int ret;

	if (b->read_only)
		return 0;
	pthread_mutex_lock(&b->lock);
	ret = b->drv->flush(b);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int blk_start_writeback(struct blk *b)
{
	if (b->read_only)
		return 0;
	/* Asynchronous: only queues the pages; a flush still waits. */
	if (sync_file_range(b->fd, 0, 0, SYNC_FILE_RANGE_WRITE) < 0)
		return -errno;
	return 0;
}

int blk_discard(struct blk *b, uint64_t off, uint64_t len)
{
	int ret = check_req(b, off, len, true);

	if (ret < 0 || !len)
		return ret;
	if (!b->drv->discard)
		return 0;	/* discard is advisory */
	pthread_mutex_lock(&b->lock);
	ret = b->drv->discard(b, off, len);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int blk_write_zeroes(struct blk *b, uint64_t off, uint64_t len,
		     unsigned flags)
{
	int ret = check_req(b, off, len, true);

	if (ret < 0 || !len)
		return ret;
	pthread_mutex_lock(&b->lock);
	ret = b->drv->write_zeroes(b, off, len, flags);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int blk_block_status(struct blk *b, uint64_t off, uint64_t len,
		     uint64_t *pnum, uint64_t *host_off)
{
	int ret = check_req(b, off, len, false);

	if (ret < 0)
		return ret;
	if (!len) {
		*pnum = 0;
		return 0;
	}
	*host_off = 0;
	if (b->drv->unlocked_reads) {
		ret = b->drv->block_status(b, off, len, pnum, host_off);
	} else {
		pthread_mutex_lock(&b->lock);
		ret = b->drv->block_status(b, off, len, pnum, host_off);
		pthread_mutex_unlock(&b->lock);
	}
	if (ret >= 0 && (*pnum == 0 || *pnum > len)) {
		blk_set_err(b, "driver returned a bad status length");
		return -EIO;
	}
	return ret;
}

int blk_truncate(struct blk *b, uint64_t size, bool shrink)
{
	int ret;

	if (b->read_only) {
		blk_set_err(b, "image '%s' is read-only", b->filename);
		return -EROFS;
	}
	if (size < b->size && !shrink) {
		blk_set_err(b, "shrinking needs --shrink");
		return -EINVAL;
	}
	pthread_mutex_lock(&b->lock);
	ret = b->drv->truncate(b, size, shrink);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int blk_check(struct blk *b, int fix, struct blk_check_result *r)
{
	int ret;

	if (!b->drv->check)
		return -ENOTSUP;
	pthread_mutex_lock(&b->lock);
	ret = b->drv->check(b, fix, r);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int blk_amend(struct blk *b, const struct blk_amend_opts *o)
{
	/*
	 * Not under b->lock: amend owns the image (opened for writing by one
	 * tool) and a size change goes through blk_truncate, which locks.
	 */
	if (strcmp(b->drv->name, "qcow2")) {
		blk_set_err(b, "Format driver '%s' does not support option "
			    "amendment", b->drv->name);
		return -ENOTSUP;
	}
	if (b->read_only) {
		blk_set_err(b, "image '%s' is read-only", b->filename);
		return -EROFS;
	}
	return qcow2_amend(b, o);
}

static int raw_create(const char *filename, const struct blk_create_opts *o,
		      char *err, size_t errlen)
{
	const char *pre = o->preallocation ? o->preallocation : "off";
	int fd = open(filename, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int ret = 0;

	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "Could not create '%s': %s", filename,
			 strerror(errno));
		return ret;
	}
	if (ftruncate(fd, (off_t)o->size) < 0) {
		ret = -errno;
	} else if (!strcmp(pre, "falloc")) {
		ret = -posix_fallocate(fd, 0, (off_t)o->size);
	} else if (!strcmp(pre, "full")) {
		static const uint8_t zero[65536];

		for (uint64_t off = 0; off < o->size && !ret; off += sizeof(zero))
			ret = blk_file_pwrite(fd, zero, (size_t)MIN(sizeof(zero),
					      o->size - off), off);
	} else if (strcmp(pre, "off") && strcmp(pre, "metadata")) {
		snprintf(err, errlen, "Invalid preallocation mode: '%s'", pre);
		close(fd);
		return -EINVAL;
	}
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (ret < 0)
		snprintf(err, errlen, "Could not create '%s': %s", filename,
			 strerror(-ret));
	close(fd);
	return ret;
}

int blk_create(const char *format, const char *filename,
	       const struct blk_create_opts *o, char *err, size_t errlen)
{
	if (!strcmp(format, "qcow2"))
		return qcow2_create(filename, o, err, errlen);
	if (!strcmp(format, "raw")) {
		if (o->backing_file) {
			snprintf(err, errlen, "raw images have no backing file");
			return -EINVAL;
		}
		return raw_create(filename, o, err, errlen);
	}
	snprintf(err, errlen, "Unknown file format '%s'", format);
	return -EINVAL;
}

int blk_snapshot(struct blk *b, int op, const char *name)
{
	int ret;

	if (!b->drv->snapshot) {
		blk_set_err(b, "format '%s' does not support internal snapshots",
			    b->drv->name);
		return -ENOTSUP;
	}
	if (b->read_only) {
		blk_set_err(b, "image '%s' is read-only", b->filename);
		return -EROFS;
	}
	pthread_mutex_lock(&b->lock);
	ret = b->drv->snapshot(b, op, name);
	pthread_mutex_unlock(&b->lock);
	return ret;
}
