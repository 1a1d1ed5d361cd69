/*
 * Instruction decode and the decoded-code cache.
 *
 * Zydis decodes each instruction once; the result is converted into the
 * compact struct dinsn (handler + pre-resolved operands) and cached per
 * guest-PHYSICAL page and decoder mode. The shared code map (struct
 * emu_shared) has, per RAM page, a has_code flag and a generation: a write
 * to a page with has_code bumps the generation, and a cached page whose
 * generation is stale is decoded again. Instructions that cross a page
 * boundary are decoded every time into a scratch slot.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/emu/emu_internal.h"
#include "lib/log.h"
#include "mem/guest_mem.h"

emu_handler emu_table[ZYDIS_MNEMONIC_MAX_VALUE + 1];

void emu_register(ZydisMnemonic m, emu_handler fn)
{
	emu_table[m] = fn;
}

static void h_unimplemented(struct emu_cpu *c, const struct dinsn *d)
{
	static _Atomic int logged;
	if (atomic_fetch_add(&logged, 1) < 16)
		log_debug("emu: #UD for unimplemented %s at rip 0x%llx",
			  ZydisMnemonicGetString(d->mnem),
			  (unsigned long long)c->rip);
	emu_raise_ud(c);
}

static const ZydisMachineMode dm_machine[DM_COUNT] = {
	[DM_REAL] = ZYDIS_MACHINE_MODE_REAL_16,
	[DM_P16] = ZYDIS_MACHINE_MODE_LEGACY_16,
	[DM_P32] = ZYDIS_MACHINE_MODE_LEGACY_32,
	[DM_COMPAT16] = ZYDIS_MACHINE_MODE_LONG_COMPAT_16,
	[DM_COMPAT32] = ZYDIS_MACHINE_MODE_LONG_COMPAT_32,
	[DM_LONG64] = ZYDIS_MACHINE_MODE_LONG_64,
};

void emu_decode_init(struct emu_cpu *c)
{
	for (int i = 0; i < DM_COUNT; i++) {
		ZydisStackWidth sw = i == DM_LONG64 ? ZYDIS_STACK_WIDTH_64 :
				     (i == DM_P32 || i == DM_COMPAT32) ?
				     ZYDIS_STACK_WIDTH_32 : ZYDIS_STACK_WIDTH_16;
		ZydisDecoderInit(&c->dec[i], dm_machine[i], sw);
	}
}

static void page_free(struct code_page *p)
{
	free(p->idx);
	free(p->insns);
	free(p);
}

void emu_decode_free(struct emu_cpu *c)
{
	for (unsigned h = 0; h < CODE_HASH; h++) {
		struct code_page *p = c->hash[h], *n;
		for (; p; p = n) {
			n = p->next;
			page_free(p);
		}
		c->hash[h] = NULL;
	}
	c->npages = 0;
	c->nentries = 0;
	emu_fetch_forget(c, true);
	emu_jit_reset(c);
}

static uint8_t gpr_index(ZydisRegister r)
{
	if (r >= ZYDIS_REGISTER_AH && r <= ZYDIS_REGISTER_BH)
		return (uint8_t)(REG_HIGH8 | (r - ZYDIS_REGISTER_AH));
	ZydisRegister big = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
	if (big >= ZYDIS_REGISTER_RAX && big <= ZYDIS_REGISTER_R15)
		return (uint8_t)(big - ZYDIS_REGISTER_RAX);
	if (r == ZYDIS_REGISTER_RIP || r == ZYDIS_REGISTER_EIP || r == ZYDIS_REGISTER_IP)
		return REG_RIP;
	return REG_NONE;
}

static void convert_reg(ZydisRegister r, struct dop *o)
{
	ZydisRegisterClass cls = ZydisRegisterGetClass(r);
	switch (cls) {
	case ZYDIS_REGCLASS_GPR8: case ZYDIS_REGCLASS_GPR16:
	case ZYDIS_REGCLASS_GPR32: case ZYDIS_REGCLASS_GPR64:
		o->kind = OPK_REG;
		o->reg = gpr_index(r);
		break;
	case ZYDIS_REGCLASS_SEGMENT:
		o->kind = OPK_SREG;
		o->reg = (uint8_t)(r - ZYDIS_REGISTER_ES);
		break;
	case ZYDIS_REGCLASS_CONTROL:
		o->kind = OPK_CR;
		o->reg = (uint8_t)(r - ZYDIS_REGISTER_CR0);
		break;
	case ZYDIS_REGCLASS_DEBUG:
		o->kind = OPK_DR;
		o->reg = (uint8_t)(r - ZYDIS_REGISTER_DR0);
		break;
	default:
		o->kind = OPK_OTHER;
		o->reg = (uint8_t)ZydisRegisterGetId(r);
		break;
	}
}

static void convert(const ZydisDecodedInstruction *in,
		    const ZydisDecodedOperand *ops, struct dinsn *d)
{
	memset(d, 0, sizeof(*d));
	d->mnem = in->mnemonic;
	d->fn = emu_table[in->mnemonic] ? emu_table[in->mnemonic] : h_unimplemented;
	d->len = in->length;
	d->osize = in->operand_width / 8;
	d->asize = in->address_width / 8;
	d->opcode = in->opcode;
	d->map = in->opcode_map;
	d->rem = 1;
	if (in->attributes & ZYDIS_ATTRIB_HAS_LOCK)
		d->lock = 1;
	if (in->attributes & ZYDIS_ATTRIB_HAS_REPNE)
		d->rep = REP_NE;
	else if (in->attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE))
		d->rep = REP_E;
	d->sseg = SEG_DS;
	for (unsigned i = 0; i < in->operand_count; i++) {
		const ZydisDecodedOperand *z = &ops[i];
		if (z->type == ZYDIS_OPERAND_TYPE_MEMORY &&
		    (z->mem.base == ZYDIS_REGISTER_RSI || z->mem.base == ZYDIS_REGISTER_ESI ||
		     z->mem.base == ZYDIS_REGISTER_SI) &&
		    z->visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN)
			d->sseg = (uint8_t)(z->mem.segment - ZYDIS_REGISTER_ES);
	}
	unsigned n = in->operand_count_visible;
	if (n > 3)
		n = 3;
	d->nops = n;
	for (unsigned i = 0; i < n; i++) {
		const ZydisDecodedOperand *z = &ops[i];
		struct dop *o = &d->op[i];
		o->size = z->size / 8;
		switch (z->type) {
		case ZYDIS_OPERAND_TYPE_REGISTER:
			convert_reg(z->reg.value, o);
			break;
		case ZYDIS_OPERAND_TYPE_MEMORY:
			o->kind = OPK_MEM;
			o->seg = z->mem.segment == ZYDIS_REGISTER_NONE ? SEG_DS :
				 (uint8_t)(z->mem.segment - ZYDIS_REGISTER_ES);
			o->base = z->mem.base == ZYDIS_REGISTER_NONE ? REG_NONE :
				  gpr_index(z->mem.base);
			o->index = z->mem.index == ZYDIS_REGISTER_NONE ? REG_NONE :
				   gpr_index(z->mem.index);
			o->scale = z->mem.scale ? z->mem.scale : 1;
			o->val = z->mem.disp.has_displacement ? z->mem.disp.value : 0;
			break;
		case ZYDIS_OPERAND_TYPE_IMMEDIATE:
			o->kind = OPK_IMM;
			o->val = z->imm.is_signed ? z->imm.value.s : (int64_t)z->imm.value.u;
			break;
		case ZYDIS_OPERAND_TYPE_POINTER:
			o->kind = OPK_PTR;
			o->sel = z->ptr.segment;
			o->val = z->ptr.offset;
			break;
		default:
			o->kind = OPK_NONE;
			break;
		}
		if (o->kind == OPK_SREG && d->fn != h_unimplemented &&
		    in->mnemonic == ZYDIS_MNEMONIC_MOV)
			d->fn = emu_h_mov_sreg;
		if (o->kind == OPK_CR && in->mnemonic == ZYDIS_MNEMONIC_MOV)
			d->fn = emu_h_mov_cr;
		if (o->kind == OPK_DR && in->mnemonic == ZYDIS_MNEMONIC_MOV)
			d->fn = emu_h_mov_dr;
	}
}

/* A faster handler for this operand form, if there is one. */
static void specialize(struct dinsn *d, unsigned dmode)
{
	emu_handler f = emu_alu_special(d, dmode);
	if (!f)
		f = emu_arith_special(d, dmode);
	if (!f)
		f = emu_move_special(d, dmode);
	if (!f)
		f = emu_ctrl_special(d, dmode);
	if (f)
		d->fn = f;
}

