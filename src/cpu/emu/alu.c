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
}
