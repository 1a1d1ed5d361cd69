/*
 * Segmentation in protected and long mode: descriptor reads, segment
 * register loads with their protection checks, far JMP/CALL/RET, and the
 * instructions that load or inspect selectors (MOV Sreg, POP Sreg via
 * ctrl.c, LDS..LSS, LAR/LSL/VERR/VERW). Call gates and task switches are
 * not supported (#GP).
 */
#include "cpu/emu/emu_internal.h"

static void desc_to_seg(struct emu_seg *s, uint16_t sel, uint64_t lo, uint64_t hi,
			bool sys64)
{
	uint32_t limit = (uint32_t)((lo & 0xFFFF) | ((lo >> 32) & 0xF0000));
	s->sel = sel;
	s->base = ((lo >> 16) & 0xFFFFFF) | (((lo >> 56) & 0xFF) << 24);
	if (sys64)
		s->base |= (hi & 0xFFFFFFFFULL) << 32;
	s->attr = (uint16_t)(((lo >> 40) & 0xFF) | (((lo >> 52) & 0xF) << 12));
	s->limit = (s->attr & SA_G) ? (limit << 12) | 0xFFF : limit;
}

uint64_t emu_read_desc(struct emu_cpu *c, uint16_t sel, uint32_t err_vec,
		       uint64_t *hi)
{
	const struct emu_seg *ldt = &c->seg[SEG_LDTR];
	uint64_t base = (sel & 4) ? ldt->base : c->gdtr.base;
	uint32_t limit = (sel & 4) ? ldt->limit : c->gdtr.limit;
	uint32_t idx = sel & ~7u;
	unsigned need = hi ? 15 : 7;

	if ((sel & 4) && !(ldt->attr & SA_P))
		emu_raise_err(c, (int)err_vec, sel & 0xFFFC);
	if (idx + need > limit)
		emu_raise_err(c, (int)err_vec, sel & 0xFFFC);
	uint64_t lo = emu_lin_read(c, base + idx, 8, true);
	if (hi)
		*hi = emu_lin_read(c, base + idx + 8, 8, true);
	return lo;
}

static void set_accessed(struct emu_cpu *c, uint16_t sel, uint64_t lo)
{
	if (lo & (1ULL << 40))
		return;
	uint64_t base = (sel & 4) ? c->seg[SEG_LDTR].base : c->gdtr.base;
	emu_lin_write(c, base + (sel & ~7u) + 5, 1, ((lo >> 40) & 0xFF) | 1, true);
}

void emu_load_seg_real(struct emu_cpu *c, int seg, uint16_t sel)
{
	struct emu_seg *s = &c->seg[seg];
	s->sel = sel;
	s->base = (uint64_t)sel << 4;
	if (!(c->cr0 & CR0_PE) || (c->rflags & FL_VM))
		s->attr |= SA_P | SA_S;
}

void emu_load_seg_desc(struct emu_cpu *c, int seg, uint16_t sel, uint64_t lo,
		       uint64_t hi)
{
	desc_to_seg(&c->seg[seg], sel, lo, hi, false);
	if (seg == SEG_CS)
		emu_update_mode(c);
}