/* Decode the bytes at buf; false if they are not a valid instruction. */
static ZyanStatus decode_bytes(struct emu_cpu *c, const uint8_t *buf, size_t len,
			       struct dinsn *d)
{
	ZydisDecodedInstruction in;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	ZyanStatus st = ZydisDecoderDecodeFull(&c->dec[c->dmode], buf, len, &in, ops);
	if (ZYAN_SUCCESS(st)) {
		convert(&in, ops, d);
		specialize(d, c->dmode);
	}
	return st;
}

static struct code_page *page_get(struct emu_cpu *c, uint64_t gpa, int32_t pidx)
{
	unsigned h = (gpa >> 12) % CODE_HASH;
	struct code_page *p;

	for (p = c->hash[h]; p; p = p->next)
		if (p->gpa == gpa)
			break;
	if (!p) {
		if (c->npages >= CODE_MAX_PAGES || c->nentries >= c->code_max_entries) {
			/* Start afresh: what is hot now is decoded again at
			 * once, and the memory of the rest goes back. */
			emu_decode_free(c);
			malloc_trim(0);
			c->stats.cache_resets++;
		}
		p = calloc(1, sizeof(*p));
		uint16_t *idx = calloc(4096, sizeof(uint16_t));
		if (!p || !idx) {
			free(p);
			free(idx);
			return NULL;
		}
		p->idx = idx;
		p->gpa = gpa;
		p->pidx = pidx;
		p->dmode = 0xFF;
		p->next = c->hash[h];
		c->hash[h] = p;
		c->npages++;
		c->stats.decoded_pages++;
	}
	return p;
}

