/*
 * Shifts and rotates, multiply and divide, bit tests and scans. Flags are
 * computed eagerly here (these are rarer than ADD/SUB/CMP). Where the SDM
 * leaves flags undefined, the choices follow the AMD Zen host.
 */
#include "cpu/emu/emu_internal.h"

enum { S_ROL, S_ROR, S_RCL, S_RCR, S_SHL, S_SHR, S_SAR };

static void shift_op(struct emu_cpu *c, const struct dinsn *d, int op)
{
	unsigned size = d->op[0].size, bits = size * 8;
	uint64_t m = size_mask(size), top = 1ULL << (bits - 1);
	unsigned n = d->nops > 1 ? (unsigned)emu_op_read(c, d, 1) : 1;
	uint64_t a = emu_op_read(c, d, 0) & m, r = a;
	uint64_t f;
	bool cf, of;

	n &= bits == 64 ? 63 : 31;
	if (n == 0) {
		emu_op_write(c, d, 0, a);
		return;
	}
	/* Only rotates keep flags (CF for RCL/RCR, SF/ZF/PF for all). */
	f = op < S_SHL ? emu_flags(c) : 0;
	cf = f & FL_CF;
	of = f & FL_OF;
	switch (op) {
	case S_SHL:
		if (n < 64) {
			r = (a << n) & m;
			cf = n <= bits ? (a >> (bits - n)) & 1 : 0;
		} else {
			r = 0;
			cf = 0;
		}
		of = !!(r & top) ^ cf;
		break;
	case S_SHR:
		r = n < 64 ? a >> n : 0;
		cf = n - 1 < 64 ? (a >> (n - 1)) & 1 : 0;
		of = !!(a & top);
		break;
	case S_SAR: {
		int64_t s = (int64_t)sext(a, size);
		r = (uint64_t)(s >> (n < 63 ? n : 63)) & m;
		cf = (s >> (n - 1 < 63 ? n - 1 : 63)) & 1;
		of = false;
		break;
	}
	case S_ROL: {
		unsigned k = n % bits;
		r = k ? ((a << k) | (a >> (bits - k))) & m : a;
		cf = r & 1;
		of = !!(r & top) ^ cf;
		break;
	}
	case S_ROR: {
		unsigned k = n % bits;
		r = k ? ((a >> k) | (a << (bits - k))) & m : a;
		cf = !!(r & top);
		of = !!(r & top) ^ !!(r & (top >> 1));
		break;
	}
	case S_RCL: {
		unsigned k = n % (bits + 1);
		for (unsigned i = 0; i < k; i++) {
			bool out = r & top;
			r = ((r << 1) | cf) & m;
			cf = out;
		}
		of = !!(r & top) ^ cf;
		break;
	}
	default: {  /* RCR */
		unsigned k = n % (bits + 1);
		of = !!(r & top) ^ cf;
		for (unsigned i = 0; i < k; i++) {
			bool out = r & 1;
			r = (r >> 1) | (cf ? top : 0);
			cf = out;
		}
		break;
	}
	}
	emu_op_write(c, d, 0, r);
	if (op >= S_SHL) {
		/* Lazily: SF/ZF/PF from r, CF in lf_cin, OF in lf_src. */
		c->lf_cin = cf;
		emu_lazy(c, LF_SHIFT, size, 0, of, r);
		return;
	}
	f &= ~(uint64_t)(FL_CF | FL_OF);
	f |= (cf ? FL_CF : 0) | (of ? FL_OF : 0);
	emu_set_arith(c, f);
}

#define SH(name, op) \
static void h_##name(struct emu_cpu *c, const struct dinsn *d) { shift_op(c, d, op); }
SH(rol, S_ROL) SH(ror, S_ROR) SH(rcl, S_RCL) SH(rcr, S_RCR)
SH(shl, S_SHL) SH(shr, S_SHR) SH(sar, S_SAR)