void emu_load_seg(struct emu_cpu *c, int seg, uint16_t sel)
{
	if (!(c->cr0 & CR0_PE) || (c->rflags & FL_VM)) {
		emu_load_seg_real(c, seg, sel);
		return;
	}
	unsigned rpl = sel & 3, cpl = c->cpl;
	if ((sel & 0xFFFC) == 0) {
		if (seg == SEG_SS && (!c->code64 || cpl == 3 || rpl != cpl))
			emu_raise_err(c, EXC_GP, 0);
		struct emu_seg *s = &c->seg[seg];
		s->sel = sel;
		s->attr = seg == SEG_SS ? (uint16_t)(SA_S | 3 | SA_DB | (cpl << 5)) : 0;
		s->base = 0;
		s->limit = 0;
		return;
	}
	uint64_t lo = emu_read_desc(c, sel, EXC_GP, NULL);
	unsigned type = (lo >> 40) & 0xF, dpl = (lo >> 45) & 3;
	bool s_bit = lo & (1ULL << 44), present = lo & (1ULL << 47);
	bool code = type & 8;
	if (!s_bit)
		emu_raise_err(c, EXC_GP, sel & 0xFFFC);
	if (seg == SEG_SS) {
		if (code || !(type & 2) || rpl != cpl || dpl != cpl)
			emu_raise_err(c, EXC_GP, sel & 0xFFFC);
		if (!present)
			emu_raise_err(c, EXC_SS, sel & 0xFFFC);
	} else {
		if (code && !(type & 2))
			emu_raise_err(c, EXC_GP, sel & 0xFFFC);
		bool conforming = code && (type & 4);
		if (!conforming && (dpl < cpl || dpl < rpl))
			emu_raise_err(c, EXC_GP, sel & 0xFFFC);
		if (!present)
			emu_raise_err(c, EXC_NP, sel & 0xFFFC);
	}
	set_accessed(c, sel, lo);
	desc_to_seg(&c->seg[seg], sel, lo | (1ULL << 40), 0, false);
}

/* Checks a code-segment descriptor for a far transfer to sel. */
static uint64_t code_desc(struct emu_cpu *c, uint16_t sel, unsigned cpl_check,
			  bool is_ret)
{
	if ((sel & 0xFFFC) == 0)
		emu_raise_err(c, EXC_GP, 0);
	uint64_t lo = emu_read_desc(c, sel, EXC_GP, NULL);
	unsigned type = (lo >> 40) & 0xF, dpl = (lo >> 45) & 3, rpl = sel & 3;
	if (!(lo & (1ULL << 44)) || !(type & 8))
		emu_raise_err(c, EXC_GP, sel & 0xFFFC);   /* gates unsupported */
	bool conforming = type & 4;
	if (is_ret) {
		if (rpl < cpl_check || (conforming ? dpl > rpl : dpl != rpl))
			emu_raise_err(c, EXC_GP, sel & 0xFFFC);
	} else if (conforming ? dpl > cpl_check : (rpl > cpl_check || dpl != cpl_check)) {
		emu_raise_err(c, EXC_GP, sel & 0xFFFC);
	}
	if (!(lo & (1ULL << 47)))
		emu_raise_err(c, EXC_NP, sel & 0xFFFC);
	if ((c->efer & EFER_LMA) && (lo & (1ULL << 53)) && (lo & (1ULL << 54)))
		emu_raise_err(c, EXC_GP, sel & 0xFFFC);
	return lo;
}

static uint64_t new_ip_mask(const struct emu_seg *cs, const struct emu_cpu *c)
{
	if ((c->efer & EFER_LMA) && (cs->attr & SA_L))
		return ~0ULL;
	return (cs->attr & SA_DB) ? 0xFFFFFFFFULL : 0xFFFFULL;
}

void emu_far_jump(struct emu_cpu *c, uint16_t sel, uint64_t off, unsigned osize,
		  bool is_call, uint64_t ret_ip)
{
	if (!(c->cr0 & CR0_PE) || (c->rflags & FL_VM)) {
		if (is_call) {
			emu_push(c, osize, c->seg[SEG_CS].sel);
			emu_push(c, osize, ret_ip);
		}
		emu_load_seg_real(c, SEG_CS, sel);
		c->next_rip = off & size_mask(osize);
		return;
	}
	uint64_t lo = code_desc(c, sel, c->cpl, false);
	if (is_call) {
		emu_push(c, osize, c->seg[SEG_CS].sel);
		emu_push(c, osize, ret_ip);
	}
	set_accessed(c, sel, lo);
	desc_to_seg(&c->seg[SEG_CS], (uint16_t)((sel & ~3u) | c->cpl), lo | (1ULL << 40),
		    0, false);
	emu_update_mode(c);
	c->next_rip = off & new_ip_mask(&c->seg[SEG_CS], c);
}