/* Make p current for the present mode and generation; empty if stale. */
static void page_validate(struct emu_cpu *c, struct code_page *p)
{
	uint32_t gen = atomic_load(&c->sh->gen[p->pidx]);
	if (p->dmode == c->dmode && p->gen == gen &&
	    atomic_load_explicit(&c->sh->has_code[p->pidx], memory_order_relaxed))
		return;
	/* has_code first, then the generation, then the bytes (see header). */
	atomic_store(&c->sh->has_code[p->pidx], 1);
	p->gen = atomic_load(&c->sh->gen[p->pidx]);
	p->dmode = c->dmode;
	p->epoch++;
	p->n = 0;
	memset(p->idx, 0, 4096 * sizeof(uint16_t));
}

bool emu_insn_is_jcc(const struct dinsn *d)
{
	switch (d->mnem) {
	case ZYDIS_MNEMONIC_JO: case ZYDIS_MNEMONIC_JNO: case ZYDIS_MNEMONIC_JB:
	case ZYDIS_MNEMONIC_JNB: case ZYDIS_MNEMONIC_JZ: case ZYDIS_MNEMONIC_JNZ:
	case ZYDIS_MNEMONIC_JBE: case ZYDIS_MNEMONIC_JNBE: case ZYDIS_MNEMONIC_JS:
	case ZYDIS_MNEMONIC_JNS: case ZYDIS_MNEMONIC_JP: case ZYDIS_MNEMONIC_JNP:
	case ZYDIS_MNEMONIC_JL: case ZYDIS_MNEMONIC_JNL: case ZYDIS_MNEMONIC_JLE:
	case ZYDIS_MNEMONIC_JNLE:
		return d->fn != h_unimplemented;
	default:
		return false;
	}
}