/* SHLD/SHRD dst, src, count. */
static void double_shift(struct emu_cpu *c, const struct dinsn *d, bool left)
{
	unsigned size = d->op[0].size, bits = size * 8;
	uint64_t m = size_mask(size), top = 1ULL << (bits - 1);
	uint64_t a = emu_op_read(c, d, 0) & m, b = emu_op_read(c, d, 1) & m, r;
	unsigned n = (unsigned)emu_op_read(c, d, 2) & (bits == 64 ? 63 : 31);
	uint64_t f;
	bool cf;

	if (n == 0) {
		emu_op_write(c, d, 0, a);
		return;
	}
	if (bits == 16) {
		/* 16-bit counts past 16 shift through a dst:src:dst pattern. */
		if (left) {
			uint64_t wide = (a << 32) | (b << 16) | a;
			r = (wide >> (32 - n)) & m;
			cf = (wide >> (48 - n)) & 1;
		} else {
			uint64_t wide = a | (b << 16) | (a << 32);
			r = (wide >> n) & m;
			cf = (wide >> (n - 1)) & 1;
		}
	} else if (left) {
		r = ((a << n) | (b >> (bits - n))) & m;
		cf = (a >> (bits - n)) & 1;
	} else {
		r = ((a >> n) | (b << (bits - n))) & m;
		cf = (a >> (n - 1)) & 1;
	}
	emu_op_write(c, d, 0, r);
	f = emu_szp(r, size) | (cf ? FL_CF : 0);
	if ((r ^ a) & top)
		f |= FL_OF;
	emu_set_arith(c, f);
}

static void h_shld(struct emu_cpu *c, const struct dinsn *d) { double_shift(c, d, true); }
static void h_shrd(struct emu_cpu *c, const struct dinsn *d) { double_shift(c, d, false); }

static void mul_flags(struct emu_cpu *c, bool over, uint64_t low, unsigned size)
{
	/* Lazily: SF/ZF/PF from low, CF = OF = over, AF 0 (as shifts). */
	c->lf_cin = over;
	emu_lazy(c, LF_SHIFT, size, 0, over, low & size_mask(size));
}

static void h_mul(struct emu_cpu *c, const struct dinsn *d)
{
	unsigned size = d->op[0].size;
	uint64_t s = emu_op_read(c, d, 0) & size_mask(size);
	uint64_t a = c->gpr[EMU_RAX] & size_mask(size);
	unsigned __int128 p = (unsigned __int128)a * s;
	uint64_t lo, hi;

	if (size == 1) {
		gpr_write(c, EMU_RAX, 2, (uint64_t)p);
		lo = (uint64_t)p & 0xFF;
		hi = ((uint64_t)p >> 8) & 0xFF;
	} else {
		lo = (uint64_t)p & size_mask(size);
		hi = size == 8 ? (uint64_t)(p >> 64) : ((uint64_t)p >> (size * 8)) & size_mask(size);
		gpr_write(c, EMU_RAX, size, lo);
		gpr_write(c, EMU_RDX, size, hi);
	}
	mul_flags(c, hi != 0, lo, size);
}

static void h_imul(struct emu_cpu *c, const struct dinsn *d)
{
	unsigned size = d->op[0].size;
	if (d->nops == 1) {
		int64_t s = (int64_t)sext(emu_op_read(c, d, 0), size);
		int64_t a = (int64_t)sext(c->gpr[EMU_RAX], size);
		__int128 p = (__int128)a * s;
		uint64_t lo = (uint64_t)p & size_mask(size);
		bool over = (__int128)(int64_t)sext(lo, size) != p;
		if (size == 1) {
			gpr_write(c, EMU_RAX, 2, (uint64_t)p);
		} else {
			uint64_t hi = size == 8 ? (uint64_t)(p >> 64) :
				      (uint64_t)(p >> (size * 8)) & size_mask(size);
			gpr_write(c, EMU_RAX, size, lo);
			gpr_write(c, EMU_RDX, size, hi);
		}
		mul_flags(c, over, lo, size);
		return;
	}
	int64_t x = (int64_t)sext(emu_op_read(c, d, d->nops == 3 ? 1 : 0), size);
	int64_t y = (int64_t)sext(emu_op_read(c, d, d->nops == 3 ? 2 : 1), size);
	__int128 p = (__int128)x * y;
	uint64_t lo = (uint64_t)p & size_mask(size);
	bool over = (__int128)(int64_t)sext(lo, size) != p;
	emu_op_write(c, d, 0, lo);
	mul_flags(c, over, lo, size);
}

