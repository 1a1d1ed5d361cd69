/*
 * emu-diff classes: SSE/SSE2 (packed and scalar float, integer, moves,
 * conversions) and x87, compared through the FXSAVE image bit for bit:
 * FCW, FSW, abridged FTW, MXCSR, ST0-7 (80 bits each) and XMM0-15. FOP,
 * FIP and FDP are not compared (AMD saves them only with an exception
 * pending), nor is MXCSR_MASK (a property of the CPU model).
 *
 * Inputs: every XMM register gets lanes of edge floats or doubles (zeros,
 * infinities, quiet and signalling NaNs, denormals, extremes) or raw bits;
 * MXCSR cycles through the four rounding modes, FTZ and DAZ, and sometimes
 * unmasks exceptions so #XM (vector 19) is compared too. The x87 stack
 * holds six valid registers (TOP = 0), FCW varies rounding and precision.
 * Flags: (U)COMISx and FCOMI set ZF PF CF and clear OF SF AF: all defined.
 */
#include <string.h>

#include "harness.h"

enum lane { L_PS, L_PD, L_SS, L_SD, L_INT };
enum fpform {
	X_XX,           /* xmm, xmm/m */
	X_XXI,          /* xmm, xmm/m, imm8 */
	X_XI,           /* xmm, imm8 (shift by immediate) */
	X_XG,           /* xmm, r/m32/64 */
	X_GX,           /* r32/64, xmm */
	X_MX,           /* m, xmm (stores) */
};

struct ssedesc {
	ZydisMnemonic mn;
	enum lane lane;
	enum fpform form;
	unsigned msize;         /* memory operand bits (0: no memory form) */
	bool unaligned_ok;      /* m128 without the 16-byte alignment rule */
};

static uint32_t edge_float(struct gen *g)
{
	static const uint32_t e[] = {
		0, 0x80000000, 0x3F800000, 0xBF800000, 0x7F800000, 0xFF800000,
		0x7FC00000, 0xFFC00000, 0x7FA00000, 0x7F800001, 0x00000001,
		0x007FFFFF, 0x00800000, 0x7F7FFFFF, 0x3FC00000, 0x4F000000,
		0xCF000000, 0x5F000000, 0x3EFFFFFF, 0x3F000000,
	};

	if (rng_below(&g->rng, 2))
		return e[rng_below(&g->rng, sizeof(e) / sizeof(e[0]))];
	return (uint32_t)rng_next(&g->rng);
}

static uint64_t edge_double(struct gen *g)
{
	static const uint64_t e[] = {
		0, 0x8000000000000000ULL, 0x3FF0000000000000ULL,
		0xBFF0000000000000ULL, 0x7FF0000000000000ULL,
		0xFFF0000000000000ULL, 0x7FF8000000000000ULL,
		0xFFF8000000000000ULL, 0x7FF4000000000000ULL,
		0x7FF0000000000001ULL, 1, 0x000FFFFFFFFFFFFFULL,
		0x0010000000000000ULL, 0x7FEFFFFFFFFFFFFFULL,
		0x3FF8000000000000ULL, 0x41E0000000000000ULL,
		0xC1E0000000000000ULL, 0x43E0000000000000ULL,
		0xC3E0000000000000ULL, 0x3FE0000000000000ULL,
		0x3FDFFFFFFFFFFFFFULL, 0x4330000000000001ULL,
	};

	if (rng_below(&g->rng, 2))
		return e[rng_below(&g->rng, sizeof(e) / sizeof(e[0]))];
	return rng_next(&g->rng);
}

static void fill_vec(struct gen *g, uint8_t *v, unsigned bytes)
{
	unsigned kind = rng_below(&g->rng, 3);

	for (unsigned o = 0; o < bytes; ) {
		if (kind == 0 && bytes - o >= 4) {
			uint32_t f = edge_float(g);

			memcpy(v + o, &f, 4);
			o += 4;
		} else if (kind == 1 && bytes - o >= 8) {
			uint64_t d = edge_double(g);

			memcpy(v + o, &d, 8);
			o += 8;
		} else {
			v[o++] = (uint8_t)edge_value(g, 8);
		}
	}
}

