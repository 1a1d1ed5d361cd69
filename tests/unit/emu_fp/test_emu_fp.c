/*
 * The emu CPU's x87/MMX/SSE/SSE2 (src/cpu/emu/fp*.c) against the host CPU.
 *
 * Each case runs one instruction natively (copied to an executable page,
 * state loaded with fxrstor64 and read back with fxsave64) and in the emu
 * CPU (emu_cpu_set_fxsave / emu_cpu_step / emu_cpu_get_fxsave), with the
 * same bytes and inputs: [rdi] is the memory operand, rax the GPR one.
 * Compared: FCW, FSW, abridged FTW, MXCSR, ST0-7, XMM0-15, RAX, the data
 * area and (for compares) ZF/PF/CF. FOP/FIP/FDP hold host addresses
 * natively and are not compared.
 *
 * Inputs: edge floats/doubles/extended (±0, ±inf, QNaN, SNaN, denormals,
 * extremes) in every lane, all four rounding modes in MXCSR.RC and FCW.RC,
 * FCW precision control, DAZ and FTZ. Then the cases the host can't run
 * in-process: #NM, #UD, #XM, #GP, #MF, checked against the SDM.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu/emu/emu.h"
#include "cpu/emu/emu_internal.h"
#include "mem/bus.h"
#include "mem/guest_mem.h"
#include "../tap.h"

#define RAM_SIZE (16ULL << 20)
#define PT_GPA 0x100000ULL
#define CODE_GPA 0x200000ULL
#define DATA_GPA 0x300000ULL
#define DATA_SIZE 128

static struct guest_mem mem;
static struct bus pio, mmio;
static struct emu_cpu *cpu;
static uint8_t *xpage;
static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct state {
	uint8_t fx[512] __attribute__((aligned(16)));
	uint8_t data[DATA_SIZE] __attribute__((aligned(16)));
	uint64_t rax, rflags;
	int vec;
};

/* Native: fxrstor64 in; the instruction; fxsave64 out (rdi = data). */
static void run_native(const uint8_t *code, unsigned len, struct state *s)
{
	uint8_t host[512] __attribute__((aligned(16)));
	uint64_t a = s->rax, fl;

	memcpy(xpage, code, len);
	xpage[len] = 0xC3;
	asm volatile("fxsave64 %[h]\n\t"
		     "fxrstor64 (%[fx])\n\t"
		     "sub $128, %%rsp\n\t"
		     "call *%[code]\n\t"
		     "pushfq\n\t"
		     "pop %[fl]\n\t"
		     "add $128, %%rsp\n\t"
		     "fxsave64 (%[fx])\n\t"
		     "fxrstor64 %[h]"
		     : [h] "=m"(host), "+a"(a), [fl] "=&r"(fl)
		     : [fx] "r"(s->fx), [code] "r"(xpage), "D"(s->data)
		     : "memory", "cc");
	s->rax = a;
	s->rflags = fl;
	s->vec = -1;
}

static void emu_prepare(const uint8_t *code, unsigned len, const struct state *s)
{
	struct emu_regs r;

	CHECK_EQ(emu_cpu_setup_flat64(cpu, PT_GPA), 0);
	gmem_write(&mem, CODE_GPA, code, len);
	emu_code_invalidate(&mem, CODE_GPA, len);
	gmem_write(&mem, DATA_GPA, s->data, DATA_SIZE);
	emu_cpu_get_regs(cpu, &r);
	r.rip = CODE_GPA;
	r.gpr[EMU_RAX] = s->rax;
	r.gpr[EMU_RDI] = DATA_GPA;
	r.gpr[EMU_RSP] = 0x8000;
	r.rflags = 2;
	emu_cpu_set_regs(cpu, &r);
	emu_cpu_set_fxsave(cpu, s->fx);
}

static void emu_finish(struct state *s, int vec)
{
	struct emu_regs r;

	emu_cpu_get_regs(cpu, &r);
	emu_cpu_get_fxsave(cpu, s->fx);
	gmem_read(&mem, DATA_GPA, s->data, DATA_SIZE);
	s->rax = r.gpr[EMU_RAX];
	s->rflags = r.rflags;
	s->vec = vec;
}

static void run_emu(const uint8_t *code, unsigned len, struct state *s)
{
	emu_prepare(code, len, s);
	emu_finish(s, emu_cpu_step(cpu, false));
}

static unsigned mismatches;

