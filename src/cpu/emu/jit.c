/*
 * Block translator, first stage of binary translation: a decoded block of
 * 64-bit code becomes one host function. Most instructions become a direct
 * call of their handler with the bookkeeping the interpreter's block loop
 * does (RIP, next RIP and RSP for precise faults, the end-of-block check
 * after a store to decoded code), so the loop, its indirect call and its
 * counters go away; MOV, LEA, the binary ALU operations, shifts by a
 * constant and IMUL with a register destination become host instructions
 * on the register file, and their
 * lazy-flags record is left out where the next flag writer in the block
 * overwrites it before anything can read it; INC/DEC and conditional
 * branches right after inline ALU operations work on the host's flags.
 *
 * Host: x86-64 only (the emu engine runs on x86-64 hosts). Generated code
 * keeps the vCPU in rbx, the block's first RIP in r12 and its first
 * decoded entry in r13 (the entries may move between runs when their page
 * grows, so the code addresses them relative to r13, never absolutely).
 * A fault inside a handler longjmps out of the generated code to
 * emu_cpu_run(), as it would out of the interpreter's loop.
 *
 * A translation ends in a stub that goes straight on into a translated
 * block that followed it before (two per translation, then a jump cache
 * by RIP), on any code page, when nothing has changed that the run loop
 * or a fetch would check (jit_chain.c).
 *
 * Translations live in a per-vCPU buffer; when it is full, every
 * translation is dropped and the buffer starts again. A translation hangs
 * off the block's entry and depends on nothing but the entries of its own
 * block, which stay as they are while their page is decoded; a write to
 * the page re-decodes it into fresh entries without code.
 */
#include <stdlib.h>

#include "cpu/emu/jit_internal.h"

#if defined(__x86_64__)

static bool writes_all_flags(const struct dinsn *d, const struct jit_form *f)
{
	if (f->kind == JF_SHIFT) {      /* by a count that is not 0 */
		unsigned mask = f->size * 8 - 1;
		return ((d->nops > 1 ? (unsigned)d->op[1].val : 1) & mask) != 0;
	}
	return f->kind == JF_ALU_RR || f->kind == JF_ALU_RI || f->kind == JF_IMUL;
}

/* Inline code that neither faults nor touches the flags. */
static bool flagless(const struct dinsn *d, const struct jit_form *f)
{
	return f->kind == JF_MOV_RR || f->kind == JF_MOV_RI || f->kind == JF_LEA ||
	       f->kind == JF_EXT || f->kind == JF_NOP ||
	       (f->kind == JF_SHIFT && !writes_all_flags(d, f));
}

/*
 * Whether the flags that entry i of the block records are dead: the next
 * flag writer is inline code that overwrites all of them, with only
 * inline MOVs in between (they neither fault nor read flags, so nothing
 * can observe the record first), or ROL/ROR by a constant: they read no
 * flags, set CF and OF and keep the rest for that writer to overwrite
 * (SHA-256's and BLAKE2s's runs of rotates; a rotate in the run has the
 * same writer ahead, so its own flags are dead too and it stays inline).
 */
static bool flags_dead(const struct dinsn *d, const struct jit_form *f, unsigned i,
		       unsigned n)
{
	for (unsigned j = i + 1; j < n; j++) {
		if (writes_all_flags(&d[j], &f[j]))
			return true;
		if (!flagless(&d[j], &f[j]) && f[j].kind != JF_ROT)
			return false;
	}
	return false;
}

static void emit_mov(struct emit *e, const struct dinsn *d, const struct jit_form *f)
{
	unsigned dst = d->op[0].reg;
	if (f->kind == JF_MOV_RR)
		load(e, RAX, GPR(d->op[1].reg), f->size);
	else
		load_imm(e, RAX, f->size == 8 ? (uint64_t)d->op[1].val
					      : (uint32_t)d->op[1].val);
	store64(e, RAX, GPR(dst));
}

/* lea rax, [rax + rcx * scale + disp32], without rax (!base: SIB base 101
 * with mod 00 is "no base, disp32") or without rcx (!index). */
static void lea_rax(struct emit *e, bool base, bool index, unsigned scale, int32_t disp)
{
	put8(e, 0x48);
	put8(e, 0x8D);
	if (!index) {
		put8(e, 0x80);                          /* [rax + disp32] */
	} else {
		put8(e, base ? 0x84 : 0x04);            /* SIB, disp32 */
		put8(e, (uint8_t)(__builtin_ctz(scale) << 6 | RCX << 3 | (base ? RAX : 5)));
	}
	put32(e, (uint32_t)disp);
}

/* rax = the 64-bit-addressing effective address of o, without a segment
 * base (as h_lea64 in move.c computes it), with LEA and MOV only, so the
 * host flags stay as they were; clobbers rcx. */
static void ea_to_rax(struct emit *e, const struct dop *o, uint32_t next_off)
{
	bool index = o->index != REG_NONE;

	if (o->base == REG_RIP) {           /* no index with RIP-relative */
		int64_t t = (int64_t)next_off + o->val;
		if (t == (int32_t)t) {
			rip_to(e, RAX, (uint32_t)(int32_t)t);
		} else {
			rip_to(e, RCX, next_off);
			load_imm(e, RAX, (uint64_t)o->val);
			lea_rax(e, true, true, 1, 0);
		}
		return;
	}
	if (o->val != (int32_t)o->val) {    /* a displacement beyond 32 bits */
		load_imm(e, RAX, (uint64_t)o->val);
		if (o->base != REG_NONE) {
			load(e, RCX, GPR(o->base), 8);
			lea_rax(e, true, true, 1, 0);
		}
		if (index) {
			load(e, RCX, GPR(o->index), 8);
			lea_rax(e, true, true, o->scale, 0);
		}
		return;
	}
	if (o->base == REG_NONE && !index) {
		load_imm(e, RAX, (uint64_t)o->val);
		return;
	}
	if (o->base != REG_NONE)
		load(e, RAX, GPR(o->base), 8);
	if (index)
		load(e, RCX, GPR(o->index), 8);
	lea_rax(e, o->base != REG_NONE, index, index ? o->scale : 1, (int32_t)o->val);
}

