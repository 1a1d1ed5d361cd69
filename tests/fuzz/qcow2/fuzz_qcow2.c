/*
 * libFuzzer target for the qcow2 open and read paths: the input is an image
 * file. It is opened read-only without its backing file (a hostile image
 * must not make us open other files), read through, mapped with block
 * status and checked. Any crash, sanitizer report or hang is a bug; errors
 * are the expected outcome for most inputs.
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
	close(fd);
	return 0;
}
