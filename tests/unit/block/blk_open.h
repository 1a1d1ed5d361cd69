/*
 * Shared by the block unit tests: open an image through the block layer,
 * printing blk_open's reason on failure.
 */
#ifndef VIREO_TESTS_UNIT_BLOCK_BLK_OPEN_H
#define VIREO_TESTS_UNIT_BLOCK_BLK_OPEN_H

#include <stdbool.h>
#include <stdio.h>

#include "block/block.h"

/* The image at path in format fmt, or NULL (the reason on stderr). */
static inline struct blk *open_img(const char *path, const char *fmt, bool ro, bool direct)
{
	struct blk_open_opts o = { .format = fmt, .read_only = ro, .direct = direct };
	char err[256];
	struct blk *b = NULL;

	if (blk_open(&b, path, &o, err, sizeof(err)) < 0) {
		fprintf(stderr, "open %s: %s\n", path, err);
		return NULL;
	}
	return b;
}

#endif