static void h_div(struct emu_cpu *c, const struct dinsn *d)
{
	unsigned size = d->op[0].size;
	uint64_t m = size_mask(size);
	uint64_t s = emu_op_read(c, d, 0) & m;
	unsigned __int128 n;

	if (s == 0)
		emu_raise(c, EXC_DE);
	if (size == 1)
		n = c->gpr[EMU_RAX] & 0xFFFF;
	else if (size == 8)
		n = ((unsigned __int128)c->gpr[EMU_RDX] << 64) | c->gpr[EMU_RAX];
	else
		n = ((unsigned __int128)(c->gpr[EMU_RDX] & m) << (size * 8)) |
		    (c->gpr[EMU_RAX] & m);
	unsigned __int128 q = n / s, r = n % s;
	if (q > m)
		emu_raise(c, EXC_DE);
	if (size == 1) {
		gpr_write(c, EMU_RAX, 2, ((uint64_t)r << 8) | (uint64_t)q);
	} else {
		gpr_write(c, EMU_RAX, size, (uint64_t)q);
		gpr_write(c, EMU_RDX, size, (uint64_t)r);
	}
}

static void h_idiv(struct emu_cpu *c, const struct dinsn *d)
{
	unsigned size = d->op[0].size, bits = size * 8;
	uint64_t m = size_mask(size);
	int64_t s = (int64_t)sext(emu_op_read(c, d, 0), size);
	__int128 n;

	if (s == 0)
		emu_raise(c, EXC_DE);
	if (size == 1)
		n = (int16_t)c->gpr[EMU_RAX];
	else if (size == 8)
		n = (__int128)(((unsigned __int128)c->gpr[EMU_RDX] << 64) | c->gpr[EMU_RAX]);
	else if (size == 2)
		n = (int32_t)(uint32_t)(((c->gpr[EMU_RDX] & m) << bits) | (c->gpr[EMU_RAX] & m));
	else
		n = (int64_t)(((c->gpr[EMU_RDX] & m) << bits) | (c->gpr[EMU_RAX] & m));
	/* INT128_MIN / -1 cannot happen: n fits in 2*bits <= 128 bits. */
	if (size == 8 && s == -1 && n == (__int128)((unsigned __int128)1 << 127))
		emu_raise(c, EXC_DE);
	__int128 q = n / s, r = n % s;
	__int128 lim = (__int128)1 << (bits - 1);
	if (q >= lim || q < -lim)
		emu_raise(c, EXC_DE);
	if (size == 1) {
		gpr_write(c, EMU_RAX, 2, (((uint64_t)r & 0xFF) << 8) | ((uint64_t)q & 0xFF));
	} else {
		gpr_write(c, EMU_RAX, size, (uint64_t)q);
		gpr_write(c, EMU_RDX, size, (uint64_t)r);
	}
}

/* BT/BTS/BTR/BTC. */
enum { B_T, B_S, B_R, B_C };

