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
#include <sys/uio.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "lib/util.h"
#include "img.h"

#define CHUNK (2 * MiB)
/* Queue the target's dirty pages for disk this often, so the final flush
 * does not start writing hundreds of MiB only at the end. */
#define WRITEBACK_EVERY (32 * MiB)

struct conv {
	struct blk **src;
	int nsrc;
	struct blk *dst;
	uint64_t total, done;
	uint64_t sparse;	/* -S */
	bool compress, target_fresh, progress;
	/*
	 * Who looks for zeroes and writes. WRITE_BY_MAIN: the main thread, on
	 * -S granules. WRITE_CLUSTERS: the workers judge each target cluster
	 * zero or data (with -S at most a cluster, qcow2 allocates whole
	 * clusters anyway) and the main thread writes runs of data clusters.
	 * WRITE_RAW: the workers write to the raw target themselves, in
	 * parallel (no metadata, so no order to keep).
	 */
	enum { WRITE_BY_MAIN, WRITE_CLUSTERS, WRITE_RAW } wmode;
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

/*
 * One chunk in flight: its data, its compressed clusters and its zero and
 * data pieces. A slot is filled by a worker and emptied by the writer.
 */
struct slot {
	uint8_t *buf, *cbuf;
	ssize_t *clen;
	struct piece { uint64_t off, len; bool zero; } p[64];
	int np;
	uint64_t k, doff, len;	/* chunk number, target offset, length */
	uint64_t turn;		/* the chunk that may fill the slot next */
	int ret;
	enum { SLOT_FREE, SLOT_FILLING, SLOT_READY } state;
};

struct worker {
	struct conv *c;
	pthread_t tid;
};

/* Write buf to the target, leaving out zero runs of >= sparse bytes. */
static int write_sparse(struct conv *c, struct slot *w, uint64_t off,
			const uint8_t *buf, uint64_t len)
{
	uint64_t pos = 0, step = c->sparse ? c->sparse : len;
	int ret;

	if (c->compress || c->wmode == WRITE_CLUSTERS) {
		/* Runs of compressed clusters go out together. */
		struct iovec run[BLK_PRECOMPRESSED_MAX];
		uint64_t run_off = 0;
		unsigned nrun = 0;

		for (uint64_t i = 0; pos < len; pos += c->unit, i++) {
			uint64_t n = MIN(c->unit, len - pos);

			ret = 0;
			if (nrun && (w->clen[i] <= 0 ||
				     nrun == BLK_PRECOMPRESSED_MAX)) {
				ret = blk_pwrite_precompressed_run(c->dst,
					run_off, run, nrun);
				nrun = 0;
			}
			if (ret < 0)
				return ret;
			if (w->clen[i] < 0)
				ret = write_zero(c, off + pos, n);
			else if (w->clen[i] == 0) {
				/* With the plain clusters after it, at once. */
				uint64_t m = n;

				while (pos + m < len && w->clen[i + 1] == 0) {
					m += MIN(c->unit, len - pos - m);
					i++;
				}
				ret = blk_pwrite(c->dst, off + pos, buf + pos, m);
				pos += m - n;
			} else {
				if (!nrun)
					run_off = off + pos;
				run[nrun++] = (struct iovec){
					w->cbuf + i * c->unit, (size_t)w->clen[i] };
			}
			if (ret < 0)
				return ret;
		}
		return nrun ? blk_pwrite_precompressed_run(c->dst, run_off,
							   run, nrun) : 0;
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
 * The copy runs in chunks: worker threads (one per core) claim chunks in
 * order and read (and with -c compress) each into a slot of a ring, and
 * the main thread writes the ready slots in chunk order, so the target's
 * layout stays sequential while reading, compressing and writing overlap.
 * A worker waits only when the ring is full, never for its turn to write.
 */
static pthread_mutex_t conv_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t conv_cond = PTHREAD_COND_INITIALIZER;	/* any change */
static struct slot *ring;
static unsigned nslots;
static uint64_t next_claim;	/* chunk number */
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

/* Read chunk [soff, soff+len) of s into w: up to 64 pieces, each zero or
 * data, in order; with -c each cluster compressed too. */
static int prepare(struct conv *c, struct slot *w, struct blk *s,
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
	if (c->compress || c->wmode == WRITE_CLUSTERS) {
		/* Per target cluster: -1 zero, 0 plain data, or compressed. */
		for (uint64_t i = 0; i * c->unit < len; i++) {
			uint64_t o = i * c->unit, n = MIN(c->unit, len - o);

			if (all_zero(w->buf + o, n))
				w->clen[i] = -1;
			else if (!c->compress)
				w->clen[i] = 0;
			else
				w->clen[i] = blk_compress_cluster(c->dst, w->buf + o,
					n, w->cbuf + i * c->unit);
			if (w->clen[i] < -1)
				return (int)w->clen[i];
		}
	}
	return 0;
}

static int write_slot(struct conv *c, struct slot *w);

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct conv *c = wk->c;

	for (;;) {
		uint64_t k, soff, doff, len;
		struct blk *s;
		struct slot *w;
		int ret;

		pthread_mutex_lock(&conv_lock);
		k = next_claim++;
		w = &ring[k % nslots];
		if (!chunk_at(c, k, &s, &soff, &doff, &len)) {
			pthread_mutex_unlock(&conv_lock);
			break;
		}
		/* Chunks take a slot in their order, so the writer's next one
		 * always finds its slot. */
		while (!(w->state == SLOT_FREE && w->turn == k) && !conv_error)
			pthread_cond_wait(&conv_cond, &conv_lock);
		if (conv_error) {
			pthread_mutex_unlock(&conv_lock);
			break;
		}
		w->state = SLOT_FILLING;
		w->k = k;
		w->doff = doff;
		w->len = len;
		pthread_mutex_unlock(&conv_lock);
		ret = prepare(c, w, s, soff, w->len, w->p, &w->np);
		if (c->wmode == WRITE_RAW && ret == 0)
			ret = write_slot(c, w);
		pthread_mutex_lock(&conv_lock);
		w->ret = ret;
		w->state = SLOT_READY;
		pthread_cond_broadcast(&conv_cond);
		pthread_mutex_unlock(&conv_lock);
	}
	return NULL;
}

/* Write one prepared chunk to the target. */
static int write_slot(struct conv *c, struct slot *w)
{
	int ret = w->ret;

	for (int i = 0; i < w->np && ret == 0; i++) {
		if (w->p[i].zero)
			ret = write_zero(c, w->doff + w->p[i].off, w->p[i].len);
		else if (c->compress || c->wmode == WRITE_CLUSTERS)
			ret = write_sparse(c, w, w->doff, w->buf, w->len),
			i = w->np;	/* per-cluster path covers the chunk */
		else
			ret = write_sparse(c, w, w->doff + w->p[i].off,
					   w->buf + w->p[i].off, w->p[i].len);
		if (ret < 0)
			img_err("error while writing at byte %llu: %s",
				(unsigned long long)w->doff, blk_errmsg(c->dst));
	}
	return ret;
}

/* The writer: chunks in order, as their slots become ready. */
static int write_chunks(struct conv *c)
{
	for (uint64_t k = 0;; k++) {
		struct slot *w = &ring[k % nslots];
		struct blk *s;
		uint64_t soff, doff, len;
		int ret;

		if (!chunk_at(c, k, &s, &soff, &doff, &len))
			return 0;
		pthread_mutex_lock(&conv_lock);
		while (!(w->state == SLOT_READY && w->k == k) && !conv_error)
			pthread_cond_wait(&conv_cond, &conv_lock);
		ret = conv_error;
		pthread_mutex_unlock(&conv_lock);
		if (ret == 0 && c->wmode != WRITE_RAW)
			ret = write_slot(c, w);
		else if (ret == 0)
			ret = w->ret;
		if (ret == 0 && (c->done + len) / WRITEBACK_EVERY !=
		    c->done / WRITEBACK_EVERY)
			blk_start_writeback(c->dst);	/* advice: may fail */
		pthread_mutex_lock(&conv_lock);
		if (ret < 0 && !conv_error)
			conv_error = ret;
		w->state = SLOT_FREE;
		w->turn = k + nslots;
		c->done += len;
		progress(c);
		pthread_cond_broadcast(&conv_cond);
		pthread_mutex_unlock(&conv_lock);
		if (ret < 0)
			return ret;
	}
}

static int copy_all(struct conv *c, unsigned nthreads)
{
	struct worker *w = calloc(nthreads, sizeof(*w));
	uint64_t nclu = CHUNK / c->unit + 1;
	unsigned started = 0;
	int ret = 0;

	/* Two slots beyond the workers': one being written, one ready. */
	nslots = nthreads + 2;
	ring = calloc(nslots, sizeof(*ring));
	if (!w || !ring) {
		free(w);
		free(ring);
		return -ENOMEM;
	}
	next_claim = 0;
	conv_error = 0;
	for (unsigned i = 0; i < nslots; i++) {
		ring[i].turn = i;
		ring[i].buf = aligned_alloc(4096, CHUNK);
		ring[i].cbuf = c->compress ? malloc(nclu * c->unit) : NULL;
		ring[i].clen = calloc(nclu, sizeof(*ring[i].clen));
		if (!ring[i].buf || !ring[i].clen ||
		    (c->compress && !ring[i].cbuf))
			conv_error = -ENOMEM;
	}
	for (unsigned i = 0; i < nthreads && !conv_error; i++) {
		w[i].c = c;
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i])) {
			conv_error = -EAGAIN;
			break;
		}
		started++;
	}
	if (!conv_error)
		ret = write_chunks(c);
	pthread_mutex_lock(&conv_lock);
	if (ret < 0 && !conv_error)
		conv_error = ret;
	pthread_cond_broadcast(&conv_cond);
	pthread_mutex_unlock(&conv_lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(w[i].tid, NULL);
	for (unsigned i = 0; i < nslots; i++) {
		free(ring[i].buf);
		free(ring[i].cbuf);
		free(ring[i].clen);
	}
	free(ring);
	ring = NULL;
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
		case 't':
			/*
			 * The target's cache mode, checked but not used:
			 * vireo-img always flushes at the end (qemu-img by
			 * default, "unsafe", does not), so a finished convert
			 * is on disk whatever the mode.
			 */
			if (strcmp(optarg, "unsafe") && strcmp(optarg, "writeback") &&
			    strcmp(optarg, "none") && strcmp(optarg, "writethrough") &&
			    strcmp(optarg, "directsync")) {
				img_err("Invalid cache option: %s", optarg);
				return 1;
			}
			break;
		case 'W': case 'T': break;
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
	if (!strcmp(ofmt, "raw"))
		c.wmode = WRITE_RAW;
	else if (!c.compress && c.sparse && c.sparse <= c.unit)
		c.wmode = WRITE_CLUSTERS;
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
