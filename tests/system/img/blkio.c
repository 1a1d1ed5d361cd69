/*
 * blkio: drive the block layer from tests (a tiny qemu-io). Commands run
 * in order on one image:
 *   write OFF LEN SEED | verify OFF LEN SEED   deterministic patterns
 *   zero OFF LEN | discard OFF LEN | flush
 *   random SEED COUNT MIRROR   random ops, mirrored into a raw file
 *   crash SEED JOURNAL         write+flush forever, journalling (for kill -9)
 *   crashcheck JOURNAL         check what the journal says must be there
 * Exit status 0 on success, 1 on an error or mismatch.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "lib/util.h"

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The pattern of seed at absolute offset off (8-byte granular). */
static void pattern(uint8_t *buf, uint64_t off, uint64_t len, uint64_t seed)
{
	for (uint64_t i = 0; i < len; i++) {
		uint64_t a = off + i;
		uint64_t w = mix(seed * 0x100000001b3ULL ^ (a >> 3));

		buf[i] = (uint8_t)(w >> ((a & 7) * 8));
	}
}

static struct blk *b;

static int fail(const char *what)
{
	fprintf(stderr, "blkio: %s: %s\n", what, blk_errmsg(b));
	return 1;
}

static int do_write(uint64_t off, uint64_t len, uint64_t seed)
{
	uint8_t *buf = malloc(len);
	int ret;

	pattern(buf, off, len, seed);
	ret = blk_pwrite(b, off, buf, len);
	free(buf);
	return ret < 0 ? fail("write") : 0;
}

static int do_verify(uint64_t off, uint64_t len, uint64_t seed)
{
	uint8_t *buf = malloc(len), *want = malloc(len);
	int ret = blk_pread(b, off, buf, len);

	if (ret < 0) {
		free(buf);
		free(want);
		return fail("read");
	}
	pattern(want, off, len, seed);
	ret = memcmp(buf, want, len) ? 1 : 0;
	if (ret)
		fprintf(stderr, "blkio: verify mismatch in [%" PRIu64 ", +%"
			PRIu64 ")\n", off, len);
	free(buf);
	free(want);
	return ret;
}

static uint64_t rnd_state;
static uint64_t rnd(uint64_t n) { rnd_state = mix(rnd_state); return rnd_state % n; }

static int random_ops(uint64_t seed, uint64_t count, const char *mirror)
{
	int fd = open(mirror, O_RDWR | O_CREAT, 0644);
	uint64_t max = 4 * MiB;
	uint8_t *buf = malloc(max), *zero = calloc(1, max);

	if (fd < 0 || ftruncate(fd, (off_t)b->size) < 0)
		return 1;
	rnd_state = seed;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t op = rnd(10), len = 1 + rnd(MIN(max, b->size));
		uint64_t off = rnd(b->size - len + 1);
		int ret = 0;

		if (rnd(2)) {	/* keep many ops aligned, like guests do */
			off &= ~511ULL;
			len = MAX(512, len & ~511ULL);
			if (off + len > b->size)
				len = b->size - off;
		}
		if (op < 7) {
			pattern(buf, off, len, seed + i);
			ret = blk_pwrite(b, off, buf, len);
			if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
				return 1;
		} else if (op < 9) {
			ret = blk_write_zeroes(b, off, len, BLK_ZERO_MAY_UNMAP);
			if (pwrite(fd, zero, len, (off_t)off) != (ssize_t)len)
				return 1;
		} else {
			/* discard leaves contents undefined; zero what we
			 * mirror by reading back what the image says. */
			ret = blk_discard(b, off, len);
			if (ret == 0)
				ret = blk_pread(b, off, buf, len);
			if (ret == 0 && pwrite(fd, buf, len, (off_t)off) !=
			    (ssize_t)len)
				return 1;
		}
		if (ret < 0)
			return fail("random op");
		if (rnd(8) == 0 && blk_flush(b) < 0)
			return fail("flush");
	}
	free(buf);
	free(zero);
	close(fd);
	return blk_flush(b) < 0 ? fail("flush") : 0;
}