/* LEA as h_lea64 in move.c: 64-bit addressing, no segment base. */
static void emit_lea(struct emit *e, const struct dinsn *d, uint32_t next_off)
{
	ea_to_rax(e, &d->op[1], next_off);
	if (d->op[0].size == 4) {
		put8(e, 0x89);                                    /* mov eax, eax */
		put8(e, 0xC0);
	}
	store64(e, RAX, GPR(d->op[0].reg));
}

/* The binary operations (JA_*): the host's r/m32, r32 opcode (CMP and
 * TEST as SUB and AND: their result is not written) and the lazy record. */
static const uint8_t alu_host_op[] = {
	[JA_ADD] = 0x01, [JA_OR] = 0x09, [JA_AND] = 0x21, [JA_SUB] = 0x29,
	[JA_XOR] = 0x31, [JA_CMP] = 0x29, [JA_TEST] = 0x21,
};
static const uint8_t alu_lf[] = {
	[JA_ADD] = LF_ADD, [JA_OR] = LF_LOGIC, [JA_AND] = LF_LOGIC,
	[JA_SUB] = LF_SUB, [JA_XOR] = LF_LOGIC, [JA_CMP] = LF_SUB,
	[JA_TEST] = LF_LOGIC,
};

/* Where register operand reg lives in the register file: a high-8
 * register (AH-BH) is byte 1 of its GPR. */
static int32_t gpr_at(unsigned reg)
{
	return GPR(reg & 15) + (reg & REG_HIGH8 ? 1 : 0);
}

/* reg = the operand of size bytes at [rbx + disp], zero-extended. */
static void load_sized(struct emit *e, unsigned reg, int32_t disp, unsigned size)
{
	if (size == 1) {
		put8(e, 0x0F);                  /* movzx reg32, byte [rbx + disp] */
		put8(e, 0xB6);
		put8(e, (uint8_t)(0x80 | reg << 3 | 3));
		put32(e, (uint32_t)disp);
	} else {
		load(e, reg, disp, size);
	}
}

/* rcx = the destination register, rax = the source register or immediate,
 * both zero-extended from the operation's size. */
static void alu_operands(struct emit *e, const struct dinsn *d, unsigned size)
{
	load_sized(e, RCX, gpr_at(d->op[0].reg), size);
	if (d->op[1].kind == OPK_REG)
		load_sized(e, RAX, gpr_at(d->op[1].reg), size);
	else
		load_imm(e, RAX, (uint64_t)d->op[1].val & size_mask(size));
}

/* rdx = rcx; op rdx, rax (opcode: the r/m32, r32 form), at size; then the
 * result back into the destination register (an 8-bit one keeps the rest
 * of its GPR; a 32-bit one is zero-extended) unless CMP or TEST. */
static void alu_op(struct emit *e, const struct dinsn *d, uint8_t opcode, unsigned size,
		   bool writes)
{
	if (size == 8)
		put8(e, 0x48);
	put8(e, 0x89);                  /* mov rdx, rcx */
	put8(e, 0xCA);
	if (size == 8)
		put8(e, 0x48);
	put8(e, (uint8_t)(size == 1 ? opcode - 1 : opcode));   /* op rdx/edx/dl, rax/eax/al */
	put8(e, 0xC2);
	if (!writes)
		return;
	if (size == 1)
		mem_op(e, false, 0x88, RDX, gpr_at(d->op[0].reg));  /* mov [], dl */
	else
		store64(e, RDX, GPR(d->op[0].reg));
}

/* The lazy record {op, size, a (rcx), b (rax), r (rdx)}. */
static void alu_record(struct emit *e, uint8_t lf_op, unsigned size)
{
	store_imm8(e, OFF(lf_op), lf_op);
	store_imm8(e, OFF(lf_size), (uint8_t)size);
	store64(e, RCX, OFF(lf_dst));
	store64(e, RAX, OFF(lf_src));
	store64(e, RDX, OFF(lf_res));
}

/*
 * The binary operation as alu_reg() in alu.c does it: a in rcx, b in rax,
 * the result in rdx, written back unless CMP or TEST, then the lazy
 * record unless dead.
 */
static void emit_alu(struct emit *e, const struct dinsn *d, const struct jit_form *f,
		     bool dead)
{
	alu_operands(e, d, f->size);
	alu_op(e, d, alu_host_op[f->op], f->size, f->op != JA_CMP && f->op != JA_TEST);
	if (!dead)
		alu_record(e, alu_lf[f->op], f->size);
}

/*
 * ADC/SBB with the guest's CF in the host's (right after inline ALU
 * operations): the carry-in goes to the record first, then the host
 * instruction uses and sets CF itself.
 */
static void emit_adc(struct emit *e, const struct dinsn *d, const struct jit_form *f,
		     bool dead)
{
	alu_operands(e, d, f->size);
	if (!dead) {
		put8(e, 0x0F);                  /* setc [rbx + lf_cin] */
		put8(e, 0x92);
		put8(e, 0x83);
		put32(e, (uint32_t)OFF(lf_cin));
	}
	alu_op(e, d, f->op ? 0x19 : 0x11, f->size, true);
	if (!dead)
		alu_record(e, f->op ? LF_SBB : LF_ADC, f->size);
}

/* The LF_SHIFT record {size, dst 0, src OF (esi), res rax} and CF (dl). */
static void emit_shift_record(struct emit *e, unsigned size)
{
	mem_op(e, false, 0x88, RDX, OFF(lf_cin));          /* mov [lf_cin], dl */
	store_imm8(e, OFF(lf_op), LF_SHIFT);
	store_imm8(e, OFF(lf_size), (uint8_t)size);
	mem_op(e, true, 0xC7, 0, OFF(lf_dst));             /* mov qword [], 0 */
	put32(e, 0);
	mem_op(e, true, 0x89, 6, OFF(lf_src));             /* mov [], rsi */
	store64(e, RAX, OFF(lf_res));
}

/*
 * SHL/SHR/SAR by a constant as shift_reg() in arith.c: the host shift
 * gives the result and CF (the last bit out); OF as the emulator defines
 * it for every count (SHL: top bit of the result ^ CF, SHR: top bit of
 * the operand, SAR: 0). A count of 0 only zero-extends a 32-bit register.
 */
