/*
 * emu-diff classes: bit operations, moves with extension, LEA, exchanges
 * and compare-exchange, condition codes, and the flag instructions.
 *
 * Undefined flags, from the Intel SDM vol. 2:
 *   BT BTS BTR BTC: OF SF AF PF (CF is the bit, ZF unaffected).
 *   BSF BSR: CF OF SF AF PF (ZF = source was zero). With a zero source
 *     the destination is left unchanged: the SDM says undefined, AMD's
 *     APM documents "unchanged" and the host is an AMD, so it is compared.
 *   XADD CMPXCHG: as ADD / CMP.  CMPXCHG8B/16B: only ZF is affected.
 *   SETcc CMOVcc MOVZX MOVSX MOVSXD LEA XCHG BSWAP CBW..CQO: none.
 *   SAHF: loads SF ZF AF PF CF; OF unaffected. CLC STC CMC LAHF: none.
 */
#include "harness.h"

static const unsigned sizes[4] = { 8, 16, 32, 64 };

static void reg_op(struct gen *g, struct tcase *c, ZydisEncoderOperand *op,
		   unsigned bits, uint64_t v)
{
	ZydisRegister r = pick_reg(g, bits, bits == 8);

	set_reg_value(c, r, v);
	op_reg(op, r);
}

static void rm_op(struct gen *g, struct tcase *c, ZydisEncoderOperand *op,
		  unsigned bits, uint64_t v, bool mem)
{
	if (mem)
		mem_operand(g, c, op, bits, v);
	else
		reg_op(g, c, op, bits, v);
}

/*
 * BT BTS BTR BTC. With a memory operand and a register bit offset, the
 * offset is signed and may address far outside the operand: the base sits
 * in the middle of the two operand pages and the offset stays within them
 * (a 16-bit offset reaches exactly +-4 KiB).
 */
static bool gen_bt(struct gen *g, struct tcase *c, unsigned i,
		   const struct tclass *k)
{
	unsigned bits = sizes[1 + i % 3];
	ZydisEncoderOperand ops[2];
	uint64_t prefixes = 0;
	bool mem = rng_below(&g->rng, 2);

	c->undef_flags = F_OF | F_SF | F_AF | F_PF;
	if (mem && rng_below(&g->rng, 2)) {
		uint64_t base = OPND_CROSS - rng_below(&g->rng, 8);
		int64_t lim = bits == 16 ? 0x8000 : 0x1000 * 8 - 128;
		int64_t off = (int64_t)(rng_next(&g->rng) % (uint64_t)(2 * lim)) - lim;
		uint8_t pattern[64];
		ZydisRegister r;

		if (rng_below(&g->rng, 4) == 0)
			off = (int64_t)rng_below(&g->rng, 2 * bits) - (int64_t)bits;
		for (unsigned b = 0; b < sizeof(pattern); b++)
			pattern[b] = (uint8_t)rng_next(&g->rng);
		add_fill(c, base + (off >> 3) - 32, pattern, sizeof(pattern));
		mem_operand_at(g, c, &ops[0], bits, base);
		r = pick_reg(g, bits, false);
		set_reg_value(c, r, (uint64_t)off);
		op_reg(&ops[1], r);
	} else {
		rm_op(g, c, &ops[0], bits, edge_value(g, bits), mem);
		if (rng_below(&g->rng, 2)) {
			op_imm(&ops[1], rng_below(&g->rng, 256));
		} else if (mem) {
			reg_op(g, c, &ops[1], bits, rng_below(&g->rng, bits));
		} else {
			reg_op(g, c, &ops[1], bits, edge_value(g, bits));
		}
	}
	if (mem && k->mn != ZYDIS_MNEMONIC_BT && rng_below(&g->rng, 3) == 0)
		prefixes = ZYDIS_ATTRIB_HAS_LOCK;
	return encode(g, c, k->mn, prefixes, 2, ops);
}

