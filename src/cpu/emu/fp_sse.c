/*
 * SSE/SSE2 and the MMX forms of the integer instructions.
 *
 * Arithmetic runs on the host (see fp_internal.h): one stub per mnemonic
 * executes the same instruction on host XMM registers under the guest's
 * MXCSR with every exception masked, and reports the flags it raised.
 * An unmasked one then becomes #XM with the destination left unchanged.
 * MMX instructions use the same stubs on the low 64 bits of an XMM
 * register (lane-wise identical; packs and high unpacks move their
 * inputs first). Moves, shuffles and mask extraction are plain C.
 */
#include "cpu/emu/fp_internal.h"

typedef void (*sse_fn)(union xmm *a, const union xmm *b, uint32_t *csr);

/*
 * Stub for `insn src, dst` on host registers: MXCSR = *csr for the one
 * instruction, then *csr = the resulting MXCSR; the host's own MXCSR is
 * kept around it in the same asm statement.
 */
#define STUB(name, text)                                                    \
	static void st_##name(union xmm *a, const union xmm *b, uint32_t *csr) \
	{                                                                   \
		uint32_t host;                                              \
		asm volatile("stmxcsr %[h]\n\tldmxcsr %[g]\n\t"             \
			     text " %[s], %[d]\n\t"                         \
			     "stmxcsr %[g]\n\tldmxcsr %[h]"                 \
			     : [d] "+x"(a->v), [g] "+m"(*csr), [h] "=m"(host) \
			     : [s] "x"(b->v));                              \
	}

enum {
	F_MMX = 1,          /* also has a 64-bit MMX form */
	F_PACK = 2,         /* MMX form: both inputs packed into one register */
	F_HIGH = 4,         /* MMX form: unpack of the high halves */
	F_RUN_UE = 8,       /* may underflow: exact tiny results need a 2nd run */
};