static void fp_init(struct gen *g, struct tcase *c)
{
	static const uint32_t mxcsr[] = {
		0x1F80, 0x3F80, 0x5F80, 0x7F80, 0x9F80, 0x1FC0, 0xFFC0,
		0x1F00, 0x1E80, 0x1D80, 0x1B80, 0x1780, 0x0F80, 0x1F81, 0x1FBF,
	};
	uint32_t m = mxcsr[rng_below(&g->rng, sizeof(mxcsr) / sizeof(mxcsr[0]))];

	c->cmp_fx = true;
	memcpy(c->in.fx + 24, &m, 4);
	for (unsigned x = 0; x < 16; x++)
		fill_vec(g, c->in.fx + 160 + 16 * x, 16);
}

static ZydisRegister pick_xmm(struct gen *g)
{
	return ZYDIS_REGISTER_XMM0 + rng_below(&g->rng, 16);
}

/* A memory operand of `bits` holding vector-ish data; misaligned only
 * sometimes (then an aligned-only instruction must #GP). */
static void fp_mem(struct gen *g, struct tcase *c, ZydisEncoderOperand *op,
		   unsigned bits, const struct ssedesc *d)
{
	uint8_t v[16];
	uint64_t addr = (OPND_BASE + 64 + rng_below(&g->rng, 0x1F00)) & ~15ULL;

	if (bits < 128 || d->unaligned_ok || rng_below(&g->rng, 10) == 0) {
		if (rng_below(&g->rng, 3) == 0)
			addr = OPND_CROSS - 1 - rng_below(&g->rng, bits / 8 - 1);
		else if (rng_below(&g->rng, 2))
			addr += 1 + rng_below(&g->rng, 15);
	}
	fill_vec(g, v, 16);
	add_fill(c, addr, v, bits / 8);
	mem_operand_at(g, c, op, bits, addr);
}

