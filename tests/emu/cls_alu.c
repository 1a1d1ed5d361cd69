/*
 * emu-diff classes: integer arithmetic, logic, shifts and rotates,
 * multiply and divide.
 *
 * Undefined flags, from the Intel SDM vol. 2 "Flags Affected" sections:
 *   ADD ADC SUB SBB CMP NEG INC DEC: none (INC/DEC leave CF unchanged).
 *   AND OR XOR TEST: AF.                NOT: no flag affected.
 *   SHL SHR SAR (masked count c): c = 0: none affected; c >= 1: AF;
 *     c > 1: OF; SHL/SHR with c >= width (8/16-bit only): CF too.
 *   ROL ROR RCL RCR: c = 0: none affected; c != 1: OF. SF ZF AF PF are
 *     never affected (they must keep their input values).
 *   SHLD SHRD: c = 0: none; c >= 1: AF; c > 1: OF; c > width (16-bit):
 *     the result and all flags are undefined.
 *   MUL IMUL (all forms): SF ZF AF PF.  DIV IDIV: all six.
 */
#include "harness.h"

static const unsigned sizes[4] = { 8, 16, 32, 64 };

static int64_t sext(uint64_t v, unsigned bits)
{
	return bits >= 64 ? (int64_t)v : (int64_t)(v << (64 - bits)) >> (64 - bits);
}

/* An immediate for an operand of `bits`: imm8 (sign-extended) or full. */
static int64_t gen_imm(struct gen *g, unsigned bits)
{
	if (bits > 8 && rng_below(&g->rng, 2))
		return sext(edge_value(g, 8), 8);
	return sext(edge_value(g, bits > 32 ? 32 : bits), bits > 32 ? 32 : bits);
}

/* A register or memory operand of `bits` holding v. */
static void rm_operand(struct gen *g, struct tcase *c, ZydisEncoderOperand *op,
		       unsigned bits, uint64_t v, bool mem)
{
	if (mem) {
		mem_operand(g, c, op, bits, v);
	} else {
		ZydisRegister r = pick_reg(g, bits, true);

		set_reg_value(c, r, v);
		op_reg(op, r);
	}
}

static uint64_t lock_prefix(struct gen *g, bool mem_dest, bool lockable)
{
	if (!lockable)
		return 0;
	/* LOCK on a register destination is #UD: worth a few cases. */
	if (mem_dest ? rng_below(&g->rng, 3) == 0 : rng_below(&g->rng, 64) == 0)
		return ZYDIS_ATTRIB_HAS_LOCK;
	return 0;
}

/* ADD ADC SUB SBB CMP AND OR XOR TEST MOV; arg bit 0: LOCK allowed. */
static bool gen_binop(struct gen *g, struct tcase *c, unsigned i,
		      const struct tclass *k)
{
	unsigned bits = sizes[i % 4];
	unsigned form = rng_below(&g->rng, 5);
	ZydisEncoderOperand ops[2];
	uint64_t a = edge_value(g, bits), b = edge_value(g, bits);
	bool mem_dest = form == 3 || form == 4;

	c->undef_flags = k->undef;
	switch (form) {
	case 0:         /* r, r */
		rm_operand(g, c, &ops[0], bits, a, false);
		rm_operand(g, c, &ops[1], bits, b, false);
		break;
	case 1:         /* r, imm */
		rm_operand(g, c, &ops[0], bits, a, false);
		op_imm(&ops[1], gen_imm(g, bits));
		break;
	case 2:         /* r, m */
		rm_operand(g, c, &ops[0], bits, a, false);
		rm_operand(g, c, &ops[1], bits, b, true);
		break;
	case 3:         /* m, r */
		rm_operand(g, c, &ops[1], bits, b, false);
		rm_operand(g, c, &ops[0], bits, a, true);
		break;
	default:        /* m, imm */
		rm_operand(g, c, &ops[0], bits, a, true);
		op_imm(&ops[1], gen_imm(g, bits));
		break;
	}
	if (k->mn == ZYDIS_MNEMONIC_MOV && form == 1 && bits == 64 &&
	    rng_below(&g->rng, 2))
		op_imm(&ops[1], (int64_t)edge_value(g, 64));    /* movabs */
	return encode(g, c, k->mn, lock_prefix(g, mem_dest, k->arg & 1), 2, ops);
}

