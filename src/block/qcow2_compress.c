/*
 * qcow2 cluster compression: zlib (raw deflate, 4 KiB window, as QEMU
 * writes it) and zstd. Compressed data on disk is rounded up to 512-byte
 * sectors, so the decoders must stop once a whole cluster came out and
 * ignore what follows.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "block/qcow2.h"

static int inflate_cluster(const uint8_t *src, size_t slen, uint8_t *dst,
			   size_t dlen)
{
	z_stream z;
	int ret;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, -12) != Z_OK)
		return -ENOMEM;
	z.next_in = (uint8_t *)src;
	z.avail_in = (uInt)slen;
	z.next_out = dst;
	z.avail_out = (uInt)dlen;
	ret = inflate(&z, Z_FINISH);
	/* Sector padding after the stream gives Z_BUF_ERROR/Z_OK with full output. */
	if ((ret == Z_STREAM_END || ret == Z_BUF_ERROR || ret == Z_OK) &&
	    z.avail_out == 0)
		ret = 0;
	else
		ret = -EIO;
	inflateEnd(&z);
	return ret;
}

static int zstd_cluster(struct qcow2 *q, const uint8_t *src, size_t slen,
			uint8_t *dst, size_t dlen)
{
	ZSTD_DCtx *d = q->zstd_dctx;
	ZSTD_inBuffer in = { src, slen, 0 };
	ZSTD_outBuffer out = { dst, dlen, 0 };

	if (!d) {
		d = ZSTD_createDCtx();
		if (!d)
			return -ENOMEM;
		q->zstd_dctx = d;
	}
	ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
	while (out.pos < out.size) {
		size_t r = ZSTD_decompressStream(d, &out, &in);

		if (ZSTD_isError(r))
			return -EIO;
		if (r == 0 && out.pos < out.size) {
			/* Frame ended short: QEMU may write several frames. */
			if (in.pos >= in.size)
				return -EIO;
			continue;
		}
		if (in.pos >= in.size && out.pos < out.size)
			return -EIO;
	}
	return 0;
}

int qcow2_decompress(struct qcow2 *q, const uint8_t *src, size_t slen,
		     uint8_t *dst, size_t dlen)
{
	if (q->compression_type == QCOW2_COMPRESS_ZSTD)
		return zstd_cluster(q, src, slen, dst, dlen);
	return inflate_cluster(src, slen, dst, dlen);
}

/*
 * Compression state is kept per thread (convert -c compresses on several):
 * setting up a deflate stream or a zstd context costs more than
 * compressing a small cluster.
 */
struct compress_ctx {
	z_stream z;
	bool z_ready;
	ZSTD_CCtx *zstd;
};

static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_free(void *p)
{
	struct compress_ctx *c = p;

	if (c->z_ready)
		deflateEnd(&c->z);
	ZSTD_freeCCtx(c->zstd);
	free(c);
}

static void ctx_key_init(void)
{
	pthread_key_create(&ctx_key, ctx_free);
}

static struct compress_ctx *thread_ctx(void)
{
	struct compress_ctx *c;

	pthread_once(&ctx_once, ctx_key_init);
	c = pthread_getspecific(ctx_key);
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (c && pthread_setspecific(ctx_key, c)) {
			free(c);
			c = NULL;
		}
	}
	return c;
}

void qcow2_compress_thread_done(void)
{
	struct compress_ctx *c;

	pthread_once(&ctx_once, ctx_key_init);
	c = pthread_getspecific(ctx_key);
	if (c) {
		pthread_setspecific(ctx_key, NULL);
		ctx_free(c);
	}
}

/* Raw deflate with qemu's parameters (level 6, 4 KiB window). */
static ssize_t deflate_into(struct compress_ctx *c, int level,
			    const uint8_t *src, size_t slen, uint8_t *dst,
			    size_t dcap)
{
	int ret;

	if (c->z_ready && deflateParams(&c->z, level, Z_DEFAULT_STRATEGY) != Z_OK) {
		deflateEnd(&c->z);
		c->z_ready = false;
	}
	if (!c->z_ready) {
		memset(&c->z, 0, sizeof(c->z));
		if (deflateInit2(&c->z, level, Z_DEFLATED, -12, 9,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return -ENOMEM;
		c->z_ready = true;
	}
	c->z.next_in = (uint8_t *)src;
	c->z.avail_in = (uInt)slen;
	c->z.next_out = dst;
	c->z.avail_out = (uInt)dcap;
	ret = deflate(&c->z, Z_FINISH);
	deflateReset(&c->z);
	return ret == Z_STREAM_END ? (ssize_t)(dcap - c->z.avail_out) : 0;
}

/*
 * Whether deflate could not shrink a cluster (random or already
 * compressed data), judged without compressing it all: no byte value is
 * much more frequent than in random data (a zero run or text would be),
 * and two 4 KiB samples (the reach of a 4 KiB window) do not shrink at
 * deflate's fastest level. Such a cluster is stored uncompressed, as
 * deflate would have it anyway; a wrong guess costs only space.
 */
static bool looks_incompressible(struct compress_ctx *c, const uint8_t *src,
				 size_t slen)
{
	uint32_t count[256] = { 0 };
	uint8_t out[4096 + 64];
	size_t limit = slen * 5 / 512;	/* 2.5 x the uniform count */

	if (slen < 16384)
		return false;
	for (size_t i = 0; i < slen; i++)
		count[src[i]]++;
	for (int v = 0; v < 256; v++)
		if (count[v] > limit)
			return false;
	for (size_t at = 0; at < slen; at += slen / 2) {
		ssize_t n = deflate_into(c, 1, src + at, 4096, out, sizeof(out));

		if (n > 0 && n < 4096 - 64)
			return false;
	}
	return true;
}

ssize_t qcow2_compress(int type, const uint8_t *src, size_t slen,
		       uint8_t *dst, size_t dcap)
{
	struct compress_ctx *c = thread_ctx();

	if (!c)
		return -ENOMEM;
	if (type == QCOW2_COMPRESS_ZSTD) {
		size_t r;

		if (!c->zstd)
			c->zstd = ZSTD_createCCtx();
		if (!c->zstd)
			return -ENOMEM;
		/* qemu's level (zstd's default), so sizes come out the same. */
		r = ZSTD_compressCCtx(c->zstd, dst, dcap, src, slen,
				      ZSTD_CLEVEL_DEFAULT);
		if (ZSTD_isError(r))
			return 0;	/* includes "does not fit" */
		return (ssize_t)r;
	}
	if (looks_incompressible(c, src, slen))
		return 0;
	return deflate_into(c, Z_DEFAULT_COMPRESSION, src, slen, dst, dcap);
}