static const struct ssedesc sse_ops[] = {
	{ ZYDIS_MNEMONIC_ADDPS, L_PS, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_ADDPD, L_PD, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_ADDSS, L_SS, X_XX, 32, false },
	{ ZYDIS_MNEMONIC_ADDSD, L_SD, X_XX, 64, false },
	{ ZYDIS_MNEMONIC_SUBPD, L_PD, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_SUBSD, L_SD, X_XX, 64, false },
	{ ZYDIS_MNEMONIC_MULPS, L_PS, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_MULSD, L_SD, X_XX, 64, false },
	{ ZYDIS_MNEMONIC_DIVPD, L_PD, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_DIVSS, L_SS, X_XX, 32, false },
	{ ZYDIS_MNEMONIC_DIVSD, L_SD, X_XX, 64, false },
	{ ZYDIS_MNEMONIC_SQRTPD, L_PD, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_SQRTSD, L_SD, X_XX, 64, false },
	{ ZYDIS_MNEMONIC_SQRTSS, L_SS, X_XX, 32, false },
	{ ZYDIS_MNEMONIC_MINSD, L_SD, X_XX, 64, false },
	{ ZYDIS_MNEMONIC_MAXSD, L_SD, X_XX, 64, false },
	{ ZYDIS_MNEMONIC_MINPS, L_PS, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_MAXPD, L_PD, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_ANDPD, L_PD, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_ANDNPS, L_PS, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_ORPS, L_PS, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_XORPD, L_PD, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_CMPPD, L_PD, X_XXI, 128, false },
	{ ZYDIS_MNEMONIC_CMPSD, L_SD, X_XXI, 64, false },
	{ ZYDIS_MNEMONIC_CMPPS, L_PS, X_XXI, 128, false },
	{ ZYDIS_MNEMONIC_UCOMISD, L_SD, X_XX, 64, false },
	{ ZYDIS_MNEMONIC_COMISD, L_SD, X_XX, 64, false },
	{ ZYDIS_MNEMONIC_UCOMISS, L_SS, X_XX, 32, false },
	{ ZYDIS_MNEMONIC_COMISS, L_SS, X_XX, 32, false },
	{ ZYDIS_MNEMONIC_CVTSI2SD, L_SD, X_XG, 64, false },
	{ ZYDIS_MNEMONIC_CVTSI2SS, L_SS, X_XG, 32, false },
	{ ZYDIS_MNEMONIC_CVTTSD2SI, L_SD, X_GX, 0, false },
	{ ZYDIS_MNEMONIC_CVTSD2SI, L_SD, X_GX, 0, false },
	{ ZYDIS_MNEMONIC_CVTTSS2SI, L_SS, X_GX, 0, false },
	{ ZYDIS_MNEMONIC_CVTSS2SD, L_SS, X_XX, 32, false },
	{ ZYDIS_MNEMONIC_CVTSD2SS, L_SD, X_XX, 64, false },
	{ ZYDIS_MNEMONIC_CVTDQ2PD, L_INT, X_XX, 64, false },
	{ ZYDIS_MNEMONIC_CVTDQ2PS, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_CVTPS2DQ, L_PS, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_CVTTPD2DQ, L_PD, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_CVTPD2PS, L_PD, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PADDB, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PADDW, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PADDD, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PADDQ, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PSUBB, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PSUBQ, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PADDUSB, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PSUBSW, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PMULLW, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PMULHUW, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PMULUDQ, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PMADDWD, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PAND, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PANDN, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_POR, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PXOR, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PCMPEQB, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PCMPEQD, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PCMPGTW, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PMINUB, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PMAXSW, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PAVGB, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PSADBW, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PSLLW, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PSRLD, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PSRAW, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PSLLQ, L_INT, X_XI, 0, false },
	{ ZYDIS_MNEMONIC_PSRLW, L_INT, X_XI, 0, false },
	{ ZYDIS_MNEMONIC_PSRAD, L_INT, X_XI, 0, false },
	{ ZYDIS_MNEMONIC_PSLLDQ, L_INT, X_XI, 0, false },
	{ ZYDIS_MNEMONIC_PSRLDQ, L_INT, X_XI, 0, false },
	{ ZYDIS_MNEMONIC_PSHUFD, L_INT, X_XXI, 128, false },
	{ ZYDIS_MNEMONIC_PSHUFLW, L_INT, X_XXI, 128, false },
	{ ZYDIS_MNEMONIC_SHUFPS, L_PS, X_XXI, 128, false },
	{ ZYDIS_MNEMONIC_SHUFPD, L_PD, X_XXI, 128, false },
	{ ZYDIS_MNEMONIC_PUNPCKLBW, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PUNPCKHWD, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PUNPCKLQDQ, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_UNPCKLPS, L_PS, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_UNPCKHPD, L_PD, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PACKSSWB, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PACKUSWB, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PACKSSDW, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_PMOVMSKB, L_INT, X_GX, 0, false },
	{ ZYDIS_MNEMONIC_MOVMSKPD, L_PD, X_GX, 0, false },
	{ ZYDIS_MNEMONIC_MOVD, L_INT, X_XG, 32, false },
	{ ZYDIS_MNEMONIC_MOVQ, L_INT, X_XX, 64, false },
	{ ZYDIS_MNEMONIC_MOVDQA, L_INT, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_MOVDQU, L_INT, X_XX, 128, true },
	{ ZYDIS_MNEMONIC_MOVAPS, L_PS, X_XX, 128, false },
	{ ZYDIS_MNEMONIC_MOVUPD, L_PD, X_XX, 128, true },
	{ ZYDIS_MNEMONIC_MOVSD, L_SD, X_XX, 64, false },
	{ ZYDIS_MNEMONIC_MOVSS, L_SS, X_XX, 32, false },
	{ ZYDIS_MNEMONIC_MOVDQA, L_INT, X_MX, 128, false },
	{ ZYDIS_MNEMONIC_MOVDQU, L_INT, X_MX, 128, true },
	{ ZYDIS_MNEMONIC_MOVSD, L_SD, X_MX, 64, false },
	{ ZYDIS_MNEMONIC_MOVQ, L_INT, X_MX, 64, false },
	{ ZYDIS_MNEMONIC_MOVNTDQ, L_INT, X_MX, 128, false },
};

#define NSSE (sizeof(sse_ops) / sizeof(sse_ops[0]))

static bool gen_sse(struct gen *g, struct tcase *c, unsigned i,
		    const struct tclass *k)
{
	const struct ssedesc *d = &sse_ops[i % NSSE];
	ZydisEncoderOperand ops[3];
	bool mem = d->msize && rng_below(&g->rng, 3) == 0;
	unsigned gbits = rng_below(&g->rng, 2) ? 64 : 32;
	unsigned n = 2;

	fp_init(g, c);
	switch (d->form) {
	case X_XX:
	case X_XXI:
		op_reg(&ops[0], pick_xmm(g));
		if (mem)
			fp_mem(g, c, &ops[1], d->msize, d);
		else
			op_reg(&ops[1], pick_xmm(g));
		if (d->form == X_XXI)
			op_imm(&ops[n++], rng_below(&g->rng, 256));
		break;
	case X_XI:
		op_reg(&ops[0], pick_xmm(g));
		op_imm(&ops[1], rng_below(&g->rng, 4) ? rng_below(&g->rng, 70)
						      : rng_below(&g->rng, 256));
		break;
	case X_XG:
		op_reg(&ops[0], pick_xmm(g));
		if (d->mn == ZYDIS_MNEMONIC_MOVD)
			gbits = 32;
		if (mem) {
			mem_operand(g, c, &ops[1], gbits, edge_value(g, gbits));
		} else {
			ZydisRegister r = pick_reg(g, gbits, false);

			set_reg_value(c, r, edge_value(g, gbits));
			op_reg(&ops[1], r);
		}
		break;
	case X_GX:
		op_reg(&ops[0], pick_reg(g, d->mn == ZYDIS_MNEMONIC_PMOVMSKB ||
					    d->mn == ZYDIS_MNEMONIC_MOVMSKPD ?
					    32 : gbits, false));
		op_reg(&ops[1], pick_xmm(g));
		break;
	case X_MX:
		fp_mem(g, c, &ops[0], d->msize, d);
		op_reg(&ops[1], pick_xmm(g));
		break;
	}
	return encode(g, c, d->mn, 0, n, ops);
}