/* Null data segments the new, less privileged CPL may not use. */
static void drop_segments(struct emu_cpu *c)
{
	static const int segs[] = { SEG_ES, SEG_DS, SEG_FS, SEG_GS };
	for (int i = 0; i < 4; i++) {
		struct emu_seg *s = &c->seg[segs[i]];
		bool conforming_code = (s->attr & 8) && (s->attr & 4);
		if (!conforming_code && SA_DPL(s->attr) < c->cpl) {
			s->sel = 0;
			s->attr = 0;
		}
	}
}

/* Far return (RETF): same or outer privilege level. */
void emu_far_ret(struct emu_cpu *c, unsigned osize, unsigned extra)
{
	uint64_t ip = emu_stack_peek(c, 0, osize);
	uint16_t sel = (uint16_t)emu_stack_peek(c, osize, osize);

	if (!(c->cr0 & CR0_PE) || (c->rflags & FL_VM)) {
		emu_load_seg_real(c, SEG_CS, sel);
		emu_set_rsp_off(c, 2 * osize + extra);
		c->next_rip = ip & size_mask(osize);
		return;
	}
	uint64_t lo = code_desc(c, sel, c->cpl, true);
	unsigned rpl = sel & 3;
	if (rpl == c->cpl) {
		emu_set_rsp_off(c, 2 * osize + extra);
		desc_to_seg(&c->seg[SEG_CS], sel, lo, 0, false);
		emu_update_mode(c);
		c->next_rip = ip & new_ip_mask(&c->seg[SEG_CS], c);
		return;
	}
	uint64_t sp = emu_stack_peek(c, 2 * osize + extra, osize);
	uint16_t ss = (uint16_t)emu_stack_peek(c, 3 * osize + extra, osize);
	desc_to_seg(&c->seg[SEG_CS], sel, lo, 0, false);
	emu_set_cpl(c, rpl);
	emu_update_mode(c);
	emu_load_seg(c, SEG_SS, ss);
	c->gpr[EMU_RSP] = sp + extra;
	if (!c->code64)
		c->gpr[EMU_RSP] &= 0xFFFFFFFFULL;
	drop_segments(c);
	c->next_rip = ip & new_ip_mask(&c->seg[SEG_CS], c);
}

/* IRET in protected/long mode (real mode is handled by the caller). */
void emu_iret_prot(struct emu_cpu *c, unsigned osize)
{
	uint64_t ip = emu_stack_peek(c, 0, osize);
	uint16_t sel = (uint16_t)emu_stack_peek(c, osize, osize);
	uint64_t fl = emu_stack_peek(c, 2 * osize, osize);

	if (!(c->efer & EFER_LMA) && (c->rflags & FL_NT))
		emu_raise_err(c, EXC_GP, 0);     /* task return: unsupported */
	uint64_t lo = code_desc(c, sel, c->cpl, true);
	unsigned rpl = sel & 3;
	bool pop_stack = c->code64 || rpl != c->cpl;
	uint64_t sp = 0;
	uint16_t ss = 0;
	if (pop_stack) {
		sp = emu_stack_peek(c, 3 * osize, osize);
		ss = (uint16_t)emu_stack_peek(c, 4 * osize, osize);
	}
	emu_write_flags(c, fl, osize, true);
	desc_to_seg(&c->seg[SEG_CS], sel, lo, 0, false);
	unsigned old_cpl = c->cpl;
	emu_set_cpl(c, rpl);
	emu_update_mode(c);
	if (pop_stack) {
		emu_load_seg(c, SEG_SS, ss);
		c->gpr[EMU_RSP] = osize == 8 ? sp : osize == 4 ? (uint32_t)sp :
				  (c->gpr[EMU_RSP] & ~0xFFFFULL) | (sp & 0xFFFF);
	} else {
		emu_set_rsp_off(c, 3 * osize);
	}
	if (rpl > old_cpl)
		drop_segments(c);
	c->next_rip = ip & new_ip_mask(&c->seg[SEG_CS], c);
}

