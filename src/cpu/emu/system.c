/*
 * System instructions: control and debug registers, descriptor-table
 * registers, CLI/STI/HLT, port I/O, INVLPG and cache control, CLTS/LMSW/
 * SMSW, SWAPGS, SYSCALL/SYSRET, RDMSR/WRMSR, CPUID, RDTSC, and the
 * FXSAVE-image housekeeping (FXSAVE/FXRSTOR/FNINIT/LDMXCSR/STMXCSR).
 */
#include <string.h>

#include "cpu/emu/emu_internal.h"
#include "mem/bus.h"

static void need_cpl0(struct emu_cpu *c)
{
	if ((c->cr0 & CR0_PE) && c->cpl != 0)
		emu_raise_err(c, EXC_GP, 0);
}

void emu_h_mov_cr(struct emu_cpu *c, const struct dinsn *d)
{
	need_cpl0(c);
	if (d->op[0].kind == OPK_CR) {
		unsigned n = d->op[0].reg;
		uint64_t v = gpr_read(c, d->op[1].reg, c->code64 ? 8 : 4);
		switch (n) {
		case 0: emu_set_cr0(c, v); break;
		case 2: c->cr2 = v; break;
		case 3: emu_set_cr3(c, v); break;
		case 4: emu_set_cr4(c, v); break;
		case 8:
			if (v & ~0xFULL)
				emu_raise_err(c, EXC_GP, 0);
			c->cr8 = v;
			break;
		default: emu_raise_ud(c);
		}
		return;
	}
	unsigned n = d->op[1].reg;
	uint64_t v;
	switch (n) {
	case 0: v = c->cr0; break;
	case 2: v = c->cr2; break;
	case 3: v = c->cr3; break;
	case 4: v = c->cr4; break;
	case 8: v = c->cr8; break;
	default: emu_raise_ud(c);
	}
	gpr_write(c, d->op[0].reg, c->code64 ? 8 : 4, v);
}

void emu_h_mov_dr(struct emu_cpu *c, const struct dinsn *d)
{
	need_cpl0(c);
	if (d->op[0].kind == OPK_DR) {
		unsigned n = d->op[0].reg;
		uint64_t v = gpr_read(c, d->op[1].reg, c->code64 ? 8 : 4);
		if (n == 4 || n == 5)
			n += 2;
		c->dr[n] = v;
		return;
	}
	unsigned n = d->op[1].reg;
	if (n == 4 || n == 5)
		n += 2;
	gpr_write(c, d->op[0].reg, c->code64 ? 8 : 4, c->dr[n]);
}

/* LGDT/LIDT/SGDT/SIDT: 2-byte limit then a 3/4/8-byte base. */
static void dtr_op(struct emu_cpu *c, const struct dinsn *d, struct emu_dtr *t,
		   bool load)
{
	const struct dop *o = &d->op[0];
	if (o->kind != OPK_MEM)
		emu_raise_ud(c);
	uint64_t ea = emu_ea(c, d, o);
	unsigned bsz = c->code64 ? 8 : 4;
	if (load) {
		need_cpl0(c);
		uint16_t limit = (uint16_t)emu_read(c, o->seg, ea, 2);
		uint64_t base = emu_read(c, o->seg, (ea + 2) & size_mask(d->asize), bsz);
		if (!c->code64 && d->osize == 2)
			base &= 0xFFFFFF;
		t->limit = limit;
		t->base = base;
		return;
	}
	emu_write(c, o->seg, ea, 2, t->limit);
	emu_write(c, o->seg, (ea + 2) & size_mask(d->asize), bsz, t->base);
}

static void h_lgdt(struct emu_cpu *c, const struct dinsn *d) { dtr_op(c, d, &c->gdtr, true); }
static void h_lidt(struct emu_cpu *c, const struct dinsn *d) { dtr_op(c, d, &c->idtr, true); }
static void h_sgdt(struct emu_cpu *c, const struct dinsn *d) { dtr_op(c, d, &c->gdtr, false); }
static void h_sidt(struct emu_cpu *c, const struct dinsn *d) { dtr_op(c, d, &c->idtr, false); }

static unsigned iopl(struct emu_cpu *c)
{
	return (c->rflags >> 12) & 3;
}

static void h_cli(struct emu_cpu *c, const struct dinsn *d)
{
	if ((c->cr0 & CR0_PE) && c->cpl > iopl(c))
		emu_raise_err(c, EXC_GP, 0);
	c->rflags &= ~(uint64_t)FL_IF;
}

