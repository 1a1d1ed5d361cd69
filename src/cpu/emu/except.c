/*
 * Exceptions and interrupts: raising (longjmp to emu_cpu_step), delivery
 * through the real-mode IVT or the protected/long-mode IDT (interrupt and
 * trap gates, privilege change with a stack from the TSS, IST), and the
 * INT n / INT3 / INTO / IRET instructions. Task gates are not supported.
 */
#include "cpu/emu/emu_internal.h"

void emu_raise_err(struct emu_cpu *c, int vec, uint32_t err)
{
	c->exc_vec = vec;
	c->exc_err = err;
	c->exc_has_err = true;
	c->exc_soft = false;
	siglongjmp(c->jmp, 1);
}

void emu_raise(struct emu_cpu *c, int vec)
{
	c->exc_vec = vec;
	c->exc_err = 0;
	c->exc_has_err = false;
	c->exc_soft = false;
	siglongjmp(c->jmp, 1);
}

void emu_raise_ud(struct emu_cpu *c)
{
	emu_raise(c, EXC_UD);
}

static bool vec_has_error_code(int vec)
{
	return vec == EXC_DF || vec == EXC_TS || vec == EXC_NP || vec == EXC_SS ||
	       vec == EXC_GP || vec == EXC_PF || vec == EXC_AC;
}

static void deliver_real(struct emu_cpu *c, int vec)
{
	if ((unsigned)vec * 4 + 3 > c->idtr.limit)
		emu_raise_err(c, EXC_GP, 0);
	uint32_t ent = (uint32_t)emu_lin_read(c, c->idtr.base + vec * 4u, 4, true);
	uint64_t fl = emu_flags(c);
	emu_push(c, 2, fl);
	emu_push(c, 2, c->seg[SEG_CS].sel);
	emu_push(c, 2, c->rip);
	c->rflags &= ~(uint64_t)(FL_IF | FL_TF | FL_AC | FL_RF);
	emu_load_seg_real(c, SEG_CS, (uint16_t)(ent >> 16));
	c->rip = ent & 0xFFFF;
}

/* Stack pointer for privilege level cpl (or IST slot ist) from the TSS. */
static uint64_t tss_stack(struct emu_cpu *c, unsigned cpl, unsigned ist,
			  uint16_t *ss)
{
	const struct emu_seg *tr = &c->seg[SEG_TR];
	if (c->efer & EFER_LMA) {
		uint32_t off = ist ? 0x24 + 8 * (ist - 1) : 4 + 8 * cpl;
		if (off + 7 > tr->limit)
			emu_raise_err(c, EXC_TS, tr->sel & 0xFFFC);
		return emu_lin_read(c, tr->base + off, 8, true);
	}
	bool tss32 = (tr->attr & 0xF) == 0x9 || (tr->attr & 0xF) == 0xB;
	uint32_t off = tss32 ? 4 + 8 * cpl : 2 + 4 * cpl;
	unsigned w = tss32 ? 4 : 2;
	if (off + 2 * w - 1 > tr->limit)
		emu_raise_err(c, EXC_TS, tr->sel & 0xFFFC);
	*ss = (uint16_t)emu_lin_read(c, tr->base + off + w, 2, true);
	return emu_lin_read(c, tr->base + off, w, true);
}

