/*
 * Unit tests of blk_pread_host, the lock-free read of a range where
 * blk_block_status says its data lives (vireo-img convert's read path):
 * on raw and qcow2 every extent with a host offset reads what blk_pread
 * reads, compressed clusters have no host offset, an O_DIRECT image
 * refuses (-ENOTSUP), an offset that overflows is refused (-EINVAL),
 * reads past the end of the file are zeroes; and qcow2's block status
 * rejects an L2 entry with reserved bits or a misaligned offset as a read
 * does, instead of handing out the offset.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tap.h"
#include "blk_open.h"
#include "block/qcow2.h"
#include "lib/util.h"

#define CL 65536

static char dir[] = "/tmp/vireo-hostread-unit-XXXXXX";

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 13 + seed + (i >> 12));
}

/*
 * Walk b's block status over the whole disk: every extent with a host
 * offset must read through blk_pread_host exactly what blk_pread reads.
 * Returns how many such extents there were; *compressed counts extents
 * marked compressed (which must have no host offset).
 */
static unsigned compare_extents(struct blk *b, unsigned *compressed)
{
	uint8_t *a = malloc(4 * MiB), *h = malloc(4 * MiB);
	unsigned hosted = 0;
	uint64_t off = 0;

	*compressed = 0;
	while (a && h && off < b->size) {
		uint64_t n, host = 0;
		int st = blk_block_status(b, off, MIN(b->size - off, 4 * MiB),
					  &n, &host);

		CHECK(st >= 0);
		if (st < 0)
			break;
		if (st & BLK_STATUS_COMPRESSED) {
			(*compressed)++;
			CHECK(!(st & BLK_STATUS_OFFSET_VALID));
		}
		if ((st & BLK_STATUS_OFFSET_VALID) && (st & BLK_STATUS_DATA)) {
			hosted++;
			CHECK_EQ(blk_pread(b, off, a, n), 0);
			memset(h, 0xAA, n);
			CHECK_EQ(blk_pread_host(b, host, h, n), 0);
			CHECK(memcmp(a, h, n) == 0);
		}
		off += n;
	}
	free(a);
	free(h);
	return hosted;
}

static void test_raw(void)
{
	char path[300];
	uint8_t buf[3 * CL], back[3 * CL];
	unsigned comp;
	struct blk *b;
	int fd;

	snprintf(path, sizeof(path), "%s/r.raw", dir);
	fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	CHECK(fd >= 0 && ftruncate(fd, 8 * MiB) == 0);
	fill(buf, sizeof(buf), 1);
	CHECK(pwrite(fd, buf, sizeof(buf), 1 * MiB) == (ssize_t)sizeof(buf));
	CHECK(pwrite(fd, buf, CL, 5 * MiB) == CL);
	close(fd);

	b = open_img(path, "raw", true, false);
	CHECK(b != NULL);
	if (!b)
		return;
	CHECK(compare_extents(b, &comp) >= 2);
	CHECK_EQ(comp, 0);
	/* past the end of the file: zeroes */
	memset(back, 0xAA, sizeof(back));
	CHECK_EQ(blk_pread_host(b, 8 * MiB - CL, back, 2 * CL), 0);
	memset(buf, 0, sizeof(buf));
	CHECK(memcmp(back, buf, 2 * CL) == 0);
	/* offsets that do not fit a file offset */
	CHECK_EQ(blk_pread_host(b, UINT64_MAX - 10, back, 512), -EINVAL);
	CHECK_EQ(blk_pread_host(b, (uint64_t)INT64_MAX, back, 512), -EINVAL);
	blk_close(b);

	/* O_DIRECT: the caller falls back to blk_pread */
	b = open_img(path, "raw", true, true);
	if (b) {
		CHECK_EQ(blk_pread_host(b, 0, back, 4096), -ENOTSUP);
		blk_close(b);
	}
}

static void test_qcow2(void)
{
	struct blk_create_opts o = { .size = 16 * MiB };
	uint8_t *buf = malloc(4 * CL);
	char path[300], err[256];
	unsigned comp;
	struct blk *b;

	snprintf(path, sizeof(path), "%s/q.qcow2", dir);
	CHECK(buf && blk_create("qcow2", path, &o, err, sizeof(err)) == 0);
	b = buf ? open_img(path, "qcow2", false, false) : NULL;
	CHECK(b != NULL);
	if (!b) {
		free(buf);
		return;
	}
	/* host-contiguous run, a lone cluster written out of order, a
	 * partial cluster, a compressed cluster and a zero cluster */
	fill(buf, 4 * CL, 2);
	CHECK_EQ(blk_pwrite(b, 2 * MiB, buf, 4 * CL), 0);
	CHECK_EQ(blk_pwrite(b, 1 * MiB, buf + CL, CL), 0);
	CHECK_EQ(blk_pwrite(b, 6 * MiB + 1000, buf, 3000), 0);
	CHECK_EQ(blk_pwrite_compressed(b, 8 * MiB, buf, CL), 0);
	CHECK_EQ(blk_write_zeroes(b, 2 * MiB + CL, CL, 0), 0);
	CHECK_EQ(blk_flush(b), 0);
	CHECK(compare_extents(b, &comp) >= 3);
	CHECK_EQ(comp, 1);
	blk_close(b);
	free(buf);
}

