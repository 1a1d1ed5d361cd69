/*
 * Control flow and the stack: JMP/Jcc/JrCXZ/LOOPcc, CALL/RET (near and
 * far), PUSH/POP (all forms), PUSHF/POPF, PUSHA/POPA, ENTER/LEAVE.
 */
#include "cpu/emu/emu_internal.h"

static uint64_t target_mask(const struct emu_cpu *c, const struct dinsn *d)
{
	return c->code64 ? ~0ULL : size_mask(d->osize);
}

static uint64_t rel_target(struct emu_cpu *c, const struct dinsn *d)
{
	return (c->next_rip + (uint64_t)d->op[0].val) & target_mask(c, d);
}

static bool is_far_mem(const struct dinsn *d)
{
	return d->op[0].kind == OPK_MEM && d->op[0].size > d->osize;
}

static void far_mem_target(struct emu_cpu *c, const struct dinsn *d,
			   uint16_t *sel, uint64_t *off)
{
	const struct dop *o = &d->op[0];
	uint64_t ea = emu_ea(c, d, o);
	unsigned osz = o->size - 2;
	*off = emu_read(c, o->seg, ea, osz);
	*sel = (uint16_t)emu_read(c, o->seg, (ea + osz) & size_mask(d->asize), 2);
}

static void h_jmp(struct emu_cpu *c, const struct dinsn *d)
{
	const struct dop *o = &d->op[0];
	if (o->kind == OPK_IMM) {
		c->next_rip = rel_target(c, d);
	} else if (o->kind == OPK_PTR) {
		emu_far_jump(c, o->sel, (uint64_t)o->val, d->osize, false, 0);
	} else if (is_far_mem(d)) {
		uint16_t sel;
		uint64_t off;
		far_mem_target(c, d, &sel, &off);
		emu_far_jump(c, sel, off, o->size - 2, false, 0);
	} else {
		c->next_rip = emu_op_read(c, d, 0) & target_mask(c, d);
	}
}

static void h_call(struct emu_cpu *c, const struct dinsn *d)
{
	const struct dop *o = &d->op[0];
	uint64_t t;
	if (o->kind == OPK_PTR) {
		emu_far_jump(c, o->sel, (uint64_t)o->val, d->osize, true, c->next_rip);
		return;
	}
	if (is_far_mem(d)) {
		uint16_t sel;
		uint64_t off;
		far_mem_target(c, d, &sel, &off);
		emu_far_jump(c, sel, off, o->size - 2, true, c->next_rip);
		return;
	}
	t = o->kind == OPK_IMM ? rel_target(c, d) : emu_op_read(c, d, 0) & target_mask(c, d);
	emu_push(c, d->osize, c->next_rip);
	c->next_rip = t;
}

static void h_ret(struct emu_cpu *c, const struct dinsn *d)
{
	unsigned extra = d->nops ? (unsigned)(d->op[0].val & 0xFFFF) : 0;
	if (d->opcode == 0xCA || d->opcode == 0xCB) {
		emu_far_ret(c, d->osize, extra);
		return;
	}
	uint64_t t = emu_stack_peek(c, 0, d->osize) & target_mask(c, d);
	emu_set_rsp_off(c, d->osize + extra);
	c->next_rip = t;
}

static void h_jcc(struct emu_cpu *c, const struct dinsn *d)
{
	if (emu_cond_fast(c, d->opcode & 0xF))
		c->next_rip = rel_target(c, d);
}

/* 64-bit mode forms: no target truncation, the condition a constant. */
#define JCC64(cc) \
static void h_jcc64_##cc(struct emu_cpu *c, const struct dinsn *d) \
{ \
	if (emu_cond_fast(c, cc)) \
		c->next_rip += (uint64_t)d->op[0].val; \
}
JCC64(0) JCC64(1) JCC64(2) JCC64(3) JCC64(4) JCC64(5) JCC64(6) JCC64(7)
JCC64(8) JCC64(9) JCC64(10) JCC64(11) JCC64(12) JCC64(13) JCC64(14) JCC64(15)

static void h_jmp_rel64(struct emu_cpu *c, const struct dinsn *d)
{
	c->next_rip += (uint64_t)d->op[0].val;
}