static void h_sti(struct emu_cpu *c, const struct dinsn *d)
{
	if ((c->cr0 & CR0_PE) && c->cpl > iopl(c))
		emu_raise_err(c, EXC_GP, 0);
	if (!(c->rflags & FL_IF))
		c->shadow = 1;
	c->rflags |= FL_IF;
}

static void h_hlt(struct emu_cpu *c, const struct dinsn *d)
{
	need_cpl0(c);
	c->halted = true;
	c->stats.insns -= c->budget;   /* not executed: emu_cpu_run counts n - budget */
	/* The run loop and the chaining code stop at a spent budget, so they
	 * need no check of their own for a halt. */
	c->budget = 0;
	c->stats.hlts++;
}

void emu_io_check(struct emu_cpu *c, uint16_t port, unsigned size)
{
	/* No TSS I/O bitmap: above IOPL every port faults. */
	if ((c->cr0 & CR0_PE) && (c->cpl > iopl(c) || (c->rflags & FL_VM)))
		emu_raise_err(c, EXC_GP, 0);
}

static void h_in(struct emu_cpu *c, const struct dinsn *d)
{
	uint16_t port = (uint16_t)emu_op_read(c, d, 1);
	unsigned sz = d->op[0].size;
	emu_io_check(c, port, sz);
	c->stats.pio++;
	gpr_write(c, EMU_RAX, sz, bus_read(c->pio, port, sz));
}

static void h_out(struct emu_cpu *c, const struct dinsn *d)
{
	uint16_t port = (uint16_t)emu_op_read(c, d, 0);
	unsigned sz = d->op[1].size;
	emu_io_check(c, port, sz);
	c->stats.pio++;
	bus_write(c->pio, port, sz, c->gpr[EMU_RAX] & size_mask(sz));
}

static void h_invlpg(struct emu_cpu *c, const struct dinsn *d)
{
	need_cpl0(c);
	const struct dop *o = &d->op[0];
	emu_tlb_flush_page(c, emu_seg_la(c, o->seg, emu_ea(c, d, o)));
}

static void h_wbinvd(struct emu_cpu *c, const struct dinsn *d)
{
	need_cpl0(c);
}

static void h_clts(struct emu_cpu *c, const struct dinsn *d)
{
	need_cpl0(c);
	c->cr0 &= ~(uint64_t)CR0_TS;
}

static void h_lmsw(struct emu_cpu *c, const struct dinsn *d)
{
	need_cpl0(c);
	uint64_t v = emu_op_read(c, d, 0) & 0xF;
	/* LMSW can set PE but not clear it. */
	emu_set_cr0(c, (c->cr0 & ~0xEULL) | v | (c->cr0 & CR0_PE));
}

static void h_smsw(struct emu_cpu *c, const struct dinsn *d)
{
	if (d->op[0].kind == OPK_MEM)
		emu_op_write(c, d, 0, c->cr0 & 0xFFFF);
	else
		emu_op_write(c, d, 0, c->cr0);
}

static void h_swapgs(struct emu_cpu *c, const struct dinsn *d)
{
	if (!c->code64)
		emu_raise_ud(c);
	need_cpl0(c);
	uint64_t t = c->seg[SEG_GS].base;
	c->seg[SEG_GS].base = c->kernel_gs_base;
	c->kernel_gs_base = t;
}

static void h_syscall(struct emu_cpu *c, const struct dinsn *d)
{
	if (!(c->efer & EFER_SCE) || !c->code64)
		emu_raise_ud(c);
	uint16_t sel = (uint16_t)(c->star >> 32);
	c->gpr[EMU_RCX] = c->next_rip;
	c->gpr[EMU_R11] = emu_flags(c) & ~(uint64_t)FL_RF;
	emu_set_flags(c, c->gpr[EMU_R11] & ~c->sfmask & ~(uint64_t)FL_RF);
	c->seg[SEG_CS] = (struct emu_seg){ .sel = sel & 0xFFFC, .limit = 0xFFFFFFFF,
		.attr = 0xB | SA_S | SA_P | SA_L | SA_G };
	c->seg[SEG_SS] = (struct emu_seg){ .sel = (uint16_t)((sel + 8) & 0xFFFC),
		.limit = 0xFFFFFFFF, .attr = 0x3 | SA_S | SA_P | SA_DB | SA_G };
	emu_set_cpl(c, 0);
	emu_update_mode(c);
	c->next_rip = c->lstar;
}