static bool differs(const struct state *a, const struct state *b, bool flags,
		    unsigned data_skip_lo, unsigned data_skip_hi)
{
	if (memcmp(a->fx, b->fx, 6) || memcmp(a->fx + 24, b->fx + 24, 4) ||
	    memcmp(a->fx + 32, b->fx + 32, 416 - 32) || a->rax != b->rax ||
	    a->vec != b->vec)
		return true;
	for (unsigned i = 0; i < DATA_SIZE; i++)
		if ((i < data_skip_lo || i >= data_skip_hi) && a->data[i] != b->data[i])
			return true;
	return flags && ((a->rflags ^ b->rflags) & (FL_ZF | FL_PF | FL_CF | FL_OF |
						    FL_SF | FL_AF));
}

static void compare_case(const uint8_t *code, unsigned len, const struct state *in,
			 bool flags, unsigned skip_lo, unsigned skip_hi)
{
	struct state n = *in, e = *in;

	run_native(code, len, &n);
	run_emu(code, len, &e);
	if (differs(&n, &e, flags, skip_lo, skip_hi)) {
		if (mismatches++ < 8) {
			fprintf(stderr, "mismatch:");
			for (unsigned i = 0; i < len; i++)
				fprintf(stderr, " %02x", code[i]);
			fprintf(stderr, " vec %d/%d rax %llx/%llx mxcsr %x/%x fsw %x/%x\n",
				n.vec, e.vec, (unsigned long long)n.rax,
				(unsigned long long)e.rax, *(uint32_t *)(void *)(n.fx + 24),
				*(uint32_t *)(void *)(e.fx + 24), *(uint16_t *)(void *)(n.fx + 2),
				*(uint16_t *)(void *)(e.fx + 2));
			for (unsigned i = 0; i < 416; i++)
				if (n.fx[i] != e.fx[i] && (i < 6 || i >= 24))
					fprintf(stderr, "  fx[%u] %02x/%02x\n", i, n.fx[i], e.fx[i]);
		}
	}
}

/* --- inputs --- */

static const uint32_t edge_f[] = {
	0, 0x80000000, 0x3F800000, 0xBFC00000, 0x7F800000, 0xFF800000,
	0x7FC00000, 0xFFC12345, 0x7FA00000, 0xFF800001, 0x00000001, 0x807FFFFF,
	0x00800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x3EAAAAAB, 0x4F000000, 0xCF000001,
	0x0C000000, 0x71000000,
};
static const uint64_t edge_d[] = {
	0, 0x8000000000000000ULL, 0x3FF0000000000000ULL, 0xBFF8000000000000ULL,
	0x7FF0000000000000ULL, 0xFFF0000000000000ULL, 0x7FF8000000000000ULL,
	0xFFF8000000012345ULL, 0x7FF4000000000000ULL, 0x7FF0000000000001ULL,
	1, 0x800FFFFFFFFFFFFFULL, 0x0010000000000000ULL, 0x7FEFFFFFFFFFFFFFULL,
	0x3FD5555555555555ULL, 0x41E0000000000000ULL, 0xC3E0000000000001ULL,
	0x2000000000000000ULL, 0x5FF0000000000000ULL, 0x36A0000000000000ULL,
};
#define NF (sizeof(edge_f) / sizeof(edge_f[0]))
#define ND (sizeof(edge_d) / sizeof(edge_d[0]))

static void fill_vec(uint8_t *v, unsigned bytes)
{
	unsigned kind = rnd() % 3;
	for (unsigned o = 0; o < bytes; ) {
		if (kind == 0) {
			uint32_t f = edge_f[rnd() % NF];
			memcpy(v + o, &f, 4);
			o += 4;
		} else if (kind == 1) {
			uint64_t d = edge_d[rnd() % ND];
			memcpy(v + o, &d, 8);
			o += 8;
		} else {
			uint64_t r = rnd();
			memcpy(v + o, &r, 8);
			o += 8;
		}
	}
}

static void x87_value(uint8_t *p)
{
	static const struct { uint64_t m; uint16_t se; } e[] = {
		{ 0, 0 }, { 0, 0x8000 }, { 1ULL << 63, 0x3FFF }, { 1ULL << 63, 0xBFFF },
		{ 1ULL << 63, 0x7FFF }, { 3ULL << 62, 0x7FFF }, { 5ULL << 61, 0xFFFF },
		{ 1, 0 }, { ~0ULL, 0x7FFE }, { 1ULL << 63, 0x0001 },
		{ 0xC90FDAA22168C235ULL, 0x4000 }, { 1ULL << 62, 0x3FFF },
		{ 0xAAAAAAAAAAAAAAABULL, 0x3FFD }, { 1ULL << 63, 0x403E },
	};
	uint64_t m;
	uint16_t se;

	if (rnd() % 2) {
		unsigned j = rnd() % (sizeof(e) / sizeof(e[0]));
		m = e[j].m;
		se = e[j].se;
	} else {
		m = rnd() | 1ULL << 63;
		se = (uint16_t)((0x3FFF + (int)(rnd() % 128) - 64) | ((rnd() % 2) << 15));
	}
	memcpy(p, &m, 8);
	memcpy(p + 8, &se, 2);
}