void emu_h_mov_sreg(struct emu_cpu *c, const struct dinsn *d)
{
	if (d->op[0].kind == OPK_SREG) {
		int seg = d->op[0].reg;
		if (seg == SEG_CS || seg > SEG_GS)
			emu_raise_ud(c);
		emu_load_seg(c, seg, (uint16_t)emu_op_read(c, d, 1));
		if (seg == SEG_SS)
			c->shadow = 1;
		return;
	}
	if (d->op[1].reg > SEG_GS)
		emu_raise_ud(c);
	emu_op_write(c, d, 0, c->seg[d->op[1].reg].sel);
}

/* LDS/LES/LFS/LGS/LSS reg, m16:off. */
static void load_far_ptr(struct emu_cpu *c, const struct dinsn *d, int seg)
{
	const struct dop *o = &d->op[1];
	if (o->kind != OPK_MEM)
		emu_raise_ud(c);
	unsigned osz = d->op[0].size;
	uint64_t ea = emu_ea(c, d, o);
	uint64_t off = emu_read(c, o->seg, ea, osz);
	uint16_t sel = (uint16_t)emu_read(c, o->seg, (ea + osz) & size_mask(d->asize), 2);
	emu_load_seg(c, seg, sel);
	emu_op_write(c, d, 0, off);
	if (seg == SEG_SS)
		c->shadow = 1;
}

static void h_lds(struct emu_cpu *c, const struct dinsn *d) { load_far_ptr(c, d, SEG_DS); }
static void h_les(struct emu_cpu *c, const struct dinsn *d) { load_far_ptr(c, d, SEG_ES); }
static void h_lfs(struct emu_cpu *c, const struct dinsn *d) { load_far_ptr(c, d, SEG_FS); }
static void h_lgs(struct emu_cpu *c, const struct dinsn *d) { load_far_ptr(c, d, SEG_GS); }
static void h_lss(struct emu_cpu *c, const struct dinsn *d) { load_far_ptr(c, d, SEG_SS); }

/* LAR/LSL/VERR/VERW: ZF says whether the selector passes. */
enum { V_LAR, V_LSL, V_VERR, V_VERW };

static void verify_sel(struct emu_cpu *c, const struct dinsn *d, int kind)
{
	if (!(c->cr0 & CR0_PE) || (c->rflags & FL_VM))
		emu_raise_ud(c);
	int si = (kind == V_LAR || kind == V_LSL) ? 1 : 0;
	uint16_t sel = (uint16_t)emu_op_read(c, d, si);
	const struct emu_seg *ldt = &c->seg[SEG_LDTR];
	uint32_t limit = (sel & 4) ? ldt->limit : c->gdtr.limit;
	uint64_t base = (sel & 4) ? ldt->base : c->gdtr.base;
	bool ok = (sel & 0xFFFC) && (sel | 7u) <= limit;
	uint64_t lo = 0;

	if (ok) {
		lo = emu_lin_read(c, base + (sel & ~7u), 8, true);
		unsigned type = (lo >> 40) & 0xF, dpl = (lo >> 45) & 3;
		bool s = lo & (1ULL << 44);
		bool conforming = s && (type & 0xC) == 0xC;
		if (!conforming && (dpl < c->cpl || dpl < (sel & 3u)))
			ok = false;
		if (!s) {
			/* LDT, TSS (and LAR: gates) are the valid system types. */
			bool valid = type == 1 || type == 2 || type == 3 || type == 9 || type == 0xB;
			if (kind == V_LAR && (type == 0xC))
				valid = true;
			if (kind == V_VERR || kind == V_VERW)
				valid = false;
			ok = ok && valid;
		} else if (kind == V_VERR) {
			ok = ok && (!(type & 8) || (type & 2));
		} else if (kind == V_VERW) {
			ok = ok && !(type & 8) && (type & 2);
		}
	}
	uint64_t f = emu_flags(c) & ~(uint64_t)FL_ZF;
	if (ok) {
		f |= FL_ZF;
		if (kind == V_LAR) {
			emu_op_write(c, d, 0, (lo >> 32) & 0x00F0FF00ULL);
		} else if (kind == V_LSL) {
			uint32_t lim = (uint32_t)((lo & 0xFFFF) | ((lo >> 32) & 0xF0000));
			if (lo & (1ULL << 55))
				lim = (lim << 12) | 0xFFF;
			emu_op_write(c, d, 0, lim);
		}
	}
	emu_set_flags(c, f);
}

