/*
 * Data movement and flag instructions: MOV family, LEA, XCHG, BSWAP,
 * CBW..CQO, LAHF/SAHF, CLC..STD, SETcc, CMOVcc, XLAT, and the no-ops
 * (NOP, PAUSE, ENDBR64, fences, CLFLUSH, PREFETCH*, MOVNTI as a store).
 */
#include "cpu/emu/emu_internal.h"

static void h_mov(struct emu_cpu *c, const struct dinsn *d)
{
	emu_op_write(c, d, 0, emu_op_read(c, d, 1));
}

static void h_movzx(struct emu_cpu *c, const struct dinsn *d)
{
	emu_op_write(c, d, 0, emu_op_read(c, d, 1) & size_mask(d->op[1].size));
}

static void h_movsx(struct emu_cpu *c, const struct dinsn *d)
{
	emu_op_write(c, d, 0, sext(emu_op_read(c, d, 1), d->op[1].size));
}

static void h_lea(struct emu_cpu *c, const struct dinsn *d)
{
	if (d->op[1].kind != OPK_MEM)
		emu_raise_ud(c);
	emu_op_write(c, d, 0, emu_ea(c, d, &d->op[1]));
}

static void h_xchg(struct emu_cpu *c, const struct dinsn *d)
{
	int mi = d->op[0].kind == OPK_MEM ? 0 : d->op[1].kind == OPK_MEM ? 1 : -1;
	if (mi >= 0) {
		/* XCHG with memory is always locked. */
		const struct dop *o = &d->op[mi];
		int ri = 1 - mi;
		uint64_t la = emu_seg_la(c, o->seg, emu_ea(c, d, o));
		uint64_t r = emu_op_read(c, d, ri), old;
		void *p = !(la & (o->size - 1)) ? emu_lin_ptr(c, la, o->size, ACC_W) : NULL;
		if (p) {
			switch (o->size) {
			case 1: old = __atomic_exchange_n((uint8_t *)p, (uint8_t)r, __ATOMIC_SEQ_CST); break;
			case 2: old = __atomic_exchange_n((uint16_t *)p, (uint16_t)r, __ATOMIC_SEQ_CST); break;
			case 4: old = __atomic_exchange_n((uint32_t *)p, (uint32_t)r, __ATOMIC_SEQ_CST); break;
			default: old = __atomic_exchange_n((uint64_t *)p, r, __ATOMIC_SEQ_CST); break;
			}
		} else {
			old = emu_op_read(c, d, mi);
			emu_op_write(c, d, mi, r);
		}
		emu_op_write(c, d, ri, old);
		return;
	}
	uint64_t a = emu_op_read(c, d, 0), b = emu_op_read(c, d, 1);
	emu_op_write(c, d, 0, b);
	emu_op_write(c, d, 1, a);
}

static void h_bswap(struct emu_cpu *c, const struct dinsn *d)
{
	uint64_t v = emu_op_read(c, d, 0);
	switch (d->op[0].size) {
	case 8: v = __builtin_bswap64(v); break;
	case 4: v = __builtin_bswap32((uint32_t)v); break;
	default: v = 0; break;    /* 16-bit form: undefined, zero on hardware */
	}
	emu_op_write(c, d, 0, v);
}

static void h_cbw(struct emu_cpu *c, const struct dinsn *d)
{
	unsigned sz = d->osize;
	gpr_write(c, EMU_RAX, sz, sext(c->gpr[EMU_RAX], sz / 2));
}

static void h_cwd(struct emu_cpu *c, const struct dinsn *d)
{
	unsigned sz = d->osize;
	uint64_t a = c->gpr[EMU_RAX] & size_mask(sz);
	gpr_write(c, EMU_RDX, sz, (a >> (sz * 8 - 1)) ? ~0ULL : 0);
}

static void h_lahf(struct emu_cpu *c, const struct dinsn *d)
{
	uint64_t f = emu_flags(c);
	gpr_write(c, REG_HIGH8 | 0, 1, (f & (FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF)) | 2);
}