static void emit_shift(struct emit *e, const struct dinsn *d, const struct jit_form *f,
		       bool dead)
{
	static const uint8_t sub[] = { [JS_SHL] = 4, [JS_SHR] = 5, [JS_SAR] = 7 };
	unsigned bits = f->size * 8, dst = d->op[0].reg;
	unsigned n = (d->nops > 1 ? (unsigned)d->op[1].val : 1) & (bits - 1);
	bool wide = f->size == 8;

	load(e, RAX, GPR(dst), f->size);
	if (n == 0) {
		store64(e, RAX, GPR(dst));
		return;
	}
	if (wide)
		put8(e, 0x48);
	put8(e, 0x89);                  /* mov rcx, rax: the operand */
	put8(e, 0xC1);
	if (wide)
		put8(e, 0x48);
	put8(e, 0xC1);                  /* shift rax, n */
	put8(e, (uint8_t)(0xC0 | sub[f->op] << 3));
	put8(e, (uint8_t)n);
	static const uint8_t setc_dl[] = { 0x0F, 0x92, 0xC2, 0x0F, 0xB6, 0xD2 };
	emit_bytes(e, setc_dl, sizeof(setc_dl));       /* setc dl; movzx edx, dl */
	store64(e, RAX, GPR(dst));
	if (dead)
		return;
	if (f->op == JS_SAR) {
		put8(e, 0x31);                          /* xor esi, esi */
		put8(e, 0xF6);
	} else {
		/* esi = top bit of the result (SHL) or of the operand (SHR) */
		if (wide)
			put8(e, 0x48);
		put8(e, 0x89);
		put8(e, f->op == JS_SHL ? 0xC6 : 0xCE);    /* mov rsi, rax / rcx */
		if (wide)
			put8(e, 0x48);
		put8(e, 0xC1);                              /* shr rsi, bits - 1 */
		put8(e, 0xEE);
		put8(e, (uint8_t)(bits - 1));
		if (f->op == JS_SHL) {
			put8(e, 0x31);                      /* xor esi, edx */
			put8(e, 0xD6);
		}
	}
	emit_shift_record(e, f->size);
}

/* MOVZX/MOVSX(D) of a register (AH-BH too) into a 32/64-bit one, as
 * mov_ext() in move.c: the source's size extended to the destination's,
 * a 32-bit destination zero-extended. */
static void emit_ext(struct emit *e, const struct dinsn *d, const struct jit_form *f)
{
	bool sx = f->op == JL_SX;

	if (sx && d->op[0].size == 8)
		put8(e, 0x48);                          /* REX.W */
	if (f->size == 4) {
		put8(e, sx ? 0x63 : 0x8B);              /* movsxd rax / mov eax, dword */
	} else {
		put8(e, 0x0F);
		put8(e, (uint8_t)((sx ? 0xBE : 0xB6) + (f->size == 2)));
	}
	put8(e, 0x83);                                  /* [rbx + disp32] into eax */
	put32(e, (uint32_t)gpr_at(d->op[1].reg));
	store64(e, RAX, GPR(d->op[0].reg));
}

/* ROL/ROR by a constant (not 0) whose flags nothing reads: the rotated
 * register only (a 32-bit one zero-extended, as the handler writes it). */
static void emit_rotate(struct emit *e, const struct dinsn *d, const struct jit_form *f)
{
	unsigned n = (d->nops > 1 ? (unsigned)d->op[1].val : 1) & (f->size * 8 - 1);

	load(e, RAX, GPR(d->op[0].reg), f->size);
	if (f->size == 8)
		put8(e, 0x48);
	put8(e, 0xC1);                  /* rol/ror rax, n */
	put8(e, (uint8_t)(0xC0 | (f->op ? 1 : 0) << 3));
	put8(e, (uint8_t)n);
	store64(e, RAX, GPR(d->op[0].reg));
}

/* Operand o of an IMUL (register or immediate, as the handler reads it)
 * into reg. */
static void imul_operand(struct emit *e, unsigned reg, const struct dop *o, unsigned size)
{
	if (o->kind == OPK_REG)
		load(e, reg, GPR(o->reg), size);
	else
		load_imm(e, reg, size == 8 ? (uint64_t)o->val : (uint32_t)o->val);
}

/*
 * Two/three-operand IMUL as imul_reg() in arith.c: the host IMUL of the
 * same width gives the product and its signed overflow; recorded as
 * LF_SHIFT with CF = OF = overflow.
 */
static void emit_imul(struct emit *e, const struct dinsn *d, const struct jit_form *f,
		      bool dead)
{
	int i = d->nops == 3 ? 1 : 0;
	bool wide = f->size == 8;

	imul_operand(e, RAX, &d->op[i], f->size);
	imul_operand(e, RCX, &d->op[i + 1], f->size);
	if (wide)
		put8(e, 0x48);
	static const uint8_t imul[] = { 0x0F, 0xAF, 0xC1,   /* imul rax, rcx */
					0x0F, 0x90, 0xC2,   /* seto dl */
					0x0F, 0xB6, 0xD2 }; /* movzx edx, dl */
	emit_bytes(e, imul, sizeof(imul));
	store64(e, RAX, GPR(d->op[0].reg));
	if (dead)
		return;
	put8(e, 0x89);                  /* mov esi, edx: OF */
	put8(e, 0xD6);
	emit_shift_record(e, f->size);
}

static void emit_call(struct emit *e, const struct dinsn *d, unsigned i,
		      uint32_t off, uint32_t next_off);

/* The translating vCPU's opstats (VIREO_EMU_OPSTATS), or NULL. */
static _Thread_local uint64_t *opstats;

/* ++opstats[key] in the generated code (rax is free before a handler call). */
static void emit_opstat(struct emit *e, const struct dinsn *d, unsigned where)
{
	if (!opstats)
		return;
	load_imm(e, RAX, (uint64_t)(uintptr_t)&opstats[emu_opstat_key(d, where)]);
	static const uint8_t inc_rax[] = { 0x48, 0xFF, 0x00 };     /* inc qword [rax] */
	emit_bytes(e, inc_rax, sizeof(inc_rax));
}

/* [rbx + rdx + disp32] with reg in ModRM.reg (rdx: a TLB entry's offset). */
static void tlb_op(struct emit *e, uint8_t rex, uint8_t opcode, unsigned reg,
		   size_t field)
{
	if (rex)
		put8(e, rex);
	put8(e, opcode);
	put8(e, (uint8_t)(0x84 | (reg & 7) << 3));
	put8(e, 0x13);                          /* SIB: base rbx, index rdx */
	put32(e, (uint32_t)(OFF(tlb) + (int32_t)field));
}

