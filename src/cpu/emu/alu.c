/*
 * Integer arithmetic and logic: ADD..CMP, TEST, INC/DEC/NOT/NEG, XADD,
 * CMPXCHG(8B), and the LOCK prefix as host atomics on the RAM pointer.
 */
#include "cpu/emu/emu_internal.h"

enum { A_ADD, A_OR, A_ADC, A_SBB, A_AND, A_SUB, A_XOR, A_CMP, A_TEST };

static uint64_t atomic_load_sz(void *p, unsigned size)
{
	switch (size) {
	case 1: return __atomic_load_n((uint8_t *)p, __ATOMIC_SEQ_CST);
	case 2: return __atomic_load_n((uint16_t *)p, __ATOMIC_SEQ_CST);
	case 4: return __atomic_load_n((uint32_t *)p, __ATOMIC_SEQ_CST);
	default: return __atomic_load_n((uint64_t *)p, __ATOMIC_SEQ_CST);
	}
}

/* Compare-and-swap of size bytes; on failure *old gets the current value. */
static bool cas_sz(void *p, unsigned size, uint64_t *old, uint64_t nv)
{
	switch (size) {
	case 1: {
		uint8_t o = (uint8_t)*old;
		bool ok = __atomic_compare_exchange_n((uint8_t *)p, &o, (uint8_t)nv, false,
						      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		*old = o;
		return ok;
	}
	case 2: {
		uint16_t o = (uint16_t)*old;
		bool ok = __atomic_compare_exchange_n((uint16_t *)p, &o, (uint16_t)nv, false,
						      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		*old = o;
		return ok;
	}
	case 4: {
		uint32_t o = (uint32_t)*old;
		bool ok = __atomic_compare_exchange_n((uint32_t *)p, &o, (uint32_t)nv, false,
						      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		*old = o;
		return ok;
	}
	default:
		return __atomic_compare_exchange_n((uint64_t *)p, old, nv, false,
						   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
}

/*
 * Host pointer for a LOCKed (or implicitly locked) read-modify-write of
 * memory operand i, or NULL to fall back to a plain access (MMIO, page
 * crossing, or no lock).
 */
void *emu_lock_ptr(struct emu_cpu *c, const struct dinsn *d, int i, bool locked)
{
	const struct dop *o = &d->op[i];
	if (!locked || o->kind != OPK_MEM)
		return NULL;
	uint64_t la = emu_seg_la(c, o->seg, emu_ea(c, d, o));
	/* Split-lock on the host is correct but UB in C for misaligned ones. */
	if (la & (o->size - 1))
		return NULL;
	return emu_lin_ptr(c, la, o->size, ACC_W);
}

static uint64_t alu_calc(int op, uint64_t a, uint64_t b, unsigned cin)
{
	switch (op) {
	case A_ADD: return a + b;
	case A_ADC: return a + b + cin;
	case A_SBB: return a - b - cin;
	case A_SUB: case A_CMP: return a - b;
	case A_OR: return a | b;
	case A_AND: case A_TEST: return a & b;
	default: return a ^ b;
	}
}

static void alu_flags(struct emu_cpu *c, int op, unsigned size, uint64_t a,
		      uint64_t b, uint64_t r, unsigned cin)
{
	static const uint8_t lf[] = { LF_ADD, LF_LOGIC, LF_ADC, LF_SBB, LF_LOGIC,
				      LF_SUB, LF_LOGIC, LF_SUB, LF_LOGIC };
	c->lf_cin = (uint8_t)cin;
	emu_lazy(c, lf[op], size, a, b, r);
}

static void alu_bin(struct emu_cpu *c, const struct dinsn *d, int op)
{
	unsigned size = d->op[0].size;
	uint64_t m = size_mask(size);
	uint64_t b = emu_op_read(c, d, 1) & m;
	unsigned cin = (op == A_ADC || op == A_SBB) ? emu_cf(c) : 0;
	bool writes = op != A_CMP && op != A_TEST;
	uint64_t a, r;
	void *p = writes ? emu_lock_ptr(c, d, 0, d->lock) : NULL;

	if (p) {
		a = atomic_load_sz(p, size);
		do {
			r = alu_calc(op, a, b, cin) & m;
		} while (!cas_sz(p, size, &a, r));
	} else {
		a = emu_op_read(c, d, 0);
		r = alu_calc(op, a, b, cin) & m;
		if (writes)
			emu_op_write(c, d, 0, r);
	}
	alu_flags(c, op, size, a, b, r, cin);
}

#define ALU(name, op) \
static void h_##name(struct emu_cpu *c, const struct dinsn *d) { alu_bin(c, d, op); }
ALU(add, A_ADD) ALU(or, A_OR) ALU(adc, A_ADC) ALU(sbb, A_SBB)
ALU(and, A_AND) ALU(sub, A_SUB) ALU(xor, A_XOR) ALU(cmp, A_CMP) ALU(test, A_TEST)

/* INC, DEC, NOT, NEG: one read-modify-write operand. */
enum { U_INC, U_DEC, U_NOT, U_NEG };

static void alu_unary(struct emu_cpu *c, const struct dinsn *d, int op)
{
	unsigned size = d->op[0].size;
	uint64_t m = size_mask(size), a, r;
	void *p = emu_lock_ptr(c, d, 0, d->lock);
	bool cf = (op == U_INC || op == U_DEC) ? emu_cf(c) : false;

	if (p)
		a = atomic_load_sz(p, size);
	else
		a = emu_op_read(c, d, 0);
	for (;;) {
		switch (op) {
		case U_INC: r = a + 1; break;
		case U_DEC: r = a - 1; break;
		case U_NOT: r = ~a; break;
		default: r = -a; break;
		}
		r &= m;
		if (!p) {
			emu_op_write(c, d, 0, r);
			break;
		}
		if (cas_sz(p, size, &a, r))
			break;
	}
	switch (op) {
	case U_INC: c->lf_cin = cf; emu_lazy(c, LF_INC, size, a, 1, r); break;
	case U_DEC: c->lf_cin = cf; emu_lazy(c, LF_DEC, size, a, 1, r); break;
	case U_NEG: emu_lazy(c, LF_SUB, size, 0, a, r); break;
	default: break;
	}
}

static void h_inc(struct emu_cpu *c, const struct dinsn *d) { alu_unary(c, d, U_INC); }
static void h_dec(struct emu_cpu *c, const struct dinsn *d) { alu_unary(c, d, U_DEC); }
static void h_not(struct emu_cpu *c, const struct dinsn *d) { alu_unary(c, d, U_NOT); }
static void h_neg(struct emu_cpu *c, const struct dinsn *d) { alu_unary(c, d, U_NEG); }

static void h_xadd(struct emu_cpu *c, const struct dinsn *d)
{
	unsigned size = d->op[0].size;
	uint64_t m = size_mask(size);
	uint64_t b = emu_op_read(c, d, 1) & m, a, r;
	void *p = emu_lock_ptr(c, d, 0, d->lock);

	if (p) {
		a = atomic_load_sz(p, size);
		do {
			r = (a + b) & m;
		} while (!cas_sz(p, size, &a, r));
	} else {
		a = emu_op_read(c, d, 0);
		r = (a + b) & m;
		emu_op_write(c, d, 0, r);
	}
	emu_op_write(c, d, 1, a);
	if (d->op[0].kind == OPK_REG)
		emu_op_write(c, d, 0, r);   /* xadd r,r with the same register */
	emu_lazy(c, LF_ADD, size, a, b, r);
}

static void h_cmpxchg(struct emu_cpu *c, const struct dinsn *d)
{
	unsigned size = d->op[0].size;
	uint64_t m = size_mask(size);
	uint64_t acc = c->gpr[EMU_RAX] & m;
	uint64_t src = emu_op_read(c, d, 1) & m, cur;
	void *p = emu_lock_ptr(c, d, 0, d->lock);

	if (p) {
		cur = acc;
		if (!cas_sz(p, size, &cur, src)) {
			/* cur holds the memory value; a locked op always writes. */
		} else {
			cur = acc;
		}
	} else {
		cur = emu_op_read(c, d, 0) & m;
		/* Memory is always written; a register only when equal. */
		if (cur == acc)
			emu_op_write(c, d, 0, src);
		else if (d->op[0].kind == OPK_MEM)
			emu_op_write(c, d, 0, cur);
	}
	if (cur != acc)
		gpr_write(c, EMU_RAX, size, cur);
	emu_lazy(c, LF_SUB, size, acc, cur, (acc - cur) & m);
}

static void h_cmpxchg8b(struct emu_cpu *c, const struct dinsn *d)
{
	const struct dop *o = &d->op[0];
	if (o->kind != OPK_MEM)
		emu_raise_ud(c);
	uint64_t ea = emu_ea(c, d, o);
	uint64_t want = (uint32_t)c->gpr[EMU_RAX] | (c->gpr[EMU_RDX] << 32);
	uint64_t nv = (uint32_t)c->gpr[EMU_RBX] | (c->gpr[EMU_RCX] << 32);
	uint64_t cur;
	uint64_t la = emu_seg_la(c, o->seg, ea);
	void *p = !(la & 7) ? emu_lin_ptr(c, la, 8, ACC_W) : NULL;

	if (p) {
		cur = want;
		if (cas_sz(p, 8, &cur, nv))
			cur = want;
	} else {
		cur = emu_read(c, o->seg, ea, 8);
		emu_write(c, o->seg, ea, 8, cur == want ? nv : cur);
	}
	emu_flags(c);
	if (cur == want) {
		c->rflags |= FL_ZF;
	} else {
		c->rflags &= ~(uint64_t)FL_ZF;
		c->gpr[EMU_RAX] = (uint32_t)cur;
		c->gpr[EMU_RDX] = cur >> 32;
	}
}

/* lock cmpxchg16b on the host; on failure lo and hi get the current value. */
static bool cas16(void *p, uint64_t *lo, uint64_t *hi, uint64_t nlo, uint64_t nhi)
{
	bool ok;

	__asm__ volatile("lock cmpxchg16b %1"
			 : "=@ccz"(ok), "+m"(*(volatile unsigned __int128 *)p),
			   "+a"(*lo), "+d"(*hi)
			 : "b"(nlo), "c"(nhi)
			 : "memory");
	return ok;
}

/* CMPXCHG16B m128: 16-byte aligned or #GP(0), atomic on RAM. */
static void h_cmpxchg16b(struct emu_cpu *c, const struct dinsn *d)
{
	const struct dop *o = &d->op[0];
	if (o->kind != OPK_MEM)
		emu_raise_ud(c);
	uint64_t ea = emu_ea(c, d, o);
	uint64_t la = emu_seg_la(c, o->seg, ea);
	uint64_t lo = c->gpr[EMU_RAX], hi = c->gpr[EMU_RDX];
	bool equal;
	void *p;

	if (la & 15)
		emu_raise_err(c, EXC_GP, 0);
	p = emu_lin_ptr(c, la, 16, ACC_W);
	if (p) {
		equal = cas16(p, &lo, &hi, c->gpr[EMU_RBX], c->gpr[EMU_RCX]);
	} else {
		/* MMIO: not atomic, like the other locked ops there. Aligned, so
		 * both halves are in one page and the second access cannot fault
		 * once the first did not. */
		uint64_t clo = emu_read(c, o->seg, ea, 8), chi = emu_read(c, o->seg, ea + 8, 8);

		equal = clo == lo && chi == hi;
		emu_write(c, o->seg, ea, 8, equal ? c->gpr[EMU_RBX] : clo);
		emu_write(c, o->seg, ea + 8, 8, equal ? c->gpr[EMU_RCX] : chi);
		lo = clo;
		hi = chi;
	}
	emu_flags(c);
	if (equal) {
		c->rflags |= FL_ZF;
	} else {
		c->rflags &= ~(uint64_t)FL_ZF;
		c->gpr[EMU_RAX] = lo;
		c->gpr[EMU_RDX] = hi;
	}
}

/*
 * Specialised forms, chosen at decode time: a 32/64-bit register
 * destination with a register or immediate source, no LOCK. These are
 * most of the arithmetic in a kernel's hot loops.
 */
static inline __attribute__((always_inline)) void
alu_reg(struct emu_cpu *c, const struct dinsn *d, int op, unsigned size, bool imm)
{
	static const uint8_t lf[] = { LF_ADD, LF_LOGIC, LF_ADC, LF_SBB, LF_LOGIC,
				      LF_SUB, LF_LOGIC, LF_SUB, LF_LOGIC };
	uint64_t m = size == 8 ? ~0ULL : 0xFFFFFFFFULL;
	unsigned dst = d->op[0].reg;
	uint64_t a = c->gpr[dst] & m;
	uint64_t b = (imm ? (uint64_t)d->op[1].val : c->gpr[d->op[1].reg]) & m;
	uint64_t r = alu_calc(op, a, b, 0) & m;

	if (op != A_CMP && op != A_TEST)
		c->gpr[dst] = r;       /* 32-bit results zero-extend */
	emu_lazy(c, lf[op], size, a, b, r);
}

#define ALU_REG(name, op) \
static void h_##name##_rr4(struct emu_cpu *c, const struct dinsn *d) { alu_reg(c, d, op, 4, false); } \
static void h_##name##_rr8(struct emu_cpu *c, const struct dinsn *d) { alu_reg(c, d, op, 8, false); } \
static void h_##name##_ri4(struct emu_cpu *c, const struct dinsn *d) { alu_reg(c, d, op, 4, true); } \
static void h_##name##_ri8(struct emu_cpu *c, const struct dinsn *d) { alu_reg(c, d, op, 8, true); }
ALU_REG(add, A_ADD) ALU_REG(or, A_OR) ALU_REG(and, A_AND) ALU_REG(sub, A_SUB)
ALU_REG(xor, A_XOR) ALU_REG(cmp, A_CMP) ALU_REG(test, A_TEST)

static inline __attribute__((always_inline)) void
incdec_reg(struct emu_cpu *c, const struct dinsn *d, bool inc, unsigned size)
{
	uint64_t m = size == 8 ? ~0ULL : 0xFFFFFFFFULL;
	unsigned dst = d->op[0].reg;
	uint64_t a = c->gpr[dst] & m;
	uint64_t r = (inc ? a + 1 : a - 1) & m;

	c->lf_cin = emu_cf_fast(c);
	c->gpr[dst] = r;
	emu_lazy(c, inc ? LF_INC : LF_DEC, size, a, 1, r);
}

static void h_inc_r4(struct emu_cpu *c, const struct dinsn *d) { incdec_reg(c, d, true, 4); }
static void h_inc_r8(struct emu_cpu *c, const struct dinsn *d) { incdec_reg(c, d, true, 8); }
static void h_dec_r4(struct emu_cpu *c, const struct dinsn *d) { incdec_reg(c, d, false, 4); }
static void h_dec_r8(struct emu_cpu *c, const struct dinsn *d) { incdec_reg(c, d, false, 8); }

/*
 * The same with one memory operand in 64-bit mode (no LOCK): the TLB hit
 * inline, anything else (miss, MMIO, page crossing, decoded code) through
 * the generic handler, which also raises the faults.
 */
enum { F_MR, F_MI, F_RM };     /* op [m], reg / op [m], imm / op reg, [m] */

static inline __attribute__((always_inline)) void
alu_mem(struct emu_cpu *c, const struct dinsn *d, int op, unsigned size, int form)
{
	static const uint8_t lf[] = { LF_ADD, LF_LOGIC, LF_ADC, LF_SBB, LF_LOGIC,
				      LF_SUB, LF_LOGIC, LF_SUB, LF_LOGIC };
	uint64_t m = size_mask(size);
	bool writes = op != A_CMP && op != A_TEST;
	uint64_t a, b, r;

	if (form == F_RM) {
		uint8_t *p = emu_tlb_hit(c, emu_la64(c, &d->op[1]), size, ACC_R);
		if (__builtin_expect(!p, 0)) {
			alu_bin(c, d, op);
			return;
		}
		a = c->gpr[d->op[0].reg] & m;
		b = emu_host_load(p, size);
		r = alu_calc(op, a, b, 0) & m;
		if (writes)
			c->gpr[d->op[0].reg] = r;      /* 32/64-bit only */
	} else {
		uint8_t *p = emu_tlb_hit(c, emu_la64(c, &d->op[0]), size,
					 writes ? ACC_W : ACC_R);
		if (__builtin_expect(!p, 0)) {
			alu_bin(c, d, op);
			return;
		}
		a = emu_host_load(p, size);
		b = (form == F_MI ? (uint64_t)d->op[1].val : c->gpr[d->op[1].reg]) & m;
		r = alu_calc(op, a, b, 0) & m;
		if (writes)
			emu_host_store(p, size, r);
	}
	emu_lazy(c, lf[op], size, a, b, r);
}

#define ALU_MEM(name, op) \
static void h_##name##_mr1(struct emu_cpu *c, const struct dinsn *d) { alu_mem(c, d, op, 1, F_MR); } \
static void h_##name##_mr4(struct emu_cpu *c, const struct dinsn *d) { alu_mem(c, d, op, 4, F_MR); } \
static void h_##name##_mr8(struct emu_cpu *c, const struct dinsn *d) { alu_mem(c, d, op, 8, F_MR); } \
static void h_##name##_mi1(struct emu_cpu *c, const struct dinsn *d) { alu_mem(c, d, op, 1, F_MI); } \
static void h_##name##_mi4(struct emu_cpu *c, const struct dinsn *d) { alu_mem(c, d, op, 4, F_MI); } \
static void h_##name##_mi8(struct emu_cpu *c, const struct dinsn *d) { alu_mem(c, d, op, 8, F_MI); } \
static void h_##name##_rm4(struct emu_cpu *c, const struct dinsn *d) { alu_mem(c, d, op, 4, F_RM); } \
static void h_##name##_rm8(struct emu_cpu *c, const struct dinsn *d) { alu_mem(c, d, op, 8, F_RM); }
ALU_MEM(add, A_ADD) ALU_MEM(or, A_OR) ALU_MEM(and, A_AND) ALU_MEM(sub, A_SUB)
ALU_MEM(xor, A_XOR) ALU_MEM(cmp, A_CMP) ALU_MEM(test, A_TEST)

static bool is_gpr(const struct dop *o)
{
	return o->kind == OPK_REG && !(o->reg & REG_HIGH8) && o->reg < 16;
}

/* The memory forms of the binary operations, in JA_* order. */
static const struct {
	emu_handler gen, mr1, mr4, mr8, mi1, mi4, mi8, rm4, rm8;
} tab[] = {
#define M(n) { h_##n, h_##n##_mr1, h_##n##_mr4, h_##n##_mr8, h_##n##_mi1, \
	       h_##n##_mi4, h_##n##_mi8, h_##n##_rm4, h_##n##_rm8 }
	M(add), M(or), M(and), M(sub), M(xor), M(cmp), M(test),
#undef M
};

static emu_handler alu_mem_special(const struct dinsn *d, unsigned dmode)
{
	const struct dop *o0 = &d->op[0], *o1 = &d->op[1];

	if (d->lock || d->nops != 2 || dmode != DM_LONG64 || d->asize != 8)
		return NULL;
	for (unsigned i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		if (d->fn != tab[i].gen)
			continue;
		unsigned sz = o0->size;
		if (o0->kind == OPK_MEM && is_gpr(o1) && o1->size == sz)
			return sz == 1 ? tab[i].mr1 : sz == 4 ? tab[i].mr4 :
			       sz == 8 ? tab[i].mr8 : NULL;
		if (o0->kind == OPK_MEM && o1->kind == OPK_IMM)
			return sz == 1 ? tab[i].mi1 : sz == 4 ? tab[i].mi4 :
			       sz == 8 ? tab[i].mi8 : NULL;
		if (is_gpr(o0) && o1->kind == OPK_MEM && o1->size == sz)
			return sz == 4 ? tab[i].rm4 : sz == 8 ? tab[i].rm8 : NULL;
		return NULL;
	}
	return NULL;
}

/* The register forms of the binary operations, in JA_* order. */
static const struct {
	emu_handler gen, rr4, rr8, ri4, ri8;
} bin[] = {
#define B(n) { h_##n, h_##n##_rr4, h_##n##_rr8, h_##n##_ri4, h_##n##_ri8 }
	B(add), B(or), B(and), B(sub), B(xor), B(cmp), B(test),
#undef B
};

static void h_inc_r4(struct emu_cpu *c, const struct dinsn *d);
static void h_inc_r8(struct emu_cpu *c, const struct dinsn *d);
static void h_dec_r4(struct emu_cpu *c, const struct dinsn *d);
static void h_dec_r8(struct emu_cpu *c, const struct dinsn *d);

bool emu_alu_jit_form(const struct dinsn *d, struct jit_form *f)
{
	if (d->fn == h_inc_r4 || d->fn == h_inc_r8 || d->fn == h_dec_r4 || d->fn == h_dec_r8) {
		f->kind = JF_INCDEC;
		f->op = d->fn == h_inc_r4 || d->fn == h_inc_r8;     /* 1: INC */
		f->size = d->fn == h_inc_r8 || d->fn == h_dec_r8 ? 8 : 4;
		return true;
	}
	for (unsigned i = 0; i < sizeof(bin) / sizeof(bin[0]); i++) {
		emu_handler h = d->fn;
		if (h != bin[i].rr4 && h != bin[i].rr8 && h != bin[i].ri4 && h != bin[i].ri8)
			continue;
		f->kind = h == bin[i].rr4 || h == bin[i].rr8 ? JF_ALU_RR : JF_ALU_RI;
		f->op = (uint8_t)i;
		f->size = h == bin[i].rr8 || h == bin[i].ri8 ? 8 : 4;
		return true;
	}
	/* The memory forms alu_mem_special() picked: JF_ALU_M (the memory
	 * operand is the destination), JF_ALU_RM (the source). */
	for (unsigned i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		emu_handler h = d->fn;
		unsigned size = h == tab[i].mr1 || h == tab[i].mi1 ? 1 :
				h == tab[i].mr4 || h == tab[i].mi4 || h == tab[i].rm4 ? 4 :
				h == tab[i].mr8 || h == tab[i].mi8 || h == tab[i].rm8 ? 8 : 0;
		if (!size)
			continue;
		f->kind = h == tab[i].rm4 || h == tab[i].rm8 ? JF_ALU_RM : JF_ALU_M;
		f->op = (uint8_t)i;
		f->size = (uint8_t)size;
		return true;
	}
	/* Left to the generic handlers at decode: 8-bit register forms, and
	 * ADC/SBB (which read CF: JF_ADC). */
	const struct dop *o0 = &d->op[0], *o1 = &d->op[1];
	if (d->lock || d->nops != 2 || !is_gpr(o0) ||
	    !((is_gpr(o1) && o1->size == o0->size) || o1->kind == OPK_IMM))
		return false;
	if (o0->size == 1) {
		for (unsigned i = 0; i < sizeof(bin) / sizeof(bin[0]); i++) {
			if (d->fn != bin[i].gen)
				continue;
			f->kind = is_gpr(o1) ? JF_ALU_RR : JF_ALU_RI;
			f->op = (uint8_t)i;
			f->size = 1;
			return true;
		}
	}
	if ((o0->size == 4 || o0->size == 8) && (d->fn == h_adc || d->fn == h_sbb)) {
		f->kind = JF_ADC;
		f->op = d->fn == h_sbb;
		f->size = o0->size;
		return true;
	}
	return false;
}

emu_handler emu_alu_special(const struct dinsn *d, unsigned dmode)
{
	const struct dop *o0 = &d->op[0], *o1 = &d->op[1];

	emu_handler mem = alu_mem_special(d, dmode);
	if (mem)
		return mem;
	if (d->lock || !is_gpr(o0) || (o0->size != 4 && o0->size != 8))
		return NULL;
	bool wide = o0->size == 8;
	if (d->nops == 1) {
		if (d->fn == h_inc)
			return wide ? h_inc_r8 : h_inc_r4;
		if (d->fn == h_dec)
			return wide ? h_dec_r8 : h_dec_r4;
		return NULL;
	}
	if (d->nops != 2)
		return NULL;
	for (unsigned i = 0; i < sizeof(bin) / sizeof(bin[0]); i++) {
		if (d->fn != bin[i].gen)
			continue;
		if (is_gpr(o1) && o1->size == o0->size)
			return wide ? bin[i].rr8 : bin[i].rr4;
		if (o1->kind == OPK_IMM)    /* sign-extended at decode */
			return wide ? bin[i].ri8 : bin[i].ri4;
		return NULL;
	}
	return NULL;
}

void emu_alu_register(void)
{
	emu_register(ZYDIS_MNEMONIC_ADD, h_add);
	emu_register(ZYDIS_MNEMONIC_OR, h_or);
	emu_register(ZYDIS_MNEMONIC_ADC, h_adc);
	emu_register(ZYDIS_MNEMONIC_SBB, h_sbb);
	emu_register(ZYDIS_MNEMONIC_AND, h_and);
	emu_register(ZYDIS_MNEMONIC_SUB, h_sub);
	emu_register(ZYDIS_MNEMONIC_XOR, h_xor);
	emu_register(ZYDIS_MNEMONIC_CMP, h_cmp);
	emu_register(ZYDIS_MNEMONIC_TEST, h_test);
	emu_register(ZYDIS_MNEMONIC_INC, h_inc);
	emu_register(ZYDIS_MNEMONIC_DEC, h_dec);
	emu_register(ZYDIS_MNEMONIC_NOT, h_not);
	emu_register(ZYDIS_MNEMONIC_NEG, h_neg);
	emu_register(ZYDIS_MNEMONIC_XADD, h_xadd);
	emu_register(ZYDIS_MNEMONIC_CMPXCHG, h_cmpxchg);
	emu_register(ZYDIS_MNEMONIC_CMPXCHG8B, h_cmpxchg8b);
	emu_register(ZYDIS_MNEMONIC_CMPXCHG16B, h_cmpxchg16b);
}