static void h_sahf(struct emu_cpu *c, const struct dinsn *d)
{
	uint64_t f = emu_flags(c) & ~(uint64_t)(FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF);
	uint64_t ah = (c->gpr[EMU_RAX] >> 8) & 0xFF;
	emu_set_flags(c, f | (ah & (FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF)));
}

static void h_clc(struct emu_cpu *c, const struct dinsn *d)
{
	emu_set_flags(c, emu_flags(c) & ~(uint64_t)FL_CF);
}

static void h_stc(struct emu_cpu *c, const struct dinsn *d)
{
	emu_set_flags(c, emu_flags(c) | FL_CF);
}

static void h_cmc(struct emu_cpu *c, const struct dinsn *d)
{
	emu_set_flags(c, emu_flags(c) ^ FL_CF);
}

static void h_cld(struct emu_cpu *c, const struct dinsn *d)
{
	c->rflags &= ~(uint64_t)FL_DF;
}

static void h_std(struct emu_cpu *c, const struct dinsn *d)
{
	c->rflags |= FL_DF;
}

static void h_setcc(struct emu_cpu *c, const struct dinsn *d)
{
	emu_op_write(c, d, 0, emu_cond_fast(c, d->opcode & 0xF));
}

static void h_cmovcc(struct emu_cpu *c, const struct dinsn *d)
{
	uint64_t s = emu_op_read(c, d, 1);
	if (emu_cond_fast(c, d->opcode & 0xF))
		emu_op_write(c, d, 0, s);
	else
		emu_op_write(c, d, 0, emu_op_read(c, d, 0));   /* zero-extends r32 */
}

static void h_xlat(struct emu_cpu *c, const struct dinsn *d)
{
	uint64_t a = (c->gpr[EMU_RBX] + (c->gpr[EMU_RAX] & 0xFF)) & size_mask(d->asize);
	gpr_write(c, EMU_RAX, 1, emu_read(c, d->sseg, a, 1));
}

static void h_nop(struct emu_cpu *c, const struct dinsn *d)
{
}

/* Other vCPUs are host threads: a guest's store-load fence is the host's. */
static void h_mfence(struct emu_cpu *c, const struct dinsn *d)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void h_ud(struct emu_cpu *c, const struct dinsn *d)
{
	emu_raise_ud(c);
}

static void h_clflush(struct emu_cpu *c, const struct dinsn *d)
{
	/* Faults like a byte load; otherwise nothing to do. */
	if (d->op[0].kind == OPK_MEM)
		(void)emu_read(c, d->op[0].seg, emu_ea(c, d, &d->op[0]), 1);
}

/* Register-to-register and immediate MOVs of 32/64 bits (decode time). */
static void h_mov_rr4(struct emu_cpu *c, const struct dinsn *d)
{
	c->gpr[d->op[0].reg] = (uint32_t)c->gpr[d->op[1].reg];
}

static void h_mov_rr8(struct emu_cpu *c, const struct dinsn *d)
{
	c->gpr[d->op[0].reg] = c->gpr[d->op[1].reg];
}

static void h_mov_ri4(struct emu_cpu *c, const struct dinsn *d)
{
	c->gpr[d->op[0].reg] = (uint32_t)d->op[1].val;
}

static void h_mov_ri8(struct emu_cpu *c, const struct dinsn *d)
{
	c->gpr[d->op[0].reg] = (uint64_t)d->op[1].val;
}

static void h_lea64(struct emu_cpu *c, const struct dinsn *d);
static void h_mov_load4(struct emu_cpu *c, const struct dinsn *d);
static void h_mov_load_n(struct emu_cpu *c, const struct dinsn *d);
static void h_mov_store_n(struct emu_cpu *c, const struct dinsn *d);
static void h_mov_storei4(struct emu_cpu *c, const struct dinsn *d);
static void h_mov_storei8(struct emu_cpu *c, const struct dinsn *d);
static void h_mov_load8(struct emu_cpu *c, const struct dinsn *d);
static void h_mov_store4(struct emu_cpu *c, const struct dinsn *d);
static void h_mov_store8(struct emu_cpu *c, const struct dinsn *d);
static void h_movzx_m(struct emu_cpu *c, const struct dinsn *d);
static void h_movsx_m(struct emu_cpu *c, const struct dinsn *d);
static void h_movzx_r(struct emu_cpu *c, const struct dinsn *d);
static void h_movsx_r(struct emu_cpu *c, const struct dinsn *d);