static void bit_op(struct emu_cpu *c, const struct dinsn *d, int op)
{
	const struct dop *o = &d->op[0];
	unsigned size = o->size, bits = size * 8;
	uint64_t off = emu_op_read(c, d, 1), a, r, bit;

	if (o->kind == OPK_MEM) {
		uint64_t ea = emu_ea(c, d, o);
		if (d->op[1].kind == OPK_REG) {
			int64_t so = (int64_t)sext(off, d->op[1].size);
			int64_t words = so >= 0 ? so / (int64_t)bits :
					-((-(so + 1)) / (int64_t)bits) - 1;
			ea = (ea + (uint64_t)(words * (int64_t)size)) & size_mask(d->asize);
		}
		bit = off & (bits - 1);
		uint64_t la = emu_seg_la(c, o->seg, ea);
		void *p = (op != B_T && d->lock && !(la & (size - 1))) ?
			  emu_lin_ptr(c, la, size, ACC_W) : NULL;
		if (p) {
			uint64_t mask = 1ULL << bit;
			switch (size) {
			case 2: a = op == B_S ? __atomic_fetch_or((uint16_t *)p, (uint16_t)mask, __ATOMIC_SEQ_CST) :
				    op == B_R ? __atomic_fetch_and((uint16_t *)p, (uint16_t)~mask, __ATOMIC_SEQ_CST) :
				    __atomic_fetch_xor((uint16_t *)p, (uint16_t)mask, __ATOMIC_SEQ_CST); break;
			case 4: a = op == B_S ? __atomic_fetch_or((uint32_t *)p, (uint32_t)mask, __ATOMIC_SEQ_CST) :
				    op == B_R ? __atomic_fetch_and((uint32_t *)p, (uint32_t)~mask, __ATOMIC_SEQ_CST) :
				    __atomic_fetch_xor((uint32_t *)p, (uint32_t)mask, __ATOMIC_SEQ_CST); break;
			default: a = op == B_S ? __atomic_fetch_or((uint64_t *)p, mask, __ATOMIC_SEQ_CST) :
				     op == B_R ? __atomic_fetch_and((uint64_t *)p, ~mask, __ATOMIC_SEQ_CST) :
				     __atomic_fetch_xor((uint64_t *)p, mask, __ATOMIC_SEQ_CST); break;
			}
		} else {
			a = emu_read(c, o->seg, ea, size);
			r = op == B_S ? a | (1ULL << bit) : op == B_R ? a & ~(1ULL << bit) :
			    op == B_C ? a ^ (1ULL << bit) : a;
			if (op != B_T)
				emu_write(c, o->seg, ea, size, r);
		}
	} else {
		bit = off & (bits - 1);
		a = emu_op_read(c, d, 0);
		r = op == B_S ? a | (1ULL << bit) : op == B_R ? a & ~(1ULL << bit) :
		    op == B_C ? a ^ (1ULL << bit) : a;
		if (op != B_T)
			emu_op_write(c, d, 0, r);
	}
	uint64_t f = emu_flags(c) & ~(uint64_t)FL_CF;
	if ((a >> bit) & 1)
		f |= FL_CF;
	emu_set_arith(c, f);
}

static void h_bt(struct emu_cpu *c, const struct dinsn *d) { bit_op(c, d, B_T); }
static void h_bts(struct emu_cpu *c, const struct dinsn *d) { bit_op(c, d, B_S); }
static void h_btr(struct emu_cpu *c, const struct dinsn *d) { bit_op(c, d, B_R); }
static void h_btc(struct emu_cpu *c, const struct dinsn *d) { bit_op(c, d, B_C); }

/* BSF/BSR; also TZCNT/LZCNT encodings (F3 0F BC/BD) without BMI1/ABM. */
static void bit_scan(struct emu_cpu *c, const struct dinsn *d, bool reverse)
{
	unsigned size = d->op[0].size;
	uint64_t s = emu_op_read(c, d, 1) & size_mask(size);
	uint64_t f = emu_flags(c);

	if (s == 0) {
		emu_set_arith(c, f | FL_ZF);
		return;
	}
	emu_op_write(c, d, 0, reverse ? 63 - (unsigned)__builtin_clzll(s) :
				 (unsigned)__builtin_ctzll(s));
	emu_set_arith(c, f & ~(uint64_t)FL_ZF);
}

static void h_bsf(struct emu_cpu *c, const struct dinsn *d) { bit_scan(c, d, false); }
static void h_bsr(struct emu_cpu *c, const struct dinsn *d) { bit_scan(c, d, true); }