/* NOT NEG INC DEC, and MUL IMUL DIV IDIV (one operand). */
static bool gen_unop(struct gen *g, struct tcase *c, unsigned i,
		     const struct tclass *k)
{
	unsigned bits = sizes[i % 4];
	bool mem = rng_below(&g->rng, 3) == 0;
	ZydisEncoderOperand op;
	uint64_t v = edge_value(g, bits);
	bool div = k->mn == ZYDIS_MNEMONIC_DIV || k->mn == ZYDIS_MNEMONIC_IDIV;

	c->undef_flags = k->undef;
	/* Implicit operands: AX / rDX:rAX. */
	g->used_regs |= 1u << R_RAX | 1u << R_RDX;
	if (div) {
		uint64_t lo = edge_value(g, bits), hi;

		/* Half the cases keep the quotient in range so results,
		 * not just #DE, get compared. */
		switch (rng_below(&g->rng, 4)) {
		case 0:
			hi = edge_value(g, bits);
			break;
		case 1:
			hi = 0;
			break;
		case 2:
			hi = (lo >> (bits - 1)) & 1 ? size_mask(bits) : 0;
			break;
		default:
			hi = v ? (rng_next(&g->rng) & size_mask(bits)) % (v & size_mask(bits)) / 2 : 0;
			break;
		}
		if (rng_below(&g->rng, 16) == 0)
			v = 0;
		if (bits == 8) {
			c->in.gpr[R_RAX] = (c->in.gpr[R_RAX] & ~0xFFFFULL) |
					   (lo & 0xFF) | (hi & 0xFF) << 8;
		} else {
			set_reg_value(c, gpr_of_size(R_RAX, bits), lo);
			set_reg_value(c, gpr_of_size(R_RDX, bits), hi);
		}
	} else {
		set_reg_value(c, gpr_of_size(R_RAX, bits), edge_value(g, bits));
	}
	if (mem) {
		mem_operand(g, c, &op, bits, v);
	} else {
		/* The operand may be rAX/rDX itself. */
		int idx = (int)rng_below(&g->rng, 16);
		ZydisRegister r;

		if (idx == R_RSP)
			idx = R_RBX;
		r = gpr_of_size(idx, bits);
		if (bits == 8 && idx < 4 && rng_below(&g->rng, 3) == 0)
			r = ZYDIS_REGISTER_AH + idx;
		if (idx != R_RAX && idx != R_RDX)
			set_reg_value(c, r, v);
		op_reg(&op, r);
	}
	return encode(g, c, k->mn, lock_prefix(g, mem, k->arg & 1), 1, &op);
}

/* SHL SHR SAR ROL ROR RCL RCR: by 1, by CL, by imm8. */
static bool gen_shift(struct gen *g, struct tcase *c, unsigned i,
		      const struct tclass *k)
{
	unsigned bits = sizes[i % 4];
	unsigned how = rng_below(&g->rng, 3);
	unsigned cnt = how == 0 ? 1 : shift_count(g, bits);
	unsigned mc = cnt & (bits == 64 ? 63 : 31);
	bool rotate = k->arg != 0;
	ZydisEncoderOperand ops[2];

	g->used_regs |= 1u << R_RCX;
	rm_operand(g, c, &ops[0], bits, edge_value(g, bits),
		   rng_below(&g->rng, 3) == 0);
	if (how == 1) {
		op_reg(&ops[1], ZYDIS_REGISTER_CL);
		set_reg_value(c, ZYDIS_REGISTER_CL, cnt);
	} else {
		op_imm(&ops[1], cnt);
	}
	if (mc != 0) {
		if (!rotate)
			c->undef_flags |= F_AF;
		if (mc != 1)
			c->undef_flags |= F_OF;
		if (!rotate && mc >= bits && k->mn != ZYDIS_MNEMONIC_SAR)
			c->undef_flags |= F_CF;
	}
	return encode(g, c, k->mn, 0, 2, ops);
}

/* SHLD SHRD: r/m, r, imm8 or CL. */
static bool gen_shxd(struct gen *g, struct tcase *c, unsigned i,
		     const struct tclass *k)
{
	unsigned bits = sizes[1 + i % 3];
	unsigned cnt = shift_count(g, bits);
	unsigned mc = cnt & (bits == 64 ? 63 : 31);
	bool mem = rng_below(&g->rng, 3) == 0;
	ZydisEncoderOperand ops[3];
	ZydisRegister src;

	g->used_regs |= 1u << R_RCX;
	if (mem && mc > bits)
		mem = false;    /* an undefined memory result can't be masked */
	rm_operand(g, c, &ops[0], bits, edge_value(g, bits), mem);
	src = pick_reg(g, bits, false);
	set_reg_value(c, src, edge_value(g, bits));
	op_reg(&ops[1], src);
	if (rng_below(&g->rng, 2)) {
		op_reg(&ops[2], ZYDIS_REGISTER_CL);
		set_reg_value(c, ZYDIS_REGISTER_CL, cnt);
	} else {
		op_imm(&ops[2], cnt);
	}
	if (mc != 0) {
		c->undef_flags |= F_AF;
		if (mc != 1)
			c->undef_flags |= F_OF;
		if (mc > bits) {
			c->undef_flags |= F_ARITH;
			c->undef_regs |= 1u << reg_index(ops[0].reg.value);
		}
	}
	return encode(g, c, k->mn, 0, 3, ops);
}

