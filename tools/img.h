/* vireo-img: shared declarations of the subcommands and their helpers. */
#ifndef VIREO_TOOLS_IMG_H
#define VIREO_TOOLS_IMG_H

#include <stdbool.h>
#include <stdint.h>

#include "block/block.h"

int cmd_create(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_map(int argc, char **argv);
int cmd_resize(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_rebase(int argc, char **argv);
int cmd_commit(int argc, char **argv);
int cmd_measure(int argc, char **argv);
int cmd_amend(int argc, char **argv);

/* Print "vireo-img: msg" to stderr (qemu-img's error style). */
void img_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Open an image for a subcommand; prints the error itself. */
struct blk *img_open(const char *filename, const char *fmt, bool writable,
		     bool force_share, bool no_backing);

/* "100 MiB" style, as qemu-img prints sizes. */
void img_size_str(uint64_t v, char *buf, size_t len);

/* Parse "-o a=b,c=d" into create options; unknown keys are errors. */
int img_parse_create_opts(const char *s, struct blk_create_opts *o,
			  const char **fmt_backing);

/* Parse a size with qemu-img suffixes (k, M, G, T; bytes by default). */
int img_parse_size(const char *s, uint64_t *out);

#endif