/* Journal lines: "W off len seed" before each write, "F" after a flush. */
static int crash_loop(uint64_t seed, const char *journal)
{
	int jfd = open(journal, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	char line[128];

	if (jfd < 0)
		return 1;
	rnd_state = seed;
	for (uint64_t i = 1;; i++) {
		uint64_t len = 512 * (1 + rnd(512));
		uint64_t off = rnd((b->size - len) / 512 + 1) * 512;
		int n;

		n = snprintf(line, sizeof(line), "W %" PRIu64 " %" PRIu64 " %"
			     PRIu64 "\n", off, len, seed * 1000003 + i);
		if (write(jfd, line, (size_t)n) != n)
			return 1;
		if (do_write(off, len, seed * 1000003 + i))
			return 1;
		if (rnd(4) == 0) {
			if (blk_flush(b) < 0)
				return fail("flush");
			if (write(jfd, "F\n", 2) != 2)
				return 1;
		}
	}
}

struct jw { uint64_t off, len, seed; };

/* Every sector must hold the last flushed write or a later (unflushed)
 * one; sectors whose last flushed write is known are checked. */
static int crash_check(const char *journal)
{
	FILE *f = fopen(journal, "r");
	struct jw *w = NULL;
	size_t n = 0, cap = 0, committed = 0;
	uint64_t sectors = b->size / 512;
	int64_t *last = malloc(sectors * sizeof(*last));
	uint8_t *buf = malloc(512), *want = malloc(512);
	char line[128];
	int bad = 0;

	if (!f || !last)
		return 1;
	while (fgets(line, sizeof(line), f)) {
		struct jw x;

		if (line[0] == 'F') {
			committed = n;
		} else if (sscanf(line, "W %" SCNu64 " %" SCNu64 " %" SCNu64,
				  &x.off, &x.len, &x.seed) == 3) {
			if (n == cap) {
				cap = cap ? cap * 2 : 1024;
				w = realloc(w, cap * sizeof(*w));
			}
			w[n++] = x;
		}
	}
	fclose(f);
	for (uint64_t s = 0; s < sectors; s++)
		last[s] = -1;
	for (size_t i = 0; i < committed; i++)
		for (uint64_t s = w[i].off / 512; s < (w[i].off + w[i].len) / 512; s++)
			last[s] = (int64_t)i;
	for (uint64_t s = 0; s < sectors && bad < 10; s++) {
		bool ok;

		if (blk_pread(b, s * 512, buf, 512) < 0)
			return fail("read");
		if (last[s] < 0) {
			/* never flushed: zero, or any later write */
			memset(want, 0, 512);
			ok = !memcmp(buf, want, 512);
		} else {
			pattern(want, s * 512, 512, w[last[s]].seed);
			ok = !memcmp(buf, want, 512);
		}
		for (size_t i = committed; !ok && i < n; i++) {
			if (s * 512 < w[i].off || s * 512 >= w[i].off + w[i].len)
				continue;
			pattern(want, s * 512, 512, w[i].seed);
			ok = !memcmp(buf, want, 512);
		}
		if (!ok) {
			fprintf(stderr, "blkio: sector %" PRIu64 " lost a "
				"flushed write\n", s);
			bad++;
		}
	}
	free(w);
	free(last);
	free(buf);
	free(want);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct blk_open_opts o = { 0 };
	char err[BLK_ERR_LEN];
	int i = 1, ret = 0;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-f") && i + 1 < argc)
			o.format = argv[++i];
		else if (!strcmp(argv[i], "-r"))
			o.read_only = true;
		else if (!strcmp(argv[i], "-U"))
			o.force_share = true;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: blkio [-f fmt] [-r] IMAGE CMD...\n");
		return 2;
	}
	if (blk_open(&b, argv[i], &o, err, sizeof(err)) < 0) {
		fprintf(stderr, "blkio: %s\n", err);
		return 1;
	}
	for (i++; i < argc && !ret; ) {
		const char *c = argv[i];
		uint64_t a[3] = { 0 };
		int need = !strcmp(c, "flush") ? 0 :
			   (!strcmp(c, "zero") || !strcmp(c, "discard")) ? 2 :
			   (!strcmp(c, "crash")) ? 2 :
			   (!strcmp(c, "crashcheck")) ? 1 : 3;

		if (i + need >= argc + 0 && need && i + need > argc - 1) {
			fprintf(stderr, "blkio: %s needs %d arguments\n", c, need);
			return 2;
		}
		for (int k = 0; k < need && k < 3; k++) {
			if (!strcmp(c, "random") && k == 2)
				break;
			if ((!strcmp(c, "crash") && k == 1) ||
			    !strcmp(c, "crashcheck"))
				break;
			if (parse_size(argv[i + 1 + k], 1, &a[k]) < 0) {
				fprintf(stderr, "blkio: bad number '%s'\n",
					argv[i + 1 + k]);
				return 2;
			}
		}
		if (!strcmp(c, "write"))
			ret = do_write(a[0], a[1], a[2]);
		else if (!strcmp(c, "verify"))
			ret = do_verify(a[0], a[1], a[2]);
		else if (!strcmp(c, "zero"))
			ret = blk_write_zeroes(b, a[0], a[1], BLK_ZERO_MAY_UNMAP) < 0 ?
			      fail("zero") : 0;
		else if (!strcmp(c, "discard"))
			ret = blk_discard(b, a[0], a[1]) < 0 ? fail("discard") : 0;
		else if (!strcmp(c, "flush"))
			ret = blk_flush(b) < 0 ? fail("flush") : 0;
		else if (!strcmp(c, "random"))
			ret = random_ops(a[0], a[1], argv[i + 3]);
		else if (!strcmp(c, "crash"))
			ret = crash_loop(a[0], argv[i + 2]);
		else if (!strcmp(c, "crashcheck"))
			ret = crash_check(argv[i + 1]);
		else {
			fprintf(stderr, "blkio: unknown command %s\n", c);
			return 2;
		}
		i += 1 + need;
	}
	blk_close(b);
	return ret;
}
