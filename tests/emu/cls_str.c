/*
 * emu-diff classes: string instructions (MOVS STOS LODS CMPS SCAS, each
 * size, with REP/REPE/REPNE, DF = 0 and 1, small counts including 0, and
 * 32-bit addressing) and the stack (PUSH POP PUSHF POPF LEAVE).
 *
 * Flags: CMPS and SCAS set all six as CMP does; the others leave them
 * alone. POPF loads all six and DF (user mode and CPL0 agree on those).
 * PUSHF's memory image is compared under F_COMPARED | bit 1 only: the host
 * runs with IF = 1 in user mode, the emulated CPU with IF = 0 at CPL0.
 */
#include <string.h>

#include "harness.h"

static const unsigned sizes[4] = { 8, 16, 32, 64 };

/* A 64-byte window [addr - 32, addr + 32) of random bytes. */
static void window(struct gen *g, struct tcase *c, uint64_t addr, uint8_t *w)
{
	for (unsigned b = 0; b < 64; b++)
		w[b] = (uint8_t)rng_next(&g->rng);
	add_fill(c, addr - 32, w, 64);
}

static uint64_t string_addr(struct gen *g)
{
	if (rng_below(&g->rng, 4) == 0)
		return OPND_CROSS - 8 + rng_below(&g->rng, 16);
	return OPND_BASE + 64 + rng_below(&g->rng, 0x2000 - 128);
}

/* k->arg: the byte-size opcode (A4 MOVS, AA STOS, AC LODS, A6 CMPS,
 * AE SCAS); the next opcode is the word/dword/qword form. */
static bool gen_string(struct gen *g, struct tcase *c, unsigned i,
		       const struct tclass *k)
{
	unsigned bits = sizes[i % 4], bytes = bits / 8;
	uint8_t op = (uint8_t)k->arg, code[8], w[64];
	unsigned n = 0, rep = (i / 4) % 3;
	bool compare = op == 0xA6 || op == 0xAE;
	bool a32 = rng_below(&g->rng, 6) == 0;
	uint64_t si = string_addr(g), di = string_addr(g);
	uint64_t count = rng_below(&g->rng, 32 / bytes + 1);

	if (rep == 2 && !compare)
		rep = 1;
	if (i / 4 % 2)
		c->in.rflags |= F_DF;
	else
		c->in.rflags &= ~F_DF;
	if (a32)
		code[n++] = 0x67;
	if (bits == 16)
		code[n++] = 0x66;
	if (rep)
		code[n++] = rep == 1 ? 0xF3 : 0xF2;
	if (bits == 64)
		code[n++] = 0x48;
	code[n++] = bits == 8 ? op : op + 1;
	set_bytes(c, code, n);

	window(g, c, si, w);
	if (compare && rng_below(&g->rng, 4)) {
		/* Mostly equal data so REPE runs a while, then stops. */
		unsigned flip = rng_below(&g->rng, 64);
		uint8_t d[64];

		if (op == 0xAE) {
			for (unsigned b = 0; b < 64; b++)
				d[b] = w[32 + b % bytes];
			memcpy(&c->in.gpr[R_RAX], w + 32, bytes);
		} else {
			memcpy(d, w, 64);
		}
		if (rng_below(&g->rng, 2))
			d[flip] ^= 1 << rng_below(&g->rng, 8);
		add_fill(c, di - 32, d, 64);
	} else {
		window(g, c, di, w);
	}
	if (a32) {
		/* Upper halves must be ignored, and come back zeroed. */
		si |= rng_next(&g->rng) << 32;
		di |= rng_next(&g->rng) << 32;
		count |= rng_next(&g->rng) << 32;
	}
	c->in.gpr[R_RSI] = si;
	c->in.gpr[R_RDI] = di;
	if (rep)
		c->in.gpr[R_RCX] = count;
	/* A32 REP with ECX = 0 runs no iteration, and CPUs differ in whether
	 * it still writes ECX, ESI and EDI (zeroing the upper halves): some
	 * Xeons do, others leave the registers alone, as the emulator does. */
	if (a32 && rep && (uint32_t)count == 0)
		c->undef_regs |= 1u << R_RCX | 1u << R_RSI | 1u << R_RDI;
	return true;
}

static void stack_word(struct tcase *c, uint64_t addr, uint64_t v, unsigned len)
{
	add_fill(c, addr, &v, len);
}