static void h_sysret(struct emu_cpu *c, const struct dinsn *d)
{
	if (!(c->efer & EFER_SCE) || !c->code64)
		emu_raise_ud(c);
	need_cpl0(c);
	uint16_t sel = (uint16_t)(c->star >> 48);
	bool to64 = d->osize == 8;
	uint64_t rip = to64 ? c->gpr[EMU_RCX] : (uint32_t)c->gpr[EMU_RCX];
	if (to64 && (uint64_t)((int64_t)(rip << 16) >> 16) != rip)
		emu_raise_err(c, EXC_GP, 0);
	emu_set_flags(c, (c->gpr[EMU_R11] & 0x3C7FD7) | 2);
	if (to64)
		c->seg[SEG_CS] = (struct emu_seg){ .sel = (uint16_t)((sel + 16) | 3),
			.limit = 0xFFFFFFFF, .attr = 0xB | SA_S | SA_P | SA_L | SA_G | (3 << 5) };
	else
		c->seg[SEG_CS] = (struct emu_seg){ .sel = (uint16_t)(sel | 3),
			.limit = 0xFFFFFFFF, .attr = 0xB | SA_S | SA_P | SA_DB | SA_G | (3 << 5) };
	c->seg[SEG_SS].sel = (uint16_t)((sel + 8) | 3);
	c->seg[SEG_SS].attr = 0x3 | SA_S | SA_P | SA_DB | SA_G | (3 << 5);
	emu_set_cpl(c, 3);
	emu_update_mode(c);
	c->next_rip = rip;
}

static void h_rdmsr(struct emu_cpu *c, const struct dinsn *d)
{
	uint64_t v;
	need_cpl0(c);
	if (!emu_rdmsr(c, (uint32_t)c->gpr[EMU_RCX], &v))
		emu_raise_err(c, EXC_GP, 0);
	c->gpr[EMU_RAX] = (uint32_t)v;
	c->gpr[EMU_RDX] = v >> 32;
}

static void h_wrmsr(struct emu_cpu *c, const struct dinsn *d)
{
	need_cpl0(c);
	uint64_t v = (uint32_t)c->gpr[EMU_RAX] | (c->gpr[EMU_RDX] << 32);
	if (!emu_wrmsr(c, (uint32_t)c->gpr[EMU_RCX], v))
		emu_raise_err(c, EXC_GP, 0);
}

static void h_cpuid(struct emu_cpu *c, const struct dinsn *d)
{
	uint32_t r[4];
	emu_cpuid(c, (uint32_t)c->gpr[EMU_RAX], (uint32_t)c->gpr[EMU_RCX], r);
	c->gpr[EMU_RAX] = r[0];
	c->gpr[EMU_RBX] = r[1];
	c->gpr[EMU_RCX] = r[2];
	c->gpr[EMU_RDX] = r[3];
}

static void h_rdtsc(struct emu_cpu *c, const struct dinsn *d)
{
	if ((c->cr4 & 0x4) && c->cpl != 0 && (c->cr0 & CR0_PE))
		emu_raise_err(c, EXC_GP, 0);
	uint64_t t = emu_rdtsc(c);
	c->gpr[EMU_RAX] = (uint32_t)t;
	c->gpr[EMU_RDX] = t >> 32;
}

/* x87/SSE state housekeeping on the FXSAVE image (c->fx). */
static void fpu_check(struct emu_cpu *c, bool sse)
{
	if (c->cr0 & CR0_EM)
		emu_raise_ud(c);
	if (sse && !(c->cr4 & CR4_OSFXSR))
		emu_raise_ud(c);
	if (c->cr0 & CR0_TS)
		emu_raise(c, EXC_NM);
}

static void h_fxsave(struct emu_cpu *c, const struct dinsn *d)
{
	const struct dop *o = &d->op[0];
	if (o->kind != OPK_MEM)
		emu_raise_ud(c);
	fpu_check(c, false);
	uint64_t ea = emu_ea(c, d, o);
	uint64_t la = emu_seg_la(c, o->seg, ea);
	if (la & 15)
		emu_raise_err(c, EXC_GP, 0);
	/* Probe the whole area for write first: no partial image on #PF. */
	(void)emu_lin_ptr(c, la, 1, ACC_W);
	(void)emu_lin_ptr(c, la + 511, 1, ACC_W);
	for (unsigned i = 0; i < 512; i += 8) {
		uint64_t v;
		memcpy(&v, c->fx + i, 8);
		emu_lin_write(c, la + i, 8, v, false);
	}
}

