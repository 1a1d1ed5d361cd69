/*
 * libFuzzer target for the qcow2 open, read and write paths: the input is
 * an image file. It is opened read-only without its backing file (a hostile
 * image must not make us open other files), read through, mapped with
 * block status and checked; then opened read-write (dirty images get
 * repaired on open) and written to and flushed, which drives allocation,
 * copy-on-write and the refcount code over hostile metadata. Any crash,
 * sanitizer report or hang is a bug; errors are the expected outcome.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/block.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blk_open_opts o = { .format = "qcow2", .read_only = true,
				   .force_share = true, .no_backing = true,
				   .check_only = true };
	struct blk_check_result r = { 0 };
	char err[BLK_ERR_LEN], path[64];
	struct blk *b;
	uint8_t *buf;
	int fd = memfd_create("fuzz-qcow2", 0);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (blk_open(&b, path, &o, err, sizeof(err)) < 0) {
		close(fd);
		return 0;
	}
	buf = malloc(256 * KiB);
	if (buf) {
		/* Read the first 4 MiB and a window at the end. */
		uint64_t end = MIN(b->size, 4 * MiB);

		for (uint64_t off = 0; off < end; off += 256 * KiB)
			blk_pread(b, off, buf, (size_t)MIN(256 * KiB, end - off));
		if (b->size > 4 * MiB)
			blk_pread(b, b->size - 4096, buf, 4096);
		free(buf);
	}
	for (uint64_t off = 0, n = 0, host; off < b->size && n < 256; n++) {
		uint64_t pnum;

		if (blk_block_status(b, off, b->size - off, &pnum, &host) < 0)
			break;
		off += pnum;
	}
	blk_check(b, 0, &r);
	blk_close(b);

	o.read_only = false;
	o.check_only = false;
	if (blk_open(&b, path, &o, err, sizeof(err)) == 0) {
		static const uint8_t pat[3000] = { 1, 2, 3 };
		uint64_t span = MIN(b->size, 8 * MiB);

		for (uint64_t i = 0; span && i < 8; i++) {
			uint64_t off = (i * 1234567) % span;
			size_t n = (size_t)MIN((uint64_t)sizeof(pat), b->size - off);

			if (i == 5)
				blk_write_zeroes(b, off & ~511ULL,
						 MIN(65536, b->size - (off & ~511ULL)), 0);
			else if (i == 6)
				blk_discard(b, 0, MIN(b->size, 1 * MiB));
			else if (blk_pwrite(b, off, pat, n) < 0)
				break;
		}
		blk_flush(b);
		blk_close(b);
	}
	close(fd);
	return 0;
}
