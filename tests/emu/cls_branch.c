/*
 * emu-diff class BRANCH: near control transfers. Every target is one of
 * the two jmps that follow the instruction in its slot: rip + len (the
 * fall-through) or rip + len + 5 ("taken", see native.c), so RIP after the
 * instruction is compared exactly. Jcc rel8/rel32 (all 16 conditions over
 * random flags), JMP rel8/rel32, JRCXZ/JECXZ, LOOP/LOOPE/LOOPNE (RCX or,
 * with 0x67, ECX: 0, 1, 2 or random), CALL rel32, CALL/JMP through a
 * register or memory, RET and RET imm16. No flags are affected by any.
 */
#include <string.h>

#include "harness.h"

static bool gen_branch(struct gen *g, struct tcase *c, unsigned i,
		       const struct tclass *k)
{
	uint8_t b[16];
	unsigned n = 0;
	uint64_t target;
	int32_t rel = 5;
	ZydisEncoderOperand op;
	ZydisRegister r;

	switch (i % 8) {
	case 0:         /* Jcc rel8 */
		b[n++] = (uint8_t)(0x70 + rng_below(&g->rng, 16));
		b[n++] = 5;
		break;
	case 1:         /* Jcc rel32 */
		b[n++] = 0x0F;
		b[n++] = (uint8_t)(0x80 + rng_below(&g->rng, 16));
		memcpy(b + n, &rel, 4);
		n += 4;
		break;
	case 2: {       /* JRCXZ LOOP LOOPE LOOPNE, 64- or 32-bit counter */
		static const uint64_t counts[] = { 0, 1, 2, 0x100000000ULL,
						   0x100000001ULL };
		uint64_t cnt = rng_below(&g->rng, 2) ?
			counts[rng_below(&g->rng, 5)] : rng_next(&g->rng);

		if (rng_below(&g->rng, 3) == 0)
			b[n++] = 0x67;
		b[n++] = (uint8_t)(0xE0 + rng_below(&g->rng, 4));
		b[n++] = 5;
		c->in.gpr[R_RCX] = cnt;
		break;
	}
	case 3:         /* JMP rel8 / rel32, CALL rel32 */
		switch (rng_below(&g->rng, 3)) {
		case 0:
			b[n++] = 0xEB;
			b[n++] = 5;
			break;
		case 1:
			b[n++] = 0xE9;
			memcpy(b + n, &rel, 4);
			n += 4;
			break;
		default:
			b[n++] = 0xE8;
			memcpy(b + n, &rel, 4);
			n += 4;
			break;
		}
		break;
	case 4:         /* RET, RET imm16 */
	case 5: {
		uint8_t w[64];

		b[n++] = rng_below(&g->rng, 2) ? 0xC3 : 0xC2;
		if (b[0] == 0xC2) {
			uint16_t imm = (uint16_t)(8 * rng_below(&g->rng, 4) +
						  rng_below(&g->rng, 2));

			memcpy(b + n, &imm, 2);
			n += 2;
		}
		target = c->rip + n + 5 * rng_below(&g->rng, 2);
		for (unsigned j = 0; j < sizeof(w); j++)
			w[j] = (uint8_t)rng_next(&g->rng);
		memcpy(w + 32, &target, 8);
		add_fill(c, STACK_TOP - 32, w, sizeof(w));
		break;
	}
	default: {      /* CALL/JMP r/m64: encode once to learn the length */
		ZydisMnemonic m = rng_below(&g->rng, 2) ? ZYDIS_MNEMONIC_CALL :
							  ZYDIS_MNEMONIC_JMP;
		bool mem = rng_below(&g->rng, 2);
		unsigned taken = rng_below(&g->rng, 2);

		if (mem) {
			mem_operand(g, c, &op, 64, 0);
		} else {
			r = pick_reg(g, 64, false);
			op_reg(&op, r);
		}
		if (!encode(g, c, m, 0, 1, &op))
			return false;
		target = c->rip + c->len + 5 * taken;
		if (mem) {
			/* mem_operand's fill holds the value: rewrite it. */
			memcpy(c->fill[c->nfill - 1].bytes, &target, 8);
		} else {
			set_reg_value(c, r, target);
		}
		return true;
	}
	}
	set_bytes(c, b, n);
	return true;
}

const struct tclass branch_classes[] = {
	{ "BRANCH", 6000, gen_branch, 0, 0, 0 },
	{ NULL, 0, NULL, 0, 0, 0 },
};