/* Two-operand instructions: dst = dst op src (or op(src) for unary ones). */
#define BINOPS(X) \
	X(ADDPS, addps, F_RUN_UE) X(ADDPD, addpd, F_RUN_UE) \
	X(ADDSS, addss, F_RUN_UE) X(ADDSD, addsd, F_RUN_UE) \
	X(SUBPS, subps, F_RUN_UE) X(SUBPD, subpd, F_RUN_UE) \
	X(SUBSS, subss, F_RUN_UE) X(SUBSD, subsd, F_RUN_UE) \
	X(MULPS, mulps, F_RUN_UE) X(MULPD, mulpd, F_RUN_UE) \
	X(MULSS, mulss, F_RUN_UE) X(MULSD, mulsd, F_RUN_UE) \
	X(DIVPS, divps, F_RUN_UE) X(DIVPD, divpd, F_RUN_UE) \
	X(DIVSS, divss, F_RUN_UE) X(DIVSD, divsd, F_RUN_UE) \
	X(MINPS, minps, 0) X(MINPD, minpd, 0) X(MINSS, minss, 0) X(MINSD, minsd, 0) \
	X(MAXPS, maxps, 0) X(MAXPD, maxpd, 0) X(MAXSS, maxss, 0) X(MAXSD, maxsd, 0) \
	X(SQRTPS, sqrtps, 0) X(SQRTPD, sqrtpd, 0) \
	X(SQRTSS, sqrtss, 0) X(SQRTSD, sqrtsd, 0) \
	X(RCPPS, rcpps, 0) X(RCPSS, rcpss, 0) \
	X(RSQRTPS, rsqrtps, 0) X(RSQRTSS, rsqrtss, 0) \
	X(ANDPS, andps, 0) X(ANDPD, andpd, 0) X(ANDNPS, andnps, 0) \
	X(ANDNPD, andnpd, 0) X(ORPS, orps, 0) X(ORPD, orpd, 0) \
	X(XORPS, xorps, 0) X(XORPD, xorpd, 0) \
	X(UNPCKLPS, unpcklps, 0) X(UNPCKHPS, unpckhps, 0) \
	X(UNPCKLPD, unpcklpd, 0) X(UNPCKHPD, unpckhpd, 0) \
	X(CVTSS2SD, cvtss2sd, 0) X(CVTSD2SS, cvtsd2ss, F_RUN_UE) \
	X(CVTPS2PD, cvtps2pd, 0) X(CVTPD2PS, cvtpd2ps, F_RUN_UE) \
	X(CVTDQ2PS, cvtdq2ps, 0) X(CVTPS2DQ, cvtps2dq, 0) \
	X(CVTTPS2DQ, cvttps2dq, 0) X(CVTDQ2PD, cvtdq2pd, 0) \
	X(CVTPD2DQ, cvtpd2dq, 0) X(CVTTPD2DQ, cvttpd2dq, 0) \
	X(PADDB, paddb, F_MMX) X(PADDW, paddw, F_MMX) X(PADDD, paddd, F_MMX) \
	X(PADDQ, paddq, F_MMX) X(PSUBB, psubb, F_MMX) X(PSUBW, psubw, F_MMX) \
	X(PSUBD, psubd, F_MMX) X(PSUBQ, psubq, F_MMX) \
	X(PADDSB, paddsb, F_MMX) X(PADDSW, paddsw, F_MMX) \
	X(PADDUSB, paddusb, F_MMX) X(PADDUSW, paddusw, F_MMX) \
	X(PSUBSB, psubsb, F_MMX) X(PSUBSW, psubsw, F_MMX) \
	X(PSUBUSB, psubusb, F_MMX) X(PSUBUSW, psubusw, F_MMX) \
	X(PMULLW, pmullw, F_MMX) X(PMULHW, pmulhw, F_MMX) \
	X(PMULHUW, pmulhuw, F_MMX) X(PMULUDQ, pmuludq, F_MMX) \
	X(PMADDWD, pmaddwd, F_MMX) \
	X(PAND, pand, F_MMX) X(PANDN, pandn, F_MMX) X(POR, por, F_MMX) \
	X(PXOR, pxor, F_MMX) \
	X(PCMPEQB, pcmpeqb, F_MMX) X(PCMPEQW, pcmpeqw, F_MMX) \
	X(PCMPEQD, pcmpeqd, F_MMX) X(PCMPGTB, pcmpgtb, F_MMX) \
	X(PCMPGTW, pcmpgtw, F_MMX) X(PCMPGTD, pcmpgtd, F_MMX) \
	X(PMINUB, pminub, F_MMX) X(PMAXUB, pmaxub, F_MMX) \
	X(PMINSW, pminsw, F_MMX) X(PMAXSW, pmaxsw, F_MMX) \
	X(PAVGB, pavgb, F_MMX) X(PAVGW, pavgw, F_MMX) X(PSADBW, psadbw, F_MMX) \
	X(PSLLW, psllw, F_MMX) X(PSLLD, pslld, F_MMX) X(PSLLQ, psllq, F_MMX) \
	X(PSRLW, psrlw, F_MMX) X(PSRLD, psrld, F_MMX) X(PSRLQ, psrlq, F_MMX) \
	X(PSRAW, psraw, F_MMX) X(PSRAD, psrad, F_MMX) \
	X(PUNPCKLBW, punpcklbw, F_MMX) X(PUNPCKLWD, punpcklwd, F_MMX) \
	X(PUNPCKLDQ, punpckldq, F_MMX) \
	X(PUNPCKHBW, punpckhbw, F_MMX | F_HIGH) \
	X(PUNPCKHWD, punpckhwd, F_MMX | F_HIGH) \
	X(PUNPCKHDQ, punpckhdq, F_MMX | F_HIGH) \
	X(PUNPCKLQDQ, punpcklqdq, 0) X(PUNPCKHQDQ, punpckhqdq, 0) \
	X(PACKSSWB, packsswb, F_MMX | F_PACK) X(PACKSSDW, packssdw, F_MMX | F_PACK) \
	X(PACKUSWB, packuswb, F_MMX | F_PACK)

#define X_STUB(m, insn, fl) STUB(insn, #insn)
BINOPS(X_STUB)

struct binop {
	uint16_t mnem;
	uint8_t flags;
	sse_fn fn;
};

#define X_ENTRY(m, insn, fl) { ZYDIS_MNEMONIC_##m, fl, st_##insn },
static const struct binop binops[] = { BINOPS(X_ENTRY) };

