/*
 * A bounded XDR (RFC 4506) reader and writer for libvirt's RPC messages.
 *
 * The reader walks a buffer that came off the wire: every length is checked
 * against both the bytes left in the message and a caller-supplied maximum
 * (libvirt's protocol limits) before anything is allocated or copied. Any
 * failure makes the reader "broken": later calls fail too, so a decoder can
 * read a whole structure and check once.
 *
 * The writer appends to a growing buffer that never exceeds its maximum;
 * failures are sticky in the same way (check xdr_writer_ok() at the end).
 */
#ifndef VIREO_DAEMON_XDR_H
#define VIREO_DAEMON_XDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xdr_reader {
	const uint8_t *buf;
	size_t len;
	size_t pos;
	bool broken;
};

struct xdr_writer {
	uint8_t *buf;
	size_t len;
	size_t cap;
	size_t max;
	bool broken;
};

void xdr_reader_init(struct xdr_reader *r, const void *buf, size_t len);
/* Bytes not consumed yet. */
size_t xdr_remaining(const struct xdr_reader *r);
/* 0 when the whole message was consumed and nothing failed; else -EBADMSG. */
int xdr_reader_finish(struct xdr_reader *r);

/* Each returns 0, or -EBADMSG (short message, over a limit, bad value). */
int xdr_get_u32(struct xdr_reader *r, uint32_t *v);
int xdr_get_i32(struct xdr_reader *r, int32_t *v);
int xdr_get_u64(struct xdr_reader *r, uint64_t *v);
int xdr_get_i64(struct xdr_reader *r, int64_t *v);
/* XDR bool: only 0 or 1 are accepted. */
int xdr_get_bool(struct xdr_reader *r, bool *v);
/* Fixed-length opaque of n bytes (padded to 4 on the wire). */
int xdr_get_fixed(struct xdr_reader *r, void *out, size_t n);
/*
 * Variable-length string of at most max bytes, returned NUL-terminated in
 * a malloc'd buffer. Strings with an embedded NUL are refused: they would
 * silently mean something shorter to C code.
 */
int xdr_get_string(struct xdr_reader *r, size_t max, char **out);
/* Optional string (XDR pointer): *out is NULL when absent. */
int xdr_get_string_opt(struct xdr_reader *r, size_t max, char **out);
/*
 * Variable-length opaque of at most max bytes; *out points into the
 * message (no copy) and stays valid as long as the message buffer.
 */
int xdr_get_opaque_ref(struct xdr_reader *r, size_t max, const uint8_t **out,
		       size_t *len);

/* max is the largest total size the writer may reach. */
void xdr_writer_init(struct xdr_writer *w, size_t max);
void xdr_writer_free(struct xdr_writer *w);
bool xdr_writer_ok(const struct xdr_writer *w);

void xdr_put_u32(struct xdr_writer *w, uint32_t v);
void xdr_put_i32(struct xdr_writer *w, int32_t v);
void xdr_put_u64(struct xdr_writer *w, uint64_t v);
void xdr_put_i64(struct xdr_writer *w, int64_t v);
void xdr_put_fixed(struct xdr_writer *w, const void *data, size_t n);
void xdr_put_opaque(struct xdr_writer *w, const void *data, size_t n);
void xdr_put_string(struct xdr_writer *w, const char *s);
/* XDR pointer to string: NULL encodes as "absent". */
void xdr_put_string_opt(struct xdr_writer *w, const char *s);
/* Overwrite a u32 already written at byte offset off (for lengths). */
void xdr_patch_u32(struct xdr_writer *w, size_t off, uint32_t v);

#endif