/*
 * rax = [rsi + rcx] as the guest's load writes its 32/64-bit register: a
 * MOV of that size, MOVZX (zero-extended to 64 bits, as a 32-bit write
 * does), MOVSX/MOVSXD (sign-extended to the destination's size).
 */
static void emit_load_insn(struct emit *e, const struct jit_form *f, unsigned dst_size)
{
	static const uint8_t sib[] = { 0x04, 0x0E };    /* [rsi + rcx] into eax/rax */
	bool sx = f->op == JL_SX;

	if (f->op == JL_MOV ? f->size == 8 : sx && dst_size == 8)
		put8(e, 0x48);                          /* REX.W */
	if (f->size >= 4 && !(sx && dst_size == 8 && f->size == 4)) {
		put8(e, 0x8B);                          /* mov */
	} else if (f->size == 4) {
		put8(e, 0x63);                          /* movsxd rax, dword */
	} else {
		put8(e, 0x0F);
		put8(e, (uint8_t)((sx ? 0xBE : 0xB6) + (f->size == 2)));   /* movzx/movsx */
	}
	emit_bytes(e, sib, sizeof(sib));
}

/*
 * emu_tlb_hit() for the linear address in rax: the entry's fast tag for
 * this access at the CPL (the tag, the permission and RAM at once) is the
 * tag of the access's last byte (so it is within the page), and for a
 * store no decoded code. On a hit
 * rsi holds the page's host address and rcx the offset; each miss is a
 * forward jump left in slow[] for the caller to point at its handler call.
 * Clobbers rcx, rdx, rsi, rdi and the host flags.
 */
static unsigned emit_tlb_probe(struct emit *e, bool store, unsigned size, uint8_t **slow)
{
	unsigned k = 0;
	static const uint8_t slot[] = {     /* emu_tlb_slot() */
		0x48, 0x89, 0xC2,               /* mov rdx, rax */
		0x48, 0xC1, 0xEA, 0x0C,         /* shr rdx, 12 */
		0x48, 0x89, 0xD1,               /* mov rcx, rdx */
		0x48, 0xC1, 0xE9, TLB_BITS,     /* shr rcx, TLB_BITS */
		0x48, 0x01, 0xCA,               /* add rdx, rcx */
		0x48, 0xC1, 0xE9, TLB_BITS,     /* shr rcx, TLB_BITS */
		0x48, 0x01, 0xCA,               /* add rdx, rcx */
		0x81, 0xE2,                     /* and edx, TLB_SIZE - 1 */
	};
	emit_bytes(e, slot, sizeof(slot));
	put32(e, TLB_SIZE - 1);
	put8(e, 0xC1); put8(e, 0xE2); put8(e, 6);      /* shl edx, 6: the entry's offset */
	/* The tag of the access's last byte: an access that leaves the page
	 * misses, with no check of its own (emu_tlb_slot() never gives
	 * neighbouring pages one slot). */
	put8(e, 0x48); put8(e, 0x8D); put8(e, 0x48);                /* lea rcx, [rax + size - 1] */
	put8(e, (uint8_t)(size - 1));
	static const uint8_t tag[] = {
		0x48, 0x81, 0xE1, 0x00, 0xF0, 0xFF, 0xFF,  /* and rcx, ~0xFFF */
		0x48, 0x83, 0xC9, TLB_VALID,    /* or rcx, TLB_VALID */
	};
	emit_bytes(e, tag, sizeof(tag));
	/* rdi = the entry + 8 * user: fast[acc * 2 + user] is the tag */
	load(e, 7, OFF(tlb_user_off), 8);                        /* mov rdi, [] */
	static const uint8_t user[] = {
		0x48, 0x01, 0xD7,               /* add rdi, rdx */
		0x48, 0x3B, 0x8C, 0x3B,         /* cmp rcx, [rbx + rdi + disp32] */
	};
	emit_bytes(e, user, sizeof(user));
	put32(e, (uint32_t)(OFF(tlb) + (int32_t)offsetof(struct tlb_ent, fast) +
			    (store ? 16 : 0)));
	slow[k++] = jcc_fwd(e, CC_NE);
	static const uint8_t page_off[] = {
		0x89, 0xC1,                     /* mov ecx, eax */
		0x81, 0xE1, 0xFF, 0x0F, 0x00, 0x00,  /* and ecx, 0xFFF */
	};
	emit_bytes(e, page_off, sizeof(page_off));
	tlb_op(e, 0x48, 0x8B, 6, offsetof(struct tlb_ent, host));   /* mov rsi, host */
	if (store) {
		tlb_op(e, 0, 0x8B, 7, offsetof(struct tlb_ent, pidx));  /* mov edi, pidx */
		put8(e, 0x85); put8(e, 0xFF);                           /* test edi, edi */
		uint8_t *no_page = jcc_fwd(e, 0x8);                      /* js */
		load(e, RDX, OFF(sh), 8);
		put8(e, 0x48); put8(e, 0x8B); put8(e, 0x92);            /* mov rdx, [rdx + has_code] */
		put32(e, (uint32_t)offsetof(struct emu_shared, has_code));
		static const uint8_t code[] = { 0x80, 0x3C, 0x3A, 0x00 };   /* cmp byte [rdx + rdi], 0 */
		emit_bytes(e, code, sizeof(code));
		slow[k++] = jcc_fwd(e, CC_NE);
		patch_to(no_page, e->p);
	}
	return k;
}

/*
 * The end of an inline memory access: "jmp done", the misses' handler
 * call, after a store's the end-of-block check (a store to decoded code
 * ends the block: its jump is returned in *exit_jump), with host_flags
 * the guest's arithmetic flags loaded into the host's (so that both paths
 * leave them as the guest's: never TF, DF or AC, which would change how
 * the host runs), then done.
 */
