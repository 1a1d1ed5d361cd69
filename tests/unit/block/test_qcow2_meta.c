/*
 * Unit tests of the qcow2 metadata code: refcount entry packing, L2 entry
 * classification, header validation (hostile headers are refused with a
 * reason), allocation across refcount-block and refcount-table growth,
 * COW, zero clusters, compression, check and repair.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../tap.h"
#include "block/qcow2.h"
#include "lib/util.h"

static char dir[] = "/tmp/vireo-qcow2-unit-XXXXXX";
static char path[256];

static void test_refcount_packing(void)
{
	uint8_t blk[64];

	for (unsigned order = 0; order <= 6; order++) {
		struct qcow2 q = { .refcount_order = order,
				   .refcount_bits = 1u << order };
		uint64_t max = order == 6 ? UINT64_MAX : (1ULL << (1u << order)) - 1;
		uint64_t n = sizeof(blk) * 8 / q.refcount_bits;
		bool ok = true;

		memset(blk, 0, sizeof(blk));
		for (uint64_t i = 0; i < n; i++)
			qcow2_rb_set(&q, blk, i, (i * 7 + 1) & max);
		for (uint64_t i = 0; i < n; i++)
			ok &= qcow2_rb_get(&q, blk, i) == ((i * 7 + 1) & max);
		CHECK(ok);
		qcow2_rb_set(&q, blk, 1, max);
		CHECK_EQ(qcow2_rb_get(&q, blk, 1), max);
		CHECK_EQ(qcow2_rb_get(&q, blk, 0), 1);
	}
	/* 16-bit refcounts are big-endian on disk */
	{
		struct qcow2 q = { .refcount_order = 4, .refcount_bits = 16 };

		memset(blk, 0, sizeof(blk));
		qcow2_rb_set(&q, blk, 2, 0x1234);
		CHECK_EQ(blk[4], 0x12);
		CHECK_EQ(blk[5], 0x34);
	}
}

static void test_l2_types(void)
{
	struct qcow2 q = { .cluster_bits = 16 };

	CHECK_EQ(qcow2_l2_type(&q, 0), QCOW2_C_UNALLOCATED);
	CHECK_EQ(qcow2_l2_type(&q, QCOW2_OFLAG_ZERO), QCOW2_C_ZERO_PLAIN);
	CHECK_EQ(qcow2_l2_type(&q, 0x50000 | QCOW2_OFLAG_ZERO), QCOW2_C_ZERO_ALLOC);
	CHECK_EQ(qcow2_l2_type(&q, 0x50000 | QCOW2_OFLAG_COPIED), QCOW2_C_NORMAL);
	CHECK_EQ(qcow2_l2_type(&q, 0x50000 | QCOW2_OFLAG_COMPRESSED),
		 QCOW2_C_COMPRESSED);
}

static int mkimg(const char *opts_cs, uint64_t size, unsigned rbits,
		 unsigned compat)
{
	struct blk_create_opts o = { .size = size, .compat = compat,
				     .refcount_bits = rbits };
	char err[256];

	o.cluster_size = strtoull(opts_cs, NULL, 0);
	return blk_create("qcow2", path, &o, err, sizeof(err));
}

static struct blk *open_img(bool ro, char *err, size_t errlen)
{
	struct blk_open_opts o = { .format = "qcow2", .read_only = ro };
	struct blk *b = NULL;

	if (blk_open(&b, path, &o, err, errlen) < 0)
		return NULL;
	return b;
}

static void patch(uint64_t off, const void *data, size_t len)
{
	int fd = open(path, O_RDWR);

	if (fd >= 0) {
		if (pwrite(fd, data, len, (off_t)off) != (ssize_t)len)
			perror("pwrite");
		close(fd);
	}
}

static void expect_reject(const char *what, uint64_t off, const void *data,
			  size_t len, const char *needle)
{
	char err[256] = "";
	struct blk *b;

	CHECK(mkimg("65536", 16 * MiB, 16, 3) == 0);
	patch(off, data, len);
	b = open_img(true, err, sizeof(err));
	CHECK(b == NULL);
	if (b)
		blk_close(b);
	if (!strstr(err, needle)) {
		fprintf(stderr, "%s: error '%s' lacks '%s'\n", what, err, needle);
		CHECK(0);
	}
}