/* CMPPS/PD/SS/SD: the predicate is part of the instruction, one stub each. */
#define CMP8(insn) \
	STUB(insn##0, #insn " $0,") STUB(insn##1, #insn " $1,") \
	STUB(insn##2, #insn " $2,") STUB(insn##3, #insn " $3,") \
	STUB(insn##4, #insn " $4,") STUB(insn##5, #insn " $5,") \
	STUB(insn##6, #insn " $6,") STUB(insn##7, #insn " $7,") \
	static const sse_fn cmp_##insn[8] = { \
		st_##insn##0, st_##insn##1, st_##insn##2, st_##insn##3, \
		st_##insn##4, st_##insn##5, st_##insn##6, st_##insn##7 };
CMP8(cmpps)
CMP8(cmppd)
CMP8(cmpss)
CMP8(cmpsd)

/* (U)COMISS/SD: returns the host's FLAGS low byte (LAHF) after the compare. */
#define CSTUB(name)                                                         \
	static uint8_t st_##name(const union xmm *a, const union xmm *b,    \
				 uint32_t *csr)                             \
	{                                                                   \
		uint32_t host;                                              \
		uint16_t ax;                                                \
		asm volatile("stmxcsr %[h]\n\tldmxcsr %[g]\n\t"             \
			     #name " %[s], %[d]\n\tlahf\n\t"                \
			     "stmxcsr %[g]\n\tldmxcsr %[h]"                 \
			     : "=a"(ax), [g] "+m"(*csr), [h] "=m"(host)     \
			     : [d] "x"(a->v), [s] "x"(b->v) : "cc");        \
		return (uint8_t)(ax >> 8);                                  \
	}
CSTUB(comiss)
CSTUB(ucomiss)
CSTUB(comisd)
CSTUB(ucomisd)

/* CVT(T)SS2SI / CVT(T)SD2SI into a 32- or 64-bit register. */
#define ISTUB(name, insn, T)                                                \
	static uint64_t st_##name(const union xmm *b, uint32_t *csr)        \
	{                                                                   \
		uint32_t host;                                              \
		T r;                                                        \
		asm volatile("stmxcsr %[h]\n\tldmxcsr %[g]\n\t"             \
			     #insn " %[s], %[r]\n\t"                        \
			     "stmxcsr %[g]\n\tldmxcsr %[h]"                 \
			     : [r] "=r"(r), [g] "+m"(*csr), [h] "=m"(host)  \
			     : [s] "x"(b->v));                              \
		return r;                                                   \
	}
ISTUB(cvtss2si32, cvtss2si, uint32_t) ISTUB(cvtss2si64, cvtss2si, uint64_t)
ISTUB(cvttss2si32, cvttss2si, uint32_t) ISTUB(cvttss2si64, cvttss2si, uint64_t)
ISTUB(cvtsd2si32, cvtsd2si, uint32_t) ISTUB(cvtsd2si64, cvtsd2si, uint64_t)
ISTUB(cvttsd2si32, cvttsd2si, uint32_t) ISTUB(cvttsd2si64, cvttsd2si, uint64_t)

/* CVTSI2SS/SD from a 32- or 64-bit integer. */
#define FSTUB(name, insn, T)                                                \
	static void st_##name(union xmm *a, uint64_t v, uint32_t *csr)     \
	{                                                                   \
		uint32_t host;                                              \
		T x = (T)v;                                                 \
		asm volatile("stmxcsr %[h]\n\tldmxcsr %[g]\n\t"             \
			     #insn " %[s], %[d]\n\t"                        \
			     "stmxcsr %[g]\n\tldmxcsr %[h]"                 \
			     : [d] "+x"(a->v), [g] "+m"(*csr), [h] "=m"(host) \
			     : [s] "r"(x));                                 \
	}
FSTUB(cvtsi2ss32, cvtsi2ssl, uint32_t) FSTUB(cvtsi2ss64, cvtsi2ssq, uint64_t)
FSTUB(cvtsi2sd32, cvtsi2sdl, uint32_t) FSTUB(cvtsi2sd64, cvtsi2sdq, uint64_t)

static const struct binop *binop_tab[ZYDIS_MNEMONIC_MAX_VALUE + 1];
/* The string instructions CMPSD/MOVSD share their mnemonics with SSE2. */
static emu_handler string_cmpsd, string_movsd;

/* --- MXCSR --- */

/* The MXCSR a stub runs with: guest RC/DAZ/FTZ, flags clear, all masked. */
static uint32_t csr_in(const struct emu_cpu *c)
{
	return (fx_mxcsr(c) & ~MXCSR_FLAGS) | MXCSR_MASKS;
}

/*
 * Merge the flags a stub raised into the guest's MXCSR; #XM if one is
 * unmasked. An unmasked invalid, denormal or divide-by-zero exception
 * stops the instruction before the result is rounded, so only those
 * flags are reported then.
 */
static void sse_finish(struct emu_cpu *c, uint32_t out)
{
	uint32_t g = fx_mxcsr(c);
	uint32_t raised = out & MXCSR_FLAGS;
	uint32_t unmasked = raised & ~(g >> 7) & MXCSR_FLAGS;

	if (unmasked) {
		if (unmasked & 0x7)
			raised &= 0x7;
		fx_set_mxcsr(c, g | raised);
		fp_raise_xm(c);
	}
	fx_set_mxcsr(c, g | raised);
}

/* --- operands --- */

static bool is_mmx(const struct dinsn *d, int i)
{
	return d->op[i].kind == OPK_OTHER && d->op[i].size == 8;
}

static void check(struct emu_cpu *c, bool mmx)
{
	if (mmx)
		fp_check_mmx(c);
	else
		fp_check_sse(c);
}

/*
 * Read operand i into x, zero-extended: an MMX or XMM register, a GPR,
 * an immediate byte or memory (the operand's size; 16-byte operands must
 * be aligned when align is set).
 */
static void vread(struct emu_cpu *c, const struct dinsn *d, int i, bool mmx,
		  union xmm *x, bool align)
{
	const struct dop *o = &d->op[i];

	memset(x, 0, sizeof(*x));
	switch (o->kind) {
	case OPK_OTHER:
		if (mmx)
			x->q[0] = mm_get(c, o->reg);
		else
			xmm_get(c, o->reg, x);
		break;
	case OPK_MEM:
		if (align && o->size == 16)
			fp_check_align16(c, d, o);
		fp_mem_read(c, o->seg, emu_ea(c, d, o), x->b,
			    o->size > 16 ? 16 : o->size);
		break;
	case OPK_REG:
		x->q[0] = gpr_read(c, o->reg, o->size);
		break;
	case OPK_IMM:
		x->q[0] = (uint64_t)o->val & 0xFF;
		break;
	default:
		emu_raise_ud(c);
	}
}

/* Write x to register operand i (MMX: low 64 bits, enters MMX state). */
static void vput(struct emu_cpu *c, const struct dinsn *d, int i, bool mmx,
		 const union xmm *x)
{
	if (mmx) {
		fp_mmx_enter(c);
		mm_put(c, d->op[i].reg, x->q[0]);
	} else {
		xmm_put(c, d->op[i].reg, x);
	}
}

/* --- arithmetic --- */

static void h_binop(struct emu_cpu *c, const struct dinsn *d)
{
	const struct binop *s = binop_tab[d->mnem];
	bool mmx = (s->flags & F_MMX) && is_mmx(d, 0);
	union xmm a, b, r;
	uint32_t csr;

	check(c, mmx);
	if (d->op[0].kind != OPK_OTHER)
		emu_raise_ud(c);
	vread(c, d, 0, mmx, &a, true);
	vread(c, d, 1, mmx, &b, true);
	if (mmx && (s->flags & F_PACK)) {
		a.q[1] = b.q[0];
		b = a;
	} else if (mmx && (s->flags & F_HIGH)) {
		a.q[1] = a.q[0] >> 32;
		b.q[1] = b.q[0] >> 32;
	}
	r = a;
	csr = csr_in(c);
	s->fn(&r, &b, &csr);
	if (!mmx) {
		/* Unmasked, underflow is reported even for an exact tiny
		 * result; with FTZ set a masked run flags those too. */
		if ((s->flags & F_RUN_UE) && !(fx_mxcsr(c) & (MXCSR_UE << 7)) &&
		    !(csr & MXCSR_UE)) {
			union xmm r2 = a;
			uint32_t csr2 = csr_in(c) | MXCSR_FTZ;
			s->fn(&r2, &b, &csr2);
			csr |= csr2 & MXCSR_UE;
		}
		sse_finish(c, csr);
	}
	vput(c, d, 0, mmx, &r);
}

static void h_cmp(struct emu_cpu *c, const struct dinsn *d)
{
	union xmm a, b;
	unsigned pred = (unsigned)d->op[2].val & 7;
	uint32_t csr = csr_in(c);
	const sse_fn *tab;

	if (d->map == 0) {
		string_cmpsd(c, d);
		return;
	}
	switch (d->mnem) {
	case ZYDIS_MNEMONIC_CMPPS: tab = cmp_cmpps; break;
	case ZYDIS_MNEMONIC_CMPPD: tab = cmp_cmppd; break;
	case ZYDIS_MNEMONIC_CMPSS: tab = cmp_cmpss; break;
	default: tab = cmp_cmpsd; break;
	}
	fp_check_sse(c);
	vread(c, d, 0, false, &a, true);
	vread(c, d, 1, false, &b, true);
	tab[pred](&a, &b, &csr);
	sse_finish(c, csr);
	xmm_put(c, d->op[0].reg, &a);
}

static void h_comis(struct emu_cpu *c, const struct dinsn *d)
{
	union xmm a, b;
	uint32_t csr = csr_in(c);
	uint8_t fl;

	fp_check_sse(c);
	vread(c, d, 0, false, &a, true);
	vread(c, d, 1, false, &b, true);
	switch (d->mnem) {
	case ZYDIS_MNEMONIC_COMISS: fl = st_comiss(&a, &b, &csr); break;
	case ZYDIS_MNEMONIC_UCOMISS: fl = st_ucomiss(&a, &b, &csr); break;
	case ZYDIS_MNEMONIC_COMISD: fl = st_comisd(&a, &b, &csr); break;
	default: fl = st_ucomisd(&a, &b, &csr); break;
	}
	sse_finish(c, csr);
	/* ZF PF CF from the compare; OF SF AF cleared. */
	emu_set_arith(c, fl & (FL_ZF | FL_PF | FL_CF));
}

static void h_cvt2si(struct emu_cpu *c, const struct dinsn *d)
{
	union xmm b;
	uint32_t csr = csr_in(c);
	bool q = d->op[0].size == 8;
	uint64_t r;

	fp_check_sse(c);
	vread(c, d, 1, false, &b, true);
	switch (d->mnem) {
	case ZYDIS_MNEMONIC_CVTSS2SI:
		r = q ? st_cvtss2si64(&b, &csr) : st_cvtss2si32(&b, &csr);
		break;
	case ZYDIS_MNEMONIC_CVTTSS2SI:
		r = q ? st_cvttss2si64(&b, &csr) : st_cvttss2si32(&b, &csr);
		break;
	case ZYDIS_MNEMONIC_CVTSD2SI:
		r = q ? st_cvtsd2si64(&b, &csr) : st_cvtsd2si32(&b, &csr);
		break;
	default:
		r = q ? st_cvttsd2si64(&b, &csr) : st_cvttsd2si32(&b, &csr);
		break;
	}
	sse_finish(c, csr);
	gpr_write(c, d->op[0].reg, q ? 8 : 4, r);
}

static void h_cvtsi2f(struct emu_cpu *c, const struct dinsn *d)
{
	union xmm a;
	uint32_t csr = csr_in(c);
	bool q = d->op[1].size == 8;
	uint64_t v;

	fp_check_sse(c);
	xmm_get(c, d->op[0].reg, &a);
	v = emu_op_read(c, d, 1);
	if (d->mnem == ZYDIS_MNEMONIC_CVTSI2SS) {
		if (q)
			st_cvtsi2ss64(&a, v, &csr);
		else
			st_cvtsi2ss32(&a, v, &csr);
	} else {
		if (q)
			st_cvtsi2sd64(&a, v, &csr);
		else
			st_cvtsi2sd32(&a, v, &csr);
	}
	sse_finish(c, csr);
	xmm_put(c, d->op[0].reg, &a);
}

/* --- shuffles, inserts, extracts, masks --- */

static void h_shuffle(struct emu_cpu *c, const struct dinsn *d)
{
	bool mmx = is_mmx(d, 0);
	union xmm a, b, r;
	unsigned imm = (unsigned)d->op[d->nops - 1].val & 0xFF;

	check(c, mmx);
	vread(c, d, 0, mmx, &a, true);
	r = a;
	if (d->nops == 3)
		vread(c, d, 1, mmx, &b, true);
	else
		b = a;
	switch (d->mnem) {
	case ZYDIS_MNEMONIC_PSHUFD:
		for (int i = 0; i < 4; i++)
			r.d[i] = b.d[(imm >> (2 * i)) & 3];
		break;
	case ZYDIS_MNEMONIC_PSHUFLW:
	case ZYDIS_MNEMONIC_PSHUFW:
		r.q[1] = b.q[1];
		for (int i = 0; i < 4; i++)
			r.w[i] = b.w[(imm >> (2 * i)) & 3];
		break;
	case ZYDIS_MNEMONIC_PSHUFHW:
		r.q[0] = b.q[0];
		for (int i = 0; i < 4; i++)
			r.w[4 + i] = b.w[4 + ((imm >> (2 * i)) & 3)];
		break;
	case ZYDIS_MNEMONIC_SHUFPS:
		r.d[0] = a.d[imm & 3];
		r.d[1] = a.d[(imm >> 2) & 3];
		r.d[2] = b.d[(imm >> 4) & 3];
		r.d[3] = b.d[(imm >> 6) & 3];
		break;
	case ZYDIS_MNEMONIC_SHUFPD:
		r.q[0] = a.q[imm & 1];
		r.q[1] = b.q[(imm >> 1) & 1];
		break;
	case ZYDIS_MNEMONIC_PSLLDQ:
		memset(&r, 0, sizeof(r));
		if (imm < 16)
			memcpy(r.b + imm, a.b, 16 - imm);
		break;
	case ZYDIS_MNEMONIC_PSRLDQ:
		memset(&r, 0, sizeof(r));
		if (imm < 16)
			memcpy(r.b, a.b + imm, 16 - imm);
		break;
	case ZYDIS_MNEMONIC_PINSRW:
		r.w[imm & (mmx ? 3 : 7)] = b.w[0];
		break;
	default:
		emu_raise_ud(c);
	}
	vput(c, d, 0, mmx, &r);
}

/* PEXTRW, PMOVMSKB, MOVMSKPS, MOVMSKPD: a GPR (or memory) from a vector. */
static void h_extract(struct emu_cpu *c, const struct dinsn *d)
{
	bool mmx = is_mmx(d, 1);
	union xmm b;
	uint64_t r = 0;

	check(c, mmx);
	vread(c, d, 1, mmx, &b, true);
	switch (d->mnem) {
	case ZYDIS_MNEMONIC_PEXTRW:
		r = b.w[(unsigned)d->op[2].val & (mmx ? 3 : 7)];
		break;
	case ZYDIS_MNEMONIC_PMOVMSKB:
		for (int i = 0; i < (mmx ? 8 : 16); i++)
			r |= (uint64_t)(b.b[i] >> 7) << i;
		break;
	case ZYDIS_MNEMONIC_MOVMSKPS:
		for (int i = 0; i < 4; i++)
			r |= (uint64_t)(b.d[i] >> 31) << i;
		break;
	default:
		r = (b.q[0] >> 63) | (b.q[1] >> 63) << 1;
		break;
	}
	if (d->op[0].kind == OPK_REG)
		gpr_write(c, d->op[0].reg, d->op[0].size < 4 ? 4 : d->op[0].size, r);
	else
		fp_mem_write(c, d->op[0].seg, emu_ea(c, d, &d->op[0]), &r, d->op[0].size);
	if (mmx)
		fp_mmx_enter(c);
}

/* --- moves --- */

/* Store the low n bytes of x to memory operand i. */
static void vstore(struct emu_cpu *c, const struct dinsn *d, int i,
		   const void *x, unsigned n)
{
	fp_mem_write(c, d->op[i].seg, emu_ea(c, d, &d->op[i]), x, n);
}

/* MOVAPS/PD, MOVUPS/PD, MOVDQA/U, MOVNTPS/PD/DQ: 128-bit copies. */
static void h_mov128(struct emu_cpu *c, const struct dinsn *d)
{
	bool align = d->mnem != ZYDIS_MNEMONIC_MOVUPS &&
		     d->mnem != ZYDIS_MNEMONIC_MOVUPD &&
		     d->mnem != ZYDIS_MNEMONIC_MOVDQU &&
		     d->mnem != ZYDIS_MNEMONIC_LDDQU;
	union xmm x;

	fp_check_sse(c);
	vread(c, d, 1, false, &x, align);
	if (d->op[0].kind == OPK_MEM) {
		if (align)
			fp_check_align16(c, d, &d->op[0]);
		vstore(c, d, 0, x.b, 16);
	} else {
		xmm_put(c, d->op[0].reg, &x);
	}
}

/* MOVSS/MOVSD: loads zero the rest, register moves merge the low lane. */
static void h_movscalar(struct emu_cpu *c, const struct dinsn *d)
{
	unsigned n = d->mnem == ZYDIS_MNEMONIC_MOVSS ? 4 : 8;
	union xmm x, s;

	if (d->map == 0) {
		string_movsd(c, d);
		return;
	}
	fp_check_sse(c);
	vread(c, d, 1, false, &s, false);
	if (d->op[0].kind == OPK_MEM) {
		vstore(c, d, 0, s.b, n);
		return;
	}
	if (d->op[1].kind == OPK_MEM) {
		x = s;
	} else {
		xmm_get(c, d->op[0].reg, &x);
		memcpy(x.b, s.b, n);
	}
	xmm_put(c, d->op[0].reg, &x);
}

/* Whether the vector register(s) of a MOVD/MOVQ are MMX registers. */
static bool movq_is_mmx(struct emu_cpu *c, const struct dinsn *d)
{
	if (d->opcode == 0x6F || d->opcode == 0x7F)
		return true;
	if (d->opcode == 0xD6)
		return false;
	for (int i = 0; i < 2; i++) {
		if (d->op[i].kind == OPK_OTHER && d->op[i].size == 16)
			return false;
		if (d->op[i].kind == OPK_OTHER && d->op[i].size == 8 &&
		    d->mnem == ZYDIS_MNEMONIC_MOVD)
			return true;
	}
	/* r/m <-> mm or xmm (0F 6E/7E): the decoded sizes may not tell,
	 * the 66 prefix does. */
	return !fp_has_prefix(c, d, 0x66);
}

/* MOVD/MOVQ/MOVNTQ/MOVQ2DQ/MOVDQ2Q: 32 or 64 bits, vector loads zero-extend. */
static void h_movq(struct emu_cpu *c, const struct dinsn *d)
{
	unsigned n = d->mnem == ZYDIS_MNEMONIC_MOVD ? 4 : 8;
	bool mmx0, mmx1;
	union xmm x;

	switch (d->mnem) {
	case ZYDIS_MNEMONIC_MOVQ2DQ:
		mmx0 = false;
		mmx1 = true;
		break;
	case ZYDIS_MNEMONIC_MOVDQ2Q:
		mmx0 = true;
		mmx1 = false;
		break;
	case ZYDIS_MNEMONIC_MOVNTQ:
		mmx0 = mmx1 = true;
		break;
	default:
		mmx0 = mmx1 = movq_is_mmx(c, d);
		break;
	}
	if (mmx0 != mmx1) {
		fp_check_sse(c);
		fp_check_mmx(c);
	} else {
		check(c, mmx0);
	}
	vread(c, d, 1, mmx1, &x, false);
	if (n == 4)
		x.q[0] &= 0xFFFFFFFF;
	x.q[1] = 0;
	switch (d->op[0].kind) {
	case OPK_MEM:
		vstore(c, d, 0, x.b, n);
		break;
	case OPK_REG:
		gpr_write(c, d->op[0].reg, n, x.q[0]);
		break;
	default:
		vput(c, d, 0, mmx0, &x);
		break;
	}
	if (mmx0 || mmx1)
		fp_mmx_enter(c);
}

/* MOVLPS/PD, MOVHPS/PD, MOVHLPS, MOVLHPS: one 64-bit half. */
static void h_movhalf(struct emu_cpu *c, const struct dinsn *d)
{
	bool high = d->mnem == ZYDIS_MNEMONIC_MOVHPS || d->mnem == ZYDIS_MNEMONIC_MOVHPD;
	union xmm x, s;

	fp_check_sse(c);
	vread(c, d, 1, false, &s, false);
	if (d->op[0].kind == OPK_MEM) {
		vstore(c, d, 0, &s.q[high], 8);
		return;
	}
	xmm_get(c, d->op[0].reg, &x);
	switch (d->mnem) {
	case ZYDIS_MNEMONIC_MOVHLPS: x.q[0] = s.q[1]; break;
	case ZYDIS_MNEMONIC_MOVLHPS: x.q[1] = s.q[0]; break;
	default: x.q[high] = s.q[0]; break;
	}
	xmm_put(c, d->op[0].reg, &x);
}

/* MASKMOVDQU/MASKMOVQ: bytes with the mask's top bit set go to DS:rDI. */
static void h_maskmov(struct emu_cpu *c, const struct dinsn *d)
{
	bool mmx = is_mmx(d, 0);
	unsigned n = mmx ? 8 : 16;
	uint64_t off = c->gpr[EMU_RDI] & size_mask(d->asize);
	union xmm v, m;

	check(c, mmx);
	vread(c, d, 0, mmx, &v, false);
	vread(c, d, 1, mmx, &m, false);
	bool any = false;
	for (unsigned i = 0; i < n; i++)
		any |= m.b[i] >> 7;
	if (any) {
		/* Translate both ends first; then the byte stores can't fault. */
		fp_probe_write(c, SEG_DS, off, n);
		for (unsigned i = 0; i < n; i++)
			if (m.b[i] & 0x80)
				emu_write(c, SEG_DS, (off + i) & size_mask(d->asize), 1,
					  v.b[i]);
	}
	if (mmx)
		fp_mmx_enter(c);
}

static void h_ud(struct emu_cpu *c, const struct dinsn *d)
{
	emu_raise_ud(c);
}

void fp_sse_register(void)
{
	static const ZydisMnemonic mov128[] = {
		ZYDIS_MNEMONIC_MOVAPS, ZYDIS_MNEMONIC_MOVAPD, ZYDIS_MNEMONIC_MOVUPS,
		ZYDIS_MNEMONIC_MOVUPD, ZYDIS_MNEMONIC_MOVDQA, ZYDIS_MNEMONIC_MOVDQU,
		ZYDIS_MNEMONIC_MOVNTPS, ZYDIS_MNEMONIC_MOVNTPD, ZYDIS_MNEMONIC_MOVNTDQ,
	};
	static const ZydisMnemonic shuffles[] = {
		ZYDIS_MNEMONIC_PSHUFD, ZYDIS_MNEMONIC_PSHUFLW, ZYDIS_MNEMONIC_PSHUFHW,
		ZYDIS_MNEMONIC_PSHUFW, ZYDIS_MNEMONIC_SHUFPS, ZYDIS_MNEMONIC_SHUFPD,
		ZYDIS_MNEMONIC_PSLLDQ, ZYDIS_MNEMONIC_PSRLDQ, ZYDIS_MNEMONIC_PINSRW,
	};
	static const ZydisMnemonic halves[] = {
		ZYDIS_MNEMONIC_MOVLPS, ZYDIS_MNEMONIC_MOVLPD, ZYDIS_MNEMONIC_MOVHPS,
		ZYDIS_MNEMONIC_MOVHPD, ZYDIS_MNEMONIC_MOVHLPS, ZYDIS_MNEMONIC_MOVLHPS,
	};

	for (unsigned i = 0; i < sizeof(binops) / sizeof(binops[0]); i++) {
		binop_tab[binops[i].mnem] = &binops[i];
		emu_register(binops[i].mnem, h_binop);
	}
	for (unsigned i = 0; i < sizeof(mov128) / sizeof(mov128[0]); i++)
		emu_register(mov128[i], h_mov128);
	for (unsigned i = 0; i < sizeof(shuffles) / sizeof(shuffles[0]); i++)
		emu_register(shuffles[i], h_shuffle);
	for (unsigned i = 0; i < sizeof(halves) / sizeof(halves[0]); i++)
		emu_register(halves[i], h_movhalf);

	string_cmpsd = emu_table[ZYDIS_MNEMONIC_CMPSD];
	string_movsd = emu_table[ZYDIS_MNEMONIC_MOVSD];
	if (!string_cmpsd)
		string_cmpsd = h_ud;
	if (!string_movsd)
		string_movsd = h_ud;
	emu_register(ZYDIS_MNEMONIC_CMPPS, h_cmp);
	emu_register(ZYDIS_MNEMONIC_CMPPD, h_cmp);
	emu_register(ZYDIS_MNEMONIC_CMPSS, h_cmp);
	emu_register(ZYDIS_MNEMONIC_CMPSD, h_cmp);
	emu_register(ZYDIS_MNEMONIC_MOVSS, h_movscalar);
	emu_register(ZYDIS_MNEMONIC_MOVSD, h_movscalar);
	emu_register(ZYDIS_MNEMONIC_COMISS, h_comis);
	emu_register(ZYDIS_MNEMONIC_UCOMISS, h_comis);
	emu_register(ZYDIS_MNEMONIC_COMISD, h_comis);
	emu_register(ZYDIS_MNEMONIC_UCOMISD, h_comis);
	emu_register(ZYDIS_MNEMONIC_CVTSS2SI, h_cvt2si);
	emu_register(ZYDIS_MNEMONIC_CVTTSS2SI, h_cvt2si);
	emu_register(ZYDIS_MNEMONIC_CVTSD2SI, h_cvt2si);
	emu_register(ZYDIS_MNEMONIC_CVTTSD2SI, h_cvt2si);
	emu_register(ZYDIS_MNEMONIC_CVTSI2SS, h_cvtsi2f);
	emu_register(ZYDIS_MNEMONIC_CVTSI2SD, h_cvtsi2f);
	emu_register(ZYDIS_MNEMONIC_PEXTRW, h_extract);
	emu_register(ZYDIS_MNEMONIC_PMOVMSKB, h_extract);
	emu_register(ZYDIS_MNEMONIC_MOVMSKPS, h_extract);
	emu_register(ZYDIS_MNEMONIC_MOVMSKPD, h_extract);
	emu_register(ZYDIS_MNEMONIC_MOVD, h_movq);
	emu_register(ZYDIS_MNEMONIC_MOVQ, h_movq);
	emu_register(ZYDIS_MNEMONIC_MOVNTQ, h_movq);
	emu_register(ZYDIS_MNEMONIC_MOVQ2DQ, h_movq);
	emu_register(ZYDIS_MNEMONIC_MOVDQ2Q, h_movq);
	emu_register(ZYDIS_MNEMONIC_MASKMOVDQU, h_maskmov);
	emu_register(ZYDIS_MNEMONIC_MASKMOVQ, h_maskmov);
}