static bool is_gpr(const struct dop *o);

bool emu_move_jit_form(const struct dinsn *d, struct jit_form *f)
{
	if (d->fn == h_setcc && d->op[0].kind == OPK_REG && d->op[0].size == 1 &&
	    (d->op[0].reg < 16 || (d->op[0].reg & ~3) == REG_HIGH8)) {
		f->kind = JF_SETCC;
		f->op = d->opcode & 0xF;
		f->size = 1;
		return true;
	}
	if (d->fn == h_cmovcc && d->nops == 2 && is_gpr(&d->op[0]) && is_gpr(&d->op[1]) &&
	    (d->op[0].size == 4 || d->op[0].size == 8) && d->op[1].size == d->op[0].size) {
		f->kind = JF_CMOVCC;
		f->op = d->opcode & 0xF;
		f->size = d->op[0].size;
		return true;
	}
	if ((d->fn == h_movzx_r || d->fn == h_movsx_r) &&
	    !(d->op[1].size == 4 && d->op[0].size == 4)) {
		f->kind = JF_EXT;
		f->op = d->fn == h_movsx_r ? JL_SX : JL_ZX;
		f->size = d->op[1].size;        /* 1, 2 or 4 (emu_move_special) */
		return true;
	}
	if (d->fn == h_movzx_m || d->fn == h_movsx_m) {
		f->kind = JF_LOAD;
		f->op = d->fn == h_movsx_m ? JL_SX : JL_ZX;
		f->size = d->op[1].size;        /* 1, 2 or 4 (emu_move_special) */
		return true;
	}
	if (d->fn == h_mov_load_n || d->fn == h_mov_store_n) {
		f->kind = d->fn == h_mov_load_n ? JF_LOAD : JF_STORE;
		f->op = JL_MOV;
		f->size = d->op[0].size;
		return true;
	}
	if (d->fn == h_mov_load4 || d->fn == h_mov_load8 ||
	    d->fn == h_mov_store4 || d->fn == h_mov_store8 ||
	    d->fn == h_mov_storei4 || d->fn == h_mov_storei8) {
		f->kind = d->fn == h_mov_load4 || d->fn == h_mov_load8 ? JF_LOAD : JF_STORE;
		f->op = 0;
		f->size = d->fn == h_mov_load8 || d->fn == h_mov_store8 ||
			  d->fn == h_mov_storei8 ? 8 : 4;
		return true;
	}
	if (d->fn == h_nop || d->fn == h_mfence) {
		f->kind = JF_NOP;
		f->op = d->fn == h_mfence ? JN_MFENCE :
			d->mnem == ZYDIS_MNEMONIC_PAUSE ? JN_PAUSE : JN_NOTHING;
		f->size = 0;
		return true;
	}
	if (d->fn == h_lea64)
		f->kind = JF_LEA;
	else if (d->fn == h_mov_rr4 || d->fn == h_mov_rr8)
		f->kind = JF_MOV_RR;
	else if (d->fn == h_mov_ri4 || d->fn == h_mov_ri8)
		f->kind = JF_MOV_RI;
	else
		return false;
	f->op = 0;
	f->size = d->fn == h_mov_rr8 || d->fn == h_mov_ri8 ? 8 : 4;
	return true;
}

/*
 * 64-bit mode loads and stores of 32/64-bit registers (and immediates):
 * the TLB hit inline, everything else through emu_lin_*.
 */
static inline __attribute__((always_inline)) uint64_t
load64(struct emu_cpu *c, const struct dop *o, unsigned size)
{
	uint64_t la = emu_la64(c, o);
	const uint8_t *p = emu_tlb_hit(c, la, size, ACC_R);
	if (__builtin_expect(p != NULL, 1))
		return emu_host_load(p, size);
	return emu_lin_read(c, la, size, false);
}