static void h_fxrstor(struct emu_cpu *c, const struct dinsn *d)
{
	const struct dop *o = &d->op[0];
	uint8_t img[512];
	if (o->kind != OPK_MEM)
		emu_raise_ud(c);
	fpu_check(c, false);
	uint64_t la = emu_seg_la(c, o->seg, emu_ea(c, d, o));
	if (la & 15)
		emu_raise_err(c, EXC_GP, 0);
	for (unsigned i = 0; i < 512; i += 8) {
		uint64_t v = emu_lin_read(c, la + i, 8, false);
		memcpy(img + i, &v, 8);
	}
	uint32_t mxcsr;
	memcpy(&mxcsr, img + 24, 4);
	if (mxcsr & 0xFFFF0000u)
		emu_raise_err(c, EXC_GP, 0);
	memcpy(img + 28, c->fx + 28, 4);         /* MXCSR_MASK is read-only */
	memcpy(c->fx, img, 512);
}

static void h_fninit(struct emu_cpu *c, const struct dinsn *d)
{
	fpu_check(c, false);
	memset(c->fx, 0, 24);
	c->fx[0] = 0x7F;       /* FCW 0x037F; FSW 0; FTW empty (abridged 0) */
	c->fx[1] = 0x03;
}

static void h_ldmxcsr(struct emu_cpu *c, const struct dinsn *d)
{
	fpu_check(c, true);
	uint32_t v = (uint32_t)emu_op_read(c, d, 0);
	if (v & 0xFFFF0000u)
		emu_raise_err(c, EXC_GP, 0);
	memcpy(c->fx + 24, &v, 4);
}

static void h_stmxcsr(struct emu_cpu *c, const struct dinsn *d)
{
	fpu_check(c, true);
	uint32_t v;
	memcpy(&v, c->fx + 24, 4);
	emu_op_write(c, d, 0, v);
}

static void h_fwait(struct emu_cpu *c, const struct dinsn *d)
{
	if ((c->cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS))
		emu_raise(c, EXC_NM);
}

void emu_system_register(void)
{
	emu_register(ZYDIS_MNEMONIC_LGDT, h_lgdt);
	emu_register(ZYDIS_MNEMONIC_LIDT, h_lidt);
	emu_register(ZYDIS_MNEMONIC_SGDT, h_sgdt);
	emu_register(ZYDIS_MNEMONIC_SIDT, h_sidt);
	emu_register(ZYDIS_MNEMONIC_CLI, h_cli);
	emu_register(ZYDIS_MNEMONIC_STI, h_sti);
	emu_register(ZYDIS_MNEMONIC_HLT, h_hlt);
	emu_register(ZYDIS_MNEMONIC_IN, h_in);
	emu_register(ZYDIS_MNEMONIC_OUT, h_out);
	emu_register(ZYDIS_MNEMONIC_INVLPG, h_invlpg);
	emu_register(ZYDIS_MNEMONIC_WBINVD, h_wbinvd);
	emu_register(ZYDIS_MNEMONIC_INVD, h_wbinvd);
	emu_register(ZYDIS_MNEMONIC_CLTS, h_clts);
	emu_register(ZYDIS_MNEMONIC_LMSW, h_lmsw);
	emu_register(ZYDIS_MNEMONIC_SMSW, h_smsw);
	emu_register(ZYDIS_MNEMONIC_SWAPGS, h_swapgs);
	emu_register(ZYDIS_MNEMONIC_SYSCALL, h_syscall);
	emu_register(ZYDIS_MNEMONIC_SYSRET, h_sysret);
	emu_register(ZYDIS_MNEMONIC_RDMSR, h_rdmsr);
	emu_register(ZYDIS_MNEMONIC_WRMSR, h_wrmsr);
	emu_register(ZYDIS_MNEMONIC_CPUID, h_cpuid);
	emu_register(ZYDIS_MNEMONIC_RDTSC, h_rdtsc);
	emu_register(ZYDIS_MNEMONIC_FXSAVE, h_fxsave);
	emu_register(ZYDIS_MNEMONIC_FXSAVE64, h_fxsave);
	emu_register(ZYDIS_MNEMONIC_FXRSTOR, h_fxrstor);
	emu_register(ZYDIS_MNEMONIC_FXRSTOR64, h_fxrstor);
	emu_register(ZYDIS_MNEMONIC_FNINIT, h_fninit);
	emu_register(ZYDIS_MNEMONIC_LDMXCSR, h_ldmxcsr);
	emu_register(ZYDIS_MNEMONIC_STMXCSR, h_stmxcsr);
	emu_register(ZYDIS_MNEMONIC_FWAIT, h_fwait);
}