/* Random valid state: all exceptions masked, rounding mode rc. */
static void make_state(struct state *s, unsigned rc)
{
	static const uint32_t extra[] = { 0, 0, 0x40, 0x8000, 0x8040 };
	uint32_t mxcsr = 0x1F80 | rc << 13 | extra[rnd() % 5];
	uint16_t fcw = (uint16_t)(0x007F | (rnd() % 4) << 8 | rc << 10);

	memset(s, 0, sizeof(*s));
	memcpy(s->fx, &fcw, 2);
	memcpy(s->fx + 24, &mxcsr, 4);
	s->fx[4] = 0x3F;                       /* ST0-ST5 valid, TOP 0 */
	for (unsigned r = 0; r < 6; r++)
		x87_value(s->fx + 32 + 16 * r);
	for (unsigned x = 0; x < 16; x++)
		fill_vec(s->fx + 160 + 16 * x, 16);
	fill_vec(s->data, DATA_SIZE);
	x87_value(s->data + 32);
	s->rax = rnd() % 2 ? rnd() : edge_d[rnd() % ND] >> (rnd() % 2 ? 32 : 0);
}

/* --- differential tables --- */

struct enc {
	uint8_t b[8];
	uint8_t len;
	bool flags;
};

#define E(...) { { __VA_ARGS__ }, sizeof((uint8_t[]){ __VA_ARGS__ }), false }
#define EF(...) { { __VA_ARGS__ }, sizeof((uint8_t[]){ __VA_ARGS__ }), true }

/* Opcodes with reg (ModRM C1: xmm0/mm0, xmm1/mm1) and [rdi] (07) forms. */
static const uint8_t float_ops[] = { 0x58, 0x59, 0x5C, 0x5D, 0x5E, 0x5F, 0x51,
				     0x54, 0x55, 0x56, 0x57, 0x14, 0x15, 0x5A };
static const uint8_t int_ops[] = {
	0xFC, 0xFD, 0xFE, 0xD4, 0xF8, 0xF9, 0xFA, 0xFB, 0xEC, 0xED, 0xDC, 0xDD,
	0xE8, 0xE9, 0xD8, 0xD9, 0xD5, 0xE5, 0xE4, 0xF4, 0xF5, 0xDB, 0xDF, 0xEB,
	0xEF, 0x74, 0x75, 0x76, 0x64, 0x65, 0x66, 0xDA, 0xDE, 0xEA, 0xEE, 0xE0,
	0xE3, 0xF6, 0xF1, 0xF2, 0xF3, 0xD1, 0xD2, 0xD3, 0xE1, 0xE2, 0x60, 0x61,
	0x62, 0x68, 0x69, 0x6A, 0x63, 0x6B, 0x67,
};