/* BSF BSR; arg = 1: `rep bsf` (TZCNT's encoding) checked against BSF. */
static bool gen_bsf(struct gen *g, struct tcase *c, unsigned i,
		    const struct tclass *k)
{
	unsigned bits = sizes[1 + i % 3];
	ZydisEncoderOperand ops[2];
	uint64_t v = edge_value(g, bits);

	if (rng_below(&g->rng, 4) == 0)
		v = 0;
	else if (rng_below(&g->rng, 3) == 0)
		v = 1ULL << rng_below(&g->rng, bits);
	c->undef_flags = F_CF | F_OF | F_SF | F_AF | F_PF;
	reg_op(g, c, &ops[0], bits, edge_value(g, bits));
	rm_op(g, c, &ops[1], bits, v, rng_below(&g->rng, 3) == 0);
	/* The reference encoding is a byte shorter: a RIP-relative operand
	 * would point elsewhere in it. */
	if (k->arg == 1 && ops[1].type == ZYDIS_OPERAND_TYPE_MEMORY &&
	    ops[1].mem.base == ZYDIS_REGISTER_RIP)
		return false;
	if (!encode(g, c, k->mn, 0, 2, ops))
		return false;
	if (k->arg == 1) {
		/* F3 before any 66/REX: REX must stay next to the opcode. */
		for (unsigned b = 0; b < c->len; b++)
			c->ref_code[b] = c->code[b];
		c->ref_len = c->len;
		for (unsigned b = c->len; b > 0; b--)
			c->code[b] = c->code[b - 1];
		c->code[0] = 0xF3;
		c->len++;
	}
	return true;
}

static bool gen_bswap(struct gen *g, struct tcase *c, unsigned i,
		      const struct tclass *k)
{
	ZydisEncoderOperand op;

	reg_op(g, c, &op, i % 2 ? 64 : 32, edge_value(g, 64));
	return encode(g, c, k->mn, 0, 1, &op);
}

/* MOVZX MOVSX (arg 0), MOVSXD (arg 1). */
static bool gen_movx(struct gen *g, struct tcase *c, unsigned i,
		     const struct tclass *k)
{
	static const unsigned combos[5][2] = {
		{ 16, 8 }, { 32, 8 }, { 64, 8 }, { 32, 16 }, { 64, 16 } };
	unsigned dbits = 64, sbits = 32;
	ZydisEncoderOperand ops[2];

	if (k->arg == 0) {
		dbits = combos[i % 5][0];
		sbits = combos[i % 5][1];
	}
	reg_op(g, c, &ops[0], dbits, edge_value(g, dbits));
	rm_op(g, c, &ops[1], sbits, edge_value(g, sbits), rng_below(&g->rng, 3) == 0);
	return encode(g, c, k->mn, 0, 2, ops);
}

/* LEA: every addressing form, 16/32/64-bit destinations, RIP-relative,
 * and 32-bit addressing (0x67) with random upper register halves. */
static bool gen_lea(struct gen *g, struct tcase *c, unsigned i,
		    const struct tclass *k)
{
	unsigned bits = sizes[1 + i % 3];
	ZydisEncoderOperand ops[2];
	uint64_t addr = rng_below(&g->rng, 2) ? edge_value(g, 64) :
			OPND_BASE + rng_below(&g->rng, 0x2000);

	reg_op(g, c, &ops[0], bits, edge_value(g, 64));
	mem_operand_at(g, c, &ops[1], 64, addr);
	ops[1].mem.size = 8;     /* Zydis wants the address size here */
	if (rng_below(&g->rng, 4) == 0 && ops[1].mem.base != ZYDIS_REGISTER_RIP) {
		/* 0x67: the same form with 32-bit registers. */
		if (ops[1].mem.base)
			ops[1].mem.base = gpr_of_size(reg_index(ops[1].mem.base), 32);
		if (ops[1].mem.index)
			ops[1].mem.index = gpr_of_size(reg_index(ops[1].mem.index), 32);
		if (!ops[1].mem.base && !ops[1].mem.index)
			return false;
		ops[1].mem.displacement = (int32_t)ops[1].mem.displacement;
		ops[1].mem.size = 4;
	}
	if (ops[1].mem.displacement != (int32_t)ops[1].mem.displacement &&
	    ops[1].mem.base != ZYDIS_REGISTER_RIP)
		return false;
	return encode(g, c, k->mn, 0, 2, ops);
}

/* XCHG XADD CMPXCHG: r/m, r; arg bit 0: LOCK allowed. */
static bool gen_xchg(struct gen *g, struct tcase *c, unsigned i,
		     const struct tclass *k)
{
	unsigned bits = sizes[i % 4];
	bool mem = rng_below(&g->rng, 2);
	ZydisEncoderOperand ops[2];
	uint64_t dst = edge_value(g, bits);
	uint64_t prefixes = 0;

	if (k->mn == ZYDIS_MNEMONIC_CMPXCHG) {
		g->used_regs |= 1u << R_RAX;
		set_reg_value(c, gpr_of_size(R_RAX, bits),
			      rng_below(&g->rng, 2) ? dst : edge_value(g, bits));
	}
	rm_op(g, c, &ops[0], bits, dst, mem);
	reg_op(g, c, &ops[1], bits, edge_value(g, bits));
	if ((k->arg & 1) && mem && rng_below(&g->rng, 2))
		prefixes = ZYDIS_ATTRIB_HAS_LOCK;
	if (k->mn == ZYDIS_MNEMONIC_XCHG && rng_below(&g->rng, 4) == 0) {
		/* The short 90+r form with rAX (not for 8-bit). */
		if (bits != 8) {
			op_reg(&ops[0], gpr_of_size(R_RAX, bits));
			mem = false;
		}
	}
	return encode(g, c, k->mn, prefixes, 2, ops);
}