static inline __attribute__((always_inline)) void
store64(struct emu_cpu *c, const struct dop *o, unsigned size, uint64_t v)
{
	uint64_t la = emu_la64(c, o);
	uint8_t *p = emu_tlb_hit(c, la, size, ACC_W);
	if (__builtin_expect(p != NULL, 1))
		emu_host_store(p, size, v);
	else
		emu_lin_write(c, la, size, v, false);
}

static void h_mov_load4(struct emu_cpu *c, const struct dinsn *d)
{
	c->gpr[d->op[0].reg] = load64(c, &d->op[1], 4);
}

static void h_mov_load8(struct emu_cpu *c, const struct dinsn *d)
{
	c->gpr[d->op[0].reg] = load64(c, &d->op[1], 8);
}

static void h_mov_store4(struct emu_cpu *c, const struct dinsn *d)
{
	store64(c, &d->op[0], 4, c->gpr[d->op[1].reg]);
}

static void h_mov_store8(struct emu_cpu *c, const struct dinsn *d)
{
	store64(c, &d->op[0], 8, c->gpr[d->op[1].reg]);
}

static void h_mov_storei4(struct emu_cpu *c, const struct dinsn *d)
{
	store64(c, &d->op[0], 4, (uint64_t)d->op[1].val);
}

static void h_mov_storei8(struct emu_cpu *c, const struct dinsn *d)
{
	store64(c, &d->op[0], 8, (uint64_t)d->op[1].val);
}

/* 8/16-bit MOV loads and stores with 64-bit addressing; the register may
 * be AH-BH, the source of a store an immediate. */
static void h_mov_load_n(struct emu_cpu *c, const struct dinsn *d)
{
	unsigned size = d->op[0].size;
	gpr_write(c, d->op[0].reg, size, load64(c, &d->op[1], size));
}

static void h_mov_store_n(struct emu_cpu *c, const struct dinsn *d)
{
	unsigned size = d->op[0].size;
	const struct dop *s = &d->op[1];
	store64(c, &d->op[0], size, s->kind == OPK_IMM ? (uint64_t)s->val : gpr_read(c, s->reg, size));
}

/* MOVZX/MOVSX(D) into a 32/64-bit register from a register or memory. */
static inline __attribute__((always_inline)) void
mov_ext(struct emu_cpu *c, const struct dinsn *d, bool sign, bool mem)
{
	const struct dop *s = &d->op[1];
	uint64_t v = mem ? load64(c, s, s->size) : gpr_read(c, s->reg, s->size);
	if (sign)
		v = sext(v, s->size);
	if (d->op[0].size == 4)
		v = (uint32_t)v;
	c->gpr[d->op[0].reg] = v;
}

static void h_movzx_r(struct emu_cpu *c, const struct dinsn *d) { mov_ext(c, d, false, false); }
static void h_movzx_m(struct emu_cpu *c, const struct dinsn *d) { mov_ext(c, d, false, true); }
static void h_movsx_r(struct emu_cpu *c, const struct dinsn *d) { mov_ext(c, d, true, false); }
static void h_movsx_m(struct emu_cpu *c, const struct dinsn *d) { mov_ext(c, d, true, true); }

/* LEA with 64-bit addressing into a 32/64-bit register (no segment). */
static void h_lea64(struct emu_cpu *c, const struct dinsn *d)
{
	const struct dop *o = &d->op[1];
	uint64_t a = (uint64_t)o->val;
	if (o->base == REG_RIP)
		a += c->next_rip;
	else if (o->base != REG_NONE)
		a += c->gpr[o->base];
	if (o->index != REG_NONE)
		a += c->gpr[o->index] * o->scale;
	c->gpr[d->op[0].reg] = d->op[0].size == 4 ? (uint32_t)a : a;
}

static bool is_gpr(const struct dop *o)
{
	return o->kind == OPK_REG && !(o->reg & REG_HIGH8) && o->reg < 16;
}

