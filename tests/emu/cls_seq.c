/*
 * emu-diff class SEQ: short sequences (two or three instructions, the
 * emulator steps each) where a later instruction consumes flags an earlier
 * one produced, or keeps some of them: what single-instruction cases can't
 * see in an emulator with lazy flags. Producers: ADD ADC SUB SBB CMP NEG
 * (all flags defined), AND OR XOR TEST (AF undefined); keepers: INC DEC
 * (keep CF), ROL ROR RCL RCR by CL = 0 or 1 (keep SF ZF AF PF; a zero
 * count keeps everything), SHL by CL = 0, CLC STC CMC; consumers: ADC SBB
 * SETcc CMOVcc LAHF RCL, and PUSHF (compared under F_COMPARED).
 * Undefined: AF after a logic producer, unless something later redefines
 * it; then LAHF and PUSHF are not used as consumers.
 */
#include <string.h>

#include "harness.h"

static bool append(struct gen *g, struct tcase *c, ZydisMnemonic m,
		   unsigned nops, const ZydisEncoderOperand *ops)
{
	struct tcase t;

	t.rip = c->rip + c->len;
	if (!encode(g, &t, m, 0, nops, ops) || c->len + t.len > sizeof(c->code))
		return false;
	memcpy(c->code + c->len, t.code, t.len);
	c->len += t.len;
	c->nsteps++;
	return true;
}

static bool reg2(struct gen *g, struct tcase *c, ZydisMnemonic m,
		 unsigned bits, ZydisRegister a, ZydisRegister b)
{
	ZydisEncoderOperand ops[2];

	op_reg(&ops[0], gpr_of_size(reg_index(a), bits));
	op_reg(&ops[1], gpr_of_size(reg_index(b), bits));
	return append(g, c, m, 2, ops);
}

