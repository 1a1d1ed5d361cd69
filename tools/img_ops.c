/* vireo-img snapshot, compare, rebase and commit. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block/qcow2.h"
#include "lib/util.h"
#include "img.h"

#define BUF (1 * MiB)

static void list_snapshots(struct blk *b)
{
	struct qcow2 *q = b->priv;

	printf("Snapshot list:\n%-10s%-18s%7s%20s%13s%11s\n", "ID", "TAG",
	       "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
	for (uint32_t i = 0; q && i < q->nb_snapshots; i++) {
		struct qcow2_snapshot *s = &q->snaps[i];
		char date[32], vm[32], clk[32];
		time_t t = s->date_sec;
		struct tm tm;
		uint64_t secs = s->vm_clock_nsec / 1000000000ULL;

		localtime_r(&t, &tm);
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
		img_size_str(s->vm_state_size, vm, sizeof(vm));
		snprintf(clk, sizeof(clk), "%02llu:%02llu:%02llu.%03llu",
			 (unsigned long long)(secs / 3600),
			 (unsigned long long)(secs / 60 % 60),
			 (unsigned long long)(secs % 60),
			 (unsigned long long)(s->vm_clock_nsec / 1000000 % 1000));
		printf("%-10s%-18s%7s%20s%13s%11s\n", s->id, s->name,
		       s->vm_state_size ? vm : "0 B", date, clk, "0");
	}
}

int cmd_snapshot(int argc, char **argv)
{
	const char *name = NULL;
	int op = 0, c, ret;
	bool force_share = false;
	struct blk *b;

	optind = 1;
	while ((c = getopt(argc, argv, "la:c:d:f:qUh")) != -1) {
		switch (c) {
		case 'l': case 'a': case 'c': case 'd':
			if (op) {
				img_err("Cannot mix '-l', '-a', '-c', '-d'");
				return 1;
			}
			op = c;
			name = optarg;
			break;
		case 'U': force_share = true; break;
		case 'f': case 'q': break;
		default: return 1;
		}
	}
	if (optind != argc - 1) {
		img_err("Expecting one image file name");
		return 1;
	}
	b = img_open(argv[optind], NULL, op && op != 'l', force_share, true);
	if (!b)
		return 1;
	if (!op || op == 'l') {
		if (strcmp(b->drv->name, "qcow2")) {
			img_err("format '%s' has no snapshots", b->drv->name);
			blk_close(b);
			return 1;
		}
		list_snapshots(b);
		blk_close(b);
		return 0;
	}
	ret = blk_snapshot(b, op, name);
	if (ret < 0) {
		img_err("Could not %s snapshot '%s': %s",
			op == 'c' ? "create" : op == 'a' ? "apply" : "delete",
			name, blk_errmsg(b));
		blk_close(b);
		return 1;
	}
	blk_close(b);
	return 0;
}

/* Is [off, off+len) all zero in b? Reads it (buf of BUF bytes). */
static int zero_tail(struct blk *b, uint64_t off, uint8_t *buf, uint64_t *at)
{
	while (off < b->size) {
		size_t n = (size_t)MIN((uint64_t)BUF, b->size - off);

		if (blk_pread(b, off, buf, n) < 0)
			return -EIO;
		for (size_t i = 0; i < n; i++)
			if (buf[i]) {
				*at = off + i;
				return 1;
			}
		off += n;
	}
	return 0;
}

int cmd_compare(int argc, char **argv)
{
	const char *f1 = NULL, *f2 = NULL;
	bool strict = false, quiet = false, share = false;
	struct blk *a, *b;
	uint8_t *x, *y;
	uint64_t off = 0, common, at = 0;
	int c, ret = 0;

	optind = 1;
	while ((c = getopt(argc, argv, "f:F:sqUpT:h")) != -1) {
		switch (c) {
		case 'f': f1 = optarg; break;
		case 'F': f2 = optarg; break;
		case 's': strict = true; break;
		case 'q': quiet = true; break;
		case 'U': share = true; break;
		case 'p': case 'T': break;
		default: return 2;
		}
	}
	if (argc - optind != 2) {
		img_err("Expecting two image file names");
		return 2;
	}
	a = img_open(argv[optind], f1, false, share, false);
	b = a ? img_open(argv[optind + 1], f2, false, share, false) : NULL;
	x = malloc(BUF);
	y = malloc(BUF);
	if (!a || !b || !x || !y) {
		ret = 2;
		goto out;
	}
	if (strict && a->size != b->size) {
		if (!quiet)
			printf("Strict mode: Image size mismatch!\n");
		ret = 1;
		goto out;
	}
	common = MIN(a->size, b->size);
	while (off < common) {
		size_t n = (size_t)MIN((uint64_t)BUF, common - off);

		if (blk_pread(a, off, x, n) < 0 || blk_pread(b, off, y, n) < 0) {
			img_err("Error while reading offset %llu",
				(unsigned long long)off);
			ret = 2;
			goto out;
		}
		if (memcmp(x, y, n)) {
			size_t i = 0;

			while (x[i] == y[i])
				i++;
			if (!quiet)
				printf("Content mismatch at offset %llu!\n",
				       (unsigned long long)(off + (i & ~511ULL)));
			ret = 1;
			goto out;
		}
		off += n;
	}
	c = zero_tail(a->size > common ? a : b, common, x, &at);
	if (c < 0) {
		ret = 2;
		goto out;
	}
	if (c) {
		if (!quiet)
			printf("Content mismatch at offset %llu!\n",
			       (unsigned long long)(at & ~511ULL));
		ret = 1;
		goto out;
	}
	if (!quiet)
		printf("Images are identical.\n");
out:
	free(x);
	free(y);
	blk_close(b);
	blk_close(a);
	return ret;
}