/* PUSH/POP forms; arg 1: PUSHF/POPF. */
static bool gen_stack(struct gen *g, struct tcase *c, unsigned i,
		      const struct tclass *k)
{
	ZydisEncoderOperand op;
	uint8_t code[8];
	int idx = (int)rng_below(&g->rng, 16);
	uint64_t fl = (rng_next(&g->rng) & F_COMPARED) | 2;

	if (k->arg == 1) {
		switch (i % 4) {
		case 0:         /* pushfq */
			code[0] = 0x9C;
			set_bytes(c, code, 1);
			c->mask_addr = STACK_TOP - 8;
			c->mask_bits = F_COMPARED | 2;
			return true;
		case 1:         /* pushf (16-bit) */
			code[0] = 0x66;
			code[1] = 0x9C;
			set_bytes(c, code, 2);
			c->mask_addr = STACK_TOP - 8;
			c->mask_bits = 0xFFFFFFFFFFFFULL | (F_COMPARED | 2) << 48;
			return true;
		case 2:         /* popfq */
			code[0] = 0x9D;
			set_bytes(c, code, 1);
			stack_word(c, STACK_TOP, fl, 8);
			return true;
		default:        /* popf (16-bit) */
			code[0] = 0x66;
			code[1] = 0x9D;
			set_bytes(c, code, 2);
			stack_word(c, STACK_TOP, fl, 2);
			return true;
		}
	}
	switch (i % 9) {
	case 0:         /* push r64, including rsp itself */
		op_reg(&op, gpr_of_size(idx, 64));
		return encode(g, c, ZYDIS_MNEMONIC_PUSH, 0, 1, &op);
	case 1:
		op_reg(&op, gpr_of_size(idx, 16));
		return encode(g, c, ZYDIS_MNEMONIC_PUSH, 0, 1, &op);
	case 2:         /* pop r64, including rsp */
		op_reg(&op, gpr_of_size(idx, 64));
		return encode(g, c, ZYDIS_MNEMONIC_POP, 0, 1, &op);
	case 3:
		op_reg(&op, gpr_of_size(idx, 16));
		return encode(g, c, ZYDIS_MNEMONIC_POP, 0, 1, &op);
	case 4:         /* push imm8 / imm32 / imm16 */
		code[0] = 0x6A;
		code[1] = (uint8_t)edge_value(g, 8);
		set_bytes(c, code, 2);
		return true;
	case 5: {
		uint32_t v = (uint32_t)edge_value(g, 32);

		if (rng_below(&g->rng, 2)) {
			code[0] = 0x68;
			memcpy(code + 1, &v, 4);
			set_bytes(c, code, 5);
		} else {
			code[0] = 0x66;
			code[1] = 0x68;
			memcpy(code + 2, &v, 2);
			set_bytes(c, code, 4);
		}
		return true;
	}
	case 6:         /* push m64 / m16 */
		mem_operand(g, c, &op, rng_below(&g->rng, 4) ? 64 : 16,
			    edge_value(g, 64));
		return encode(g, c, ZYDIS_MNEMONIC_PUSH, 0, 1, &op);
	case 7:         /* pop m64 */
		mem_operand(g, c, &op, 64, edge_value(g, 64));
		return encode(g, c, ZYDIS_MNEMONIC_POP, 0, 1, &op);
	default:        /* leave: rsp = rbp, pop rbp */
		c->in.gpr[R_RBP] = STACK_TOP - 16 + 8 * rng_below(&g->rng, 5);
		code[0] = 0xC9;
		if (rng_below(&g->rng, 2)) {
			code[1] = code[0];
			code[0] = 0x66;
			set_bytes(c, code, 2);
		} else {
			set_bytes(c, code, 1);
		}
		return true;
	}
}

/*
 * Memory faults: operands inside or crossing into the unmapped 2 MiB page
 * after the data area. Compared: the vector (#PF), CR2, RIP at the
 * instruction, registers (a REP string instruction stops at the faulting
 * iteration with RCX/RSI/RDI updated) and memory (a faulting store writes
 * nothing, not even the part on the mapped page).
 */
