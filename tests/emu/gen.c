/*
 * Input generation for emu-diff: a deterministic PRNG, edge values for
 * every operand size, register and memory operand placement, and the
 * Zydis encoder glue that turns (mnemonic, operands) into bytes.
 */
#include <string.h>

#include "harness.h"

uint64_t rng_next(struct rng *r)
{
	/* splitmix64: tiny, good enough, the same on every host. */
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

unsigned rng_below(struct rng *r, unsigned n)
{
	return (unsigned)(rng_next(r) % n);
}

uint64_t size_mask(unsigned bits)
{
	return bits >= 64 ? ~0ULL : (1ULL << bits) - 1;
}

/*
 * Half the time one of the interesting values for the width (zero, one,
 * minus one, the sign boundaries and their neighbours, the boundaries of
 * the narrower widths), otherwise random bits of a random length so small
 * and large magnitudes both occur.
 */
uint64_t edge_value(struct gen *g, unsigned bits)
{
	uint64_t s = 1ULL << (bits - 1);
	const uint64_t edges[] = {
		0, 1, 2, 3, ~0ULL, ~1ULL, s - 1, s, s + 1, s - 2, ~s,
		0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
		0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000000ULL,
		0x7FFFFFFFFFFFFFFFULL, 0x8000000000000000ULL,
		0x5555555555555555ULL, 0xAAAAAAAAAAAAAAAAULL,
	};
	uint64_t v;

	if (rng_below(&g->rng, 2)) {
		v = edges[rng_below(&g->rng, sizeof(edges) / sizeof(edges[0]))];
	} else {
		unsigned len = 1 + rng_below(&g->rng, bits);

		v = rng_next(&g->rng) & size_mask(len);
		if (rng_below(&g->rng, 4) == 0)
			v = ~v;
	}
	return v & size_mask(bits);
}

/* Shift and rotate counts: the boundaries around the width and the
 * hardware masks, or anything up to 255. */
unsigned shift_count(struct gen *g, unsigned bits)
{
	const unsigned counts[] = { 0, 1, 2, bits - 1, bits, bits + 1, 7, 8,
				    9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255 };

	if (rng_below(&g->rng, 3))
		return counts[rng_below(&g->rng, sizeof(counts) / sizeof(counts[0]))];
	return rng_below(&g->rng, 256);
}

void case_init(struct gen *g, struct tcase *c)
{
	uint8_t stack[64];

	memset(c, 0, sizeof(*c));
	c->rip = g->rip;
	g->used_regs = 1u << R_RSP;
	for (int r = 0; r < 16; r++)
		c->in.gpr[r] = rng_next(&g->rng);
	c->in.gpr[R_RSP] = STACK_TOP;
	c->in.rflags = (rng_next(&g->rng) & F_ARITH) | 2;
	if (rng_below(&g->rng, 8) == 0)
		c->in.rflags |= F_DF;
	/* FNINIT state, MXCSR at its reset value. */
	c->in.fx[0] = 0x7F;
	c->in.fx[1] = 0x03;
	c->in.fx[24] = 0x80;
	c->in.fx[25] = 0x1F;
	for (unsigned i = 0; i < sizeof(stack); i++)
		stack[i] = (uint8_t)rng_next(&g->rng);
	add_fill(c, STACK_TOP - 32, stack, sizeof(stack));
}

void add_fill(struct tcase *c, uint64_t addr, const void *bytes, unsigned len)
{
	struct fill *f;

	if (c->nfill >= sizeof(c->fill) / sizeof(c->fill[0]) ||
	    len > sizeof(c->fill[0].bytes))
		return;
	f = &c->fill[c->nfill++];
	f->addr = addr;
	f->len = len;
	memcpy(f->bytes, bytes, len);
}

ZydisRegister gpr_of_size(int idx, unsigned bits)
{
	switch (bits) {
	case 8:
		if (idx < 4)
			return ZYDIS_REGISTER_AL + idx;
		if (idx < 8)
			return ZYDIS_REGISTER_SPL + (idx - 4);
		return ZYDIS_REGISTER_R8B + (idx - 8);
	case 16:
		return ZYDIS_REGISTER_AX + idx;
	case 32:
		return ZYDIS_REGISTER_EAX + idx;
	default:
		return ZYDIS_REGISTER_RAX + idx;
	}
}

ZydisRegister pick_reg(struct gen *g, unsigned bits, bool allow_high8)
{
	for (;;) {
		int idx = (int)rng_below(&g->rng, 16);

		if (g->used_regs & (1u << idx))
			continue;
		g->used_regs |= 1u << idx;
		if (bits == 8 && allow_high8 && idx < 4 &&
		    rng_below(&g->rng, 3) == 0)
			return ZYDIS_REGISTER_AH + idx;
		return gpr_of_size(idx, bits);
	}
}

int reg_index(ZydisRegister r)
{
	if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_BL)
		return r - ZYDIS_REGISTER_AL;
	if (r >= ZYDIS_REGISTER_AH && r <= ZYDIS_REGISTER_BH)
		return r - ZYDIS_REGISTER_AH;
	if (r >= ZYDIS_REGISTER_SPL && r <= ZYDIS_REGISTER_DIL)
		return 4 + r - ZYDIS_REGISTER_SPL;
	if (r >= ZYDIS_REGISTER_R8B && r <= ZYDIS_REGISTER_R15B)
		return 8 + r - ZYDIS_REGISTER_R8B;
	if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_R15W)
		return r - ZYDIS_REGISTER_AX;
	if (r >= ZYDIS_REGISTER_EAX && r <= ZYDIS_REGISTER_R15D)
		return r - ZYDIS_REGISTER_EAX;
	if (r >= ZYDIS_REGISTER_RAX && r <= ZYDIS_REGISTER_R15)
		return r - ZYDIS_REGISTER_RAX;
	return -1;
}