/*
 * Whether execution may go straight on to the next instruction of a block
 * after d without returning to the run loop: d neither transfers control
 * (a conditional branch does only when taken, which ends the block then),
 * nor changes the mode, IF or the interrupt shadow, nor does port I/O.
 * Faults are fine anywhere in a block (RIP is kept per instruction).
 */
static bool block_continues(const struct dinsn *d)
{
	if (emu_insn_is_jcc(d))
		return true;
	if (d->fn == h_unimplemented || d->fn == emu_h_mov_sreg ||
	    d->fn == emu_h_mov_cr || d->fn == emu_h_mov_dr)
		return false;
	switch (d->mnem) {
	case ZYDIS_MNEMONIC_PUSH:
	case ZYDIS_MNEMONIC_POP:
		return d->op[0].kind != OPK_SREG;
	case ZYDIS_MNEMONIC_ADD: case ZYDIS_MNEMONIC_OR: case ZYDIS_MNEMONIC_ADC:
	case ZYDIS_MNEMONIC_SBB: case ZYDIS_MNEMONIC_AND: case ZYDIS_MNEMONIC_SUB:
	case ZYDIS_MNEMONIC_XOR: case ZYDIS_MNEMONIC_CMP: case ZYDIS_MNEMONIC_TEST:
	case ZYDIS_MNEMONIC_INC: case ZYDIS_MNEMONIC_DEC: case ZYDIS_MNEMONIC_NOT:
	case ZYDIS_MNEMONIC_NEG: case ZYDIS_MNEMONIC_XADD: case ZYDIS_MNEMONIC_CMPXCHG:
	case ZYDIS_MNEMONIC_CMPXCHG8B: case ZYDIS_MNEMONIC_CMPXCHG16B:
	case ZYDIS_MNEMONIC_BSF: case ZYDIS_MNEMONIC_BSR: case ZYDIS_MNEMONIC_BT:
	case ZYDIS_MNEMONIC_BTC: case ZYDIS_MNEMONIC_BTR: case ZYDIS_MNEMONIC_BTS:
	case ZYDIS_MNEMONIC_DIV: case ZYDIS_MNEMONIC_IDIV: case ZYDIS_MNEMONIC_IMUL:
	case ZYDIS_MNEMONIC_LZCNT: case ZYDIS_MNEMONIC_MUL: case ZYDIS_MNEMONIC_RCL:
	case ZYDIS_MNEMONIC_RCR: case ZYDIS_MNEMONIC_ROL: case ZYDIS_MNEMONIC_ROR:
	case ZYDIS_MNEMONIC_SAR: case ZYDIS_MNEMONIC_SHL: case ZYDIS_MNEMONIC_SHLD:
	case ZYDIS_MNEMONIC_SHR: case ZYDIS_MNEMONIC_SHRD: case ZYDIS_MNEMONIC_TZCNT:
	case ZYDIS_MNEMONIC_MOV: case ZYDIS_MNEMONIC_MOVZX: case ZYDIS_MNEMONIC_MOVSX:
	case ZYDIS_MNEMONIC_MOVSXD: case ZYDIS_MNEMONIC_LEA: case ZYDIS_MNEMONIC_XCHG:
	case ZYDIS_MNEMONIC_BSWAP: case ZYDIS_MNEMONIC_CBW: case ZYDIS_MNEMONIC_CWDE:
	case ZYDIS_MNEMONIC_CDQE: case ZYDIS_MNEMONIC_CWD: case ZYDIS_MNEMONIC_CDQ:
	case ZYDIS_MNEMONIC_CQO: case ZYDIS_MNEMONIC_LAHF: case ZYDIS_MNEMONIC_SAHF:
	case ZYDIS_MNEMONIC_CLC: case ZYDIS_MNEMONIC_STC: case ZYDIS_MNEMONIC_CMC:
	case ZYDIS_MNEMONIC_CLD: case ZYDIS_MNEMONIC_STD: case ZYDIS_MNEMONIC_XLAT:
	case ZYDIS_MNEMONIC_NOP: case ZYDIS_MNEMONIC_ENDBR64: case ZYDIS_MNEMONIC_MOVNTI:
	case ZYDIS_MNEMONIC_LEAVE:
	case ZYDIS_MNEMONIC_SETB: case ZYDIS_MNEMONIC_SETBE: case ZYDIS_MNEMONIC_SETL:
	case ZYDIS_MNEMONIC_SETLE: case ZYDIS_MNEMONIC_SETNB: case ZYDIS_MNEMONIC_SETNBE:
	case ZYDIS_MNEMONIC_SETNL: case ZYDIS_MNEMONIC_SETNLE: case ZYDIS_MNEMONIC_SETNO:
	case ZYDIS_MNEMONIC_SETNP: case ZYDIS_MNEMONIC_SETNS: case ZYDIS_MNEMONIC_SETNZ:
	case ZYDIS_MNEMONIC_SETO: case ZYDIS_MNEMONIC_SETP: case ZYDIS_MNEMONIC_SETS:
	case ZYDIS_MNEMONIC_SETZ:
	case ZYDIS_MNEMONIC_CMOVB: case ZYDIS_MNEMONIC_CMOVBE: case ZYDIS_MNEMONIC_CMOVL:
	case ZYDIS_MNEMONIC_CMOVLE: case ZYDIS_MNEMONIC_CMOVNB: case ZYDIS_MNEMONIC_CMOVNBE:
	case ZYDIS_MNEMONIC_CMOVNL: case ZYDIS_MNEMONIC_CMOVNLE: case ZYDIS_MNEMONIC_CMOVNO:
	case ZYDIS_MNEMONIC_CMOVNP: case ZYDIS_MNEMONIC_CMOVNS: case ZYDIS_MNEMONIC_CMOVNZ:
	case ZYDIS_MNEMONIC_CMOVO: case ZYDIS_MNEMONIC_CMOVP: case ZYDIS_MNEMONIC_CMOVS:
	case ZYDIS_MNEMONIC_CMOVZ:
		return true;
	default:
		return false;
	}
}