static void h_jrcxz(struct emu_cpu *c, const struct dinsn *d)
{
	if ((c->gpr[EMU_RCX] & size_mask(d->asize)) == 0)
		c->next_rip = rel_target(c, d);
}

static void loop_common(struct emu_cpu *c, const struct dinsn *d, int kind)
{
	uint64_t n = (c->gpr[EMU_RCX] - 1) & size_mask(d->asize);
	gpr_write(c, EMU_RCX, d->asize, n);
	bool take = n != 0;
	if (kind == 1)
		take = take && (emu_flags(c) & FL_ZF);
	else if (kind == 2)
		take = take && !(emu_flags(c) & FL_ZF);
	if (take)
		c->next_rip = rel_target(c, d);
}

static void h_loop(struct emu_cpu *c, const struct dinsn *d) { loop_common(c, d, 0); }
static void h_loope(struct emu_cpu *c, const struct dinsn *d) { loop_common(c, d, 1); }
static void h_loopne(struct emu_cpu *c, const struct dinsn *d) { loop_common(c, d, 2); }

static void h_push(struct emu_cpu *c, const struct dinsn *d)
{
	uint64_t v = emu_op_read(c, d, 0);
	emu_push(c, d->osize, v & size_mask(d->osize));
}

static void h_pop(struct emu_cpu *c, const struct dinsn *d)
{
	const struct dop *o = &d->op[0];
	if (o->kind == OPK_SREG) {
		uint16_t sel = (uint16_t)emu_stack_peek(c, 0, d->osize);
		if (o->reg == SEG_CS)
			emu_raise_ud(c);
		emu_load_seg(c, o->reg, sel);
		emu_set_rsp_off(c, d->osize);
		if (o->reg == SEG_SS)
			c->shadow = 1;
		return;
	}
	uint64_t v = emu_pop(c, d->osize);
	emu_op_write(c, d, 0, v);
}

static void h_pushf(struct emu_cpu *c, const struct dinsn *d)
{
	uint64_t f = emu_flags(c) & ~(uint64_t)(FL_VM | FL_RF);
	emu_push(c, d->osize, f & size_mask(d->osize));
}

/* Write RFLAGS from POPF/IRET honouring CPL and IOPL. */
void emu_write_flags(struct emu_cpu *c, uint64_t v, unsigned osize, bool iret)
{
	uint64_t cur = emu_flags(c);
	uint64_t mask = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_AC | FL_ID;
	unsigned iopl = (cur >> 12) & 3;

	if (c->cpl == 0)
		mask |= FL_IOPL | FL_IF;
	else if (c->cpl <= iopl)
		mask |= FL_IF;
	if (iret)
		mask |= FL_RF;
	if (osize == 2)
		mask &= 0xFFFF;
	emu_set_flags(c, (cur & ~mask) | (v & mask));
}

static void h_popf(struct emu_cpu *c, const struct dinsn *d)
{
	uint64_t v = emu_stack_peek(c, 0, d->osize);
	emu_write_flags(c, v, d->osize, false);
	emu_set_rsp_off(c, d->osize);
}

static void h_pusha(struct emu_cpu *c, const struct dinsn *d)
{
	unsigned sz = d->osize;
	uint64_t sp = c->gpr[EMU_RSP];
	for (int r = 0; r < 8; r++) {
		uint64_t v = r == EMU_RSP ? sp : c->gpr[r];
		emu_write(c, SEG_SS, (sp - sz * (r + 1)) & size_mask(emu_stack_size(c)),
			  sz, v & size_mask(sz));
	}
	emu_set_rsp_off(c, -(int64_t)(8 * sz));
}

static void h_popa(struct emu_cpu *c, const struct dinsn *d)
{
	unsigned sz = d->osize;
	uint64_t v[8];
	for (int r = 0; r < 8; r++)
		v[r] = emu_stack_peek(c, sz * (7 - r), sz);
	for (int r = 0; r < 8; r++)
		if (r != EMU_RSP)
			gpr_write(c, r, sz, v[r]);
	emu_set_rsp_off(c, 8 * sz);
}