/* IMUL r, r/m and IMUL r, r/m, imm (arg = 3). */
static bool gen_imul_n(struct gen *g, struct tcase *c, unsigned i,
		       const struct tclass *k)
{
	unsigned bits = sizes[1 + i % 3];
	ZydisEncoderOperand ops[3];
	ZydisRegister d = pick_reg(g, bits, false);

	c->undef_flags = k->undef;
	set_reg_value(c, d, edge_value(g, bits));
	op_reg(&ops[0], d);
	rm_operand(g, c, &ops[1], bits, edge_value(g, bits),
		   rng_below(&g->rng, 3) == 0);
	if (k->arg == 3)
		op_imm(&ops[2], gen_imm(g, bits));
	return encode(g, c, k->mn, 0, (unsigned)k->arg, ops);
}

#define UNDEF_MUL (F_SF | F_ZF | F_AF | F_PF)

const struct tclass alu_classes[] = {
	{ "ADD", 4000, gen_binop, ZYDIS_MNEMONIC_ADD, 1, 0 },
	{ "ADC", 4000, gen_binop, ZYDIS_MNEMONIC_ADC, 1, 0 },
	{ "SUB", 4000, gen_binop, ZYDIS_MNEMONIC_SUB, 1, 0 },
	{ "SBB", 4000, gen_binop, ZYDIS_MNEMONIC_SBB, 1, 0 },
	{ "CMP", 4000, gen_binop, ZYDIS_MNEMONIC_CMP, 0, 0 },
	{ "AND", 4000, gen_binop, ZYDIS_MNEMONIC_AND, 1, F_AF },
	{ "OR", 4000, gen_binop, ZYDIS_MNEMONIC_OR, 1, F_AF },
	{ "XOR", 4000, gen_binop, ZYDIS_MNEMONIC_XOR, 1, F_AF },
	{ "TEST", 3000, gen_binop, ZYDIS_MNEMONIC_TEST, 0, F_AF },
	{ "MOV", 3000, gen_binop, ZYDIS_MNEMONIC_MOV, 0, 0 },
	{ "NOT", 2000, gen_unop, ZYDIS_MNEMONIC_NOT, 1, 0 },
	{ "NEG", 2000, gen_unop, ZYDIS_MNEMONIC_NEG, 1, 0 },
	{ "INC", 2000, gen_unop, ZYDIS_MNEMONIC_INC, 1, 0 },
	{ "DEC", 2000, gen_unop, ZYDIS_MNEMONIC_DEC, 1, 0 },
	{ "SHL", 4000, gen_shift, ZYDIS_MNEMONIC_SHL, 0, 0 },
	{ "SHR", 4000, gen_shift, ZYDIS_MNEMONIC_SHR, 0, 0 },
	{ "SAR", 4000, gen_shift, ZYDIS_MNEMONIC_SAR, 0, 0 },
	{ "ROL", 4000, gen_shift, ZYDIS_MNEMONIC_ROL, 1, 0 },
	{ "ROR", 4000, gen_shift, ZYDIS_MNEMONIC_ROR, 1, 0 },
	{ "RCL", 4000, gen_shift, ZYDIS_MNEMONIC_RCL, 1, 0 },
	{ "RCR", 4000, gen_shift, ZYDIS_MNEMONIC_RCR, 1, 0 },
	{ "SHLD", 3000, gen_shxd, ZYDIS_MNEMONIC_SHLD, 0, 0 },
	{ "SHRD", 3000, gen_shxd, ZYDIS_MNEMONIC_SHRD, 0, 0 },
	{ "MUL", 3000, gen_unop, ZYDIS_MNEMONIC_MUL, 0, UNDEF_MUL },
	{ "IMUL1", 3000, gen_unop, ZYDIS_MNEMONIC_IMUL, 0, UNDEF_MUL },
	{ "IMUL2", 3000, gen_imul_n, ZYDIS_MNEMONIC_IMUL, 2, UNDEF_MUL },
	{ "IMUL3", 3000, gen_imul_n, ZYDIS_MNEMONIC_IMUL, 3, UNDEF_MUL },
	{ "DIV", 4000, gen_unop, ZYDIS_MNEMONIC_DIV, 0, F_ARITH },
	{ "IDIV", 4000, gen_unop, ZYDIS_MNEMONIC_IDIV, 0, F_ARITH },
	{ NULL, 0, NULL, 0, 0, 0 },
};