static void test_hostile_headers(void)
{
	uint8_t v[8];

	be32_put(v, 0x12345678);
	expect_reject("magic", 0, v, 4, "magic");
	be32_put(v, 4);
	expect_reject("version", 4, v, 4, "version");
	be32_put(v, 30);
	expect_reject("cluster bits", 20, v, 4, "cluster size");
	be32_put(v, 0x7fffffff);
	expect_reject("l1 size", 36, v, 4, "L1 table");
	be64_put(v, 0x10001);
	expect_reject("l1 offset", 40, v, 8, "L1 table");
	be64_put(v, 0x12345);
	expect_reject("rt offset", 48, v, 8, "refcount table");
	be32_put(v, 7);
	expect_reject("refcount order", 96, v, 4, "refcount order");
	be64_put(v, 1ULL << 40);
	expect_reject("incompat", 72, v, 8, "incompatible");
	be64_put(v, 1ULL << 60);
	expect_reject("size", 24, v, 8, "too large");
	{
		uint8_t bk[12];

		be64_put(bk, 512);
		be32_put(bk + 8, 5000);
		expect_reject("backing name", 8, bk, 12, "backing file name");
	}
}

static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 31 + (i >> 9));
}

static void test_rw_cow_and_zero(void)
{
	char err[256];
	uint8_t *w = malloc(300000), *r = malloc(300000), *z = calloc(1, 65536);
	struct blk *b;
	struct blk_check_result res = { 0 };
	uint64_t pnum, host;

	CHECK(mkimg("65536", 64 * MiB, 16, 3) == 0);
	b = open_img(false, err, sizeof(err));
	CHECK(b != NULL);
	if (!b)
		return;
	fill(w, 300000, 1);
	CHECK(blk_pwrite(b, 1000, w, 300000) == 0);	/* partial head/tail */
	CHECK(blk_pread(b, 1000, r, 300000) == 0);
	CHECK(!memcmp(w, r, 300000));
	CHECK(blk_pread(b, 0, r, 1000) == 0);		/* COW head is zero */
	CHECK(!memcmp(r, z, 1000));
	fill(w, 512, 9);
	CHECK(blk_pwrite(b, 70000, w, 512) == 0);	/* in place */
	CHECK(blk_pread(b, 70000, r, 512) == 0);
	CHECK(!memcmp(w, r, 512));
	CHECK(blk_write_zeroes(b, 65536, 65536, BLK_ZERO_MAY_UNMAP) == 0);
	CHECK(blk_pread(b, 65536, r, 65536) == 0);
	CHECK(!memcmp(r, z, 65536));
	CHECK_EQ(blk_block_status(b, 65536, 65536, &pnum, &host),
		 BLK_STATUS_ZERO | BLK_STATUS_ALLOCATED);
	CHECK_EQ(blk_block_status(b, 0, 65536, &pnum, &host) & BLK_STATUS_DATA,
		 BLK_STATUS_DATA);
	CHECK(blk_block_status(b, 10 * MiB, MiB, &pnum, &host) == BLK_STATUS_ZERO);
	CHECK_EQ(pnum, MiB);
	CHECK(blk_flush(b) == 0);
	CHECK(blk_check(b, 0, &res) == 0);
	CHECK_EQ(res.corruptions + res.leaks, 0);
	CHECK_EQ(res.allocated_clusters, 4);	/* 0, 2, 3, 4 (1 is zero) */
	/* out-of-range requests are refused, not clamped */
	CHECK(blk_pread(b, 64 * MiB - 10, r, 20) == -EINVAL);
	blk_close(b);
	free(w);
	free(r);
	free(z);
}

/* 512-byte clusters with 64-bit refcounts: a refcount block covers only
 * 64 clusters and the table 64 blocks (2 MiB), so writing 12 MiB forces
 * new refcount blocks and a larger refcount table. */