/* Append d, decoded at page offset off, to p; its index or -1 if full. */
static int page_append(struct emu_cpu *c, struct code_page *p, const struct dinsn *d,
		       unsigned off)
{
	if (p->n == p->cap) {
		unsigned ncap = p->cap ? p->cap * 2u : 64u;
		if (ncap > 4096)
			ncap = 4096;
		if (p->n >= ncap)
			return -1;
		struct dinsn *ni = realloc(p->insns, ncap * sizeof(*ni));
		if (!ni)
			return -1;
		c->nentries += ncap - p->cap;
		p->insns = ni;
		p->cap = (uint16_t)ncap;
	}
	p->insns[p->n] = *d;
	c->stats.decoded_insns++;
	p->idx[off] = (uint16_t)(++p->n);
	return p->n - 1;
}

/*
 * Having appended the instruction at off as entry first, decode the
 * straight-line run after it into the following entries, so that the
 * run loop executes them back to back. A block stops before code that is
 * already decoded, before an instruction that might cross the page, and
 * after BLOCK_MAX_INSNS instructions. Every entry's rem counts to the block's
 * end, so entering in the middle of a block (a jump target) also works.
 */
static const struct dinsn *decode_block(struct emu_cpu *c, struct code_page *p,
					const uint8_t *host, unsigned off, int first)
{
	unsigned count = 1, next = off + p->insns[first].len;

	while (count < BLOCK_MAX_INSNS && block_continues(&p->insns[p->n - 1]) &&
	       next <= 4096 - 15 && !p->idx[next]) {
		struct dinsn tmp;
		if (!ZYAN_SUCCESS(decode_bytes(c, host + next, 15, &tmp)))
			break;
		if (page_append(c, p, &tmp, next) < 0)
			break;
		count++;
		next += tmp.len;
	}
	for (unsigned i = 0; i < count; i++)
		p->insns[first + i].rem = (uint8_t)(count - i);
	return &p->insns[first];
}

