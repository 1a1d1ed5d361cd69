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
	if (emu_cond(c, d->opcode & 0xF))
		c->next_rip = rel_target(c, d);
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