static void emit_slow_path(struct emit *e, const struct dinsn *d, unsigned i, uint32_t off,
			   uint32_t next_off, uint8_t **slow, unsigned k, bool store,
			   bool host_flags, uint8_t **exit_jump)
{
	put8(e, 0xE9);                                               /* jmp done */
	uint8_t *done = e->p;
	put32(e, 0);
	for (unsigned j = 0; j < k; j++)
		patch_to(slow[j], e->p);
	emit_opstat(e, d, OPSTAT_JIT_SLOW);
	emit_call(e, d, i, off, next_off);
	*exit_jump = NULL;
	if (store) {
		mem_op(e, false, 0x80, 7, OFF(exit_req));
		put8(e, 0);
		*exit_jump = jcc_fwd(e, CC_NE);
	}
	if (host_flags) {
		static const uint8_t mov_rdi_rbx[] = { 0x48, 0x89, 0xDF };
		emit_bytes(e, mov_rdi_rbx, sizeof(mov_rdi_rbx));
		load_imm(e, RAX, (uint64_t)(uintptr_t)emu_flags);
		static const uint8_t to_host_flags[] = {
			0xFF, 0xD0,                     /* call rax: emu_flags(c) */
			0x25, 0xD5, 0x08, 0x00, 0x00,   /* and eax, CF|PF|AF|ZF|SF|OF */
			0x50, 0x9D,                     /* push rax; popfq */
		};
		emit_bytes(e, to_host_flags, sizeof(to_host_flags));
	}
	patch_to(done, e->p);
}

/*
 * A 32/64-bit MOV load or store, or a MOVZX/MOVSX load, as load64() and
 * store64() in move.c do it: the address, the TLB probe, the access; a
 * miss calls the handler, which takes the slow path and raises the faults.
 */
static void emit_mem(struct emit *e, const struct dinsn *d, const struct jit_form *f,
		     unsigned i, uint32_t off, uint32_t next_off, uint8_t **exit_jump)
{
	bool store = f->kind == JF_STORE, wide = f->size == 8;
	const struct dop *m = &d->op[store ? 0 : 1];
	unsigned reg = d->op[store ? 1 : 0].reg;
	uint8_t *slow[6];

	ea_to_rax(e, m, next_off);
	if (m->seg == SEG_FS || m->seg == SEG_GS)
		mem_op(e, true, 0x03, RAX, OFF(seg[m->seg].base));  /* add rax, base */
	unsigned k = emit_tlb_probe(e, store, f->size, slow);
	if (store) {
		if (d->op[1].kind == OPK_IMM)   /* imm32, sign-extended for a qword */
			load_imm(e, RAX, wide ? (uint64_t)d->op[1].val
					      : (uint32_t)d->op[1].val & size_mask(f->size));
		else
			load_sized(e, RAX, gpr_at(reg), f->size);
		if (wide)
			put8(e, 0x48);
		else if (f->size == 2)
			put8(e, 0x66);
		put8(e, f->size == 1 ? 0x88 : 0x89);                   /* mov [rsi + rcx], al/ax/eax/rax */
		put8(e, 0x04); put8(e, 0x0E);
	} else if (f->op == JL_MOV && f->size < 4) {
		/* A byte or word load keeps the rest of its register. */
		emit_load_insn(e, f, f->size);
		if (f->size == 2)
			put8(e, 0x66);
		mem_op(e, false, f->size == 1 ? 0x88 : 0x89, RAX, gpr_at(reg));  /* mov [], al/ax */
	} else {
		emit_load_insn(e, f, d->op[0].size);
		store64(e, RAX, GPR(reg));
	}
	emit_slow_path(e, d, i, off, next_off, slow, k, store, false, exit_jump);
}

/*
 * A binary operation with a memory operand as alu_mem() in alu.c does it:
 * the address, the TLB probe (for a write unless CMP or TEST), then a in
 * rcx and b in rax as emit_alu() has them, the result back to memory
 * (JF_ALU_M) or the register (JF_ALU_RM), the record unless dead. A miss
 * calls the handler, which takes the slow path and raises the faults;
 * after it (and the end-of-block check of a store) the guest's flags go
 * into the host's, so that both paths leave the host flags as the guest's.
 */
static void emit_alu_mem(struct emit *e, const struct dinsn *d, const struct jit_form *f,
			 unsigned i, uint32_t off, uint32_t next_off, bool dead,
			 uint8_t **exit_jump)
{
	bool rm = f->kind == JF_ALU_RM, wide = f->size == 8;
	bool result = f->op != JA_CMP && f->op != JA_TEST;
	bool store = !rm && result;
	const struct dop *m = &d->op[rm ? 1 : 0];
	uint8_t *slow[6];

	ea_to_rax(e, m, next_off);
	if (m->seg == SEG_FS || m->seg == SEG_GS)
		mem_op(e, true, 0x03, RAX, OFF(seg[m->seg].base));  /* add rax, base */
	unsigned k = emit_tlb_probe(e, store, f->size, slow);
	static const uint8_t lea_rdi[] = { 0x48, 0x8D, 0x3C, 0x0E };   /* lea rdi, [rsi + rcx] */
	emit_bytes(e, lea_rdi, sizeof(lea_rdi));
	if (rm) {
		load(e, RCX, GPR(d->op[0].reg), f->size);
		if (wide)
			put8(e, 0x48);
		put8(e, 0x8B); put8(e, 0x07);                   /* mov eax/rax, [rdi] */
	} else {
		if (f->size == 1) {
			put8(e, 0x0F); put8(e, 0xB6); put8(e, 0x0F);   /* movzx ecx, byte [rdi] */
		} else {
			if (wide)
				put8(e, 0x48);
			put8(e, 0x8B); put8(e, 0x0F);           /* mov ecx/rcx, [rdi] */
		}
		if (d->op[1].kind == OPK_REG)
			load_sized(e, RAX, gpr_at(d->op[1].reg), f->size);
		else
			load_imm(e, RAX, (uint64_t)d->op[1].val & size_mask(f->size));
	}
	alu_op(e, d, alu_host_op[f->op], f->size, rm && result);
	if (store) {
		if (wide)
			put8(e, 0x48);
		put8(e, f->size == 1 ? 0x88 : 0x89);            /* mov [rdi], dl/edx/rdx */
		put8(e, 0x17);
	}
	if (!dead)
		alu_record(e, alu_lf[f->op], f->size);
	emit_slow_path(e, d, i, off, next_off, slow, k, store, true, exit_jump);
}