void emu_deliver(struct emu_cpu *c, int vec, bool has_err, uint32_t err,
		 bool soft, bool ext)
{
	if (!soft && !ext)
		has_err = vec_has_error_code(vec);
	if (!(c->cr0 & CR0_PE)) {
		deliver_real(c, vec);
		c->halted = false;
		return;
	}
	bool lma = c->efer & EFER_LMA;
	unsigned gsz = lma ? 16 : 8;
	uint32_t gerr = (uint32_t)vec * 8 + 2 + (ext || !soft ? 1 : 0);
	if ((uint32_t)vec * gsz + gsz - 1 > c->idtr.limit)
		emu_raise_err(c, EXC_GP, gerr);
	uint64_t lo = emu_lin_read(c, c->idtr.base + (uint64_t)vec * gsz, 8, true);
	uint64_t hi = lma ? emu_lin_read(c, c->idtr.base + (uint64_t)vec * gsz + 8, 8, true) : 0;
	unsigned type = (lo >> 40) & 0x1F, gdpl = (lo >> 45) & 3;
	bool trap = type & 1;
	unsigned gate_size = (type & 8) ? 4 : 2;
	if (lma) {
		if (type != 0xE && type != 0xF)
			emu_raise_err(c, EXC_GP, gerr);
		gate_size = 8;
	} else if (type != 0xE && type != 0xF && type != 0x6 && type != 0x7) {
		emu_raise_err(c, EXC_GP, gerr);
	}
	if (soft && gdpl < c->cpl)
		emu_raise_err(c, EXC_GP, gerr & ~1u);
	if (!(lo & (1ULL << 47)))
		emu_raise_err(c, EXC_NP, gerr);
	uint16_t sel = (uint16_t)(lo >> 16);
	uint64_t off = (lo & 0xFFFF) | ((lo >> 32) & 0xFFFF0000ULL);
	if (lma)
		off |= (hi & 0xFFFFFFFFULL) << 32;
	unsigned ist = lma ? (lo >> 32) & 7 : 0;

	if ((sel & 0xFFFC) == 0)
		emu_raise_err(c, EXC_GP, ext || !soft ? 1 : 0);
	uint64_t clo = emu_read_desc(c, sel, EXC_GP, NULL);
	unsigned ctype = (clo >> 40) & 0xF, cdpl = (clo >> 45) & 3;
	if (!(clo & (1ULL << 44)) || !(ctype & 8) || cdpl > c->cpl)
		emu_raise_err(c, EXC_GP, (sel & 0xFFFC) | (ext || !soft ? 1 : 0));
	if (!(clo & (1ULL << 47)))
		emu_raise_err(c, EXC_NP, (sel & 0xFFFC) | (ext || !soft ? 1 : 0));
	if (lma && !(clo & (1ULL << 53)))
		emu_raise_err(c, EXC_GP, sel & 0xFFFC);
	unsigned new_cpl = (ctype & 4) ? c->cpl : cdpl;

	uint64_t old_flags = emu_flags(c);
	uint64_t old_rsp = c->gpr[EMU_RSP];
	uint16_t old_ss = c->seg[SEG_SS].sel;
	uint64_t sp;
	uint16_t new_ss = old_ss;
	uint64_t ss_base = c->seg[SEG_SS].base;
	bool switch_stack = new_cpl < c->cpl;
	uint64_t ss_lo = 0;

	if (lma) {
		if (switch_stack || ist)
			sp = tss_stack(c, new_cpl, ist, &new_ss);
		else
			sp = old_rsp;
		if (switch_stack)
			new_ss = (uint16_t)new_cpl;
		sp &= ~0xFULL;
		ss_base = 0;
	} else if (switch_stack) {
		sp = tss_stack(c, new_cpl, 0, &new_ss);
		if ((new_ss & 0xFFFC) == 0)
			emu_raise_err(c, EXC_TS, 0);
		ss_lo = emu_read_desc(c, new_ss, EXC_TS, NULL);
		if (!(ss_lo & (1ULL << 47)))
			emu_raise_err(c, EXC_SS, new_ss & 0xFFFC);
		ss_base = ((ss_lo >> 16) & 0xFFFFFF) | (((ss_lo >> 56) & 0xFF) << 24);
	} else {
		sp = old_rsp;
	}

	/* Build the frame on the new stack; nothing is committed before. */
	uint64_t words[6];
	int n = 0;
	if (lma || switch_stack) {
		words[n++] = old_ss;
		words[n++] = old_rsp;
	}
	words[n++] = old_flags;
	words[n++] = c->seg[SEG_CS].sel;
	words[n++] = c->rip;
	if (has_err)
		words[n++] = err;
	uint64_t smask = lma ? ~0ULL : (switch_stack ? ((ss_lo & (1ULL << 54)) ? 0xFFFFFFFFULL : 0xFFFFULL)
					  : size_mask(emu_stack_size(c)));
	for (int i = 0; i < n; i++) {
		sp -= gate_size;
		uint64_t la = lma ? sp : (uint32_t)(ss_base + (sp & smask));
		emu_lin_write(c, la, gate_size, words[i], new_cpl < 3);
	}

	/* Commit. */
	if (lma) {
		if (switch_stack) {
			c->seg[SEG_SS] = (struct emu_seg){ .sel = new_ss,
				.attr = (uint16_t)(SA_S | SA_P | 3 | SA_DB | (new_cpl << 5)) };
		}
		c->gpr[EMU_RSP] = sp;
	} else {
		if (switch_stack)
			emu_load_seg_desc(c, SEG_SS, new_ss, ss_lo, 0);
		gpr_write(c, EMU_RSP, (c->seg[SEG_SS].attr & SA_DB) ? 4 : 2, sp);
	}
	emu_load_seg_desc(c, SEG_CS, (uint16_t)((sel & ~3u) | new_cpl), clo, 0);
	emu_set_cpl(c, new_cpl);
	emu_update_mode(c);
	c->rip = lma ? off : off & (gate_size == 4 ? 0xFFFFFFFFULL : 0xFFFFULL);
	c->rflags &= ~(uint64_t)(FL_TF | FL_NT | FL_RF | FL_VM);
	if (!trap)
		c->rflags &= ~(uint64_t)FL_IF;
	c->halted = false;
	c->shadow = 0;
}

/* Software interrupts: the return address is the next instruction. */
static __attribute__((noreturn)) void raise_soft(struct emu_cpu *c, int vec)
{
	c->exc_soft = true;
	c->exc_vec = vec;
	c->exc_has_err = false;
	c->exc_err = 0;
	siglongjmp(c->jmp, 1);
}

static void h_int(struct emu_cpu *c, const struct dinsn *d)
{
	raise_soft(c, (int)(d->op[0].val & 0xFF));
}

static void h_int3(struct emu_cpu *c, const struct dinsn *d)
{
	raise_soft(c, EXC_BP);
}

static void h_into(struct emu_cpu *c, const struct dinsn *d)
{
	if (emu_flags(c) & FL_OF)
		raise_soft(c, EXC_OF);
}

static void h_iret(struct emu_cpu *c, const struct dinsn *d)
{
	unsigned osize = d->osize;
	if (!(c->cr0 & CR0_PE)) {
		uint64_t ip = emu_stack_peek(c, 0, osize);
		uint16_t sel = (uint16_t)emu_stack_peek(c, osize, osize);
		uint64_t fl = emu_stack_peek(c, 2 * osize, osize);
		emu_write_flags(c, fl, osize, true);
		emu_load_seg_real(c, SEG_CS, sel);
		emu_set_rsp_off(c, 3 * osize);
		c->next_rip = ip & size_mask(osize);
		return;
	}
	emu_iret_prot(c, osize);
}

void emu_except_register(void)
{
	emu_register(ZYDIS_MNEMONIC_INT, h_int);
	emu_register(ZYDIS_MNEMONIC_INT3, h_int3);
	emu_register(ZYDIS_MNEMONIC_INTO, h_into);
	emu_register(ZYDIS_MNEMONIC_IRET, h_iret);
	emu_register(ZYDIS_MNEMONIC_IRETD, h_iret);
	emu_register(ZYDIS_MNEMONIC_IRETQ, h_iret);
}
