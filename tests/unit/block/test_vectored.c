/*
 * Unit tests of blk_preadv/blk_pwritev: the raw driver's one-call path
 * (buffered, and O_DIRECT with page-aligned buffers), its buffer-by-buffer
 * fallback for O_DIRECT with unaligned buffers, zero-length entries, reads
 * past the end of a shorter file, requests beyond the capacity, and qcow2
 * (no vectored op: the generic loop). Every result is compared with what
 * plain blk_pread returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../tap.h"
#include "blk_open.h"
#include "block/block.h"
#include "lib/util.h"

#define DISK	(1024 * 1024)
#define PAGE	4096

static char dir[] = "/tmp/vireo-blkvec-unit-XXXXXX";

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31 + seed);
}

/*
 * Write 3 pages + an empty entry as one vectored request at off, read
 * them back scattered differently, and compare with a plain read.
 */
static void round_trip(struct blk *b, uint64_t off, uint8_t *mem, size_t shift)
{
	uint8_t *src = mem + shift, *dst = mem + 8 * PAGE + shift, *flat = mem + 16 * PAGE;
	struct iovec w[4] = { { src, PAGE }, { src + PAGE, 0 }, { src + PAGE, PAGE },
			      { src + 2 * PAGE, PAGE } };
	struct iovec r[3] = { { dst, 512 }, { dst + 512, 2 * PAGE }, { dst + 512 + 2 * PAGE,
								     PAGE - 512 } };

	fill(src, 3 * PAGE, (unsigned)(off / PAGE + shift));
	memset(dst, 0xEE, 3 * PAGE);
	CHECK_EQ(blk_pwritev(b, off, w, 4), 0);
	CHECK_EQ(blk_preadv(b, off, r, 3), 0);
	CHECK(memcmp(src, dst, 3 * PAGE) == 0);
	CHECK_EQ(blk_pread(b, off, flat, 3 * PAGE), 0);
	CHECK(memcmp(src, flat, 3 * PAGE) == 0);
}

static void test_raw(bool direct)
{
	char path[300];
	uint8_t *mem;
	struct blk *b;
	int fd;

	snprintf(path, sizeof(path), "%s/raw%d.img", dir, direct);
	fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	CHECK(fd >= 0 && ftruncate(fd, DISK) == 0);
	close(fd);
	b = open_img(path, "raw", false, direct);
	CHECK(b != NULL);
	if (!b)
		return;
	if (posix_memalign((void **)&mem, PAGE, 24 * PAGE))
		abort();
	round_trip(b, 0, mem, 0);		/* aligned: one call */
	round_trip(b, 5 * PAGE, mem, 100);	/* unaligned buffers */
	round_trip(b, DISK - 3 * PAGE, mem, 0);	/* up to the very end */

	/* Beyond the capacity: refused before any I/O. */
	struct iovec big[2] = { { mem, PAGE }, { mem + PAGE, PAGE } };
	CHECK_EQ(blk_preadv(b, DISK - PAGE, big, 2), (uint64_t)-EINVAL);
	CHECK_EQ(blk_pwritev(b, DISK - PAGE, big, 2), (uint64_t)-EINVAL);

	/* A file shorter than the disk (truncated behind our back) reads zeroes. */
	if (!direct) {
		CHECK(truncate(path, DISK / 2) == 0);
		memset(mem, 0xAA, 2 * PAGE);
		struct iovec tail[2] = { { mem, PAGE }, { mem + PAGE, PAGE } };
		CHECK_EQ(blk_preadv(b, DISK / 2 - PAGE, tail, 2), 0);
		CHECK(mem[PAGE] == 0 && mem[2 * PAGE - 1] == 0);
	}
	blk_close(b);
	free(mem);
}

static void test_qcow2(void)
{
	struct blk_create_opts co = { .size = DISK };
	char path[300], err[256];
	uint8_t *mem;
	struct blk *b;

	snprintf(path, sizeof(path), "%s/v.qcow2", dir);
	CHECK_EQ(blk_create("qcow2", path, &co, err, sizeof(err)), 0);
	b = open_img(path, "qcow2", false, false);
	CHECK(b != NULL);
	if (!b)
		return;
	if (posix_memalign((void **)&mem, PAGE, 24 * PAGE))
		abort();
	round_trip(b, 0, mem, 0);
	round_trip(b, 64 * 1024 - PAGE, mem, 7);	/* across a cluster boundary */
	blk_close(b);
	free(mem);
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(dir))
		return 1;
	test_raw(false);
	test_raw(true);
	test_qcow2();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "cleanup failed\n");
	return test_done();
}
