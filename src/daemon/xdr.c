/*
 * Bounded XDR encoding and decoding (see xdr.h). Everything on the wire is
 * big-endian and padded to multiples of four bytes.
 */
#include "daemon/xdr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

static size_t pad4(size_t n)
{
	return (4 - (n & 3)) & 3;
}

void xdr_reader_init(struct xdr_reader *r, const void *buf, size_t len)
{
	r->buf = buf;
	r->len = len;
	r->pos = 0;
	r->broken = false;
}

size_t xdr_remaining(const struct xdr_reader *r)
{
	return r->len - r->pos;
}

int xdr_reader_finish(struct xdr_reader *r)
{
	if (r->broken || r->pos != r->len) {
		r->broken = true;
		return -EBADMSG;
	}
	return 0;
}

/* Take n bytes (plus padding) from the message, or break the reader. */
static const uint8_t *take(struct xdr_reader *r, size_t n)
{
	size_t padded;
	const uint8_t *p;

	if (r->broken)
		return NULL;
	padded = n + pad4(n);
	if (padded < n || !range_within(r->pos, padded, r->len)) {
		r->broken = true;
		return NULL;
	}
	p = r->buf + r->pos;
	r->pos += padded;
	return p;
}

int xdr_get_u32(struct xdr_reader *r, uint32_t *v)
{
	const uint8_t *p = take(r, 4);

	if (!p)
		return -EBADMSG;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	     (uint32_t)p[2] << 8 | p[3];
	return 0;
}

int xdr_get_i32(struct xdr_reader *r, int32_t *v)
{
	uint32_t u;

	if (xdr_get_u32(r, &u))
		return -EBADMSG;
	*v = (int32_t)u;
	return 0;
}

int xdr_get_u64(struct xdr_reader *r, uint64_t *v)
{
	uint32_t hi, lo;

	if (xdr_get_u32(r, &hi) || xdr_get_u32(r, &lo))
		return -EBADMSG;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

int xdr_get_i64(struct xdr_reader *r, int64_t *v)
{
	uint64_t u;

	if (xdr_get_u64(r, &u))
		return -EBADMSG;
	*v = (int64_t)u;
	return 0;
}

int xdr_get_bool(struct xdr_reader *r, bool *v)
{
	uint32_t u;

	if (xdr_get_u32(r, &u))
		return -EBADMSG;
	if (u > 1) {
		r->broken = true;
		return -EBADMSG;
	}
	*v = u;
	return 0;
}

int xdr_get_fixed(struct xdr_reader *r, void *out, size_t n)
{
	const uint8_t *p = take(r, n);

	if (!p)
		return -EBADMSG;
	memcpy(out, p, n);
	return 0;
}

int xdr_get_opaque_ref(struct xdr_reader *r, size_t max, const uint8_t **out,
		       size_t *len)
{
	uint32_t n;
	const uint8_t *p;

	if (xdr_get_u32(r, &n))
		return -EBADMSG;
	if (n > max) {
		r->broken = true;
		return -EBADMSG;
	}
	p = take(r, n);
	if (!p)
		return -EBADMSG;
	*out = p;
	*len = n;
	return 0;
}

int xdr_get_string(struct xdr_reader *r, size_t max, char **out)
{
	const uint8_t *p;
	size_t n;
	char *s;

	if (xdr_get_opaque_ref(r, max, &p, &n))
		return -EBADMSG;
	if (memchr(p, 0, n)) {
		r->broken = true;
		return -EBADMSG;
	}
	s = malloc(n + 1);
	if (!s) {
		r->broken = true;
		return -EBADMSG;
	}
	memcpy(s, p, n);
	s[n] = 0;
	*out = s;
	return 0;
}

int xdr_get_string_opt(struct xdr_reader *r, size_t max, char **out)
{
	bool present;

	if (xdr_get_bool(r, &present))
		return -EBADMSG;
	if (!present) {
		*out = NULL;
		return 0;
	}
	return xdr_get_string(r, max, out);
}

void xdr_writer_init(struct xdr_writer *w, size_t max)
{
	w->buf = NULL;
	w->len = 0;
	w->cap = 0;
	w->max = max;
	w->broken = false;
}

void xdr_writer_free(struct xdr_writer *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

bool xdr_writer_ok(const struct xdr_writer *w)
{
	return !w->broken;
}

/* Reserve n more bytes at the end, or break the writer. */
static uint8_t *grow(struct xdr_writer *w, size_t n)
{
	size_t want, cap;
	uint8_t *nb;

	if (w->broken)
		return NULL;
	if (!range_within(w->len, n, w->max)) {
		w->broken = true;
		return NULL;
	}
	want = w->len + n;
	if (want > w->cap) {
		cap = w->cap ? w->cap : 256;
		while (cap < want)
			cap *= 2;
		if (cap > w->max)
			cap = w->max;
		nb = realloc(w->buf, cap);
		if (!nb) {
			w->broken = true;
			return NULL;
		}
		w->buf = nb;
		w->cap = cap;
	}
	nb = w->buf + w->len;
	w->len = want;
	return nb;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

void xdr_put_u32(struct xdr_writer *w, uint32_t v)
{
	uint8_t *p = grow(w, 4);

	if (p)
		put_be32(p, v);
}

void xdr_put_i32(struct xdr_writer *w, int32_t v)
{
	xdr_put_u32(w, (uint32_t)v);
}

void xdr_put_u64(struct xdr_writer *w, uint64_t v)
{
	xdr_put_u32(w, v >> 32);
	xdr_put_u32(w, (uint32_t)v);
}

void xdr_put_i64(struct xdr_writer *w, int64_t v)
{
	xdr_put_u64(w, (uint64_t)v);
}

void xdr_put_fixed(struct xdr_writer *w, const void *data, size_t n)
{
	size_t pad = pad4(n);
	uint8_t *p;

	if (n + pad < n) {
		w->broken = true;
		return;
	}
	p = grow(w, n + pad);
	if (!p)
		return;
	if (n)
		memcpy(p, data, n);
	memset(p + n, 0, pad);
}

void xdr_put_opaque(struct xdr_writer *w, const void *data, size_t n)
{
	if (n > UINT32_MAX) {
		w->broken = true;
		return;
	}
	xdr_put_u32(w, n);
	xdr_put_fixed(w, data, n);
}

void xdr_put_string(struct xdr_writer *w, const char *s)
{
	xdr_put_opaque(w, s, strlen(s));
}

void xdr_put_string_opt(struct xdr_writer *w, const char *s)
{
	xdr_put_u32(w, s != NULL);
	if (s)
		xdr_put_string(w, s);
}

void xdr_patch_u32(struct xdr_writer *w, size_t off, uint32_t v)
{
	if (w->broken)
		return;
	if (!range_within(off, 4, w->len)) {
		w->broken = true;
		return;
	}
	put_be32(w->buf + off, v);
}
