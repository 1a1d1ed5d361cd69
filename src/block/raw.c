/*
 * raw driver: the virtual disk is the file. Sparse-aware: holes are found
 * with SEEK_DATA/SEEK_HOLE, discard punches holes and write-zeroes uses
 * fallocate. With O_DIRECT, unaligned requests go through an aligned
 * bounce buffer (read-modify-write at the edges).
 */
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

#define DIRECT_ALIGN 4096

static int raw_probe(const uint8_t *buf, size_t len)
{
	return 1;	/* anything is raw, weakly */
}

static int raw_open(struct blk *b, const struct blk_open_opts *o)
{
	struct stat st;

	if (fstat(b->fd, &st) < 0) {
		blk_set_err(b, "stat: %s", strerror(errno));
		return -errno;
	}
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(b->fd, 0, SEEK_END);

		if (end < 0)
			return -errno;
		b->size = (uint64_t)end;
	} else {
		b->size = (uint64_t)st.st_size;
	}
	return 0;
}

static bool aligned(uint64_t off, const void *buf, size_t len)
{
	return !(off % DIRECT_ALIGN) && !(len % DIRECT_ALIGN) &&
	       !((uintptr_t)buf % DIRECT_ALIGN);
}

/* O_DIRECT for unaligned requests: widen to alignment through a bounce. */
static int direct_rw(struct blk *b, uint64_t off, void *buf, size_t len,
		     bool write)
{
	uint64_t start = ALIGN_DOWN(off, DIRECT_ALIGN);
	uint64_t end = ALIGN_UP(off + len, DIRECT_ALIGN);
	size_t blen = (size_t)(end - start);
	void *bounce;
	int ret;

	if (posix_memalign(&bounce, DIRECT_ALIGN, blen))
		return -ENOMEM;
	ret = blk_file_pread(b->fd, bounce, blen, start);
	if (ret == 0) {
		if (write) {
			memcpy((uint8_t *)bounce + (off - start), buf, len);
			ret = blk_file_pwrite(b->fd, bounce, blen, start);
		} else {
			memcpy(buf, (uint8_t *)bounce + (off - start), len);
		}
	}
	free(bounce);
	return ret;
}

static int raw_pread(struct blk *b, uint64_t off, void *buf, size_t len)
{
	int ret;

	if (b->direct && !aligned(off, buf, len))
		ret = direct_rw(b, off, buf, len, false);
	else
		ret = blk_file_pread(b->fd, buf, len, off);
	if (ret < 0)
		blk_set_err(b, "read at %#llx: %s", (unsigned long long)off,
			    strerror(-ret));
	return ret;
}

static int raw_pwrite(struct blk *b, uint64_t off, const void *buf, size_t len)
{
	int ret;

	if (b->direct && !aligned(off, buf, len))
		ret = direct_rw(b, off, (void *)buf, len, true);
	else
		ret = blk_file_pwrite(b->fd, buf, len, off);
	if (ret < 0)
		blk_set_err(b, "write at %#llx: %s", (unsigned long long)off,
			    strerror(-ret));
	return ret;
}

/*
 * One preadv/pwritev for the whole list when the file takes it as it is:
 * always for buffered I/O, and for O_DIRECT when every buffer and the
 * offset are aligned (a guest's page-sized buffers are). Otherwise buffer
 * by buffer, each through the bounce path if it needs it.
 */