static void h_enter(struct emu_cpu *c, const struct dinsn *d)
{
	unsigned sz = d->osize, ssz = emu_stack_size(c);
	uint64_t alloc = (uint64_t)d->op[0].val & 0xFFFF;
	unsigned level = (unsigned)d->op[1].val & 31;
	uint64_t sp = c->gpr[EMU_RSP], bp = c->gpr[EMU_RBP];
	uint64_t m = size_mask(ssz);

	sp = (sp - sz) & m;
	emu_write(c, SEG_SS, sp, sz, bp);
	uint64_t frame = sp;
	for (unsigned i = 1; i < level; i++) {
		bp = (bp - sz) & m;
		uint64_t v = emu_read(c, SEG_SS, bp, sz);
		sp = (sp - sz) & m;
		emu_write(c, SEG_SS, sp, sz, v);
	}
	if (level) {
		sp = (sp - sz) & m;
		emu_write(c, SEG_SS, sp, sz, frame);
	}
	sp = (sp - alloc) & m;
	/* Touch the new top of stack as the CPU does (faults before commit). */
	if (alloc)
		(void)emu_read(c, SEG_SS, sp, 1);
	gpr_write(c, EMU_RBP, sz, frame);
	gpr_write(c, EMU_RSP, ssz, sp);
}

static void h_leave(struct emu_cpu *c, const struct dinsn *d)
{
	unsigned ssz = emu_stack_size(c);
	uint64_t sp = c->gpr[EMU_RBP] & size_mask(ssz);
	uint64_t v = emu_read(c, SEG_SS, sp, d->osize);
	gpr_write(c, EMU_RSP, ssz, sp + d->osize);
	gpr_write(c, EMU_RBP, d->osize, v);
}

/*
 * 64-bit mode stack operations with 64-bit operands: the TLB hit inline
 * (SS has no base in 64-bit mode), anything else through the generic
 * handler.
 */
static void h_push64(struct emu_cpu *c, const struct dinsn *d)
{
	uint64_t sp = c->gpr[EMU_RSP] - 8;
	uint8_t *p = emu_tlb_hit(c, sp, 8, ACC_W);
	if (__builtin_expect(!p, 0)) {
		h_push(c, d);
		return;
	}
	emu_host_store(p, 8, emu_op_read(c, d, 0));
	c->gpr[EMU_RSP] = sp;
}

static void h_pop64(struct emu_cpu *c, const struct dinsn *d)
{
	uint8_t *p = emu_tlb_hit(c, c->gpr[EMU_RSP], 8, ACC_R);
	if (__builtin_expect(!p, 0)) {
		h_pop(c, d);
		return;
	}
	c->gpr[EMU_RSP] += 8;
	c->gpr[d->op[0].reg] = emu_host_load(p, 8);   /* pop rsp: the value */
}

static void h_call_rel64(struct emu_cpu *c, const struct dinsn *d);
static void h_ret64(struct emu_cpu *c, const struct dinsn *d);

bool emu_ctrl_jit_form(const struct dinsn *d, struct jit_form *f)
{
	if (d->fn == h_push64)
		f->kind = JF_PUSH;
	else if (d->fn == h_pop64)
		f->kind = JF_POP;
	else if (d->fn == h_call_rel64)
		f->kind = JF_CALL;
	else if (d->fn == h_ret64)
		f->kind = JF_RET;
	else if (d->fn == h_jmp_rel64)
		f->kind = JF_JMP;
	else
		return false;
	f->op = 0;
	f->size = 8;
	return true;
}

static void h_call_rel64(struct emu_cpu *c, const struct dinsn *d)
{
	uint64_t sp = c->gpr[EMU_RSP] - 8;
	uint8_t *p = emu_tlb_hit(c, sp, 8, ACC_W);
	if (__builtin_expect(!p, 0)) {
		h_call(c, d);
		return;
	}
	emu_host_store(p, 8, c->next_rip);
	c->gpr[EMU_RSP] = sp;
	c->next_rip += (uint64_t)d->op[0].val;
}

static void h_ret64(struct emu_cpu *c, const struct dinsn *d)
{
	uint8_t *p = emu_tlb_hit(c, c->gpr[EMU_RSP], 8, ACC_R);
	if (__builtin_expect(!p, 0)) {
		h_ret(c, d);
		return;
	}
	c->next_rip = emu_host_load(p, 8);
	c->gpr[EMU_RSP] += 8;
}

static bool is_gpr64(const struct dop *o)
{
	return o->kind == OPK_REG && !(o->reg & REG_HIGH8) && o->reg < 16 && o->size == 8;
}