static void test_refcount_growth(void)
{
	char err[256];
	uint8_t *w = malloc(MiB), *r = malloc(MiB);
	struct blk_check_result res = { 0 };
	struct blk *b;

	CHECK(mkimg("512", 16 * MiB, 64, 3) == 0);
	b = open_img(false, err, sizeof(err));
	CHECK(b != NULL);
	if (!b)
		return;
	for (int i = 0; i < 12; i++) {
		fill(w, MiB, (uint8_t)i);
		CHECK(blk_pwrite(b, (uint64_t)i * MiB, w, MiB) == 0);
	}
	CHECK(qcow2_of(b)->rt_clusters > 1);
	for (int i = 0; i < 12; i++) {
		fill(w, MiB, (uint8_t)i);
		CHECK(blk_pread(b, (uint64_t)i * MiB, r, MiB) == 0);
		CHECK(!memcmp(w, r, MiB));
	}
	CHECK(blk_flush(b) == 0);
	CHECK(blk_check(b, 0, &res) == 0);
	CHECK_EQ(res.corruptions, 0);
	CHECK_EQ(res.leaks, 0);
	blk_close(b);
	free(w);
	free(r);
}

static void test_compressed(void)
{
	char err[256];
	uint8_t *w = malloc(65536), *r = malloc(65536);
	struct blk_check_result res = { 0 };
	struct blk *b;
	uint64_t pnum, host;

	for (int type = 0; type < 2; type++) {
		struct blk_create_opts o = { .size = 4 * MiB,
					     .compression_type = type };

		CHECK(blk_create("qcow2", path, &o, err, sizeof(err)) == 0);
		b = open_img(false, err, sizeof(err));
		CHECK(b != NULL);
		if (!b)
			return;
		for (int i = 0; i < 8; i++) {
			memset(w, 'a' + i, 65536);
			memcpy(w + 100, "vireo", 5);
			CHECK(blk_pwrite_compressed(b, (uint64_t)i * 65536, w,
						    65536) == 0);
		}
		CHECK(blk_block_status(b, 0, 65536, &pnum, &host) &
		      BLK_STATUS_COMPRESSED);
		/* overwrite part of a compressed cluster: COW decompresses */
		CHECK(blk_pwrite(b, 3 * 65536 + 10, "XY", 2) == 0);
		for (int i = 0; i < 8; i++) {
			memset(w, 'a' + i, 65536);
			memcpy(w + 100, "vireo", 5);
			if (i == 3)
				memcpy(w + 10, "XY", 2);
			CHECK(blk_pread(b, (uint64_t)i * 65536, r, 65536) == 0);
			CHECK(!memcmp(w, r, 65536));
		}
		CHECK(blk_flush(b) == 0);
		CHECK(blk_check(b, 0, &res) == 0);
		CHECK_EQ(res.corruptions + res.leaks, 0);
		CHECK_EQ(res.compressed_clusters, 7);
		blk_close(b);
	}
	free(w);
	free(r);
}

/* xorshift bytes: random-looking, reproducible. */
static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		p[i] = (uint8_t)(seed >> 24);
	}
}

/*
 * zlib skips clusters it judges incompressible: random data is stored as
 * is, but a zero run or short-period repetition inside random data still
 * gets compressed. Compressed data that does not fit the rest of a host
 * cluster runs on into the next one instead of leaving a gap.
 */
static void test_compress_choice_and_packing(void)
{
	uint8_t *src = malloc(65536), *dst = malloc(65536), *r = malloc(65536);
	struct blk_check_result res = { 0 };
	struct blk_create_opts o = { .size = 4 * MiB };
	char err[256];
	struct blk *b;

	fill_random(src, 65536, 1);
	CHECK_EQ(qcow2_compress(QCOW2_COMPRESS_ZLIB, src, 65536, dst, 65024), 0);
	memset(src + 20000, 0, 4096);
	CHECK(qcow2_compress(QCOW2_COMPRESS_ZLIB, src, 65536, dst, 65024) > 0);
	for (size_t i = 2048; i < 65536; i++)
		src[i] = src[i - 2048];
	CHECK(qcow2_compress(QCOW2_COMPRESS_ZLIB, src, 65536, dst, 65024) > 0);
	fill_random(src, 65536, 2);
	CHECK(qcow2_compress(QCOW2_COMPRESS_ZSTD, src, 65536, dst, 65024) == 0);

	CHECK(blk_create("qcow2", path, &o, err, sizeof(err)) == 0);
	b = open_img(false, err, sizeof(err));
	CHECK(b != NULL);
	if (!b)
		goto out;
	for (int i = 0; i < 40; i++) {	/* ~41 KiB compressed each */
		fill_random(src, 40000, 100 + (uint64_t)i);
		memset(src + 40000, i, 65536 - 40000);
		CHECK(blk_pwrite_compressed(b, (uint64_t)i * 65536, src, 65536) == 0);
	}
	for (int i = 0; i < 40; i++) {
		fill_random(src, 40000, 100 + (uint64_t)i);
		memset(src + 40000, i, 65536 - 40000);
		CHECK(blk_pread(b, (uint64_t)i * 65536, r, 65536) == 0);
		CHECK(!memcmp(src, r, 65536));
	}
	CHECK(blk_flush(b) == 0);
	CHECK(blk_check(b, 0, &res) == 0);
	CHECK_EQ(res.corruptions + res.leaks, 0);
	CHECK_EQ(res.compressed_clusters, 40);
	/* Packed: 40 x 41 KiB in about 26 clusters, not 40 (plus metadata). */
	CHECK(res.image_end_offset < 32 * 65536);
	blk_close(b);
out:
	free(src);
	free(dst);
	free(r);
}

