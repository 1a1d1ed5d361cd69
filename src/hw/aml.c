/*
 * AML encoding (ACPI 6.x, section 20 "ACPI Machine Language
 * Specification" and 6.4 "Resource Data Types").
 */
#include "hw/aml.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ZERO_OP          0x00
#define ONE_OP           0x01
#define NAME_OP          0x08
#define BYTE_PREFIX      0x0A
#define WORD_PREFIX      0x0B
#define DWORD_PREFIX     0x0C
#define STRING_PREFIX    0x0D
#define QWORD_PREFIX     0x0E
#define SCOPE_OP         0x10
#define BUFFER_OP        0x11
#define PACKAGE_OP       0x12
#define DUAL_NAME_PREFIX 0x2E
#define MULTI_NAME_PREFIX 0x2F
#define EXT_OP_PREFIX    0x5B
#define DEVICE_OP        0x82   /* after EXT_OP_PREFIX */

/* Space reserved for a PkgLength until its object is closed. */
#define PKGLEN_MAX 4

void aml_init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
}

void aml_free(struct aml *a)
{
	free(a->buf);
	memset(a, 0, sizeof(*a));
}

static bool reserve(struct aml *a, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (a->err)
		return false;
	if (a->len + n <= a->cap)
		return true;
	cap = a->cap ? a->cap * 2 : 256;
	while (cap < a->len + n)
		cap *= 2;
	p = realloc(a->buf, cap);
	if (!p) {
		a->err = -ENOMEM;
		return false;
	}
	a->buf = p;
	a->cap = cap;
	return true;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (!n || !reserve(a, n))
		return;
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

void aml_le(struct aml *a, uint64_t v, unsigned nbytes)
{
	for (unsigned i = 0; i < nbytes && i < 8; i++)
		aml_byte(a, v >> (8 * i));
}

/* One NameSeg: up to four characters, padded with '_'. */
static void name_seg(struct aml *a, const char *s, size_t n)
{
	char seg[4] = { '_', '_', '_', '_' };

	memcpy(seg, s, n < 4 ? n : 4);
	aml_bytes(a, seg, 4);
}

void aml_namestring(struct aml *a, const char *path)
{
	const char *p = path, *dot;
	unsigned nsegs = 0;

	while (*p == '\\' || *p == '^')
		aml_byte(a, *p++);
	if (*p) {
		nsegs = 1;
		for (const char *q = p; *q; q++)
			nsegs += *q == '.';
	}
	if (nsegs == 0) {
		aml_byte(a, 0x00);   /* NullName */
		return;
	}
	if (nsegs == 2) {
		aml_byte(a, DUAL_NAME_PREFIX);
	} else if (nsegs > 2) {
		aml_byte(a, MULTI_NAME_PREFIX);
		aml_byte(a, nsegs);
	}
	while (*p) {
		dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		name_seg(a, p, n);
		p += n;
		if (*p == '.')
			p++;
	}
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, ZERO_OP);
	} else if (v == 1) {
		aml_byte(a, ONE_OP);
	} else if (v <= 0xFF) {
		aml_byte(a, BYTE_PREFIX);
		aml_le(a, v, 1);
	} else if (v <= 0xFFFF) {
		aml_byte(a, WORD_PREFIX);
		aml_le(a, v, 2);
	} else if (v <= 0xFFFFFFFF) {
		aml_byte(a, DWORD_PREFIX);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, QWORD_PREFIX);
		aml_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	aml_byte(a, STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

/*
 * EISA ID "PNP0A03": three letters of 5 bits ('A' = 1) and four hex
 * digits, stored big-endian in a DWord (as iasl's EisaId() does).
 */
void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v = 0;

	if (strlen(id) != 7) {
		a->err = a->err ? a->err : -EINVAL;
		return;
	}
	for (unsigned i = 0; i < 3; i++)
		v = v << 5 | ((id[i] - 0x40) & 0x1F);
	for (unsigned i = 3; i < 7; i++) {
		char c = id[i];
		unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') :
			     c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 0;
		v = v << 4 | d;
	}
	aml_byte(a, DWORD_PREFIX);
	aml_byte(a, v >> 24);
	aml_byte(a, v >> 16);
	aml_byte(a, v >> 8);
	aml_byte(a, v);
}

static size_t pkg_begin(struct aml *a)
{
	static const uint8_t zero[PKGLEN_MAX];
	size_t marker = a->len;

	aml_bytes(a, zero, PKGLEN_MAX);
	return marker;
}

/*
 * Close the object whose PkgLength was reserved at marker: encode the
 * length (which counts its own bytes) in the fewest bytes and slide the
 * contents down over the unused reservation.
 */