void set_reg_value(struct tcase *c, ZydisRegister r, uint64_t v)
{
	int idx = reg_index(r);
	uint64_t *p;

	if (idx < 0)
		return;
	p = &c->in.gpr[idx];
	if (r >= ZYDIS_REGISTER_AH && r <= ZYDIS_REGISTER_BH)
		*p = (*p & ~0xFF00ULL) | ((v & 0xFF) << 8);
	else if (r <= ZYDIS_REGISTER_R15B)
		*p = (*p & ~0xFFULL) | (v & 0xFF);
	else if (r <= ZYDIS_REGISTER_R15W)
		*p = (*p & ~0xFFFFULL) | (v & 0xFFFF);
	else if (r <= ZYDIS_REGISTER_R15D)
		/* Inputs keep random upper halves: a 32-bit write must
		 * clear them, a 32-bit read must ignore them. */
		*p = (*p & ~0xFFFFFFFFULL) | (v & 0xFFFFFFFF);
	else
		*p = v;
}

void op_reg(ZydisEncoderOperand *op, ZydisRegister r)
{
	memset(op, 0, sizeof(*op));
	op->type = ZYDIS_OPERAND_TYPE_REGISTER;
	op->reg.value = r;
}

void op_imm(ZydisEncoderOperand *op, int64_t v)
{
	memset(op, 0, sizeof(*op));
	op->type = ZYDIS_OPERAND_TYPE_IMMEDIATE;
	op->imm.s = v;
}