static int raw_rwv(struct blk *b, uint64_t off, struct iovec *iov, int cnt, bool write)
{
	bool whole = !b->direct || !(off % DIRECT_ALIGN);
	int ret = 0;

	for (int i = 0; i < cnt && whole; i++)
		whole = !b->direct || aligned(0, iov[i].iov_base, iov[i].iov_len);
	if (whole) {
		ret = write ? blk_file_pwritev(b->fd, iov, cnt, off)
			    : blk_file_preadv(b->fd, iov, cnt, off);
		if (ret < 0)
			blk_set_err(b, "%s at %#llx: %s", write ? "write" : "read",
				    (unsigned long long)off, strerror(-ret));
		return ret;
	}
	for (int i = 0; i < cnt && ret == 0; i++) {
		if (iov[i].iov_len)
			ret = write ? raw_pwrite(b, off, iov[i].iov_base, iov[i].iov_len)
				    : raw_pread(b, off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	return ret;
}

static int raw_preadv(struct blk *b, uint64_t off, struct iovec *iov, int cnt)
{
	return raw_rwv(b, off, iov, cnt, false);
}

static int raw_pwritev(struct blk *b, uint64_t off, struct iovec *iov, int cnt)
{
	return raw_rwv(b, off, iov, cnt, true);
}

static int raw_flush(struct blk *b)
{
	if (fdatasync(b->fd) < 0) {
		blk_set_err(b, "fdatasync: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int write_zero_buffer(struct blk *b, uint64_t off, uint64_t len)
{
	size_t chunk = (size_t)MIN(len, 1 * MiB);
	void *zero;
	int ret = 0;

	if (posix_memalign(&zero, DIRECT_ALIGN, ALIGN_UP(chunk, DIRECT_ALIGN)))
		return -ENOMEM;
	memset(zero, 0, ALIGN_UP(chunk, DIRECT_ALIGN));
	while (len && !ret) {
		size_t n = (size_t)MIN(len, chunk);

		ret = raw_pwrite(b, off, zero, n);
		off += n;
		len -= n;
	}
	free(zero);
	return ret;
}

static int raw_discard(struct blk *b, uint64_t off, uint64_t len)
{
	if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) < 0) {
		if (errno == EOPNOTSUPP || errno == ENOSYS)
			return 0;	/* discard is only advice */
		blk_set_err(b, "discard: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int raw_write_zeroes(struct blk *b, uint64_t off, uint64_t len,
			    unsigned flags)
{
	int mode = (flags & BLK_ZERO_MAY_UNMAP) ?
		   FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE :
		   FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;

	if (fallocate(b->fd, mode, (off_t)off, (off_t)len) == 0)
		return 0;
	return write_zero_buffer(b, off, len);
}

static int raw_block_status(struct blk *b, uint64_t off, uint64_t len,
			    uint64_t *pnum, uint64_t *host_off)
{
	off_t data = lseek(b->fd, (off_t)off, SEEK_DATA);
	off_t hole;

	*host_off = off;
	if (data < 0) {
		if (errno == ENXIO) {	/* only a hole up to EOF */
			*pnum = len;
			return BLK_STATUS_ZERO | BLK_STATUS_ALLOCATED |
			       BLK_STATUS_OFFSET_VALID;
		}
		*pnum = len;	/* no SEEK_DATA: call it all data */
		return BLK_STATUS_DATA | BLK_STATUS_ALLOCATED |
		       BLK_STATUS_OFFSET_VALID;
	}
	if ((uint64_t)data > off) {
		*pnum = MIN(len, (uint64_t)data - off);
		return BLK_STATUS_ZERO | BLK_STATUS_ALLOCATED |
		       BLK_STATUS_OFFSET_VALID;
	}
	hole = lseek(b->fd, (off_t)off, SEEK_HOLE);
	if (hole < 0 || (uint64_t)hole <= off)
		*pnum = len;
	else
		*pnum = MIN(len, (uint64_t)hole - off);
	return BLK_STATUS_DATA | BLK_STATUS_ALLOCATED | BLK_STATUS_OFFSET_VALID;
}

static int raw_truncate(struct blk *b, uint64_t size, bool shrink)
{
	if (ftruncate(b->fd, (off_t)size) < 0) {
		blk_set_err(b, "truncate: %s", strerror(errno));
		return -errno;
	}
	b->size = size;
	return 0;
}

const struct blk_driver blk_raw_driver = {
	.name = "raw",
	/* pread(2), pwrite(2) and lseek(SEEK_DATA/HOLE) on the file alone;
	 * a failing request's message may race another's, nothing else is
	 * shared. */
	.unlocked_reads = true,
	.unlocked_writes = true,
	.probe = raw_probe,
	.open = raw_open,
	.pread = raw_pread,
	.pwrite = raw_pwrite,
	.preadv = raw_preadv,
	.pwritev = raw_pwritev,
	.flush = raw_flush,
	.discard = raw_discard,
	.write_zeroes = raw_write_zeroes,
	.block_status = raw_block_status,
	.truncate = raw_truncate,
};