/* SHL/SHR/SAR of a 32/64-bit register by an immediate, CL or 1. */
static inline __attribute__((always_inline)) void
shift_reg(struct emu_cpu *c, const struct dinsn *d, int op, unsigned size)
{
	unsigned bits = size * 8, dst = d->op[0].reg;
	uint64_t m = size == 8 ? ~0ULL : 0xFFFFFFFFULL;
	unsigned n = (d->nops > 1 ? (unsigned)emu_op_read(c, d, 1) : 1) & (bits - 1);
	uint64_t a = c->gpr[dst] & m, r;
	bool cf, of;

	if (n == 0) {
		c->gpr[dst] = a;       /* flags unchanged; 32-bit zero-extends */
		return;
	}
	switch (op) {
	case S_SHL:
		r = (a << n) & m;
		cf = (a >> (bits - n)) & 1;
		of = ((r >> (bits - 1)) & 1) ^ cf;
		break;
	case S_SHR:
		r = a >> n;
		cf = (a >> (n - 1)) & 1;
		of = (a >> (bits - 1)) & 1;
		break;
	default: {
		int64_t sa = (int64_t)(a << (64 - bits)) >> (64 - bits);
		r = (uint64_t)(sa >> n) & m;
		cf = (sa >> (n - 1)) & 1;
		of = false;
		break;
	}
	}
	c->gpr[dst] = r;
	c->lf_cin = cf;
	emu_lazy(c, LF_SHIFT, size, 0, of, r);
}

#define SHR_REG(name, op) \
static void h_##name##_r4(struct emu_cpu *c, const struct dinsn *d) { shift_reg(c, d, op, 4); } \
static void h_##name##_r8(struct emu_cpu *c, const struct dinsn *d) { shift_reg(c, d, op, 8); }
SHR_REG(shl, S_SHL) SHR_REG(shr, S_SHR) SHR_REG(sar, S_SAR)

/* Two- and three-operand IMUL of 32/64-bit registers and immediates. */
static inline __attribute__((always_inline)) void
imul_reg(struct emu_cpu *c, const struct dinsn *d, unsigned size)
{
	int i = d->nops == 3 ? 1 : 0;
	uint64_t x = emu_op_read(c, d, i), y = emu_op_read(c, d, i + 1), lo;
	bool over;

	if (size == 8) {
		int64_t p;
		over = __builtin_mul_overflow((int64_t)x, (int64_t)y, &p);
		lo = (uint64_t)p;
	} else {
		int64_t p = (int64_t)(int32_t)x * (int64_t)(int32_t)y;
		lo = (uint32_t)p;
		over = p != (int64_t)(int32_t)p;
	}
	c->gpr[d->op[0].reg] = lo;
	c->lf_cin = over;
	emu_lazy(c, LF_SHIFT, size, 0, over, lo);
}

static void h_imul_r4(struct emu_cpu *c, const struct dinsn *d) { imul_reg(c, d, 4); }
static void h_imul_r8(struct emu_cpu *c, const struct dinsn *d) { imul_reg(c, d, 8); }

bool emu_arith_jit_form(const struct dinsn *d, struct jit_form *f)
{
	static const emu_handler shifts[][2] = {
		[JS_SHL] = { h_shl_r4, h_shl_r8 }, [JS_SHR] = { h_shr_r4, h_shr_r8 },
		[JS_SAR] = { h_sar_r4, h_sar_r8 },
	};

	if (d->fn == h_imul_r4 || d->fn == h_imul_r8) {
		f->kind = JF_IMUL;
		f->op = 0;
		f->size = d->fn == h_imul_r8 ? 8 : 4;
		return true;
	}
	/* Shifts by a constant: by 1 or an immediate, not by CL. */
	if (d->nops > 1 && d->op[1].kind != OPK_IMM)
		return false;
	/* ROL/ROR of a 32/64-bit register by a constant that is not 0 (the
	 * translator takes them only where their flags are dead). */
	if ((d->fn == h_rol || d->fn == h_ror) && d->op[0].kind == OPK_REG &&
	    !(d->op[0].reg & REG_HIGH8) && d->op[0].reg < 16 &&
	    (d->op[0].size == 4 || d->op[0].size == 8)) {
		unsigned n = (d->nops > 1 ? (unsigned)d->op[1].val : 1) &
			     (d->op[0].size == 8 ? 63 : 31);
		if (n == 0)
			return false;
		f->kind = JF_ROT;
		f->op = d->fn == h_ror;
		f->size = d->op[0].size;
		return true;
	}
	for (unsigned i = 0; i < sizeof(shifts) / sizeof(shifts[0]); i++) {
		for (unsigned w = 0; w < 2; w++) {
			if (d->fn != shifts[i][w])
				continue;
			f->kind = JF_SHIFT;
			f->op = (uint8_t)i;
			f->size = w ? 8 : 4;
			return true;
		}
	}
	return false;
}