/*
 * An encoding Zydis refused: #GP(0) if it runs past 15 bytes (the CPU's
 * limit: Zydis wanted more than the 15 it was given), else #UD.
 */
static __attribute__((__noreturn__)) void bad_encoding(struct emu_cpu *c, ZyanStatus st)
{
	if (st == ZYDIS_STATUS_INSTRUCTION_TOO_LONG || st == ZYDIS_STATUS_NO_MORE_DATA)
		emu_raise_err(c, EXC_GP, 0);
	emu_raise_ud(c);
}

static const struct dinsn *decode_crossing(struct emu_cpu *c, uint64_t la,
					   const uint8_t *host, unsigned off)
{
	uint8_t buf[16];
	unsigned avail = 4096 - off;
	ZyanStatus st;

	memcpy(buf, host + off, avail);
	st = decode_bytes(c, buf, avail, &c->scratch);
	if (st == ZYDIS_STATUS_NO_MORE_DATA) {
		uint8_t *h2;
		bool global;
		(void)emu_fetch_page(c, la + avail, &h2, &global);
		if (!h2) {
			c->unimplemented = true;
			emu_raise_ud(c);
		}
		memcpy(buf + avail, h2, 15 - avail);
		st = decode_bytes(c, buf, 15, &c->scratch);
	}
	memcpy(c->last_bytes, buf, 15);
	c->last_len = 15;
	if (!ZYAN_SUCCESS(st))
		bad_encoding(c, st);
	return &c->scratch;
}

const struct dinsn *emu_fetch_decode(struct emu_cpu *c)
{
	uint64_t la = emu_seg_la(c, SEG_CS, c->rip);
	uint64_t tag = (la & ~0xFFFULL) | (uint64_t)c->dmode << 2 |
		       (c->cpl == 3 ? 2 : 0) | 1;
	struct fetch_ent *fe = emu_fcache_ent(c, la);
	unsigned off = la & 0xFFF;
	uint8_t *host;
	struct code_page *p;
	bool global;

	if (fe->tag == tag) {
		host = fe->host;
		p = fe->page;
		global = c->fcache_global[fe - c->fcache];
	} else {
		uint64_t gpa = emu_fetch_page(c, la, &host, &global);
		if (!host) {
			/* Code outside RAM (ROM/MMIO) is not supported. */
			c->last_len = 0;
			c->unimplemented = true;
			emu_raise_ud(c);
		}
		int32_t pidx = emu_page_index(c->sh, gpa);
		p = pidx >= 0 ? page_get(c, gpa, pidx) : NULL;
		if (p) {
			*fe = (struct fetch_ent){ .tag = tag, .host = host, .page = p };
			c->fcache_global[fe - c->fcache] = global;
		}
	}
	if (p) {
		page_validate(c, p);
		c->fc_la = la & ~0xFFFULL;
		c->fc_global = global;
		c->fc_page = p;
		c->fc_genp = &c->sh->gen[p->pidx];
		c->fc_gen = p->gen;
		uint16_t i = p->idx[off];
		if (i)
			return &p->insns[i - 1];
	}
	if (off > 4096 - 15) {
		/* Might cross; decode with what this page has first. */
		struct dinsn tmp;
		ZyanStatus st = decode_bytes(c, host + off, 4096 - off, &tmp);
		if (!ZYAN_SUCCESS(st) || !p)
			return decode_crossing(c, la, host, off);
		c->scratch = tmp;
	} else {
		ZyanStatus st = decode_bytes(c, host + off, 15, &c->scratch);
		memcpy(c->last_bytes, host + off, 15);
		c->last_len = 15;
		if (!ZYAN_SUCCESS(st))
			bad_encoding(c, st);
		if (!p)
			return &c->scratch;
	}
	int first = page_append(c, p, &c->scratch, off);
	if (first < 0)
		return &c->scratch;
	return decode_block(c, p, host, off, first);
}