static bool gen_faults(struct gen *g, struct tcase *c, unsigned i,
		       const struct tclass *k)
{
	static const ZydisMnemonic loads[] = { ZYDIS_MNEMONIC_MOV,
		ZYDIS_MNEMONIC_ADD, ZYDIS_MNEMONIC_CMP, ZYDIS_MNEMONIC_MOVZX };
	static const ZydisMnemonic stores[] = { ZYDIS_MNEMONIC_MOV,
		ZYDIS_MNEMONIC_ADD, ZYDIS_MNEMONIC_XCHG, ZYDIS_MNEMONIC_XADD };
	unsigned bits = sizes[1 + rng_below(&g->rng, 3)], bytes = bits / 8;
	uint64_t addr = GUARD_PAGE - rng_below(&g->rng, bytes);
	ZydisEncoderOperand ops[2];
	ZydisRegister r;
	uint8_t w[64], code[4];
	unsigned n = 0;

	if (!g->has_guard)
		return false;
	if (rng_below(&g->rng, 4) == 0)
		addr = GUARD_PAGE + rng_below(&g->rng, 64);
	window(g, c, GUARD_PAGE - 32, w);
	switch (i % 6) {
	case 0: {       /* load */
		ZydisMnemonic m = loads[rng_below(&g->rng, 4)];

		if (m == ZYDIS_MNEMONIC_MOVZX)
			bits = 16;
		r = pick_reg(g, m == ZYDIS_MNEMONIC_MOVZX ? 32 : bits, false);
		op_reg(&ops[0], r);
		mem_operand_at(g, c, &ops[1], bits, addr);
		return encode(g, c, m, 0, 2, ops);
	}
	case 1: {       /* store, read-modify-write, locked */
		ZydisMnemonic m = stores[rng_below(&g->rng, 4)];

		r = pick_reg(g, bits, false);
		op_reg(&ops[1], r);
		mem_operand_at(g, c, &ops[0], bits, addr);
		return encode(g, c, m, m == ZYDIS_MNEMONIC_ADD &&
			      rng_below(&g->rng, 2) ? ZYDIS_ATTRIB_HAS_LOCK : 0,
			      2, ops);
	}
	case 2:         /* rep stos / movs / lods running into the page */
	case 3: {
		static const uint8_t ops8[3] = { 0xAA, 0xA4, 0xAC };
		uint8_t op = ops8[rng_below(&g->rng, 3)];
		uint64_t far = OPND_BASE + 64 + rng_below(&g->rng, 0x1000);
		uint64_t near = GUARD_PAGE - 1 - rng_below(&g->rng, 24);

		bits = sizes[rng_below(&g->rng, 4)];
		c->in.rflags &= ~F_DF;
		if (bits == 16)
			code[n++] = 0x66;
		code[n++] = 0xF3;
		if (bits == 64)
			code[n++] = 0x48;
		code[n++] = bits == 8 ? op : op + 1;
		set_bytes(c, code, n);
		/* stos writes [rdi]; lods reads [rsi]; movs either side. */
		c->in.gpr[R_RDI] = op == 0xAC ? far :
				   op == 0xA4 && i % 2 ? far : near;
		c->in.gpr[R_RSI] = op == 0xAA ? far :
				   op == 0xA4 && i % 2 ? near : far;
		c->in.gpr[R_RCX] = 8 + rng_below(&g->rng, 40);
		return true;
	}
	case 4:         /* push / pop with RSP at the page */
		c->in.gpr[R_RSP] = rng_below(&g->rng, 2) ?
			GUARD_PAGE + 8 - rng_below(&g->rng, 8) :
			GUARD_PAGE - rng_below(&g->rng, 8);
		code[0] = rng_below(&g->rng, 2) ? 0x50 + rng_below(&g->rng, 8) :
						0x58 + rng_below(&g->rng, 8);
		if (code[0] == 0x5C)    /* pop rsp: fine, but keep it rare */
			code[0] = 0x5B;
		set_bytes(c, code, 1);
		return true;
	default:        /* cmpxchg8b crossing, bts with a far bit offset */
		if (rng_below(&g->rng, 2)) {
			g->used_regs |= 0xFu;
			mem_operand_at(g, c, &ops[0], 64, GUARD_PAGE - rng_below(&g->rng, 8));
			return encode(g, c, ZYDIS_MNEMONIC_CMPXCHG8B, 0, 1, ops);
		}
		mem_operand_at(g, c, &ops[0], bits, OPND_CROSS);
		r = pick_reg(g, bits, false);
		set_reg_value(c, r, (GUARD_PAGE - OPND_CROSS) * 8 +
			      rng_below(&g->rng, 512) - 8);
		op_reg(&ops[1], r);
		if (bits == 16)
			return false;   /* a 16-bit offset can't reach it */
		return encode(g, c, ZYDIS_MNEMONIC_BTS, 0, 2, ops);
	}
}

const struct tclass str_classes[] = {
	{ "FAULTS", 3000, gen_faults, 0, 0, 0 },
	{ "MOVS", 2400, gen_string, 0, 0xA4, 0 },
	{ "STOS", 2400, gen_string, 0, 0xAA, 0 },
	{ "LODS", 2400, gen_string, 0, 0xAC, 0 },
	{ "CMPS", 2400, gen_string, 0, 0xA6, 0 },
	{ "SCAS", 2400, gen_string, 0, 0xAE, 0 },
	{ "PUSH_POP", 3600, gen_stack, 0, 0, 0 },
	{ "PUSHF_POPF", 2000, gen_stack, 0, 1, 0 },
	{ NULL, 0, NULL, 0, 0, 0 },
};