/*
 * PUSH of a 64-bit register or immediate, POP of a 64-bit register, CALL
 * rel32 and RET as h_push64(), h_pop64(), h_call_rel64() and h_ret64() in
 * ctrl.c: RSP changes only once the access has succeeded, so that a fault
 * leaves it as it was. PUSH RSP pushes the old value (read before the
 * subtraction), POP RSP leaves the popped value. CALL and RET end their
 * block and set next RIP on both paths.
 */
static void emit_stack(struct emit *e, const struct dinsn *d, const struct jit_form *f,
		       unsigned i, uint32_t off, uint32_t next_off, uint8_t **exit_jump)
{
	bool push = f->kind == JF_PUSH || f->kind == JF_CALL;
	uint8_t *slow[6];

	load(e, RAX, GPR(EMU_RSP), 8);
	if (push) {
		put8(e, 0x48); put8(e, 0x83); put8(e, 0xE8); put8(e, 8);       /* sub rax, 8 */
	}
	unsigned k = emit_tlb_probe(e, push, 8, slow);
	switch (f->kind) {
	case JF_CALL:
		rip_to(e, RDX, next_off);                                      /* the return address */
		put8(e, 0x48); put8(e, 0x89); put8(e, 0x14); put8(e, 0x0E);   /* mov [rsi + rcx], rdx */
		put8(e, 0x48); put8(e, 0x8D); put8(e, 0x82);                   /* lea rax, [rdx + rel32] */
		put32(e, (uint32_t)d->op[0].val);
		store64(e, RAX, OFF(next_rip));
		break;
	case JF_PUSH:
		if (d->op[0].kind == OPK_IMM)
			load_imm(e, RAX, (uint64_t)d->op[0].val);
		else
			load(e, RAX, GPR(d->op[0].reg), 8);
		put8(e, 0x48); put8(e, 0x89); put8(e, 0x04); put8(e, 0x0E);   /* mov [rsi + rcx], rax */
		break;
	default:        /* POP, RET */
		put8(e, 0x48); put8(e, 0x8B); put8(e, 0x04); put8(e, 0x0E);   /* mov rax, [rsi + rcx] */
		break;
	}
	mem_op(e, true, 0x83, push ? 5 : 0, GPR(EMU_RSP));                 /* sub/add qword [], 8 */
	put8(e, 8);
	if (f->kind == JF_POP)
		store64(e, RAX, GPR(d->op[0].reg));
	else if (f->kind == JF_RET)
		store64(e, RAX, OFF(next_rip));
	emit_slow_path(e, d, i, off, next_off, slow, k, push, false, exit_jump);
}

/*
 * SETcc and CMOVcc right after an inline ALU operation or INC/DEC, on the
 * host's flags (which they leave as they are): SETcc writes the byte
 * register (AH-BH: the second byte), a 32-bit CMOVcc zero-extends its
 * destination whether or not it moves, as the host's does.
 */
static void emit_setcc_cmov(struct emit *e, const struct dinsn *d, const struct jit_form *f)
{
	unsigned dst = d->op[0].reg;

	if (f->kind == JF_SETCC) {
		put8(e, 0x0F); put8(e, (uint8_t)(0x90 + f->op)); put8(e, 0xC0);   /* setcc al */
		mem_op(e, false, 0x88, RAX, dst & REG_HIGH8 ? GPR(dst & 3) + 1 : GPR(dst));
		return;
	}
	load(e, RAX, GPR(dst), f->size);
	load(e, RCX, GPR(d->op[1].reg), f->size);
	if (f->size == 8)
		put8(e, 0x48);
	put8(e, 0x0F); put8(e, (uint8_t)(0x40 + f->op)); put8(e, 0xC1);       /* cmovcc eax, ecx */
	store64(e, RAX, GPR(dst));
}

/*
 * INC/DEC as incdec_reg() in alu.c, right after an inline ALU operation or
 * INC/DEC: the host CF is then the guest's, which INC/DEC keep (lf_cin);
 * the host INC/DEC leaves all the host flags as the guest's again.
 */
static void emit_incdec(struct emit *e, const struct dinsn *d, const struct jit_form *f,
			bool dead)
{
	bool wide = f->size == 8;
	unsigned dst = d->op[0].reg;

	put8(e, 0x0F); put8(e, 0x92); put8(e, 0xC1);   /* setc cl */
	load(e, RAX, GPR(dst), f->size);
	put8(e, 0x48); put8(e, 0x89); put8(e, 0xC2);   /* mov rdx, rax */
	if (wide)
		put8(e, 0x48);
	put8(e, 0xFF);                                  /* inc/dec rax */
	put8(e, f->op ? 0xC0 : 0xC8);
	store64(e, RAX, GPR(dst));
	if (dead)
		return;
	mem_op(e, false, 0x88, RCX, OFF(lf_cin));      /* mov [lf_cin], cl */
	store_imm8(e, OFF(lf_op), f->op ? LF_INC : LF_DEC);
	store_imm8(e, OFF(lf_size), f->size);
	store64(e, RDX, OFF(lf_dst));
	mem_op(e, true, 0xC7, 0, OFF(lf_src));         /* mov qword [], 1 */
	put32(e, 1);
	store64(e, RAX, OFF(lf_res));
}

/* The handler call with the interpreter's per-instruction bookkeeping. */
static void emit_call(struct emit *e, const struct dinsn *d, unsigned i,
		      uint32_t off, uint32_t next_off)
{
	if (i > 0) {
		/* c->rip = c->insn_rip = rip; c->insn_rsp = RSP */
		rip_to_rax(e, off);
		store64(e, RAX, OFF(rip));
		store64(e, RAX, OFF(insn_rip));
	} else {
		/* c->rip is the block's already (the exit stub or the run
		 * loop); the fault state is left to the handlers that can
		 * fault, not to each entry through the chaining code. */
		put8(e, 0x4C);                          /* mov [rbx + insn_rip], r12 */
		put8(e, 0x89);
		put8(e, 0xA3);
		put32(e, (uint32_t)OFF(insn_rip));
	}
	load(e, RAX, GPR(EMU_RSP), 8);
	store64(e, RAX, OFF(insn_rsp));
	rip_to_rax(e, next_off);
	store64(e, RAX, OFF(next_rip));
	static const uint8_t args[] = {
		0x48, 0x89, 0xDF,               /* mov rdi, rbx */
		0x49, 0x8D, 0xB5,               /* lea rsi, [r13 + disp32] */
	};
	emit_bytes(e, args, sizeof(args));
	put32(e, (uint32_t)(i * sizeof(struct dinsn)));
	put8(e, 0x48);                          /* mov rax, fn; call rax */
	put8(e, 0xB8);
	put64(e, (uint64_t)(uintptr_t)d->fn);
	put8(e, 0xFF);
	put8(e, 0xD0);
}