void aml_end(struct aml *a, size_t marker)
{
	size_t body, total;
	unsigned n;

	if (a->err || marker + PKGLEN_MAX > a->len)
		return;
	body = a->len - marker - PKGLEN_MAX;
	if (body + 1 <= 0x3F)
		n = 1;
	else if (body + 2 < (1u << 12))
		n = 2;
	else if (body + 3 < (1u << 20))
		n = 3;
	else if (body + 4 < (1u << 28))
		n = 4;
	else {
		a->err = -E2BIG;
		return;
	}
	total = body + n;
	if (n == 1) {
		a->buf[marker] = total;
	} else {
		a->buf[marker] = (n - 1) << 6 | (total & 0x0F);
		for (unsigned i = 1; i < n; i++)
			a->buf[marker + i] = total >> (4 + 8 * (i - 1));
	}
	memmove(a->buf + marker + n, a->buf + marker + PKGLEN_MAX, body);
	a->len -= PKGLEN_MAX - n;
}

void aml_buffer(struct aml *a, const void *data, size_t len)
{
	size_t m;

	aml_byte(a, BUFFER_OP);
	m = pkg_begin(a);
	aml_integer(a, len);
	aml_bytes(a, data, len);
	aml_end(a, m);
}

void aml_name(struct aml *a, const char *path)
{
	aml_byte(a, NAME_OP);
	aml_namestring(a, path);
}

void aml_name_int(struct aml *a, const char *path, uint64_t v)
{
	aml_name(a, path);
	aml_integer(a, v);
}

void aml_name_str(struct aml *a, const char *path, const char *s)
{
	aml_name(a, path);
	aml_string(a, s);
}

size_t aml_scope_begin(struct aml *a, const char *path)
{
	size_t m;

	aml_byte(a, SCOPE_OP);
	m = pkg_begin(a);
	aml_namestring(a, path);
	return m;
}

size_t aml_device_begin(struct aml *a, const char *path)
{
	size_t m;

	aml_byte(a, EXT_OP_PREFIX);
	aml_byte(a, DEVICE_OP);
	m = pkg_begin(a);
	aml_namestring(a, path);
	return m;
}

size_t aml_package_begin(struct aml *a, uint8_t nelems)
{
	size_t m;

	aml_byte(a, PACKAGE_OP);
	m = pkg_begin(a);
	aml_byte(a, nelems);
	return m;
}

/* Large resource descriptors (6.4.3). */
#define RES_DWORD_ADDR  0x87
#define RES_WORD_ADDR   0x88
#define RES_MEM32_FIXED 0x86
/* Small ones (6.4.2): tag << 3 | length. */
#define RES_IRQ2        0x22
#define RES_IO          0x47
#define RES_END         0x79

#define ADDR_TYPE_MEM   0
#define ADDR_TYPE_IO    1
#define ADDR_TYPE_BUS   2
/* General flags: producer (bit 0 clear), MinFixed, MaxFixed, PosDecode. */
#define ADDR_GEN_FLAGS  0x0C

static void word_addr(struct aml *r, uint8_t type, uint8_t type_flags,
		      uint16_t min, uint16_t max)
{
	aml_byte(r, RES_WORD_ADDR);
	aml_le(r, 13, 2);
	aml_byte(r, type);
	aml_byte(r, ADDR_GEN_FLAGS);
	aml_byte(r, type_flags);
	aml_le(r, 0, 2);                  /* granularity */
	aml_le(r, min, 2);
	aml_le(r, max, 2);
	aml_le(r, 0, 2);                  /* translation */
	aml_le(r, (uint32_t)max - min + 1, 2);
}

void aml_res_word_bus(struct aml *r, uint16_t min, uint16_t max)
{
	word_addr(r, ADDR_TYPE_BUS, 0, min, max);
}

void aml_res_word_io(struct aml *r, uint16_t min, uint16_t max)
{
	word_addr(r, ADDR_TYPE_IO, 0x03 /* EntireRange */, min, max);
}

void aml_res_dword_mem(struct aml *r, uint32_t min, uint32_t max)
{
	aml_byte(r, RES_DWORD_ADDR);
	aml_le(r, 23, 2);
	aml_byte(r, ADDR_TYPE_MEM);
	aml_byte(r, ADDR_GEN_FLAGS);
	aml_byte(r, 0x03);                /* Cacheable, ReadWrite */
	aml_le(r, 0, 4);                  /* granularity */
	aml_le(r, min, 4);
	aml_le(r, max, 4);
	aml_le(r, 0, 4);                  /* translation */
	aml_le(r, (uint64_t)max - min + 1, 4);
}

void aml_res_io(struct aml *r, uint16_t base, uint8_t len)
{
	aml_byte(r, RES_IO);
	aml_byte(r, 0x01);                /* 16-bit decode */
	aml_le(r, base, 2);
	aml_le(r, base, 2);
	aml_byte(r, 0x01);                /* alignment */
	aml_byte(r, len);
}

void aml_res_irq(struct aml *r, unsigned irq)
{
	aml_byte(r, RES_IRQ2);
	aml_le(r, irq < 16 ? 1u << irq : 0, 2);
}

void aml_res_mem32_fixed(struct aml *r, uint32_t base, uint32_t len)
{
	aml_byte(r, RES_MEM32_FIXED);
	aml_le(r, 9, 2);
	aml_byte(r, 0x01);                /* ReadWrite */
	aml_le(r, base, 4);
	aml_le(r, len, 4);
}

void aml_res_end(struct aml *r)
{
	aml_byte(r, RES_END);
	aml_byte(r, 0x00);                /* checksum 0: "treat as valid" */
}