/* Patch the first L2 entry of a fresh qcow2 image with data at guest 0;
 * block status and read must both refuse it. */
static void expect_bad_l2(uint64_t (*mangle)(uint64_t), const char *what)
{
	struct blk_create_opts o = { .size = 4 * MiB };
	uint8_t v[8], data[CL];
	char path[300], err[256];
	uint64_t l1, l2, e, n, host;
	struct blk *b;
	int fd;

	snprintf(path, sizeof(path), "%s/bad.qcow2", dir);
	CHECK(blk_create("qcow2", path, &o, err, sizeof(err)) == 0);
	b = open_img(path, "qcow2", false, false);
	CHECK(b != NULL);
	if (!b)
		return;
	fill(data, CL, 3);
	CHECK_EQ(blk_pwrite(b, 0, data, CL), 0);
	CHECK_EQ(blk_pwrite(b, CL, data, CL), 0);
	blk_close(b);

	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK(pread(fd, v, 8, 40) == 8);		/* l1_table_offset */
	l1 = be64_get(v);
	CHECK(pread(fd, v, 8, (off_t)l1) == 8);
	l2 = be64_get(v) & 0x00fffffffffffe00ULL;
	CHECK(pread(fd, v, 8, (off_t)l2) == 8);
	e = be64_get(v);
	be64_put(v, mangle(e));
	CHECK(pwrite(fd, v, 8, (off_t)l2) == 8);
	close(fd);

	b = open_img(path, "qcow2", true, false);
	CHECK(b != NULL);
	if (!b)
		return;
	if (blk_block_status(b, 0, 2 * CL, &n, &host) != -EIO) {
		fprintf(stderr, "%s: block status accepted the entry\n", what);
		CHECK(0);
	}
	CHECK_EQ(blk_pread(b, 0, data, CL), -EIO);
	/* the good entry after it still answers, and alone */
	CHECK_EQ(blk_block_status(b, CL, CL, &n, &host) &
		 BLK_STATUS_OFFSET_VALID, BLK_STATUS_OFFSET_VALID);
	blk_close(b);
}

static uint64_t set_reserved(uint64_t e) { return e | 0x2; }
static uint64_t misalign(uint64_t e) { return e + 0x200; }

/* A bad entry in the middle of a host-contiguous run ends the extent
 * before it, so the extent's host offset never covers it. */
static void test_bad_entry_ends_run(void)
{
	struct blk_create_opts o = { .size = 4 * MiB };
	uint8_t v[8], data[CL];
	char path[300], err[256];
	uint64_t l1, l2, n, host;
	struct blk *b;
	int fd;

	snprintf(path, sizeof(path), "%s/run.qcow2", dir);
	CHECK(blk_create("qcow2", path, &o, err, sizeof(err)) == 0);
	b = open_img(path, "qcow2", false, false);
	CHECK(b != NULL);
	if (!b)
		return;
	fill(data, CL, 4);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(blk_pwrite(b, (uint64_t)i * CL, data, CL), 0);
	blk_close(b);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0 && pread(fd, v, 8, 40) == 8);
	l1 = be64_get(v);
	CHECK(pread(fd, v, 8, (off_t)l1) == 8);
	l2 = be64_get(v) & 0x00fffffffffffe00ULL;
	CHECK(pread(fd, v, 8, (off_t)l2 + 8) == 8);
	be64_put(v, be64_get(v) | 0x2);
	CHECK(pwrite(fd, v, 8, (off_t)l2 + 8) == 8);
	close(fd);
	b = open_img(path, "qcow2", true, false);
	CHECK(b != NULL);
	if (!b)
		return;
	CHECK(blk_block_status(b, 0, 3 * CL, &n, &host) > 0);
	CHECK_EQ(n, CL);
	CHECK_EQ(blk_block_status(b, CL, 2 * CL, &n, &host), -EIO);
	blk_close(b);
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_raw();
	test_qcow2();
	expect_bad_l2(set_reserved, "reserved bits");
	expect_bad_l2(misalign, "misaligned");
	test_bad_entry_ends_run();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return test_done();
}