/* A taken conditional branch: next RIP is the target (an offset from the
 * block's RIP) and the block ends; returns the jump's field to patch to
 * the exit. */
static uint8_t *emit_taken(struct emit *e, int64_t target)
{
	rip_to_rax(e, (uint32_t)(int32_t)target);
	store64(e, RAX, OFF(next_rip));
	put8(e, 0xE9);                                  /* jmp exit */
	uint8_t *field = e->p;
	put32(e, 0);
	return field;
}

void *emu_jit_translate(struct emu_cpu *c, struct dinsn *d, unsigned n)
{
	struct emu_jit *j = c->jit;
	struct jit_form form[BLOCK_MAX_INSNS];

	if (n > BLOCK_MAX_INSNS)
		return NULL;
	if (j->used + JIT_FIXED + (size_t)n * JIT_INSN_MAX > j->size ||
	    j->slot_pairs_used == j->slot_pairs)
		emu_jit_reset(c);
	for (unsigned i = 0; i < n; i++)
		if (!emu_move_jit_form(&d[i], &form[i]) && !emu_alu_jit_form(&d[i], &form[i]) &&
		    !emu_arith_jit_form(&d[i], &form[i]) && !emu_ctrl_jit_form(&d[i], &form[i]))
			form[i].kind = JF_NONE;

	opstats = c->opstats;
	struct jit_chain *slots = j->slots + 2 * j->slot_pairs_used++;
	slots[0] = slots[1] = jit_chain_empty();
	uint8_t *start = j->buf + j->used;
	struct emit e = { .p = start };
	uint8_t *exits[2 * BLOCK_MAX_INSNS];
	unsigned nexits = 0;
	emit_bytes(&e, prologue, sizeof(prologue));

	uint32_t off = 0;
	bool last_inline = false;
	/* Whether the host flags are the guest's: right after inline
	 * ALU operations and INC/DEC (the stores after them keep flags),
	 * and after register moves that follow them. */
	bool host_flags = false;
	for (unsigned i = 0; i < n; i++) {
		uint32_t next_off = off + d[i].len;
		bool flags_in = host_flags;
		bool on_flags = form[i].kind == JF_SETCC || form[i].kind == JF_CMOVCC;
		if ((form[i].kind == JF_INCDEC || form[i].kind == JF_ADC || on_flags) && !flags_in)
			form[i].kind = JF_NONE;
		if (form[i].kind == JF_ROT && !flags_dead(d, form, i, n))
			form[i].kind = JF_NONE;
		/* Register moves and LEA keep the host flags, so "cmp; mov;
		 * cmovcc" stays inline (the kernel's multi-precision multiply). */
		bool keeps_flags = form[i].kind == JF_NOP || form[i].kind == JF_MOV_RR ||
				   form[i].kind == JF_MOV_RI || form[i].kind == JF_EXT ||
				   form[i].kind == JF_LEA;
		host_flags = (keeps_flags && flags_in) ||
			     form[i].kind == JF_ALU_RR || form[i].kind == JF_ALU_RI ||
			     form[i].kind == JF_ALU_M || form[i].kind == JF_ALU_RM ||
			     form[i].kind == JF_INCDEC || form[i].kind == JF_ADC ||
			     (on_flags && flags_in);
		last_inline = form[i].kind != JF_NONE;
		int64_t target = (int64_t)next_off + d[i].op[0].val;
		if (form[i].kind == JF_NONE && flags_in && emu_insn_is_jcc(&d[i]) &&
		    d[i].op[0].kind == OPK_IMM && target == (int32_t)target) {
			/*
			 * A conditional branch right after an inline ALU
			 * operation or INC/DEC: the host flags are the
			 * guest's, so the host branches on them. Taken: next RIP is the
			 * target and the block ends.
			 */
			uint8_t *skip = jcc_fwd(&e, (uint8_t)((d[i].opcode & 0xF) ^ 1));
			exits[nexits++] = emit_taken(&e, target);
			patch_to(skip, e.p);
			last_inline = true;
		} else if (form[i].kind == JF_NONE && emu_insn_is_jcc(&d[i]) &&
			   ((d[i].opcode & 0xF) == CC_E || (d[i].opcode & 0xF) == CC_NE) &&
			   d[i].op[0].kind == OPK_IMM && target == (int32_t)target) {
			/*
			 * JZ/JNZ on the lazy record (emu_cond_fast): ZF is a
			 * zero result (lf_res holds it at its size), or with no
			 * record RFLAGS.ZF. Taken: as above.
			 */
			uint8_t cc = d[i].opcode & 0xF;
			mem_op(&e, false, 0x80, 7, OFF(lf_op));        /* cmp byte lf_op, LF_NONE */
			put8(&e, LF_NONE);
			uint8_t *none = jcc_fwd(&e, CC_E);
			mem_op(&e, true, 0x83, 7, OFF(lf_res));        /* cmp qword lf_res, 0 */
			put8(&e, 0);
			uint8_t *taken = jcc_fwd(&e, cc);
			put8(&e, 0xE9);                                 /* jmp not taken */
			uint8_t *not_taken = e.p;
			put32(&e, 0);
			patch_to(none, e.p);
			mem_op(&e, false, 0xF6, 0, OFF(rflags));       /* test byte rflags, ZF */
			put8(&e, FL_ZF);
			uint8_t *taken2 = jcc_fwd(&e, (uint8_t)(cc ^ 1));
			put8(&e, 0xE9);
			uint8_t *not_taken2 = e.p;
			put32(&e, 0);
			patch_to(taken, e.p);
			patch_to(taken2, e.p);
			exits[nexits++] = emit_taken(&e, target);
			patch_to(not_taken, e.p);
			patch_to(not_taken2, e.p);
			last_inline = true;
		} else if (form[i].kind == JF_JMP && target == (int32_t)target) {
			/* JMP rel ends the block: next RIP is the target. */
			rip_to_rax(&e, (uint32_t)(int32_t)target);
			store64(&e, RAX, OFF(next_rip));
			last_inline = false;
		} else if (form[i].kind == JF_JMP) {
			emit_call(&e, &d[i], i, off, next_off);
			last_inline = false;
		} else if (form[i].kind == JF_NOP) {
			if (form[i].op == JN_PAUSE)
				emit_bytes(&e, (const uint8_t[]){ 0xF3, 0x90 }, 2);
			else if (form[i].op == JN_MFENCE)
				emit_bytes(&e, (const uint8_t[]){ 0x0F, 0xAE, 0xF0 }, 3);
		} else if (form[i].kind == JF_MOV_RR || form[i].kind == JF_MOV_RI) {
			emit_mov(&e, &d[i], &form[i]);
		} else if (form[i].kind == JF_LEA) {
			emit_lea(&e, &d[i], next_off);
		} else if (form[i].kind == JF_SHIFT) {
			emit_shift(&e, &d[i], &form[i], flags_dead(d, form, i, n));
		} else if (form[i].kind == JF_IMUL) {
			emit_imul(&e, &d[i], &form[i], flags_dead(d, form, i, n));
		} else if (form[i].kind == JF_SETCC || form[i].kind == JF_CMOVCC) {
			emit_setcc_cmov(&e, &d[i], &form[i]);
		} else if (form[i].kind == JF_INCDEC) {
			emit_incdec(&e, &d[i], &form[i], flags_dead(d, form, i, n));
		} else if (form[i].kind == JF_EXT) {
			emit_ext(&e, &d[i], &form[i]);
		} else if (form[i].kind == JF_ROT) {
			emit_rotate(&e, &d[i], &form[i]);
		} else if (form[i].kind == JF_ADC) {
			emit_adc(&e, &d[i], &form[i], flags_dead(d, form, i, n));
		} else if (form[i].kind == JF_ALU_M || form[i].kind == JF_ALU_RM) {
			uint8_t *exit_jump;
			emit_alu_mem(&e, &d[i], &form[i], i, off, next_off,
				     flags_dead(d, form, i, n), &exit_jump);
			if (exit_jump && i + 1 < n)
				exits[nexits++] = exit_jump;
			else if (exit_jump)
				patch_to(exit_jump, e.p);   /* the exit follows anyway */
		} else if (form[i].kind == JF_LOAD || form[i].kind == JF_STORE ||
			   form[i].kind == JF_PUSH || form[i].kind == JF_POP ||
			   form[i].kind == JF_CALL || form[i].kind == JF_RET) {
			uint8_t *exit_jump;
			bool stack = form[i].kind != JF_LOAD && form[i].kind != JF_STORE;
			/* CALL and RET set next RIP themselves. */
			if (form[i].kind == JF_CALL || form[i].kind == JF_RET)
				last_inline = false;
			if (stack)
				emit_stack(&e, &d[i], &form[i], i, off, next_off, &exit_jump);
			else
				emit_mem(&e, &d[i], &form[i], i, off, next_off, &exit_jump);
			if (exit_jump && i + 1 < n)
				exits[nexits++] = exit_jump;
			else if (exit_jump)
				patch_to(exit_jump, e.p);   /* the exit follows anyway */
		} else if (form[i].kind != JF_NONE) {
			emit_alu(&e, &d[i], &form[i], flags_dead(d, form, i, n));
		} else {
			emit_opstat(&e, &d[i], OPSTAT_JIT_CALL);
			emit_call(&e, &d[i], i, off, next_off);
			if (i + 1 < n && emu_insn_is_jcc(&d[i])) {
				/* Taken: the block ends. */
				rip_to_rax(&e, next_off);
				mem_op(&e, true, 0x3B, RAX, OFF(next_rip)); /* cmp rax, [] */
				put8(&e, 0x0F);                             /* jne exit */
				put8(&e, 0x85);
				exits[nexits++] = e.p;
				put32(&e, 0);
			}
			if (i + 1 < n) {
				/* A store to decoded code ends the block. */
				mem_op(&e, false, 0x80, 7, OFF(exit_req));  /* cmp byte, 0 */
				put8(&e, 0);
				put8(&e, 0x0F);                             /* jne exit */
				put8(&e, 0x85);
				exits[nexits++] = e.p;
				put32(&e, 0);
			}
		}
		off = next_off;
	}
	if (last_inline) {
		/* No handler set next_rip: the block falls through. */
		rip_to_rax(&e, off);
		store64(&e, RAX, OFF(next_rip));
	}
	for (unsigned k = 0; k < nexits; k++)
		patch_to(exits[k], e.p);
	jit_emit_exit(&e, slots, j->buf);
	if ((size_t)(e.p - start) > JIT_FIXED + (size_t)n * JIT_INSN_MAX)
		abort();        /* the bounds above are wrong: fix them */
	j->used = (size_t)(e.p - j->buf);
	j->used = (j->used + 15) & ~(size_t)15;
	d->jit = (void (*)(struct emu_cpu *, const struct dinsn *, uint64_t))(void *)start;
	c->stats.jit_blocks++;
	if (j->perfmap)         /* c->rip: the block's first RIP (run_block) */
		fprintf(j->perfmap, "%lx %lx guest-%llx-n%u\n", (unsigned long)(uintptr_t)start,
			(unsigned long)(e.p - start), (unsigned long long)c->rip, n);
	return start;
}

#else   /* not an x86-64 host: the interpreter runs every block */

struct emu_jit *emu_jit_create(void)
{
	return NULL;
}

void emu_jit_destroy(struct emu_jit *j)
{
	(void)j;
}

void emu_jit_reset(struct emu_cpu *c)
{
	(void)c;
}

void emu_jit_code_range(const struct emu_jit *j, const void **lo, size_t *len)
{
	(void)j;
	*lo = NULL;
	*len = 0;
}

void *emu_jit_translate(struct emu_cpu *c, struct dinsn *d, unsigned n)
{
	(void)c, (void)d, (void)n;
	return NULL;
}

void emu_jit_chain(struct emu_cpu *c, const struct dinsn *d, uint64_t prev_la)
{
	(void)c, (void)d, (void)prev_la;
}

#endif
