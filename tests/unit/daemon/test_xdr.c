/*
 * The bounded XDR reader/writer and the RPC framing checks: round trips,
 * and above all the refusals (short messages, lying lengths, limits,
 * embedded NULs, trailing bytes, writer overflow).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "daemon/protocol.h"
#include "daemon/rpc.h"
#include "daemon/xdr.h"

static void test_round_trip(void)
{
	struct xdr_writer w;
	struct xdr_reader r;
	uint32_t u32;
	int32_t i32;
	uint64_t u64;
	int64_t i64;
	bool b;
	char *s = NULL, *o = NULL, *none = (char *)1;
	uint8_t fixed[5];

	xdr_writer_init(&w, 1024);
	xdr_put_u32(&w, 0xdeadbeef);
	xdr_put_i32(&w, -5);
	xdr_put_u64(&w, 0x0123456789abcdefULL);
	xdr_put_i64(&w, -2);
	xdr_put_u32(&w, 1);
	xdr_put_string(&w, "hello");		/* 4 + 5 + 3 pad */
	xdr_put_string_opt(&w, "x");
	xdr_put_string_opt(&w, NULL);
	xdr_put_fixed(&w, "abcde", 5);
	CHECK(xdr_writer_ok(&w));
	CHECK_EQ(w.len, 4 + 4 + 8 + 8 + 4 + 12 + 12 + 4 + 8);
	/* big-endian on the wire */
	CHECK_EQ(w.buf[0], 0xde);
	CHECK_EQ(w.buf[3], 0xef);
	/* padding bytes are zero */
	CHECK_EQ(w.buf[28 + 4 + 5], 0);

	xdr_reader_init(&r, w.buf, w.len);
	CHECK(!xdr_get_u32(&r, &u32));
	CHECK_EQ(u32, 0xdeadbeef);
	CHECK(!xdr_get_i32(&r, &i32));
	CHECK(i32 == -5);
	CHECK(!xdr_get_u64(&r, &u64));
	CHECK_EQ(u64, 0x0123456789abcdefULL);
	CHECK(!xdr_get_i64(&r, &i64));
	CHECK(i64 == -2);
	CHECK(!xdr_get_bool(&r, &b));
	CHECK(b);
	CHECK(!xdr_get_string(&r, 100, &s));
	CHECK(s && !strcmp(s, "hello"));
	CHECK(!xdr_get_string_opt(&r, 100, &o));
	CHECK(o && !strcmp(o, "x"));
	CHECK(!xdr_get_string_opt(&r, 100, &none));
	CHECK(none == NULL);
	CHECK(!xdr_get_fixed(&r, fixed, 5));
	CHECK(!memcmp(fixed, "abcde", 5));
	CHECK_EQ(xdr_reader_finish(&r), 0);
	free(s);
	free(o);
	xdr_writer_free(&w);
}

static void test_reader_bounds(void)
{
	/* length word claims 0xffffffff bytes in an 8-byte message */
	static const uint8_t liar[] = { 0xff, 0xff, 0xff, 0xff, 'a', 'b', 'c',
					'd' };
	/* length 5 but only 4 bytes follow (padding missing) */
	static const uint8_t short_pad[] = { 0, 0, 0, 5, 'a', 'b', 'c', 'd',
					     'e' };
	static const uint8_t nul[] = { 0, 0, 0, 3, 'a', 0, 'b', 0 };
	static const uint8_t two[] = { 0, 0, 0, 2 };
	static const uint8_t big[] = { 0, 0, 0, 9, 'a', 'b', 'c', 'd', 'e',
				       'f', 'g', 'h', 'i', 0, 0, 0 };
	struct xdr_reader r;
	char *s = NULL;
	uint32_t u;
	uint64_t u64;
	bool b;
	const uint8_t *p;
	size_t n;

	xdr_reader_init(&r, liar, sizeof(liar));
	CHECK_EQ(xdr_get_string(&r, SIZE_MAX, &s), -EBADMSG);
	CHECK(s == NULL);
	/* broken stays broken, even for a read that would fit */
	CHECK_EQ(xdr_get_u32(&r, &u), -EBADMSG);

	xdr_reader_init(&r, short_pad, sizeof(short_pad));
	CHECK_EQ(xdr_get_string(&r, 100, &s), -EBADMSG);

	xdr_reader_init(&r, nul, sizeof(nul));
	CHECK_EQ(xdr_get_string(&r, 100, &s), -EBADMSG);

	xdr_reader_init(&r, two, sizeof(two));
	CHECK_EQ(xdr_get_bool(&r, &b), -EBADMSG);

	/* over the caller's limit although the bytes are there */
	xdr_reader_init(&r, big, sizeof(big));
	CHECK_EQ(xdr_get_string(&r, 8, &s), -EBADMSG);
	xdr_reader_init(&r, big, sizeof(big));
	CHECK_EQ(xdr_get_opaque_ref(&r, 9, &p, &n), 0);
	CHECK_EQ(n, 9);
	CHECK_EQ(xdr_reader_finish(&r), 0);

	/* short scalar reads */
	xdr_reader_init(&r, two, 3);
	CHECK_EQ(xdr_get_u32(&r, &u), -EBADMSG);
	xdr_reader_init(&r, two, 4);
	CHECK_EQ(xdr_get_u64(&r, &u64), -EBADMSG);
	/* an empty message */
	xdr_reader_init(&r, NULL, 0);
	CHECK_EQ(xdr_get_u32(&r, &u), -EBADMSG);

	/* trailing bytes make finish fail */
	xdr_reader_init(&r, big, sizeof(big));
	CHECK(!xdr_get_u32(&r, &u));
	CHECK_EQ(xdr_reader_finish(&r), -EBADMSG);

	/* optional string: absent, present, bad discriminant */
	{
		static const uint8_t absent[] = { 0, 0, 0, 0 };
		static const uint8_t bad[] = { 0, 0, 0, 7, 0, 0, 0, 0 };
		char *o = (char *)1;

		xdr_reader_init(&r, absent, sizeof(absent));
		CHECK_EQ(xdr_get_string_opt(&r, 10, &o), 0);
		CHECK(o == NULL);
		xdr_reader_init(&r, bad, sizeof(bad));
		CHECK_EQ(xdr_get_string_opt(&r, 10, &o), -EBADMSG);
	}
}