static bool reg_or_imm(const struct dop *o, unsigned size)
{
	if (o->kind == OPK_IMM)
		return true;
	return o->kind == OPK_REG && !(o->reg & REG_HIGH8) && o->reg < 16 && o->size == size;
}

emu_handler emu_arith_special(const struct dinsn *d, unsigned dmode)
{
	const struct dop *o0 = &d->op[0], *o1 = &d->op[1];
	bool wide = o0->size == 8;

	if (d->fn == h_imul && d->nops >= 2 && (o0->size == 4 || o0->size == 8) &&
	    reg_or_imm(o0, o0->size) && o0->kind == OPK_REG &&
	    reg_or_imm(o1, o0->size) && (d->nops == 2 || reg_or_imm(&d->op[2], o0->size)))
		return wide ? h_imul_r8 : h_imul_r4;

	if (o0->kind != OPK_REG || (o0->reg & REG_HIGH8) || o0->reg >= 16 ||
	    (o0->size != 4 && o0->size != 8))
		return NULL;
	if (d->nops > 2 || (d->nops == 2 && o1->kind != OPK_IMM && o1->kind != OPK_REG))
		return NULL;
	if (d->fn == h_shl)
		return wide ? h_shl_r8 : h_shl_r4;
	if (d->fn == h_shr)
		return wide ? h_shr_r8 : h_shr_r4;
	if (d->fn == h_sar)
		return wide ? h_sar_r8 : h_sar_r4;
	return NULL;
}

void emu_arith_register(void)
{
	emu_register(ZYDIS_MNEMONIC_ROL, h_rol);
	emu_register(ZYDIS_MNEMONIC_ROR, h_ror);
	emu_register(ZYDIS_MNEMONIC_RCL, h_rcl);
	emu_register(ZYDIS_MNEMONIC_RCR, h_rcr);
	emu_register(ZYDIS_MNEMONIC_SHL, h_shl);
	emu_register(ZYDIS_MNEMONIC_SHR, h_shr);
	emu_register(ZYDIS_MNEMONIC_SAR, h_sar);
	emu_register(ZYDIS_MNEMONIC_SHLD, h_shld);
	emu_register(ZYDIS_MNEMONIC_SHRD, h_shrd);
	emu_register(ZYDIS_MNEMONIC_MUL, h_mul);
	emu_register(ZYDIS_MNEMONIC_IMUL, h_imul);
	emu_register(ZYDIS_MNEMONIC_DIV, h_div);
	emu_register(ZYDIS_MNEMONIC_IDIV, h_idiv);
	emu_register(ZYDIS_MNEMONIC_BT, h_bt);
	emu_register(ZYDIS_MNEMONIC_BTS, h_bts);
	emu_register(ZYDIS_MNEMONIC_BTR, h_btr);
	emu_register(ZYDIS_MNEMONIC_BTC, h_btc);
	emu_register(ZYDIS_MNEMONIC_BSF, h_bsf);
	emu_register(ZYDIS_MNEMONIC_BSR, h_bsr);
	emu_register(ZYDIS_MNEMONIC_TZCNT, h_bsf);
	emu_register(ZYDIS_MNEMONIC_LZCNT, h_bsr);
}