static const struct enc misc_encs[] = {
	E(0x0F, 0x52, 0xC1), E(0xF3, 0x0F, 0x52, 0xC1), E(0x0F, 0x53, 0xC1),
	E(0xF3, 0x0F, 0x53, 0x07),
	E(0x0F, 0x5B, 0xC1), E(0x66, 0x0F, 0x5B, 0xC1), E(0xF3, 0x0F, 0x5B, 0x07),
	E(0xF3, 0x0F, 0xE6, 0xC1), E(0x66, 0x0F, 0xE6, 0xC1), E(0xF2, 0x0F, 0xE6, 0x07),
	EF(0x0F, 0x2F, 0xC1), EF(0x0F, 0x2E, 0x07), EF(0x66, 0x0F, 0x2F, 0x07),
	EF(0x66, 0x0F, 0x2E, 0xC1),
	E(0xF3, 0x0F, 0x2D, 0xC1), E(0xF3, 0x48, 0x0F, 0x2D, 0xC1),
	E(0xF3, 0x0F, 0x2C, 0x07), E(0xF3, 0x48, 0x0F, 0x2C, 0xC1),
	E(0xF2, 0x0F, 0x2D, 0xC1), E(0xF2, 0x48, 0x0F, 0x2D, 0x07),
	E(0xF2, 0x0F, 0x2C, 0xC1), E(0xF2, 0x48, 0x0F, 0x2C, 0xC1),
	E(0xF3, 0x0F, 0x2A, 0xC0), E(0xF3, 0x48, 0x0F, 0x2A, 0xC0),
	E(0xF2, 0x0F, 0x2A, 0x07), E(0xF2, 0x48, 0x0F, 0x2A, 0xC0),
	E(0x66, 0x0F, 0x6C, 0xC1), E(0x66, 0x0F, 0x6D, 0x07),
	E(0x66, 0x0F, 0x71, 0xF0, 3), E(0x66, 0x0F, 0x71, 0xD0, 17),
	E(0x66, 0x0F, 0x71, 0xE0, 9), E(0x66, 0x0F, 0x72, 0xF0, 31),
	E(0x66, 0x0F, 0x72, 0xE0, 40), E(0x66, 0x0F, 0x73, 0xD0, 63),
	E(0x66, 0x0F, 0x73, 0xF8, 5), E(0x66, 0x0F, 0x73, 0xD8, 17),
	E(0x0F, 0x71, 0xF0, 3), E(0x0F, 0x73, 0xD0, 7),
	E(0x66, 0x0F, 0x70, 0xC1, 0x1B), E(0xF2, 0x0F, 0x70, 0x07, 0x93),
	E(0xF3, 0x0F, 0x70, 0xC1, 0x4E), E(0x0F, 0x70, 0xC1, 0xB1),
	E(0x0F, 0xC6, 0xC1, 0x72), E(0x66, 0x0F, 0xC6, 0x07, 2),
	E(0x66, 0x0F, 0xC4, 0xC0, 5), E(0x0F, 0xC4, 0x07, 2),
	E(0x66, 0x0F, 0xC5, 0xC1, 6), E(0x0F, 0xC5, 0xC1, 3),
	E(0x66, 0x0F, 0xD7, 0xC1), E(0x0F, 0xD7, 0xC1), E(0x0F, 0x50, 0xC1),
	E(0x66, 0x0F, 0x50, 0xC1),
	/* moves */
	E(0x0F, 0x28, 0xC1), E(0x0F, 0x28, 0x07), E(0x0F, 0x29, 0x07),
	E(0x66, 0x0F, 0x28, 0x07), E(0x0F, 0x10, 0x47, 0x03),
	E(0x0F, 0x11, 0x47, 0x05), E(0x66, 0x0F, 0x6F, 0x07),
	E(0x66, 0x0F, 0x7F, 0x07), E(0xF3, 0x0F, 0x6F, 0x47, 0x01),
	E(0xF3, 0x0F, 0x7F, 0x47, 0x09), E(0xF3, 0x0F, 0x10, 0xC1),
	E(0xF3, 0x0F, 0x10, 0x07), E(0xF3, 0x0F, 0x11, 0x07), E(0xF2, 0x0F, 0x10, 0xC1),
	E(0xF2, 0x0F, 0x10, 0x07), E(0xF2, 0x0F, 0x11, 0x47, 0x03),
	E(0x0F, 0x12, 0x07), E(0x0F, 0x12, 0xC1), E(0x0F, 0x13, 0x07),
	E(0x0F, 0x16, 0x07), E(0x0F, 0x16, 0xC1), E(0x0F, 0x17, 0x07),
	E(0x66, 0x0F, 0x12, 0x07), E(0x66, 0x0F, 0x17, 0x07),
	E(0x66, 0x0F, 0x6E, 0xC0), E(0x66, 0x0F, 0x7E, 0xC0), E(0x66, 0x0F, 0x6E, 0x07),
	E(0x66, 0x48, 0x0F, 0x6E, 0xC0), E(0x66, 0x48, 0x0F, 0x7E, 0xC0),
	E(0xF3, 0x0F, 0x7E, 0xC1), E(0xF3, 0x0F, 0x7E, 0x07), E(0x66, 0x0F, 0xD6, 0xC1),
	E(0x66, 0x0F, 0xD6, 0x07), E(0x66, 0x0F, 0xE7, 0x07), E(0x0F, 0x2B, 0x07),
	E(0x0F, 0x6F, 0xC1), E(0x0F, 0x6F, 0x07), E(0x0F, 0x7F, 0x07),
	E(0x0F, 0x6E, 0xC0), E(0x0F, 0x7E, 0xC0), E(0x48, 0x0F, 0x6E, 0xC0),
	E(0x48, 0x0F, 0x7E, 0xC0), E(0xF3, 0x0F, 0xD6, 0xC1), E(0xF2, 0x0F, 0xD6, 0xC1),
	E(0x0F, 0xE7, 0x07), E(0x0F, 0x77), E(0x66, 0x0F, 0xF7, 0xC1),
	E(0x0F, 0xAE, 0x5F, 0x04),
	/* x87 */
	E(0xD8, 0xC1), E(0xDC, 0xC2), E(0xDE, 0xC1), E(0xD8, 0xE1), E(0xDC, 0xE1),
	E(0xDE, 0xE9), E(0xD8, 0xC9), E(0xD8, 0xF1), E(0xDC, 0xF9), E(0xDE, 0xF1),
	E(0xD8, 0xD1), E(0xD8, 0xD9), E(0xDE, 0xD9), E(0xDD, 0xE1), E(0xDA, 0xE9),
	EF(0xDB, 0xF1), EF(0xDB, 0xE9), EF(0xDF, 0xF1), EF(0xDF, 0xE9),
	E(0xD9, 0xC9), E(0xD9, 0xC2), E(0xDD, 0xD1), E(0xDD, 0xD9), E(0xDD, 0xC3),
	E(0xD9, 0xE0), E(0xD9, 0xE1), E(0xD9, 0xE4), E(0xD9, 0xE5), E(0xD9, 0xE8),
	E(0xD9, 0xE9), E(0xD9, 0xEA), E(0xD9, 0xEB), E(0xD9, 0xEC), E(0xD9, 0xED),
	E(0xD9, 0xEE), E(0xD9, 0xF0), E(0xD9, 0xF1), E(0xD9, 0xF2), E(0xD9, 0xF3),
	E(0xD9, 0xF4), E(0xD9, 0xF5), E(0xD9, 0xF6), E(0xD9, 0xF7), E(0xD9, 0xF8),
	E(0xD9, 0xF9), E(0xD9, 0xFA), E(0xD9, 0xFB), E(0xD9, 0xFC), E(0xD9, 0xFD),
	E(0xD9, 0xFE), E(0xD9, 0xFF), E(0xD9, 0xD0), E(0xDB, 0xE2), E(0xDB, 0xE3),
	E(0xD9, 0x07), E(0xDD, 0x07), E(0xDB, 0x6F, 0x20), E(0xD9, 0x17), E(0xDD, 0x1F),
	E(0xDB, 0x7F, 0x20), E(0xDF, 0x07), E(0xDB, 0x07), E(0xDF, 0x2F),
	E(0xDF, 0x17), E(0xDB, 0x1F), E(0xDF, 0x3F), E(0xDF, 0x0F), E(0xDB, 0x0F),
	E(0xDD, 0x0F), E(0xD8, 0x07), E(0xDC, 0x27), E(0xDA, 0x0F), E(0xDE, 0x37),
	E(0xD8, 0x17), E(0xDC, 0x1F), E(0xDE, 0x17), E(0xD9, 0x3F), E(0xDD, 0x3F),
	E(0xDF, 0xE0), E(0xD9, 0x2F), E(0xDF, 0x67, 0x20), E(0xDF, 0x77, 0x20),
};