/* A memory operand emu_la64 handles: 64-bit mode, 64-bit addressing. */
/* A byte (AH-BH too) or word register operand. */
static bool is_gpr_n(const struct dop *o)
{
	return o->kind == OPK_REG &&
	       (o->reg < 16 || (o->size == 1 && (o->reg & ~3) == REG_HIGH8));
}

static bool is_mem64(const struct dinsn *d, const struct dop *o, unsigned dmode)
{
	return o->kind == OPK_MEM && dmode == DM_LONG64 && d->asize == 8;
}

emu_handler emu_move_special(const struct dinsn *d, unsigned dmode)
{
	const struct dop *o0 = &d->op[0], *o1 = &d->op[1];

	if ((d->fn == h_movzx || d->fn == h_movsx || d->fn == h_lea) && d->nops == 2 &&
	    is_gpr(o0) && (o0->size == 4 || o0->size == 8)) {
		bool sign = d->fn == h_movsx;
		if (d->fn == h_lea)
			return is_mem64(d, o1, dmode) ? h_lea64 : NULL;
		if (o1->kind == OPK_REG && (o1->reg < 16 || (o1->reg & ~3) == REG_HIGH8) &&
		    (o1->size == 1 || o1->size == 2 || o1->size == 4))
			return sign ? h_movsx_r : h_movzx_r;
		if (is_mem64(d, o1, dmode) &&
		    (o1->size == 1 || o1->size == 2 || o1->size == 4))
			return sign ? h_movsx_m : h_movzx_m;
		return NULL;
	}

	if (d->fn == h_mov && d->nops == 2 && (o0->size == 1 || o0->size == 2) &&
	    o1->size == o0->size) {
		if (is_gpr_n(o0) && is_mem64(d, o1, dmode))
			return h_mov_load_n;
		if (is_mem64(d, o0, dmode) && (o1->kind == OPK_IMM || is_gpr_n(o1)))
			return h_mov_store_n;
		return NULL;
	}
	if (d->fn != h_mov || d->nops != 2 || (o0->size != 4 && o0->size != 8))
		return NULL;
	bool wide = o0->size == 8;
	if (is_gpr(o0)) {
		if (is_gpr(o1) && o1->size == o0->size)
			return wide ? h_mov_rr8 : h_mov_rr4;
		if (o1->kind == OPK_IMM)
			return wide ? h_mov_ri8 : h_mov_ri4;
		if (is_mem64(d, o1, dmode) && o1->size == o0->size)
			return wide ? h_mov_load8 : h_mov_load4;
		return NULL;
	}
	if (is_mem64(d, o0, dmode)) {
		if (is_gpr(o1) && o1->size == o0->size)
			return wide ? h_mov_store8 : h_mov_store4;
		if (o1->kind == OPK_IMM)
			return wide ? h_mov_storei8 : h_mov_storei4;
	}
	return NULL;
}