/* CMPXCHG8B (arg 8) and CMPXCHG16B (arg 16; misaligned is #GP). */
static bool gen_cmpxchgnb(struct gen *g, struct tcase *c, unsigned i,
			  const struct tclass *k)
{
	unsigned bytes = (unsigned)k->arg;
	uint64_t mem[2] = { edge_value(g, 64), edge_value(g, 64) };
	uint64_t addr = (OPND_BASE + 64 + rng_below(&g->rng, 0x1F00)) & ~15ULL;
	ZydisEncoderOperand op;

	if (bytes == 16 && !g->has_cx16)
		return false;
	if (rng_below(&g->rng, 8) == 0)
		addr = OPND_CROSS - 8;          /* page-crossing; #GP if 16 */
	else if (rng_below(&g->rng, 8) == 0)
		addr += 1 + rng_below(&g->rng, 7);
	g->used_regs |= 0xFu;                   /* rAX rCX rDX rBX */
	if (bytes == 8) {
		if (rng_below(&g->rng, 2)) {
			c->in.gpr[R_RAX] = (c->in.gpr[R_RAX] & ~0xFFFFFFFFULL) | (uint32_t)mem[0];
			c->in.gpr[R_RDX] = (c->in.gpr[R_RDX] & ~0xFFFFFFFFULL) | mem[0] >> 32;
		}
	} else if (rng_below(&g->rng, 2)) {
		c->in.gpr[R_RAX] = mem[0];
		c->in.gpr[R_RDX] = mem[1];
	}
	add_fill(c, addr, mem, bytes);
	mem_operand_at(g, c, &op, bytes * 8, addr);
	return encode(g, c, k->mn, rng_below(&g->rng, 2) ? ZYDIS_ATTRIB_HAS_LOCK : 0,
		      1, &op);
}

/* SETcc: k->mn is SETB..SETZ; arg = the mnemonic count is per class. */
static bool gen_setcc(struct gen *g, struct tcase *c, unsigned i,
		      const struct tclass *k)
{
	static const ZydisMnemonic cc[16] = {
		ZYDIS_MNEMONIC_SETO, ZYDIS_MNEMONIC_SETNO, ZYDIS_MNEMONIC_SETB,
		ZYDIS_MNEMONIC_SETNB, ZYDIS_MNEMONIC_SETZ, ZYDIS_MNEMONIC_SETNZ,
		ZYDIS_MNEMONIC_SETBE, ZYDIS_MNEMONIC_SETNBE, ZYDIS_MNEMONIC_SETS,
		ZYDIS_MNEMONIC_SETNS, ZYDIS_MNEMONIC_SETP, ZYDIS_MNEMONIC_SETNP,
		ZYDIS_MNEMONIC_SETL, ZYDIS_MNEMONIC_SETNL, ZYDIS_MNEMONIC_SETLE,
		ZYDIS_MNEMONIC_SETNLE,
	};
	ZydisEncoderOperand op;

	rm_op(g, c, &op, 8, edge_value(g, 8), rng_below(&g->rng, 4) == 0);
	return encode(g, c, cc[i % 16], 0, 1, &op);
}

static bool gen_cmovcc(struct gen *g, struct tcase *c, unsigned i,
		       const struct tclass *k)
{
	static const ZydisMnemonic cc[16] = {
		ZYDIS_MNEMONIC_CMOVO, ZYDIS_MNEMONIC_CMOVNO, ZYDIS_MNEMONIC_CMOVB,
		ZYDIS_MNEMONIC_CMOVNB, ZYDIS_MNEMONIC_CMOVZ, ZYDIS_MNEMONIC_CMOVNZ,
		ZYDIS_MNEMONIC_CMOVBE, ZYDIS_MNEMONIC_CMOVNBE, ZYDIS_MNEMONIC_CMOVS,
		ZYDIS_MNEMONIC_CMOVNS, ZYDIS_MNEMONIC_CMOVP, ZYDIS_MNEMONIC_CMOVNP,
		ZYDIS_MNEMONIC_CMOVL, ZYDIS_MNEMONIC_CMOVNL, ZYDIS_MNEMONIC_CMOVLE,
		ZYDIS_MNEMONIC_CMOVNLE,
	};
	unsigned bits = sizes[1 + (i / 16) % 3];
	ZydisEncoderOperand ops[2];

	reg_op(g, c, &ops[0], bits, edge_value(g, 64));
	rm_op(g, c, &ops[1], bits, edge_value(g, bits), rng_below(&g->rng, 3) == 0);
	return encode(g, c, cc[i % 16], 0, 2, ops);
}