static void run_table(const struct enc *e, unsigned rounds)
{
	for (unsigned r = 0; r < rounds; r++) {
		struct state s;
		make_state(&s, r & 3);
		if (e->b[0] == 0xD9 && e->b[1] == 0x2F)     /* fldcw: keep masked */
			s.data[0] |= 0x3F;
		if (e->b[0] == 0xDF && e->b[1] == 0x67) {   /* fbld: valid BCD */
			memset(s.data + 32, 0x42, 9);
			s.data[41] = 0;
		}
		compare_case(e->b, e->len, &s, e->flags, 0, 0);
	}
}

static void test_differential(void)
{
	static const uint8_t pfx[] = { 0, 0x66, 0xF3, 0xF2 };
	unsigned before = mismatches;

	for (unsigned i = 0; i < sizeof(float_ops); i++)
		for (unsigned p = 0; p < 4; p++) {
			bool logic = float_ops[i] >= 0x54 && float_ops[i] <= 0x57;
			bool unpck = float_ops[i] == 0x14 || float_ops[i] == 0x15;
			if (p >= 2 && (logic || unpck))
				continue;
			for (unsigned m = 0; m < 2; m++) {
				struct enc e = { { pfx[p], 0x0F, float_ops[i], m ? 0x07 : 0xC1 },
						 4, false };
				if (!pfx[p])
					memmove(e.b, e.b + 1, --e.len);
				run_table(&e, 24);
			}
		}
	for (unsigned p = 0; p < 4; p++)
		for (unsigned m = 0; m < 2; m++)
			for (unsigned imm = 0; imm < 8; imm++) {
				struct enc e = { { pfx[p], 0x0F, 0xC2, m ? 0x07 : 0xC1,
						   (uint8_t)(imm | (m << 5)) }, 5, false };
				if (!pfx[p])
					memmove(e.b, e.b + 1, --e.len);
				run_table(&e, 8);
			}
	for (unsigned i = 0; i < sizeof(int_ops); i++)
		for (unsigned v = 0; v < 3; v++) {
			/* xmm reg, xmm [rdi], mm reg (MMX form) */
			struct enc e = { { 0x66, 0x0F, int_ops[i], v == 1 ? 0x07 : 0xC1 },
					 4, false };
			if (v == 2)
				memmove(e.b, e.b + 1, --e.len);
			run_table(&e, 6);
		}
	for (unsigned i = 0; i < sizeof(misc_encs) / sizeof(misc_encs[0]); i++)
		run_table(&misc_encs[i], 24);
	CHECK_EQ(mismatches - before, 0);
}