static bool gen_seq(struct gen *g, struct tcase *c, unsigned i,
		    const struct tclass *k)
{
	static const ZydisMnemonic producers[] = {
		ZYDIS_MNEMONIC_ADD, ZYDIS_MNEMONIC_ADC, ZYDIS_MNEMONIC_SUB,
		ZYDIS_MNEMONIC_SBB, ZYDIS_MNEMONIC_CMP, ZYDIS_MNEMONIC_NEG,
		ZYDIS_MNEMONIC_AND, ZYDIS_MNEMONIC_OR, ZYDIS_MNEMONIC_XOR,
		ZYDIS_MNEMONIC_TEST,
	};
	static const ZydisMnemonic keepers[] = {
		ZYDIS_MNEMONIC_INC, ZYDIS_MNEMONIC_DEC, ZYDIS_MNEMONIC_ROL,
		ZYDIS_MNEMONIC_ROR, ZYDIS_MNEMONIC_RCL, ZYDIS_MNEMONIC_RCR,
		ZYDIS_MNEMONIC_SHL, ZYDIS_MNEMONIC_CLC, ZYDIS_MNEMONIC_STC,
		ZYDIS_MNEMONIC_CMC,
	};
	static const unsigned sizes[4] = { 8, 16, 32, 64 };
	unsigned bits = sizes[rng_below(&g->rng, 4)];
	ZydisRegister a, b, d;
	ZydisMnemonic p = producers[rng_below(&g->rng, 10)];
	ZydisEncoderOperand ops[2];
	bool af_undef = p == ZYDIS_MNEMONIC_AND || p == ZYDIS_MNEMONIC_OR ||
			p == ZYDIS_MNEMONIC_XOR || p == ZYDIS_MNEMONIC_TEST;
	unsigned consumer;

	g->used_regs |= 1u << R_RCX;            /* CL: rotate count */
	a = pick_reg(g, 64, false);
	b = pick_reg(g, 64, false);
	d = pick_reg(g, 64, false);
	set_reg_value(c, a, edge_value(g, 64));
	set_reg_value(c, b, edge_value(g, 64));
	set_reg_value(c, ZYDIS_REGISTER_RCX, rng_below(&g->rng, 2) |
		      (rng_next(&g->rng) & ~0xFFULL));
	if (p == ZYDIS_MNEMONIC_NEG) {
		op_reg(&ops[0], gpr_of_size(reg_index(a), bits));
		if (!append(g, c, p, 1, ops))
			return false;
	} else if (!reg2(g, c, p, bits, a, b)) {
		return false;
	}

	if (rng_below(&g->rng, 4)) {
		ZydisMnemonic m = keepers[rng_below(&g->rng, 10)];
		bool ok;

		if (m == ZYDIS_MNEMONIC_CLC || m == ZYDIS_MNEMONIC_STC ||
		    m == ZYDIS_MNEMONIC_CMC) {
			ok = append(g, c, m, 0, NULL);
		} else if (m == ZYDIS_MNEMONIC_INC || m == ZYDIS_MNEMONIC_DEC) {
			op_reg(&ops[0], gpr_of_size(reg_index(b), bits));
			ok = append(g, c, m, 1, ops);
			af_undef = false;       /* INC/DEC define AF */
		} else {
			op_reg(&ops[0], gpr_of_size(reg_index(b), bits));
			op_reg(&ops[1], ZYDIS_REGISTER_CL);
			ok = append(g, c, m, 2, ops);
			/* SHL by 1 would leave AF undefined: count 0 only. */
			if (m == ZYDIS_MNEMONIC_SHL && (c->in.gpr[R_RCX] & 0xFF))
				return false;
		}
		if (!ok)
			return false;
	}

	consumer = rng_below(&g->rng, af_undef ? 5 : 7);
	switch (consumer) {
	case 0:
		if (!reg2(g, c, ZYDIS_MNEMONIC_ADC, bits, d, a))
			return false;
		break;
	case 1:
		if (!reg2(g, c, ZYDIS_MNEMONIC_SBB, bits, d, b))
			return false;
		break;
	case 2: {
		static const ZydisMnemonic cc[8] = {
			ZYDIS_MNEMONIC_SETO, ZYDIS_MNEMONIC_SETB,
			ZYDIS_MNEMONIC_SETZ, ZYDIS_MNEMONIC_SETBE,
			ZYDIS_MNEMONIC_SETS, ZYDIS_MNEMONIC_SETP,
			ZYDIS_MNEMONIC_SETL, ZYDIS_MNEMONIC_SETLE,
		};

		op_reg(&ops[0], gpr_of_size(reg_index(d), 8));
		if (!append(g, c, cc[rng_below(&g->rng, 8)], 1, ops))
			return false;
		break;
	}
	case 3: {
		static const ZydisMnemonic cc[8] = {
			ZYDIS_MNEMONIC_CMOVNO, ZYDIS_MNEMONIC_CMOVNB,
			ZYDIS_MNEMONIC_CMOVNZ, ZYDIS_MNEMONIC_CMOVNBE,
			ZYDIS_MNEMONIC_CMOVNS, ZYDIS_MNEMONIC_CMOVNP,
			ZYDIS_MNEMONIC_CMOVNL, ZYDIS_MNEMONIC_CMOVNLE,
		};

		if (!reg2(g, c, cc[rng_below(&g->rng, 8)], bits == 8 ? 32 : bits, d, a))
			return false;
		break;
	}
	case 4:
		op_reg(&ops[0], gpr_of_size(reg_index(d), bits));
		op_reg(&ops[1], ZYDIS_REGISTER_CL);
		if (!append(g, c, ZYDIS_MNEMONIC_RCL, 2, ops))
			return false;
		break;
	case 5:
		if (!append(g, c, ZYDIS_MNEMONIC_LAHF, 0, NULL))
			return false;
		break;
	default:
		if (!append(g, c, ZYDIS_MNEMONIC_PUSHFQ, 0, NULL))
			return false;
		c->mask_addr = STACK_TOP - 8;
		c->mask_bits = F_COMPARED | 2;
		break;
	}
	if (af_undef)
		c->undef_flags |= F_AF;
	return true;
}

const struct tclass seq_classes[] = {
	{ "SEQ", 6000, gen_seq, 0, 0, 0 },
	{ NULL, 0, NULL, 0, 0, 0 },
};