/*
 * Runs of precompressed clusters (what convert -c writes): written over
 * plain and compressed clusters alike, packed, one system call per host
 * run; the old clusters are freed, the data reads back, check is clean.
 */
static void test_precompressed_run(void)
{
	enum { N = 40 };
	uint8_t *src = malloc(65536), *r = malloc(65536);
	uint8_t *c = malloc((size_t)N * 65536);
	struct iovec iov[N];
	struct blk_check_result res = { 0 };
	struct blk_create_opts o = { .size = 8 * MiB,
				     .compression_type = QCOW2_COMPRESS_ZSTD };
	char err[256];
	struct blk *b;

	CHECK(blk_create("qcow2", path, &o, err, sizeof(err)) == 0);
	b = open_img(false, err, sizeof(err));
	CHECK(b != NULL);
	if (!b || !src || !r || !c)
		goto out;
	fill_random(src, 65536, 7);	/* plain data to be overwritten */
	for (int i = 0; i < 8; i++)
		CHECK(blk_pwrite(b, (uint64_t)(i + 4) * 65536, src, 65536) == 0);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < N; i++) {
			ssize_t n;

			fill_random(src, 30000, 200 + (uint64_t)(i + pass));
			memset(src + 30000, i, 65536 - 30000);
			n = blk_compress_cluster(b, src, 65536, c + i * 65536);
			CHECK(n > 0);
			iov[i] = (struct iovec){ c + i * 65536, (size_t)(n > 0 ? n : 1) };
		}
		/* Runs of 1, 7 and the rest, the last reaching past nothing. */
		CHECK(blk_pwrite_precompressed_run(b, 0, iov, 1) == 0);
		CHECK(blk_pwrite_precompressed_run(b, 65536, iov + 1, 7) == 0);
		CHECK(blk_pwrite_precompressed_run(b, 8 * 65536, iov + 8, N - 8) == 0);
	}
	CHECK(blk_pwrite_precompressed_run(b, 0, iov, BLK_PRECOMPRESSED_MAX + 1) < 0);
	CHECK(blk_pwrite_precompressed_run(b, 127 * 65536, iov, 2) < 0);
	for (int i = 0; i < N; i++) {
		fill_random(src, 30000, 200 + (uint64_t)(i + 1));
		memset(src + 30000, i, 65536 - 30000);
		CHECK(blk_pread(b, (uint64_t)i * 65536, r, 65536) == 0);
		CHECK(!memcmp(src, r, 65536));
	}
	CHECK(blk_flush(b) == 0);
	CHECK(blk_check(b, 0, &res) == 0);
	CHECK_EQ(res.corruptions + res.leaks, 0);
	CHECK_EQ(res.compressed_clusters, N);
	blk_close(b);
out:
	free(src);
	free(r);
	free(c);
}

/*
 * A run of precompressed clusters into a fresh image allocates its L2
 * table before the data, as qemu does: allocated after, the table would
 * cut the packed data (and the image would differ from qemu's).
 */