/* FNSTENV/FNSAVE/FLDENV/FRSTOR: layouts against the host (pointers excluded). */
static void test_env(void)
{
	static const struct enc st[] = { E(0xD9, 0x37), E(0x66, 0xD9, 0x37),
					 E(0xDD, 0x37) };
	static const struct enc ld[] = { E(0xD9, 0x27), E(0xDD, 0x27) };
	unsigned before = mismatches;

	for (unsigned r = 0; r < 40; r++) {
		struct state s;
		make_state(&s, r & 3);
		s.fx[4] = (uint8_t)rnd();
		s.fx[3] = (uint8_t)((s.fx[3] & ~0x38) | (rnd() % 8) << 3);
		const struct enc *e = &st[r % 3];
		/* FIP (12-15), FCS|FOP (16-19), FDP (20-23), FDS (24-27). */
		compare_case(e->b, e->len, &s, false, e->len == 3 ? 6 : 12,
			     e->len == 3 ? 14 : 28);
	}
	for (unsigned r = 0; r < 40; r++) {
		struct state s;
		make_state(&s, r & 3);
		uint32_t env[7] = { 0xFFFF0000 | 0x037F | (uint32_t)(rnd() & 0xF00),
				    (uint32_t)(rnd() & 0x7F00),
				    (uint32_t)rnd(), 0, 0, 0, 0 };
		memcpy(s.data, env, sizeof(env));
		for (unsigned j = 0; j < 8; j++)
			x87_value(s.data + 28 + 10 * j);
		compare_case(ld[r % 2].b, ld[r % 2].len, &s, false, 0, 0);
	}
	CHECK_EQ(mismatches - before, 0);
}

/* --- exceptions (emu only, expectations from the SDM) --- */

static int emu_case(const uint8_t *code, unsigned len, struct state *s,
		    uint64_t cr0_set, uint64_t cr0_clr, uint64_t cr4_clr)
{
	emu_prepare(code, len, s);
	cpu->cr0 = (cpu->cr0 | cr0_set) & ~cr0_clr;
	cpu->cr4 &= ~cr4_clr;
	int v = emu_cpu_step(cpu, false);
	emu_finish(s, v);
	return v;
}