static void h_lar(struct emu_cpu *c, const struct dinsn *d) { verify_sel(c, d, V_LAR); }
static void h_lsl(struct emu_cpu *c, const struct dinsn *d) { verify_sel(c, d, V_LSL); }
static void h_verr(struct emu_cpu *c, const struct dinsn *d) { verify_sel(c, d, V_VERR); }
static void h_verw(struct emu_cpu *c, const struct dinsn *d) { verify_sel(c, d, V_VERW); }

/* LTR and LLDT: system descriptors, 16 bytes in long mode. */
static void load_system_seg(struct emu_cpu *c, const struct dinsn *d, bool tr)
{
	if (!(c->cr0 & CR0_PE) || (c->rflags & FL_VM))
		emu_raise_ud(c);
	if (c->cpl)
		emu_raise_err(c, EXC_GP, 0);
	uint16_t sel = (uint16_t)emu_op_read(c, d, 0);
	int seg = tr ? SEG_TR : SEG_LDTR;
	if ((sel & 0xFFFC) == 0) {
		if (tr)
			emu_raise_err(c, EXC_GP, 0);
		c->seg[seg] = (struct emu_seg){ .sel = sel };
		return;
	}
	if (sel & 4)
		emu_raise_err(c, EXC_GP, sel & 0xFFFC);
	bool lma = c->efer & EFER_LMA;
	uint64_t hi = 0;
	uint64_t lo = emu_read_desc(c, sel, EXC_GP, lma ? &hi : NULL);
	unsigned type = (lo >> 40) & 0xF;
	if ((lo & (1ULL << 44)) || (tr ? (type != 9 && type != 1) : type != 2))
		emu_raise_err(c, EXC_GP, sel & 0xFFFC);
	if (!(lo & (1ULL << 47)))
		emu_raise_err(c, EXC_NP, sel & 0xFFFC);
	desc_to_seg(&c->seg[seg], sel, lo, hi, lma);
	if (tr) {
		/* Mark busy in the GDT and in the cache. */
		emu_lin_write(c, c->gdtr.base + (sel & ~7u) + 5, 1,
			      ((lo >> 40) & 0xFF) | 2, true);
		c->seg[seg].attr |= 2;
	}
}

static void h_ltr(struct emu_cpu *c, const struct dinsn *d) { load_system_seg(c, d, true); }
static void h_lldt(struct emu_cpu *c, const struct dinsn *d) { load_system_seg(c, d, false); }

static void h_str(struct emu_cpu *c, const struct dinsn *d)
{
	if (!(c->cr0 & CR0_PE))
		emu_raise_ud(c);
	emu_op_write(c, d, 0, c->seg[d->mnem == ZYDIS_MNEMONIC_STR ? SEG_TR : SEG_LDTR].sel);
}

void emu_segment_register(void)
{
	emu_register(ZYDIS_MNEMONIC_LDS, h_lds);
	emu_register(ZYDIS_MNEMONIC_LES, h_les);
	emu_register(ZYDIS_MNEMONIC_LFS, h_lfs);
	emu_register(ZYDIS_MNEMONIC_LGS, h_lgs);
	emu_register(ZYDIS_MNEMONIC_LSS, h_lss);
	emu_register(ZYDIS_MNEMONIC_LAR, h_lar);
	emu_register(ZYDIS_MNEMONIC_LSL, h_lsl);
	emu_register(ZYDIS_MNEMONIC_VERR, h_verr);
	emu_register(ZYDIS_MNEMONIC_VERW, h_verw);
	emu_register(ZYDIS_MNEMONIC_LTR, h_ltr);
	emu_register(ZYDIS_MNEMONIC_LLDT, h_lldt);
	emu_register(ZYDIS_MNEMONIC_STR, h_str);
	emu_register(ZYDIS_MNEMONIC_SLDT, h_str);
}