void mem_operand_at(struct gen *g, struct tcase *c, ZydisEncoderOperand *op,
		    unsigned bits, uint64_t addr)
{
	static const int32_t disps[] = { 0, 1, -1, 127, -128, 128, -129,
					 0x1000, -0x1000, 0x7FFFFFF0 };
	ZydisRegister base, index;
	uint64_t scale = 1 << rng_below(&g->rng, 4);
	int64_t disp = disps[rng_below(&g->rng, sizeof(disps) / sizeof(disps[0]))];
	uint64_t idxval;

	memset(op, 0, sizeof(*op));
	op->type = ZYDIS_OPERAND_TYPE_MEMORY;
	op->mem.size = (ZyanU16)(bits / 8);
	switch (rng_below(&g->rng, 8)) {
	case 0:         /* [disp32] */
		op->mem.displacement = (int64_t)addr;
		return;
	case 1:         /* [rip + disp32]: encode() makes it relative */
		op->mem.base = ZYDIS_REGISTER_RIP;
		op->mem.displacement = (int64_t)addr;
		return;
	case 2:         /* [index*scale + disp32] */
		index = pick_reg(g, 64, false);
		idxval = rng_below(&g->rng, 0x1000);
		op->mem.index = index;
		op->mem.scale = (ZyanU8)scale;
		op->mem.displacement = (int64_t)(addr - idxval * scale);
		set_reg_value(c, index, idxval);
		return;
	case 3: case 4: /* [base + index*scale + disp] */
		base = pick_reg(g, 64, false);
		index = pick_reg(g, 64, false);
		idxval = rng_next(&g->rng) & 0xFFFF;
		if (rng_below(&g->rng, 2))
			idxval = -idxval;
		op->mem.base = base;
		op->mem.index = index;
		op->mem.scale = (ZyanU8)scale;
		op->mem.displacement = disp;
		set_reg_value(c, index, idxval);
		set_reg_value(c, base, addr - disp - idxval * scale);
		return;
	default:        /* [base + disp] */
		base = pick_reg(g, 64, false);
		op->mem.base = base;
		op->mem.displacement = disp;
		set_reg_value(c, base, addr - disp);
		return;
	}
}

void mem_operand(struct gen *g, struct tcase *c, ZydisEncoderOperand *op,
		 unsigned bits, uint64_t v)
{
	unsigned bytes = bits / 8;
	uint64_t addr;
	uint8_t buf[16];

	switch (rng_below(&g->rng, 4)) {
	case 0:         /* page-crossing */
		addr = OPND_CROSS - 1 - rng_below(&g->rng, bytes > 1 ? bytes - 1 : 1);
		break;
	case 1:         /* misaligned */
		addr = OPND_BASE + 64 + rng_below(&g->rng, 0x1F00);
		break;
	default:        /* aligned */
		addr = (OPND_BASE + 64 + rng_below(&g->rng, 0x1F00)) & ~(uint64_t)(bytes - 1);
		break;
	}
	memcpy(buf, &v, 8);
	memset(buf + 8, 0, 8);
	add_fill(c, addr, buf, bytes <= 16 ? bytes : 16);
	mem_operand_at(g, c, op, bits, addr);
}

bool encode(struct gen *g, struct tcase *c, ZydisMnemonic m, uint64_t prefixes,
	    unsigned nops, const ZydisEncoderOperand *ops)
{
	ZydisEncoderRequest req;
	ZyanUSize len = sizeof(c->code);
	int rip_op = -1;
	uint64_t target = 0;

	memset(&req, 0, sizeof(req));
	req.machine_mode = ZYDIS_MACHINE_MODE_LONG_64;
	req.mnemonic = m;
	req.prefixes = prefixes;
	req.operand_count = (ZyanU8)nops;
	if (nops)
		memcpy(req.operands, ops, nops * sizeof(ops[0]));
	for (unsigned i = 0; i < nops; i++) {
		if (ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY &&
		    ops[i].mem.base == ZYDIS_REGISTER_RIP) {
			rip_op = (int)i;
			target = (uint64_t)ops[i].mem.displacement;
			req.operands[i].mem.displacement = 0;
		}
	}
	if (prefixes & ZYDIS_ATTRIB_HAS_ADDRESSSIZE) {
		req.prefixes &= ~ZYDIS_ATTRIB_HAS_ADDRESSSIZE;
		req.address_size_hint = ZYDIS_ADDRESS_SIZE_HINT_32;
	}
	if (ZYAN_FAILED(ZydisEncoderEncodeInstruction(&req, c->code, &len)))
		return false;
	if (rip_op >= 0) {
		req.operands[rip_op].mem.displacement =
			(int64_t)(target - (c->rip + len));
		len = sizeof(c->code);
		if (ZYAN_FAILED(ZydisEncoderEncodeInstruction(&req, c->code, &len)))
			return false;
	}
	c->len = (unsigned)len;
	return true;
}

void set_bytes(struct tcase *c, const uint8_t *b, unsigned len)
{
	memcpy(c->code, b, len);
	c->len = len;
}