static void test_exceptions(void)
{
	static const uint8_t addps[] = { 0x0F, 0x58, 0xC1 };
	static const uint8_t paddb_mm[] = { 0x0F, 0xFC, 0xC1 };
	static const uint8_t fadd[] = { 0xD8, 0xC1 };
	static const uint8_t divss[] = { 0xF3, 0x0F, 0x5E, 0xC1 };
	static const uint8_t movaps_m[] = { 0x0F, 0x28, 0x47, 0x01 };
	static const uint8_t movups_m[] = { 0x0F, 0x10, 0x47, 0x01 };
	static const uint8_t ldmxcsr[] = { 0x0F, 0xAE, 0x17 };
	static const uint8_t fxrstor[] = { 0x48, 0x0F, 0xAE, 0x0F };
	static const uint8_t fxsave_m1[] = { 0x48, 0x0F, 0xAE, 0x47, 0x01 };
	static const uint8_t fld1[] = { 0xD9, 0xE8 };
	static const uint8_t fnstsw[] = { 0xDF, 0xE0 };
	static const uint8_t fwait[] = { 0x9B };
	static const uint8_t movsd_str[] = { 0xA5 };
	struct state s;

	make_state(&s, 0);
	CHECK_EQ(emu_case(addps, 3, &s, CR0_TS, 0, 0), EXC_NM);
	make_state(&s, 0);
	CHECK_EQ(emu_case(addps, 3, &s, CR0_EM, 0, 0), EXC_UD);
	make_state(&s, 0);
	CHECK_EQ(emu_case(addps, 3, &s, 0, 0, CR4_OSFXSR), EXC_UD);
	make_state(&s, 0);
	CHECK_EQ(emu_case(paddb_mm, 3, &s, CR0_EM, 0, 0), EXC_UD);
	make_state(&s, 0);
	CHECK_EQ(emu_case(paddb_mm, 3, &s, CR0_TS, 0, 0), EXC_NM);
	make_state(&s, 0);
	CHECK_EQ(emu_case(fadd, 2, &s, CR0_EM, 0, 0), EXC_NM);
	make_state(&s, 0);
	CHECK_EQ(emu_case(fadd, 2, &s, CR0_TS, 0, 0), EXC_NM);
	make_state(&s, 0);
	CHECK_EQ(emu_case(fwait, 1, &s, CR0_TS, 0, 0), EXC_NM);
	make_state(&s, 0);
	CHECK_EQ(emu_case(fwait, 1, &s, CR0_TS, CR0_MP, 0), -1);

	/* #XM: 1/0 with ZM clear; ZE set in MXCSR, destination unchanged. */
	make_state(&s, 0);
	uint32_t one = 0x3F800000, zero = 0, mx = 0x1F80 & ~0x200u;
	memcpy(s.fx + 160, &one, 4);
	memcpy(s.fx + 176, &zero, 4);
	memcpy(s.fx + 24, &mx, 4);
	uint8_t x0[16];
	memcpy(x0, s.fx + 160, 16);
	CHECK_EQ(emu_case(divss, 4, &s, 0, 0, 0), EXC_XM);
	CHECK(memcmp(x0, s.fx + 160, 16) == 0);
	CHECK_EQ(*(uint32_t *)(void *)(s.fx + 24), mx | 0x4);
	make_state(&s, 0);
	memcpy(s.fx + 160, &one, 4);
	memcpy(s.fx + 176, &zero, 4);
	memcpy(s.fx + 24, &mx, 4);
	CHECK_EQ(emu_case(divss, 4, &s, 0, 0, CR4_OSXMMEXCPT), EXC_UD);

	/* #GP: misaligned movaps, fxsave; reserved MXCSR bits. */
	make_state(&s, 0);
	CHECK_EQ(emu_case(movaps_m, 4, &s, 0, 0, 0), EXC_GP);
	make_state(&s, 0);
	CHECK_EQ(emu_case(movups_m, 4, &s, 0, 0, 0), -1);
	make_state(&s, 0);
	CHECK_EQ(emu_case(fxsave_m1, 5, &s, 0, 0, 0), EXC_GP);
	make_state(&s, 0);
	uint32_t bad = 0x10000 | 0x1F80;
	memcpy(s.data, &bad, 4);
	CHECK_EQ(emu_case(ldmxcsr, 3, &s, 0, 0, 0), EXC_GP);
	make_state(&s, 0);
	memcpy(s.data, &bad, 4);
	uint32_t good = 0x3F80;
	memcpy(s.data, &good, 4);
	CHECK_EQ(emu_case(ldmxcsr, 3, &s, 0, 0, 0), -1);
	CHECK_EQ(*(uint32_t *)(void *)(s.fx + 24), 0x3F80);

	/* FXRSTOR: a reserved MXCSR bit in the image is #GP(0). */
	static uint8_t img[DATA_SIZE + 512] __attribute__((aligned(16)));
	make_state(&s, 0);
	emu_prepare(fxrstor, 4, &s);
	memcpy(img, s.fx, 512);
	memcpy(img + 24, &bad, 4);
	gmem_write(&mem, DATA_GPA, img, 512);
	CHECK_EQ(emu_cpu_step(cpu, false), EXC_GP);

	/* FXSAVE64 stores MXCSR_MASK; FXRSTOR64 loads the image back. */
	static const uint8_t fxsave[] = { 0x48, 0x0F, 0xAE, 0x07 };
	make_state(&s, 1);
	emu_prepare(fxsave, 4, &s);
	CHECK_EQ(emu_cpu_step(cpu, false), -1);
	gmem_read(&mem, DATA_GPA, img, 512);
	CHECK(*(uint32_t *)(void *)(img + 28) != 0);
	CHECK(memcmp(img + 32, s.fx + 32, 512 - 32 - 96) == 0);
	CHECK(memcmp(img, s.fx, 6) == 0);
	img[160] ^= 0xFF;
	struct state s2;
	make_state(&s2, 2);
	emu_prepare(fxrstor, 4, &s2);
	gmem_write(&mem, DATA_GPA, img, 512);
	CHECK_EQ(emu_cpu_step(cpu, false), -1);
	emu_cpu_get_fxsave(cpu, s2.fx);
	CHECK(memcmp(img + 160, s2.fx + 160, 256) == 0);
	CHECK(memcmp(img + 32, s2.fx + 32, 128) == 0);

	/* #MF: an unmasked x87 exception pending; FNSTSW doesn't wait. */
	make_state(&s, 0);
	uint16_t fcw = 0x037E, fsw = 0x0081;   /* IM clear, IE pending */
	memcpy(s.fx, &fcw, 2);
	memcpy(s.fx + 2, &fsw, 2);
	CHECK_EQ(emu_case(fld1, 2, &s, 0, 0, 0), EXC_MF);
	make_state(&s, 0);
	memcpy(s.fx, &fcw, 2);
	memcpy(s.fx + 2, &fsw, 2);
	CHECK_EQ(emu_case(fnstsw, 2, &s, 0, 0, 0), -1);
	CHECK_EQ(s.rax & 0xFFFF, 0x0081);
	make_state(&s, 0);
	memcpy(s.fx, &fcw, 2);
	memcpy(s.fx + 2, &fsw, 2);
	CHECK_EQ(emu_case(fwait, 1, &s, 0, 0, 0), EXC_MF);
	make_state(&s, 0);
	memcpy(s.fx, &fcw, 2);
	memcpy(s.fx + 2, &fsw, 2);
	CHECK_EQ(emu_case(paddb_mm, 3, &s, 0, 0, 0), EXC_MF);

	/* The string MOVSD (A5) still goes to the string handler. */
	make_state(&s, 0);
	emu_prepare(movsd_str, 1, &s);
	struct emu_regs r;
	emu_cpu_get_regs(cpu, &r);
	r.gpr[EMU_RSI] = DATA_GPA + 64;
	emu_cpu_set_regs(cpu, &r);
	CHECK_EQ(emu_cpu_step(cpu, false), -1);
	emu_cpu_get_regs(cpu, &r);
	CHECK_EQ(r.gpr[EMU_RDI], DATA_GPA + 4);
}