/* x87: ST0-ST5 valid, TOP = 0. */
static void x87_value(struct gen *g, uint8_t *p)
{
	static const struct { uint64_t m; uint16_t se; } e[] = {
		{ 0, 0 }, { 0, 0x8000 }, { 1ULL << 63, 0x3FFF },
		{ 1ULL << 63, 0xBFFF }, { 1ULL << 63, 0x7FFF },
		{ 3ULL << 62, 0x7FFF }, { 5ULL << 61, 0x7FFF },
		{ 1, 0 }, { ~0ULL, 0x7FFE }, { 1ULL << 63, 0x0001 },
		{ 0xC90FDAA22168C235ULL, 0x4000 }, { 1ULL << 62, 0x3FFF },
	};
	uint64_t m;
	uint16_t se;

	if (rng_below(&g->rng, 2)) {
		unsigned j = rng_below(&g->rng, sizeof(e) / sizeof(e[0]));

		m = e[j].m;
		se = e[j].se;
	} else {
		m = rng_next(&g->rng) | 1ULL << 63;
		se = (uint16_t)((0x3FFF + (int)rng_below(&g->rng, 128) - 64) |
				(rng_below(&g->rng, 2) << 15));
	}
	memcpy(p, &m, 8);
	memcpy(p + 8, &se, 2);
}