/* Is [off, +len) decided by b's top layer? Sets *pnum. */
static int top_allocated(struct blk *b, uint64_t off, uint64_t len,
			 uint64_t *pnum)
{
	uint64_t host;
	int st = blk_block_status(b, off, len, pnum, &host);

	return st < 0 ? st : !!(st & BLK_STATUS_ALLOCATED);
}

int cmd_rebase(int argc, char **argv)
{
	const char *fmt = NULL, *nb = NULL, *nfmt = NULL;
	bool unsafe = false, quiet = false;
	struct blk *b, *newb = NULL;
	uint8_t *x = NULL, *y = NULL;
	int c, ret = 1;

	optind = 1;
	while ((c = getopt(argc, argv, "f:b:F:uqpt:T:Uh")) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'b': nb = optarg; break;
		case 'F': nfmt = optarg; break;
		case 'u': unsafe = true; break;
		case 'q': quiet = true; break;
		case 'p': case 't': case 'T': case 'U': break;
		default: return 1;
		}
	}
	(void)quiet;
	if (optind != argc - 1 || !nb) {
		img_err("Expecting one image file name and -b");
		return 1;
	}
	b = img_open(argv[optind], fmt, true, false, unsafe);
	if (!b)
		return 1;
	if (strcmp(b->drv->name, "qcow2")) {
		img_err("only qcow2 images have a backing file");
		goto out;
	}
	if (*nb) {
		char *path = blk_resolve_backing(b->filename, nb);

		newb = img_open(path, nfmt, false, true, false);
		free(path);
		if (!newb)
			goto out;
		if (!nfmt)
			nfmt = newb->drv->name;
	}
	if (!unsafe) {
		/* Copy into the image every cluster it does not own whose
		 * content differs between the old and the new backing. */
		uint64_t off = 0;

		x = malloc(BUF);
		y = calloc(1, BUF);
		while (x && y && off < b->size) {
			uint64_t n;
			int a = top_allocated(b, off, MIN(BUF, b->size - off), &n);

			if (a < 0) {
				img_err("%s", blk_errmsg(b));
				goto out;
			}
			if (!a) {
				if (b->backing && off < b->backing->size) {
					uint64_t m = MIN(n, b->backing->size - off);

					memset(x, 0, n);
					if (blk_pread(b->backing, off, x, m) < 0)
						goto io_err;
				} else {
					memset(x, 0, n);
				}
				memset(y, 0, n);
				if (newb && off < newb->size &&
				    blk_pread(newb, off, y, MIN(n, newb->size - off)) < 0)
					goto io_err;
				if (memcmp(x, y, n) && blk_pwrite(b, off, x, n) < 0)
					goto io_err;
			}
			off += n;
		}
	}
	if (blk_flush(b) < 0 || qcow2_set_backing(b->priv, *nb ? nb : NULL,
						  *nb ? nfmt : NULL) < 0) {
		img_err("Could not change the backing file: %s", blk_errmsg(b));
		goto out;
	}
	ret = 0;
	goto out;
io_err:
	img_err("Could not rebase: %s", blk_errmsg(b));
out:
	free(x);
	free(y);
	blk_close(newb);
	blk_close(b);
	return ret;
}

int cmd_commit(int argc, char **argv)
{
	const char *fmt = NULL;
	bool keep = false, quiet = false;
	struct blk *top, *base = NULL;
	struct blk_open_opts bo = { 0 };
	char err[BLK_ERR_LEN], *bpath = NULL;
	uint8_t *buf = NULL;
	uint64_t off = 0;
	int c, ret = 1;

	optind = 1;
	while ((c = getopt(argc, argv, "f:dqpt:b:r:h")) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'd': keep = true; break;
		case 'q': quiet = true; break;
		case 'p': case 't': case 'r': break;
		case 'b':
			img_err("-b is not supported yet: commit goes into the "
				"immediate backing file");
			return 1;
		default: return 1;
		}
	}
	if (optind != argc - 1) {
		img_err("Expecting one image file name");
		return 1;
	}
	top = img_open(argv[optind], fmt, true, false, true);
	if (!top)
		return 1;
	if (!top->backing_name) {
		img_err("Image does not have a backing file");
		goto out;
	}
	bpath = blk_resolve_backing(top->filename, top->backing_name);
	bo.format = top->backing_fmt;
	if (blk_open(&base, bpath, &bo, err, sizeof(err)) < 0) {
		img_err("%s", err);
		goto out;
	}
	buf = malloc(BUF);
	while (buf && off < top->size) {
		uint64_t n, host;
		int st = blk_block_status(top, off, MIN(BUF, top->size - off),
					  &n, &host);

		if (st < 0)
			goto io_err;
		if ((st & BLK_STATUS_ALLOCATED) && off < base->size) {
			n = MIN(n, base->size - off);
			if (st & BLK_STATUS_ZERO) {
				if (blk_write_zeroes(base, off, n, 0) < 0)
					goto io_err;
			} else if (blk_pread(top, off, buf, n) < 0 ||
				   blk_pwrite(base, off, buf, n) < 0) {
				goto io_err;
			}
		}
		off += n;
	}
	if (blk_flush(base) < 0)
		goto io_err;
	if (!keep) {	/* empty the overlay: its data now lives below */
		if (blk_discard(top, 0, top->size) < 0 || blk_flush(top) < 0)
			goto io_err;
	}
	if (!quiet)
		printf("Image committed.\n");
	ret = 0;
	goto out;
io_err:
	img_err("Block job failed: %s / %s", blk_errmsg(top),
		base ? blk_errmsg(base) : "");
out:
	free(buf);
	free(bpath);
	blk_close(base);
	blk_close(top);
	return ret;
}
