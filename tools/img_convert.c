/*
 * vireo-img convert: copy one or more source images (concatenated) into a
 * new or existing (-n) target, skipping zero runs of at least -S bytes so
 * the target stays sparse, optionally compressing every cluster (-c).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "lib/util.h"
#include "img.h"

#define CHUNK (2 * MiB)

struct conv {
	struct blk **src;
	int nsrc;
	struct blk *dst;
	uint64_t total, done;
	uint64_t sparse;	/* -S */
	bool compress, target_fresh, progress;
	uint64_t unit;		/* target cluster size (or 64 KiB for raw) */
	int last_pct;
};

static void progress(struct conv *c)
{
	int pct;

	if (!c->progress)
		return;
	pct = c->total ? (int)(c->done * 10000 / c->total) : 10000;
	if (pct == c->last_pct)
		return;
	c->last_pct = pct;
	printf("    (%.2f/100%%)\r", pct / 100.0);
	fflush(stdout);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	const uint64_t *w = (const uint64_t *)p;
	size_t i;

	for (i = 0; i < n / 8; i++)
		if (w[i])
			return false;
	for (i *= 8; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Does reading [off, off+len) of the chain give zeroes? Sets *pnum. */
static int src_is_zero(struct blk *b, uint64_t off, uint64_t len,
		       uint64_t *pnum)
{
	uint64_t host, n = len;
	int st;

	for (;;) {
		st = blk_block_status(b, off, n, &n, &host);
		if (st < 0)
			return st;
		if ((st & BLK_STATUS_ALLOCATED) || !b->backing)
			break;
		if (off >= b->backing->size) {
			*pnum = n;
			return 1;
		}
		n = MIN(n, b->backing->size - off);
		b = b->backing;
	}
	*pnum = n;
	return (st & BLK_STATUS_ZERO) && !(st & BLK_STATUS_DATA);
}

static int write_zero(struct conv *c, uint64_t off, uint64_t len)
{
	if (c->target_fresh)
		return 0;	/* a fresh target without backing reads zero */
	return blk_write_zeroes(c->dst, off, len, BLK_ZERO_MAY_UNMAP);
}

/* One worker's buffers: a chunk of data and its compressed clusters. */
struct worker {
	struct conv *c;
	pthread_t tid;
	uint8_t *buf, *cbuf;
	ssize_t *clen;
};

/* Write buf to the target, leaving out zero runs of >= sparse bytes. */
static int write_sparse(struct conv *c, struct worker *w, uint64_t off,
			const uint8_t *buf, uint64_t len)
{
	uint64_t pos = 0, step = c->sparse ? c->sparse : len;
	int ret;

	if (c->compress) {
		for (uint64_t i = 0; pos < len; pos += c->unit, i++) {
			uint64_t n = MIN(c->unit, len - pos);

			if (w->clen[i] < 0)
				ret = write_zero(c, off + pos, n);
			else if (w->clen[i] == 0)
				ret = blk_pwrite(c->dst, off + pos, buf + pos, n);
			else
				ret = blk_pwrite_precompressed(c->dst, off + pos,
					w->cbuf + i * c->unit, (size_t)w->clen[i]);
			if (ret < 0)
				return ret;
		}
		return 0;
	}
	if (!c->sparse)
		return blk_pwrite(c->dst, off, buf, len);
	/* Zero detection on -S granules, aligned to the target offset. */
	while (pos < len) {
		uint64_t end, n;
		bool zero;

		n = MIN(step - ((off + pos) % step), len - pos);
		zero = all_zero(buf + pos, n);
		end = pos + n;
		while (end < len) {
			uint64_t m = MIN(step, len - end);

			if (all_zero(buf + end, m) != zero)
				break;
			end += m;
		}
		if (zero)
			ret = write_zero(c, off + pos, end - pos);
		else
			ret = blk_pwrite(c->dst, off + pos, buf + pos, end - pos);
		if (ret < 0)
			return ret;
		pos = end;
	}
	return 0;
}

/*
 * The copy runs in chunks claimed in order by worker threads: each reads
 * (and with -c compresses) its chunk in parallel with the others, then
 * waits for its turn to write, so the target is written in order (its
 * layout stays sequential) while reading and compressing overlap.
 */
static pthread_mutex_t conv_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t conv_turn = PTHREAD_COND_INITIALIZER;
static uint64_t next_claim, next_write;	/* chunk numbers */
static int conv_error;

/* Map chunk number k to (source, offset in it, target offset, length). */
static bool chunk_at(struct conv *c, uint64_t k, struct blk **s,
		     uint64_t *soff, uint64_t *doff, uint64_t *len)
{
	uint64_t base = 0;

	for (int i = 0; i < c->nsrc; i++) {
		uint64_t n = (c->src[i]->size + CHUNK - 1) / CHUNK;

		if (k < n) {
			*s = c->src[i];
			*soff = k * CHUNK;
			*doff = base + *soff;
			*len = MIN(CHUNK, c->src[i]->size - *soff);
			return true;
		}
		k -= n;
		base += c->src[i]->size;
	}
	return false;
}

/* Up to 64 pieces per chunk: each zero or data, in order. */
struct piece { uint64_t off, len; bool zero; };

static int prepare(struct conv *c, struct worker *w, struct blk *s,
		   uint64_t soff, uint64_t len, struct piece *p, int *np)
{
	uint64_t pos = 0;

	*np = 0;
	while (pos < len) {
		uint64_t n = len - pos;
		int z = c->sparse || c->compress ?
			src_is_zero(s, soff + pos, n, &n) : 0;

		if (z < 0) {
			img_err("error while reading block status of '%s': %s",
				s->filename, blk_errmsg(s));
			return z;
		}
		if (!z && blk_pread(s, soff + pos, w->buf + pos, n) < 0) {
			img_err("error while reading at byte %llu: %s",
				(unsigned long long)(soff + pos), blk_errmsg(s));
			return -EIO;
		}
		if (*np && p[*np - 1].zero == !!z) {
			p[*np - 1].len += n;
		} else {
			p[*np].off = pos;
			p[*np].len = n;
			p[*np].zero = z;
			(*np)++;
		}
		if (z)
			memset(w->buf + pos, 0, n);
		pos += n;
		if (*np == 64 && pos < len) {	/* rest as data */
			if (blk_pread(s, soff + pos, w->buf + pos, len - pos) < 0)
				return -EIO;
			p[63].len += len - pos;
			if (p[63].zero)
				p[63].zero = false;
			break;
		}
	}
	if (c->compress) {
		for (uint64_t i = 0; i * c->unit < len; i++) {
			uint64_t o = i * c->unit, n = MIN(c->unit, len - o);

			if (all_zero(w->buf + o, n))
				w->clen[i] = -1;
			else
				w->clen[i] = blk_compress_cluster(c->dst, w->buf + o,
					n, w->cbuf + i * c->unit);
			if (w->clen[i] < -1)
				return (int)w->clen[i];
		}
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct conv *c = w->c;
	struct piece p[64];

	for (;;) {
		uint64_t k, soff, doff, len;
		struct blk *s;
		int np = 0, ret;

		pthread_mutex_lock(&conv_lock);
		k = next_claim++;
		pthread_mutex_unlock(&conv_lock);
		if (conv_error || !chunk_at(c, k, &s, &soff, &doff, &len))
			break;
		ret = prepare(c, w, s, soff, len, p, &np);
		pthread_mutex_lock(&conv_lock);
		while (next_write != k && !conv_error)
			pthread_cond_wait(&conv_turn, &conv_lock);
		pthread_mutex_unlock(&conv_lock);
		for (int i = 0; i < np && ret == 0 && !conv_error; i++) {
			if (p[i].zero)
				ret = write_zero(c, doff + p[i].off, p[i].len);
			else if (c->compress)
				ret = write_sparse(c, w, doff, w->buf, len),
				i = np;	/* compressed path covers the chunk */
			else
				ret = write_sparse(c, w, doff + p[i].off,
						   w->buf + p[i].off, p[i].len);
			if (ret < 0)
				img_err("error while writing at byte %llu: %s",
					(unsigned long long)doff,
					blk_errmsg(c->dst));
		}
		pthread_mutex_lock(&conv_lock);
		if (ret < 0)
			conv_error = ret;
		next_write = k + 1;
		c->done += len;
		progress(c);
		pthread_cond_broadcast(&conv_turn);
		pthread_mutex_unlock(&conv_lock);
	}
	return NULL;
}

static int copy_all(struct conv *c, unsigned nthreads)
{
	struct worker *w = calloc(nthreads, sizeof(*w));
	uint64_t nclu = CHUNK / c->unit + 1;
	unsigned started = 0;

	if (!w)
		return -ENOMEM;
	next_claim = next_write = 0;
	conv_error = 0;
	for (unsigned i = 0; i < nthreads; i++) {
		w[i].c = c;
		w[i].buf = aligned_alloc(4096, CHUNK);
		w[i].cbuf = c->compress ? malloc(nclu * c->unit) : NULL;
		w[i].clen = calloc(nclu, sizeof(*w[i].clen));
		if (!w[i].buf || !w[i].clen || (c->compress && !w[i].cbuf)) {
			conv_error = -ENOMEM;
			break;
		}
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i])) {
			conv_error = -EAGAIN;
			break;
		}
		started++;
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(w[i].tid, NULL);
	for (unsigned i = 0; i < nthreads; i++) {
		free(w[i].buf);
		free(w[i].cbuf);
		free(w[i].clen);
	}
	free(w);
	return conv_error;
}

int cmd_convert(int argc, char **argv)
{
	struct blk_create_opts o = { 0 };
	struct conv c = { .sparse = 4096, .last_pct = -1 };
	const char *fmt = NULL, *ofmt = "raw", *out;
	bool no_create = false, quiet = false, force_share = false;
	char err[BLK_ERR_LEN];
	unsigned nthreads = 0;
	int ch, ret = 1;

	optind = 1;
	while ((ch = getopt(argc, argv, "f:O:co:S:m:WnpqB:t:T:Uh")) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case 'O': ofmt = optarg; break;
		case 'c': c.compress = true; break;
		case 'o':
			if (img_parse_create_opts(optarg, &o, NULL) < 0)
				return 1;
			break;
		case 'S':
			if (img_parse_size(optarg, &c.sparse) < 0 ||
			    (c.sparse && c.sparse % 512)) {
				img_err("Invalid buffer size for sparse output "
					"specified. Valid sizes are multiples "
					"of 512 up to 16M.");
				return 1;
			}
			break;
		case 'm': {
			uint64_t m;

			if (parse_uint(optarg, 1, 16, &m) < 0) {
				img_err("Invalid number of coroutines. Allowed "
					"number of coroutines is between 1 and "
					"16");
				return 1;
			}
			nthreads = (unsigned)m;
			break;
		}
		case 'U': force_share = true; break;
		case 'W': case 't': case 'T': break;
		case 'n': no_create = true; break;
		case 'p': c.progress = true; break;
		case 'q': quiet = true; break;
		case 'B': o.backing_file = optarg; break;
		default: return 1;
		}
	}
	if (argc - optind < 2) {
		img_err("Expecting at least one source and one target file");
		return 1;
	}
	if (quiet)
		c.progress = false;
	out = argv[argc - 1];
	c.nsrc = argc - optind - 1;
	c.src = calloc((size_t)c.nsrc, sizeof(*c.src));
	for (int i = 0; i < c.nsrc; i++) {
		c.src[i] = img_open(argv[optind + i], fmt, false, force_share, false);
		if (!c.src[i])
			goto out;
		c.total += c.src[i]->size;
	}
	if (o.backing_file) {
		img_err("-B is not supported yet");
		goto out;
	}
	if (c.compress && strcmp(ofmt, "qcow2")) {
		img_err("Compression not supported for this file format");
		goto out;
	}
	if (!no_create) {
		o.size = c.total;
		if (blk_create(ofmt, out, &o, err, sizeof(err)) < 0) {
			img_err("%s: error while converting %s: %s", out, ofmt,
				err);
			goto out;
		}
		c.target_fresh = true;
	}
	c.dst = img_open(out, ofmt, true, false, true);
	if (!c.dst)
		goto out;
	if (c.dst->size < c.total) {
		img_err("output file is smaller than input file");
		goto out;
	}
	c.unit = blk_cluster_size(c.dst);
	if (c.sparse && c.sparse < 512)
		c.sparse = 512;
	if (!nthreads) {	/* default: the cores, within reason */
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		nthreads = (unsigned)MIN(MAX(n, 2), 8);
	}
	progress(&c);
	if (copy_all(&c, nthreads) < 0)
		goto out;
	if (blk_flush(c.dst) < 0) {
		img_err("error while flushing: %s", blk_errmsg(c.dst));
		goto out;
	}
	ret = 0;
	if (c.progress)
		printf("    (100.00/100%%)\n");
out:
	for (int i = 0; c.src && i < c.nsrc; i++)
		blk_close(c.src[i]);
	free(c.src);
	blk_close(c.dst);
	return ret;
}