static bool gen_x87(struct gen *g, struct tcase *c, unsigned i,
		    const struct tclass *k)
{
	static const ZydisMnemonic sti_ops[] = {
		ZYDIS_MNEMONIC_FADD, ZYDIS_MNEMONIC_FSUB, ZYDIS_MNEMONIC_FSUBR,
		ZYDIS_MNEMONIC_FMUL, ZYDIS_MNEMONIC_FDIV, ZYDIS_MNEMONIC_FDIVR,
		ZYDIS_MNEMONIC_FCOMI, ZYDIS_MNEMONIC_FUCOMI, ZYDIS_MNEMONIC_FXCH,
	};
	static const ZydisMnemonic none_ops[] = {
		ZYDIS_MNEMONIC_FSQRT, ZYDIS_MNEMONIC_FABS, ZYDIS_MNEMONIC_FCHS,
		ZYDIS_MNEMONIC_FRNDINT, ZYDIS_MNEMONIC_FSCALE, ZYDIS_MNEMONIC_FPREM,
		ZYDIS_MNEMONIC_FLD1, ZYDIS_MNEMONIC_FLDZ, ZYDIS_MNEMONIC_FTST,
		ZYDIS_MNEMONIC_FXAM,
	};
	static const ZydisMnemonic mem_ops[] = {
		ZYDIS_MNEMONIC_FLD, ZYDIS_MNEMONIC_FST, ZYDIS_MNEMONIC_FSTP,
		ZYDIS_MNEMONIC_FILD, ZYDIS_MNEMONIC_FIST, ZYDIS_MNEMONIC_FISTP,
		ZYDIS_MNEMONIC_FADD, ZYDIS_MNEMONIC_FMUL,
	};
	uint16_t fcw = (uint16_t)(0x007F | (rng_below(&g->rng, 4) << 8) |
				  (rng_below(&g->rng, 4) << 10));
	ZydisEncoderOperand ops[2];
	ZydisMnemonic m;

	c->cmp_fx = true;
	memcpy(c->in.fx, &fcw, 2);
	c->in.fx[4] = 0x3F;                     /* ST0-ST5 valid */
	for (unsigned r = 0; r < 6; r++)
		x87_value(g, c->in.fx + 32 + 16 * r);
	switch (i % 3) {
	case 0:
		m = sti_ops[rng_below(&g->rng, sizeof(sti_ops) / sizeof(sti_ops[0]))];
		op_reg(&ops[0], ZYDIS_REGISTER_ST0);
		op_reg(&ops[1], ZYDIS_REGISTER_ST0 + rng_below(&g->rng, 8));
		if (m == ZYDIS_MNEMONIC_FXCH)
			return encode(g, c, m, 0, 1, &ops[1]);
		if (m != ZYDIS_MNEMONIC_FCOMI && m != ZYDIS_MNEMONIC_FUCOMI &&
		    rng_below(&g->rng, 2)) {
			ops[0] = ops[1];
			op_reg(&ops[1], ZYDIS_REGISTER_ST0);
		}
		return encode(g, c, m, 0, 2, ops);
	case 1:
		m = none_ops[rng_below(&g->rng, sizeof(none_ops) / sizeof(none_ops[0]))];
		return encode(g, c, m, 0, 0, NULL);
	default: {
		static const unsigned fsz[] = { 32, 64, 80 };
		static const unsigned isz[] = { 16, 32, 64 };
		unsigned bits;
		uint8_t v[16];
		uint64_t addr = OPND_BASE + 64 + rng_below(&g->rng, 0x1F00);

		m = mem_ops[rng_below(&g->rng, sizeof(mem_ops) / sizeof(mem_ops[0]))];
		if (m == ZYDIS_MNEMONIC_FILD || m == ZYDIS_MNEMONIC_FIST ||
		    m == ZYDIS_MNEMONIC_FISTP)
			bits = isz[rng_below(&g->rng, m == ZYDIS_MNEMONIC_FIST ? 2 : 3)];
		else if (m == ZYDIS_MNEMONIC_FLD || m == ZYDIS_MNEMONIC_FSTP)
			bits = fsz[rng_below(&g->rng, 3)];
		else
			bits = fsz[rng_below(&g->rng, 2)];
		if (bits == 80)
			x87_value(g, v);
		else if (bits == 64)
			*(uint64_t *)(void *)v = edge_double(g);
		else if (bits == 32)
			*(uint32_t *)(void *)v = edge_float(g);
		else
			*(uint16_t *)(void *)v = (uint16_t)edge_value(g, 16);
		if (rng_below(&g->rng, 4) == 0)
			addr = OPND_CROSS - 2;
		add_fill(c, addr, v, bits / 8);
		mem_operand_at(g, c, &ops[0], bits, addr);
		return encode(g, c, m, 0, 1, ops);
	}
	}
}

/*
 * The FXSAVE plumbing itself: random x87/SSE state around an integer
 * instruction must come back unchanged on both sides (native fxrstor64 /
 * fxsave64 against emu_cpu_set_fxsave / emu_cpu_get_fxsave).
 */
static bool gen_fxstate(struct gen *g, struct tcase *c, unsigned i,
			const struct tclass *k)
{
	static const uint8_t code[3][3] = { { 0x90 }, { 0x01, 0xD8 },
					    { 0x0F, 0x1F, 0x00 } };
	static const unsigned len[3] = { 1, 2, 3 };
	uint16_t fcw = (uint16_t)(0x0040 | (rng_next(&g->rng) & 0x0F3F));
	uint16_t fsw = (uint16_t)(rng_next(&g->rng) & 0x3F7F);

	/* ES and B summarise the unmasked pending exceptions; the host
	 * recomputes them on FXRSTOR, so give a consistent image. */
	if (fsw & ~fcw & 0x3F)
		fsw |= 0x8080;

	fp_init(g, c);
	memcpy(c->in.fx, &fcw, 2);
	memcpy(c->in.fx + 2, &fsw, 2);
	c->in.fx[4] = (uint8_t)rng_next(&g->rng);
	for (unsigned r = 0; r < 8; r++)
		x87_value(g, c->in.fx + 32 + 16 * r);
	c->in.gpr[R_RAX] = DATA_BASE;
	set_bytes(c, code[i % 3], len[i % 3]);
	return true;
}

const struct tclass fp_classes[] = {
	{ "FXSTATE", 1000, gen_fxstate, 0, 0, 0 },
	{ "SSE2", 20000, gen_sse, 0, 0, 0 },
	{ "X87", 6000, gen_x87, 0, 0, 0 },
	{ NULL, 0, NULL, 0, 0, 0 },
};
