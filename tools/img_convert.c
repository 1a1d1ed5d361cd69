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
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "lib/util.h"
#include "img.h"

#define CHUNK (2 * MiB)	/* also the size of a huge page */
/* Queue the target's dirty pages for disk this often, so the final flush
 * does not start writing hundreds of MiB only at the end. */
#define WRITEBACK_EVERY (32 * MiB)
/* How far one block-status query looks ahead (one SEEK_HOLE can scan a
 * whole data run; the answer serves the chunks after this one too). */
#define STATUS_AHEAD (64 * MiB)
/*
 * Chunks in flight without -c. The reader needs about a third of the
 * writer's time per chunk (a copy out of the page cache against a copy
 * into fresh target pages), so a few chunks ahead keep the writer fed,
 * across runs of zero chunks too; 8 measured no faster than 4 and cost
 * 8 MiB more resident buffers (peak RSS 18.8 -> 13.7 MiB).
 */
#define RING_PLAIN 4

struct conv {
	struct blk **src;
	int nsrc;
	struct blk *dst;
	uint64_t total, done;
	uint64_t sparse;	/* -S */
	bool compress, target_fresh, progress;
	/*
	 * The workers read each chunk and judge it: zero (left out of the
	 * target), plain data or (-c) compressed; the main thread writes
	 * it in order. With -c, or for qcow2 with -S at most a cluster
	 * (qcow2 allocates whole clusters anyway), per target cluster
	 * (per_cluster, unit = the cluster size); otherwise as runs: zero
	 * where the source's block status says so, and in the data, zero
	 * wherever a whole -S granule (unit) is. judge is false with -S 0
	 * and no -c: every byte is written.
	 */
	uint64_t unit;
	bool judge, per_cluster;
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

/* True if p[0..n) is all zero bytes. Data usually fails on the first
 * words; zeroes are scanned 128 bytes at a time, which the compiler turns
 * into vector ORs. */
static bool all_zero(const uint8_t *p, size_t n)
{
	typedef uint64_t v4 __attribute__((vector_size(32)));
	size_t i = 0;

	for (; i < n && i < 16; i++)
		if (p[i])
			return false;
	for (; i + 128 <= n; i += 128) {
		v4 a, b, d, e;

		memcpy(&a, p + i, 32);
		memcpy(&b, p + i + 32, 32);
		memcpy(&d, p + i + 64, 32);
		memcpy(&e, p + i + 96, 32);
		a |= b | d | e;
		if (a[0] | a[1] | a[2] | a[3])
			return false;
	}
	for (; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * A stretch of one source with one kind of content: zero, or data that
 * lives at host offset host of layer's file (host_ok) or must be read
 * through the format (compressed clusters, no offset).
 */
struct extent {
	struct blk *s;		/* the source; NULL: nothing cached */
	uint64_t off, end;	/* [off, end) in s */
	bool zero, host_ok;
	struct blk *layer;	/* the chain member holding the data */
	uint64_t host;		/* host offset of off in layer's file */
};

/* Look up the extent of s's chain at off (at most len bytes) into *e. */
static int src_extent(struct blk *s, uint64_t off, uint64_t len,
		      struct extent *e)
{
	const int plain = BLK_STATUS_DATA | BLK_STATUS_OFFSET_VALID;
	struct blk *b = s;
	uint64_t host = 0, n = len;
	int st;

	for (;;) {
		st = blk_block_status(b, off, n, &n, &host);
		if (st < 0) {
			img_err("error while reading block status of '%s': %s",
				b->filename, blk_errmsg(b));
			return st;
		}
		if ((st & BLK_STATUS_ALLOCATED) || !b->backing)
			break;
		if (off >= b->backing->size) {
			st = BLK_STATUS_ZERO;	/* beyond a shorter backing */
			break;
		}
		n = MIN(n, b->backing->size - off);
		b = b->backing;
	}
	*e = (struct extent){
		.s = s, .off = off, .end = off + n, .layer = b, .host = host,
		.zero = (st & BLK_STATUS_ZERO) && !(st & BLK_STATUS_DATA),
		.host_ok = (st & (plain | BLK_STATUS_COMPRESSED)) == plain,
	};
	return 0;
}

/* e covers source offset at, as src_extent() found it: asked again once
 * at leaves what the last answer covered. */
static int extent_cover(struct extent *e, struct blk *s, uint64_t at)
{
	if (e->s == s && at >= e->off && at < e->end)
		return 0;
	return src_extent(s, at, MIN(s->size - at, STATUS_AHEAD), e);
}

/* Read [off, off+n) of extent e of s: straight from the file holding it
 * when it has a host offset (no lock), else through the format. */
static int read_extent(struct blk *s, const struct extent *e, uint64_t off,
		       uint8_t *buf, uint64_t n)
{
	struct blk *from = e->layer;
	int ret = -ENOTSUP;

	if (e->host_ok)
		ret = blk_pread_host(e->layer, e->host + (off - e->off), buf, n);
	if (ret == -ENOTSUP) {
		from = s;
		ret = blk_pread(s, off, buf, n);
	}
	if (ret < 0)
		img_err("error while reading at byte %llu: %s",
			(unsigned long long)off, blk_errmsg(from));
	return ret;
}

static int write_zero(struct conv *c, uint64_t off, uint64_t len)
{
	if (c->target_fresh)
		return 0;	/* a fresh target without backing reads zero */
	return blk_write_zeroes(c->dst, off, len, BLK_ZERO_MAY_UNMAP);
}

/*
 * One chunk in flight: its data and its judgement, per cluster (clen: -1
 * zero, 0 plain data, > 0 the length of the compressed cluster in cbuf)
 * or as runs (chunk-relative, in order, neighbours of one kind merged).
 * A slot is filled by a worker and emptied by the writer.
 */
struct run {
	uint32_t off, len;
	bool zero;
};

/* Runs in a chunk: their ends fall on 512-byte multiples (granules,
 * clusters, file blocks) but for the end of an odd-sized raw file. */
#define MAX_RUNS (CHUNK / 512 + 8)

struct slot {
	uint8_t *buf, *cbuf;
	ssize_t *clen;
	struct run *runs;
	unsigned nruns;
	uint64_t k, doff, len;	/* chunk number, target offset, length */
	uint64_t turn;		/* the chunk that may fill the slot next */
	int ret;
	enum { SLOT_FREE, SLOT_FILLING, SLOT_READY } state;
};

struct worker {
	struct conv *c;
	pthread_t tid;
	struct extent ext;	/* the last extent looked up */
};

/*
 * The copy runs in chunks: worker threads (one, or with -c one per core)
 * claim chunks in order and read (and with -c compress) each into a slot
 * of a ring, and the main thread writes the ready slots in chunk order, so
 * the target's layout stays sequential while reading, compressing and
 * writing overlap.
 * A worker waits only when the ring is full, never for its turn to write.
 * The main thread is the only writer: writes to one file take the file's
 * lock in the kernel, so more writers only queue there.
 */
static pthread_mutex_t conv_lock = PTHREAD_MUTEX_INITIALIZER;
/* A slot became free (workers wait) or ready (the writer waits); an
 * error wakes both. Two conditions, so nobody wakes for the others. */
static pthread_cond_t slot_freed = PTHREAD_COND_INITIALIZER;
static pthread_cond_t slot_ready = PTHREAD_COND_INITIALIZER;
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

/* Append [off, off+len) to w's runs, merged with the last if alike. */
static void add_run(struct slot *w, uint64_t off, uint64_t len, bool zero)
{
	struct run *r = w->nruns ? &w->runs[w->nruns - 1] : NULL;

	if (r && r->zero == zero && r->off + r->len == off) {
		r->len += (uint32_t)len;
	} else if (w->nruns < MAX_RUNS) {
		w->runs[w->nruns++] = (struct run){ (uint32_t)off,
						    (uint32_t)len, zero };
	} else {
		/* Not reached (see MAX_RUNS); were it, write data. */
		if (r->zero)
			memset(w->buf + r->off, 0, r->len);
		if (zero)
			memset(w->buf + off, 0, len);
		r->zero = false;
		r->len = (uint32_t)(off + len - r->off);
	}
}

/*
 * Fill slot w with chunk [soff, soff+len) of s as runs: a zero extent of
 * the source is a zero run as it is (not read); data is read and each
 * -S granule of it (aligned to the target offset) that is all zero is a
 * zero run too.
 */
static int prepare_runs(struct conv *c, struct worker *wk, struct slot *w,
			struct blk *s, uint64_t soff, uint64_t len)
{
	struct extent *e = &wk->ext;
	uint64_t pos = 0;
	int ret;

	w->nruns = 0;
	while (pos < len) {
		uint64_t at = soff + pos, n;

		ret = extent_cover(e, s, at);
		if (ret < 0)
			return ret;
		n = MIN(len - pos, e->end - at);
		if (e->zero && c->judge) {
			add_run(w, pos, n, true);
			pos += n;
			continue;
		}
		if (e->zero)
			memset(w->buf + pos, 0, n);	/* -S 0: written */
		else if ((ret = read_extent(s, e, at, w->buf + pos, n)) < 0)
			return ret;
		for (uint64_t o = pos, m; o < pos + n; o += m) {
			m = MIN(c->unit - (w->doff + o) % c->unit, pos + n - o);
			add_run(w, o, m, c->judge && all_zero(w->buf + o, m));
		}
		pos += n;
	}
	return 0;
}

/* End (chunk-relative) of the target cluster of slot w that holds o. */
static uint64_t unit_end(const struct conv *c, const struct slot *w,
			 uint64_t o)
{
	return MIN(w->len, o + c->unit - (w->doff + o) % c->unit);
}

/*
 * Fill slot w with chunk [soff, soff+len) of s and judge its clusters
 * (the target's: with concatenated sources a chunk need not start on
 * one, and a cluster cut by the chunk's edge is plain data, not
 * compressed).
 * Zero extents are not read; a cluster wholly inside one is zero without
 * a look, the buffer is cleared only where a zero extent shares a
 * cluster with data.
 */
static int prepare_clusters(struct conv *c, struct worker *wk,
			    struct slot *w, struct blk *s, uint64_t soff,
			    uint64_t len)
{
	struct { uint64_t off, end; } zp[64];	/* zero pieces, chunk-relative */
	struct extent *e = &wk->ext;
	uint64_t pos = 0, unit = c->unit;
	unsigned nz = 0, zi = 0;
	int ret;

	while (pos < len) {
		uint64_t at = soff + pos, n;

		ret = extent_cover(e, s, at);
		if (ret < 0)
			return ret;
		n = MIN(len - pos, e->end - at);
		if (!e->zero) {
			ret = read_extent(s, e, at, w->buf + pos, n);
			if (ret < 0)
				return ret;
		} else if (nz && zp[nz - 1].end == pos) {
			zp[nz - 1].end += n;
		} else if (nz < 64) {
			zp[nz].off = pos;
			zp[nz++].end = pos + n;
		} else {
			memset(w->buf + pos, 0, n);	/* judged by looking */
		}
		pos += n;
	}
	for (unsigned i = 0; i < nz; i++) {
		/* Clear the zero parts of clusters that hold data as well. */
		uint64_t head = MIN(zp[i].end, zp[i].off +
				    (unit - (w->doff + zp[i].off) % unit) % unit);
		uint64_t tail = MAX(head, zp[i].end - (w->doff + zp[i].end) % unit);

		memset(w->buf + zp[i].off, 0, head - zp[i].off);
		memset(w->buf + tail, 0, zp[i].end - tail);
	}
	for (uint64_t i = 0, o = 0, n; o < len; i++, o += n) {
		n = unit_end(c, w, o) - o;

		while (zi < nz && zp[zi].end <= o)
			zi++;
		if (zi < nz && zp[zi].off <= o && o + n <= zp[zi].end)
			w->clen[i] = -1;
		else if (all_zero(w->buf + o, n))
			w->clen[i] = -1;
		else if (!c->compress || n < unit)
			w->clen[i] = 0;
		else
			w->clen[i] = blk_compress_cluster(c->dst, w->buf + o, n,
							  w->cbuf + i * unit);
		if (w->clen[i] < -1) {
			img_err("error while compressing at byte %llu: %s",
				(unsigned long long)(soff + o),
				strerror((int)-w->clen[i]));
			return (int)w->clen[i];
		}
	}
	return 0;
}

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
			pthread_cond_wait(&slot_freed, &conv_lock);
		if (conv_error) {
			pthread_mutex_unlock(&conv_lock);
			break;
		}
		w->state = SLOT_FILLING;
		w->k = k;
		w->doff = doff;
		w->len = len;
		pthread_mutex_unlock(&conv_lock);
		ret = c->per_cluster ? prepare_clusters(c, wk, w, s, soff, len)
				     : prepare_runs(c, wk, w, s, soff, len);
		pthread_mutex_lock(&conv_lock);
		w->ret = ret;
		w->state = SLOT_READY;
		pthread_cond_signal(&slot_ready);
		pthread_mutex_unlock(&conv_lock);
	}
	return NULL;
}

/*
 * Write one judged chunk to the target: each zero run as one zero request
 * (nothing on a fresh target), each run of data as one write, each run
 * of compressed clusters in as few calls as fit.
 */
static int write_slot(struct conv *c, struct slot *w)
{
	struct iovec run[BLK_PRECOMPRESSED_MAX];
	uint64_t run_off = 0;
	unsigned nrun = 0;
	int ret = w->ret;

	for (unsigned i = 0; !c->per_cluster && i < w->nruns && ret == 0; i++) {
		const struct run *r = &w->runs[i];

		ret = r->zero ? write_zero(c, w->doff + r->off, r->len)
			      : blk_pwrite(c->dst, w->doff + r->off,
					   w->buf + r->off, r->len);
	}
	for (uint64_t i = 0, o = 0; c->per_cluster && o < w->len && ret == 0;) {
		uint64_t j = i + 1, end = unit_end(c, w, o);

		if (w->clen[i] > 0) {
			if (!nrun)
				run_off = w->doff + o;
			run[nrun++] = (struct iovec){ w->cbuf + i * c->unit,
						      (size_t)w->clen[i] };
			i++;
			o = end;
			if (nrun == BLK_PRECOMPRESSED_MAX || o == w->len ||
			    w->clen[i] <= 0) {
				ret = blk_pwrite_precompressed_run(c->dst,
					run_off, run, nrun);
				nrun = 0;
			}
			continue;
		}
		for (; end < w->len && w->clen[j] == w->clen[i]; j++)
			end = unit_end(c, w, end);
		if (w->clen[i] < 0)
			ret = write_zero(c, w->doff + o, end - o);
		else
			ret = blk_pwrite(c->dst, w->doff + o, w->buf + o, end - o);
		i = j;
		o = end;
	}
	if (ret < 0 && w->ret == 0)
		img_err("error while writing at byte %llu: %s",
			(unsigned long long)w->doff, blk_errmsg(c->dst));
	return ret;
}

/* The writer: chunks in order, as their slots become ready. */
static int write_chunks(struct conv *c)
{
	unsigned unsignalled = 0;	/* slots freed, workers not told */

	for (uint64_t k = 0;; k++) {
		struct slot *w = &ring[k % nslots];
		struct blk *s;
		uint64_t soff, doff, len;
		int ret;

		if (!chunk_at(c, k, &s, &soff, &doff, &len))
			return 0;
		pthread_mutex_lock(&conv_lock);
		while (!(w->state == SLOT_READY && w->k == k) && !conv_error) {
			/* Before sleeping, hand over every free slot. */
			if (unsignalled) {
				pthread_cond_broadcast(&slot_freed);
				unsignalled = 0;
			}
			pthread_cond_wait(&slot_ready, &conv_lock);
		}
		ret = conv_error;
		pthread_mutex_unlock(&conv_lock);
		if (ret == 0)
			ret = write_slot(c, w);
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
		/*
		 * Wake the workers for half a ring at a time, not for every
		 * slot: a worker that waits for a free slot then fills several
		 * in a row (two context switches per chunk cost more than
		 * the bookkeeping on this kind of host).
		 */
		if (++unsignalled >= (nslots + 1) / 2 || ret < 0) {
			pthread_cond_broadcast(&slot_freed);
			unsignalled = 0;
		}
		pthread_mutex_unlock(&conv_lock);
		if (ret < 0)
			return ret;
	}
}

/*
 * A chunk buffer on its own huge page where the kernel offers them (THP
 * in madvise mode): one page fault instead of 512 when it is first
 * filled, and fewer TLB misses while the kernel copies into it.
 */
static uint8_t *chunk_buffer(void)
{
	uint8_t *p = aligned_alloc(CHUNK, CHUNK);

	if (p)
		madvise(p, CHUNK, MADV_HUGEPAGE);	/* advice: may fail */
	return p;
}

static int copy_all(struct conv *c, unsigned nthreads)
{
	struct worker *w = calloc(nthreads, sizeof(*w));
	uint64_t nunit = CHUNK / c->unit + 2;	/* + the cut ones at each edge */
	unsigned started = 0;
	int ret = 0;

	/* Beyond the workers' slots: one being written, one ready; without
	 * -c (cheap chunks, the writer is the bottleneck) a deeper ring. */
	nslots = nthreads + 2;
	if (!c->compress)
		nslots = MAX(nslots, RING_PLAIN);
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
		ring[i].buf = chunk_buffer();
		ring[i].cbuf = c->compress ? malloc(nunit * c->unit) : NULL;
		ring[i].clen = calloc(nunit, sizeof(*ring[i].clen));
		ring[i].runs = calloc(MAX_RUNS, sizeof(*ring[i].runs));
		if (!ring[i].buf || !ring[i].clen || !ring[i].runs ||
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
	pthread_cond_broadcast(&slot_freed);
	pthread_mutex_unlock(&conv_lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(w[i].tid, NULL);
	for (unsigned i = 0; i < nslots; i++) {
		free(ring[i].buf);
		free(ring[i].cbuf);
		free(ring[i].clen);
		free(ring[i].runs);
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
	if (c.sparse && c.sparse < 512)
		c.sparse = 512;
	c.judge = c.sparse || c.compress;
	c.unit = blk_cluster_size(c.dst);
	c.per_cluster = c.compress || (c.dst->drv != &blk_raw_driver &&
				       c.sparse && c.sparse <= c.unit);
	if (!c.per_cluster)
		c.unit = c.sparse ? MIN(c.sparse, CHUNK) : CHUNK;
	if (!nthreads && !c.compress) {
		/*
		 * One reader is enough: the writer is the bottleneck (the
		 * kernel copies into the target's page cache under the file's
		 * lock), and more readers only wait for ring slots, or take
		 * CPU from the writer on a busy host.
		 */
		nthreads = 1;
	} else if (!nthreads) {	/* compressing: the cores, within reason */
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