/* A #PF on the second page of a store leaves memory and the stack intact. */
static void test_page_cross(void)
{
	static const uint8_t fstp_m80[] = { 0xDB, 0x3F };
	static const uint8_t movups_st[] = { 0x0F, 0x11, 0x07 };
	struct state s;
	uint64_t *pd = gmem_ptr(&mem, PT_GPA + 0x2000, 4096);
	uint8_t before[16], after[16];

	make_state(&s, 0);
	emu_prepare(fstp_m80, 2, &s);
	pd[2] &= ~1ULL;                 /* 0x400000-0x5FFFFF not present */
	struct emu_regs r;
	emu_cpu_get_regs(cpu, &r);
	r.gpr[EMU_RDI] = 0x400000 - 4;
	emu_cpu_set_regs(cpu, &r);
	gmem_read(&mem, 0x400000 - 4, before, 4);
	CHECK_EQ(emu_cpu_step(cpu, false), EXC_PF);
	CHECK_EQ(emu_cpu_cr2(cpu), 0x400000);
	gmem_read(&mem, 0x400000 - 4, after, 4);
	CHECK(memcmp(before, after, 4) == 0);
	uint8_t fx[512];
	emu_cpu_get_fxsave(cpu, fx);
	CHECK(memcmp(fx, s.fx, 6) == 0);
	pd[2] |= 1;

	make_state(&s, 0);
	emu_prepare(movups_st, 3, &s);
	pd[2] &= ~1ULL;
	emu_cpu_get_regs(cpu, &r);
	r.gpr[EMU_RDI] = 0x400000 - 8;
	emu_cpu_set_regs(cpu, &r);
	gmem_read(&mem, 0x400000 - 8, before, 8);
	CHECK_EQ(emu_cpu_step(cpu, false), EXC_PF);
	gmem_read(&mem, 0x400000 - 8, after, 8);
	CHECK(memcmp(before, after, 8) == 0);
	pd[2] |= 1;
}

int main(void)
{
	if (gmem_init(&mem, RAM_SIZE, 0) != 0)
		return 1;
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	xpage = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cpu = emu_cpu_create(&mem, &pio, &mmio, 0);
	if (xpage == MAP_FAILED || !cpu)
		return 1;
	test_differential();
	test_env();
	test_exceptions();
	test_page_cross();
	fprintf(stderr, "%u mismatches against the host\n", mismatches);
	emu_cpu_destroy(cpu);
	munmap(xpage, 4096);
	gmem_destroy(&mem);
	return test_done();
}