static const emu_handler jcc64[16] = {
	h_jcc64_0, h_jcc64_1, h_jcc64_2, h_jcc64_3, h_jcc64_4, h_jcc64_5,
	h_jcc64_6, h_jcc64_7, h_jcc64_8, h_jcc64_9, h_jcc64_10, h_jcc64_11,
	h_jcc64_12, h_jcc64_13, h_jcc64_14, h_jcc64_15,
};

emu_handler emu_ctrl_special(const struct dinsn *d, unsigned dmode)
{
	if (dmode != DM_LONG64 || d->osize != 8)
		goto branches;
	if (d->fn == h_push && d->nops == 1 && (is_gpr64(&d->op[0]) || d->op[0].kind == OPK_IMM))
		return h_push64;
	if (d->fn == h_pop && d->nops == 1 && is_gpr64(&d->op[0]))
		return h_pop64;
	if (d->fn == h_ret && d->nops == 0 && d->opcode == 0xC3)
		return h_ret64;
	if (d->fn == h_call && d->nops == 1 && d->op[0].kind == OPK_IMM)
		return h_call_rel64;
branches:

	if (dmode != DM_LONG64 || d->op[0].kind != OPK_IMM)
		return NULL;
	if (d->fn == h_jcc)
		return jcc64[d->opcode & 0xF];
	if (d->fn == h_jmp)
		return h_jmp_rel64;
	return NULL;
}

void emu_ctrl_register(void)
{
	static const ZydisMnemonic jcc[] = {
		ZYDIS_MNEMONIC_JO, ZYDIS_MNEMONIC_JNO, ZYDIS_MNEMONIC_JB, ZYDIS_MNEMONIC_JNB,
		ZYDIS_MNEMONIC_JZ, ZYDIS_MNEMONIC_JNZ, ZYDIS_MNEMONIC_JBE, ZYDIS_MNEMONIC_JNBE,
		ZYDIS_MNEMONIC_JS, ZYDIS_MNEMONIC_JNS, ZYDIS_MNEMONIC_JP, ZYDIS_MNEMONIC_JNP,
		ZYDIS_MNEMONIC_JL, ZYDIS_MNEMONIC_JNL, ZYDIS_MNEMONIC_JLE, ZYDIS_MNEMONIC_JNLE,
	};
	for (unsigned i = 0; i < sizeof(jcc) / sizeof(jcc[0]); i++)
		emu_register(jcc[i], h_jcc);
	emu_register(ZYDIS_MNEMONIC_JMP, h_jmp);
	emu_register(ZYDIS_MNEMONIC_CALL, h_call);
	emu_register(ZYDIS_MNEMONIC_RET, h_ret);
	emu_register(ZYDIS_MNEMONIC_JCXZ, h_jrcxz);
	emu_register(ZYDIS_MNEMONIC_JECXZ, h_jrcxz);
	emu_register(ZYDIS_MNEMONIC_JRCXZ, h_jrcxz);
	emu_register(ZYDIS_MNEMONIC_LOOP, h_loop);
	emu_register(ZYDIS_MNEMONIC_LOOPE, h_loope);
	emu_register(ZYDIS_MNEMONIC_LOOPNE, h_loopne);
	emu_register(ZYDIS_MNEMONIC_PUSH, h_push);
	emu_register(ZYDIS_MNEMONIC_POP, h_pop);
	emu_register(ZYDIS_MNEMONIC_PUSHF, h_pushf);
	emu_register(ZYDIS_MNEMONIC_PUSHFD, h_pushf);
	emu_register(ZYDIS_MNEMONIC_PUSHFQ, h_pushf);
	emu_register(ZYDIS_MNEMONIC_POPF, h_popf);
	emu_register(ZYDIS_MNEMONIC_POPFD, h_popf);
	emu_register(ZYDIS_MNEMONIC_POPFQ, h_popf);
	emu_register(ZYDIS_MNEMONIC_PUSHA, h_pusha);
	emu_register(ZYDIS_MNEMONIC_PUSHAD, h_pusha);
	emu_register(ZYDIS_MNEMONIC_POPA, h_popa);
	emu_register(ZYDIS_MNEMONIC_POPAD, h_popa);
	emu_register(ZYDIS_MNEMONIC_ENTER, h_enter);
	emu_register(ZYDIS_MNEMONIC_LEAVE, h_leave);
}
