/*
 * qcow2 cluster compression: zlib (raw deflate, 4 KiB window, as QEMU
 * writes it) and zstd. Compressed data on disk is rounded up to 512-byte
 * sectors, so the decoders must stop once a whole cluster came out and
 * ignore what follows.
 */
#include <errno.h>
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

ssize_t qcow2_compress(int type, const uint8_t *src, size_t slen,
		       uint8_t *dst, size_t dcap)
{
	if (type == QCOW2_COMPRESS_ZSTD) {
		size_t r = ZSTD_compress(dst, dcap, src, slen, 1);

		if (ZSTD_isError(r))
			return 0;	/* includes "does not fit" */
		return (ssize_t)r;
	} else {
		z_stream z;
		ssize_t n;
		int ret;

		memset(&z, 0, sizeof(z));
		if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return -ENOMEM;
		z.next_in = (uint8_t *)src;
		z.avail_in = (uInt)slen;
		z.next_out = dst;
		z.avail_out = (uInt)dcap;
		ret = deflate(&z, Z_FINISH);
		n = ret == Z_STREAM_END ? (ssize_t)(dcap - z.avail_out) : 0;
		deflateEnd(&z);
		return n;
	}
}