/* No-operand instructions: CBW..CQO, LAHF SAHF, CLC STC CMC, CLD STD. */
static bool gen_noop(struct gen *g, struct tcase *c, unsigned i,
		     const struct tclass *k)
{
	static const ZydisMnemonic m[] = {
		ZYDIS_MNEMONIC_CBW, ZYDIS_MNEMONIC_CWDE, ZYDIS_MNEMONIC_CDQE,
		ZYDIS_MNEMONIC_CWD, ZYDIS_MNEMONIC_CDQ, ZYDIS_MNEMONIC_CQO,
		ZYDIS_MNEMONIC_LAHF, ZYDIS_MNEMONIC_SAHF, ZYDIS_MNEMONIC_CLC,
		ZYDIS_MNEMONIC_STC, ZYDIS_MNEMONIC_CMC, ZYDIS_MNEMONIC_CLD,
		ZYDIS_MNEMONIC_STD,
	};
	unsigned first = k->arg == 0 ? 0 : k->arg == 1 ? 6 : 8;
	unsigned n = k->arg == 0 ? 6 : k->arg == 1 ? 2 : 5;

	c->in.gpr[R_RAX] = rng_below(&g->rng, 2) ? rng_next(&g->rng) :
			   edge_value(g, 64);
	return encode(g, c, m[first + i % n], 0, 0, NULL);
}

const struct tclass misc_classes[] = {
	{ "BT", 3000, gen_bt, ZYDIS_MNEMONIC_BT, 0, 0 },
	{ "BTS", 3000, gen_bt, ZYDIS_MNEMONIC_BTS, 0, 0 },
	{ "BTR", 3000, gen_bt, ZYDIS_MNEMONIC_BTR, 0, 0 },
	{ "BTC", 3000, gen_bt, ZYDIS_MNEMONIC_BTC, 0, 0 },
	{ "BSF", 3000, gen_bsf, ZYDIS_MNEMONIC_BSF, 0, 0 },
	{ "BSR", 3000, gen_bsf, ZYDIS_MNEMONIC_BSR, 0, 0 },
	{ "REP_BSF", 2000, gen_bsf, ZYDIS_MNEMONIC_BSF, 1, 0 },
	{ "BSWAP", 1000, gen_bswap, ZYDIS_MNEMONIC_BSWAP, 0, 0 },
	{ "MOVZX", 2000, gen_movx, ZYDIS_MNEMONIC_MOVZX, 0, 0 },
	{ "MOVSX", 2000, gen_movx, ZYDIS_MNEMONIC_MOVSX, 0, 0 },
	{ "MOVSXD", 1000, gen_movx, ZYDIS_MNEMONIC_MOVSXD, 1, 0 },
	{ "LEA", 4000, gen_lea, ZYDIS_MNEMONIC_LEA, 0, 0 },
	{ "XCHG", 3000, gen_xchg, ZYDIS_MNEMONIC_XCHG, 1, 0 },
	{ "XADD", 3000, gen_xchg, ZYDIS_MNEMONIC_XADD, 1, 0 },
	{ "CMPXCHG", 4000, gen_xchg, ZYDIS_MNEMONIC_CMPXCHG, 1, 0 },
	{ "CMPXCHG8B", 2000, gen_cmpxchgnb, ZYDIS_MNEMONIC_CMPXCHG8B, 8, 0 },
	{ "CMPXCHG16B", 2000, gen_cmpxchgnb, ZYDIS_MNEMONIC_CMPXCHG16B, 16, 0 },
	{ "SETCC", 3200, gen_setcc, 0, 0, 0 },
	{ "CMOVCC", 4800, gen_cmovcc, 0, 0, 0 },
	{ "CBW_CQO", 1200, gen_noop, 0, 0, 0 },
	{ "LAHF_SAHF", 1000, gen_noop, 0, 1, 0 },
	{ "CLC_STC_CMC", 1000, gen_noop, 0, 2, 0 },
	{ NULL, 0, NULL, 0, 0, 0 },
};