static void test_precompressed_l2_first(void)
{
	uint8_t *src = malloc(65536), *c = malloc(3 * 65536), v[8];
	struct blk_create_opts o = { .size = 8 * MiB };
	struct iovec iov[3];
	uint64_t l1, l2, e;
	char err[256];
	struct blk *b;
	int fd;

	CHECK(blk_create("qcow2", path, &o, err, sizeof(err)) == 0);
	b = open_img(false, err, sizeof(err));
	CHECK(b != NULL);
	if (!b || !src || !c)
		goto out;
	for (int i = 0; i < 3; i++) {
		ssize_t n;

		memset(src, 'a' + i, 65536);
		n = blk_compress_cluster(b, src, 65536, c + i * 65536);
		CHECK(n > 0);
		iov[i] = (struct iovec){ c + i * 65536, (size_t)(n > 0 ? n : 1) };
	}
	CHECK(blk_pwrite_precompressed_run(b, 0, iov, 3) == 0);
	blk_close(b);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && pread(fd, v, 8, 40) == 8);
	l1 = be64_get(v);
	CHECK(pread(fd, v, 8, (off_t)l1) == 8);
	l2 = be64_get(v) & QCOW2_L2E_OFFSET_MASK;
	CHECK(pread(fd, v, 8, (off_t)l2) == 8);
	e = be64_get(v);
	close(fd);
	CHECK(e & QCOW2_OFLAG_COMPRESSED);
	/* 64 KiB clusters: the compressed host offset is bits 0..53 */
	CHECK(l2 != 0 && l2 < (e & ((1ULL << 54) - 1)));
out:
	free(src);
	free(c);
}

static void test_backing_and_repair(void)
{
	char err[256], base[300];
	struct blk_create_opts o = { .size = 2 * MiB };
	struct blk_check_result res = { 0 };
	uint8_t buf[4096], want[4096];
	struct blk *b;

	snprintf(base, sizeof(base), "%s/base.raw", dir);
	CHECK(blk_create("raw", base, &o, err, sizeof(err)) == 0);
	b = NULL;
	{
		struct blk_open_opts ro = { .format = "raw" };

		CHECK(blk_open(&b, base, &ro, err, sizeof(err)) == 0);
		memset(buf, 0x5a, sizeof(buf));
		CHECK(blk_pwrite(b, 0, buf, sizeof(buf)) == 0);
		blk_close(b);
	}
	o.backing_file = "base.raw";	/* relative to the overlay */
	o.backing_fmt = "raw";
	o.size = 4 * MiB;		/* larger than its backing file */
	CHECK(blk_create("qcow2", path, &o, err, sizeof(err)) == 0);
	b = open_img(false, err, sizeof(err));
	CHECK(b != NULL);
	if (!b)
		return;
	CHECK(b->backing != NULL);
	CHECK(blk_pwrite(b, 100, "hello", 5) == 0);
	CHECK(blk_pread(b, 0, buf, sizeof(buf)) == 0);
	memset(want, 0x5a, sizeof(want));
	memcpy(want + 100, "hello", 5);
	CHECK(!memcmp(buf, want, sizeof(buf)));
	CHECK(blk_pread(b, 3 * MiB, buf, 512) == 0);	/* past the backing */
	memset(want, 0, 512);
	CHECK(!memcmp(buf, want, 512));
	blk_close(b);

	/* leak a cluster by hand, then repair it */
	{
		uint8_t one[2] = { 0, 1 };
		int fd = open(path, O_RDWR);

		CHECK(ftruncate(fd, 10 * 65536) == 0);
		close(fd);
		patch(2 * 65536 + 2 * 9, one, 2);
	}
	b = open_img(false, err, sizeof(err));
	CHECK(b != NULL);
	if (!b)
		return;
	CHECK(blk_check(b, 0, &res) == 0);
	CHECK_EQ(res.leaks, 1);
	CHECK(blk_check(b, BLK_FIX_LEAKS, &res) == 0);
	CHECK_EQ(res.leaks_fixed, 1);
	CHECK(blk_check(b, 0, &res) == 0);
	CHECK_EQ(res.leaks, 0);
	blk_close(b);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/t.qcow2", dir);
	test_refcount_packing();
	test_l2_types();
	test_hostile_headers();
	test_rw_cow_and_zero();
	test_refcount_growth();
	test_compressed();
	test_compress_choice_and_packing();
	test_precompressed_run();
	test_precompressed_l2_first();
	test_backing_and_repair();
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			fprintf(stderr, "cleanup failed\n");
	}
	return test_done();
}