void emu_misc_register(void)
{
	static const ZydisMnemonic setcc[] = {
		ZYDIS_MNEMONIC_SETO, ZYDIS_MNEMONIC_SETNO, ZYDIS_MNEMONIC_SETB,
		ZYDIS_MNEMONIC_SETNB, ZYDIS_MNEMONIC_SETZ, ZYDIS_MNEMONIC_SETNZ,
		ZYDIS_MNEMONIC_SETBE, ZYDIS_MNEMONIC_SETNBE, ZYDIS_MNEMONIC_SETS,
		ZYDIS_MNEMONIC_SETNS, ZYDIS_MNEMONIC_SETP, ZYDIS_MNEMONIC_SETNP,
		ZYDIS_MNEMONIC_SETL, ZYDIS_MNEMONIC_SETNL, ZYDIS_MNEMONIC_SETLE,
		ZYDIS_MNEMONIC_SETNLE,
	};
	static const ZydisMnemonic cmovcc[] = {
		ZYDIS_MNEMONIC_CMOVO, ZYDIS_MNEMONIC_CMOVNO, ZYDIS_MNEMONIC_CMOVB,
		ZYDIS_MNEMONIC_CMOVNB, ZYDIS_MNEMONIC_CMOVZ, ZYDIS_MNEMONIC_CMOVNZ,
		ZYDIS_MNEMONIC_CMOVBE, ZYDIS_MNEMONIC_CMOVNBE, ZYDIS_MNEMONIC_CMOVS,
		ZYDIS_MNEMONIC_CMOVNS, ZYDIS_MNEMONIC_CMOVP, ZYDIS_MNEMONIC_CMOVNP,
		ZYDIS_MNEMONIC_CMOVL, ZYDIS_MNEMONIC_CMOVNL, ZYDIS_MNEMONIC_CMOVLE,
		ZYDIS_MNEMONIC_CMOVNLE,
	};
	for (unsigned i = 0; i < 16; i++) {
		emu_register(setcc[i], h_setcc);
		emu_register(cmovcc[i], h_cmovcc);
	}
	emu_register(ZYDIS_MNEMONIC_MOV, h_mov);
	emu_register(ZYDIS_MNEMONIC_MOVNTI, h_mov);
	emu_register(ZYDIS_MNEMONIC_MOVZX, h_movzx);
	emu_register(ZYDIS_MNEMONIC_MOVSX, h_movsx);
	emu_register(ZYDIS_MNEMONIC_MOVSXD, h_movsx);
	emu_register(ZYDIS_MNEMONIC_LEA, h_lea);
	emu_register(ZYDIS_MNEMONIC_XCHG, h_xchg);
	emu_register(ZYDIS_MNEMONIC_BSWAP, h_bswap);
	emu_register(ZYDIS_MNEMONIC_CBW, h_cbw);
	emu_register(ZYDIS_MNEMONIC_CWDE, h_cbw);
	emu_register(ZYDIS_MNEMONIC_CDQE, h_cbw);
	emu_register(ZYDIS_MNEMONIC_CWD, h_cwd);
	emu_register(ZYDIS_MNEMONIC_CDQ, h_cwd);
	emu_register(ZYDIS_MNEMONIC_CQO, h_cwd);
	emu_register(ZYDIS_MNEMONIC_LAHF, h_lahf);
	emu_register(ZYDIS_MNEMONIC_SAHF, h_sahf);
	emu_register(ZYDIS_MNEMONIC_CLC, h_clc);
	emu_register(ZYDIS_MNEMONIC_STC, h_stc);
	emu_register(ZYDIS_MNEMONIC_CMC, h_cmc);
	emu_register(ZYDIS_MNEMONIC_CLD, h_cld);
	emu_register(ZYDIS_MNEMONIC_STD, h_std);
	emu_register(ZYDIS_MNEMONIC_XLAT, h_xlat);
	emu_register(ZYDIS_MNEMONIC_NOP, h_nop);
	emu_register(ZYDIS_MNEMONIC_PAUSE, h_nop);
	emu_register(ZYDIS_MNEMONIC_ENDBR64, h_nop);
	emu_register(ZYDIS_MNEMONIC_LFENCE, h_nop);
	emu_register(ZYDIS_MNEMONIC_SFENCE, h_nop);
	emu_register(ZYDIS_MNEMONIC_MFENCE, h_mfence);
	emu_register(ZYDIS_MNEMONIC_PREFETCHNTA, h_nop);
	emu_register(ZYDIS_MNEMONIC_PREFETCHT0, h_nop);
	emu_register(ZYDIS_MNEMONIC_PREFETCHT1, h_nop);
	emu_register(ZYDIS_MNEMONIC_PREFETCHT2, h_nop);
	emu_register(ZYDIS_MNEMONIC_PREFETCH, h_nop);
	emu_register(ZYDIS_MNEMONIC_PREFETCHW, h_nop);
	emu_register(ZYDIS_MNEMONIC_CLFLUSH, h_clflush);
	emu_register(ZYDIS_MNEMONIC_UD0, h_ud);
	emu_register(ZYDIS_MNEMONIC_UD1, h_ud);
	emu_register(ZYDIS_MNEMONIC_UD2, h_ud);
}