static void test_writer_bounds(void)
{
	struct xdr_writer w;

	xdr_writer_init(&w, 8);
	xdr_put_u32(&w, 1);
	xdr_put_u32(&w, 2);
	CHECK(xdr_writer_ok(&w));
	xdr_put_u32(&w, 3);		/* one word too many */
	CHECK(!xdr_writer_ok(&w));
	CHECK_EQ(w.len, 8);
	xdr_writer_free(&w);

	xdr_writer_init(&w, 16);
	xdr_put_string(&w, "0123456789abc");	/* 4 + 16 > 16 */
	CHECK(!xdr_writer_ok(&w));
	xdr_writer_free(&w);

	xdr_writer_init(&w, 16);
	xdr_put_u32(&w, 0);
	xdr_patch_u32(&w, 0, 0x01020304);
	CHECK(xdr_writer_ok(&w));
	CHECK_EQ(w.buf[3], 4);
	xdr_patch_u32(&w, 2, 0);		/* past the end */
	CHECK(!xdr_writer_ok(&w));
	xdr_writer_free(&w);
}

static void test_frames(void)
{
	uint8_t word[4];
	uint32_t len;
	struct xdr_writer w;
	struct xdr_reader r;
	struct rpc_header h = { REMOTE_PROGRAM, 1, 23, VIR_NET_CALL, 7, 0 }, g;
	struct vir_error err = { 0 };

	word[0] = 0; word[1] = 0; word[2] = 0; word[3] = 27;
	CHECK_EQ(rpc_frame_length(word, &len), -EMSGSIZE);
	word[3] = 28;
	CHECK_EQ(rpc_frame_length(word, &len), 0);
	CHECK_EQ(len, 28);
	/* 16 MiB + 4 is the largest frame; one more byte is refused */
	word[0] = 0x01; word[1] = 0; word[2] = 0; word[3] = 4;
	CHECK_EQ(rpc_frame_length(word, &len), 0);
	word[3] = 5;
	CHECK_EQ(rpc_frame_length(word, &len), -EMSGSIZE);
	word[0] = 0xff;
	CHECK_EQ(rpc_frame_length(word, &len), -EMSGSIZE);

	xdr_writer_init(&w, RPC_FRAME_MAX);
	vir_error_set(&err, VIR_ERR_NO_DOMAIN, "no domain with matching name '%s'",
		      "x");
	CHECK(!strcmp(err.message,
		      "Domain not found: no domain with matching name 'x'"));
	CHECK_EQ(rpc_error_frame(&w, &h, &err), 0);
	CHECK_EQ(rpc_frame_length(w.buf, &len), 0);
	CHECK_EQ(len, w.len);
	xdr_reader_init(&r, w.buf + 4, w.len - 4);
	CHECK_EQ(rpc_decode_header(&r, &g), 0);
	CHECK_EQ(g.type, VIR_NET_REPLY);
	CHECK_EQ(g.status, VIR_NET_ERROR);
	CHECK_EQ(g.serial, 7);
	CHECK_EQ(g.proc, 23);
	{
		int32_t code, domain;
		char *msg = NULL;

		CHECK(!xdr_get_i32(&r, &code));
		CHECK_EQ(code, VIR_ERR_NO_DOMAIN);
		CHECK(!xdr_get_i32(&r, &domain));
		CHECK(!xdr_get_string_opt(&r, 4096, &msg));
		CHECK(msg && strstr(msg, "matching name 'x'"));
		free(msg);
	}
	xdr_writer_free(&w);
}

int main(void)
{
	test_round_trip();
	test_reader_bounds();
	test_writer_bounds();
	test_frames();
	return test_done();
}
