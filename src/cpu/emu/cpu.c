/*
 * The emulated vCPU: creation, register access, operand and stack helpers,
 * mode bookkeeping, and emu_cpu_step() (one instruction, exceptions caught
 * by longjmp and then delivered or returned).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/emu/emu_fp.h"
#include "cpu/emu/emu_internal.h"
#include "lib/log.h"
#include "mem/guest_mem.h"

/* --- shared per-guest_mem state --- */

#define MAX_SHARED 8
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct emu_shared *_Atomic shared_tab[MAX_SHARED];

static struct emu_shared *shared_get(struct guest_mem *mem)
{
	struct emu_shared *sh = NULL;
	pthread_mutex_lock(&shared_lock);
	for (int i = 0; i < MAX_SHARED; i++) {
		struct emu_shared *s = atomic_load(&shared_tab[i]);
		if (s && s->mem == mem) {
			s->refs++;
			sh = s;
			goto out;
		}
	}
	for (int i = 0; i < MAX_SHARED; i++) {
		if (atomic_load(&shared_tab[i]))
			continue;
		sh = calloc(1, sizeof(*sh));
		if (!sh)
			goto out;
		sh->mem = mem;
		sh->refs = 1;
		sh->npages = (mem->ram_size + 4095) / 4096;
		sh->has_code = calloc(sh->npages ? sh->npages : 1, 1);
		sh->gen = calloc(sh->npages ? sh->npages : 1, sizeof(uint32_t));
		if (!sh->has_code || !sh->gen) {
			free((void *)sh->has_code);
			free((void *)sh->gen);
			free(sh);
			sh = NULL;
			goto out;
		}
		atomic_store(&shared_tab[i], sh);
		goto out;
	}
out:
	pthread_mutex_unlock(&shared_lock);
	return sh;
}

static void shared_put(struct emu_shared *sh)
{
	pthread_mutex_lock(&shared_lock);
	if (--sh->refs == 0) {
		for (int i = 0; i < MAX_SHARED; i++)
			if (atomic_load(&shared_tab[i]) == sh)
				atomic_store(&shared_tab[i], NULL);
		free((void *)sh->has_code);
		free((void *)sh->gen);
		free(sh);
	}
	pthread_mutex_unlock(&shared_lock);
}

/*
 * Hook for writes to guest RAM that bypass the emulator (device DMA, the
 * loader): invalidates decoded code in [gpa, gpa+len). Lock-free.
 */
void emu_code_invalidate(struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < MAX_SHARED; i++) {
		struct emu_shared *sh = atomic_load(&shared_tab[i]);
		if (!sh || sh->mem != mem || !len)
			continue;
		for (uint64_t a = gpa & ~0xFFFULL; a < gpa + len && a >= (gpa & ~0xFFFULL);
		     a += 4096) {
			int32_t p = emu_page_index(sh, a);
			if (p >= 0 && atomic_load_explicit(&sh->has_code[p],
							  memory_order_relaxed))
				emu_code_written(sh, p);
		}
	}
}

/* --- creation --- */

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void tables_init(void)
{
	emu_alu_register();
	emu_arith_register();
	emu_ctrl_register();
	emu_string_register();
	emu_segment_register();
	emu_except_register();
	emu_system_register();
	emu_misc_register();
	/* x87/SSE (fp*.c) last: it wraps some entries registered above. */
	emu_fp_register();
}

static void reset_state(struct emu_cpu *c)
{
	memset(c->gpr, 0, sizeof(c->gpr));
	c->gpr[EMU_RDX] = 0x600;
	c->rflags = 2;
	c->lf_op = LF_NONE;
	c->cr0 = CR0_ET | CR0_NW | CR0_CD;
	c->cr2 = c->cr3 = c->cr4 = c->cr8 = c->efer = 0;
	memset(c->dr, 0, sizeof(c->dr));
	c->dr[6] = 0xFFFF0FF0;
	c->dr[7] = 0x400;
	for (int i = 0; i < 6; i++) {
		c->seg[i] = (struct emu_seg){ .base = 0, .limit = 0xFFFF, .sel = 0,
					      .attr = SA_P | SA_S | 3 };
	}
	c->seg[SEG_CS] = (struct emu_seg){ .base = 0xFFFF0000, .limit = 0xFFFF,
					   .sel = 0xF000, .attr = SA_P | SA_S | 0xB };
	c->seg[SEG_LDTR] = (struct emu_seg){ .limit = 0xFFFF, .attr = SA_P | 2 };
	c->seg[SEG_TR] = (struct emu_seg){ .limit = 0xFFFF, .attr = SA_P | 0xB };
	c->gdtr = (struct emu_dtr){ 0, 0xFFFF };
	c->idtr = (struct emu_dtr){ 0, 0xFFFF };
	c->rip = 0xFFF0;
	c->apic_base = 0xFEE00000ULL | (1ULL << 11) | (c->apic_id == 0 ? 1ULL << 8 : 0);
	c->pat = 0x0007040600070406ULL;
	c->misc_enable = 1;
	memset(c->fx, 0, sizeof(c->fx));
	c->fx[0] = 0x7F;                      /* FCW 0x037F */
	c->fx[1] = 0x03;
	c->fx[24] = 0x80;                     /* MXCSR 0x1F80 */
	c->fx[25] = 0x1F;
	c->fx[28] = 0xFF;                     /* MXCSR_MASK 0xFFFF */
	c->fx[29] = 0xFF;
	c->shadow = 0;
	c->halted = false;
	c->triple_fault = false;
	c->unimplemented = false;
	emu_set_cpl(c, 0);
	emu_update_mode(c);
	emu_tlb_flush(c, true);
}

struct emu_cpu *emu_cpu_create(struct guest_mem *mem, struct bus *pio,
			       struct bus *mmio, unsigned apic_id)
{
	struct emu_cpu *c;

	pthread_once(&tables_once, tables_init);
	if (posix_memalign((void **)&c, 64, sizeof(*c)))
		return NULL;
	memset(c, 0, sizeof(*c));
	c->mem = mem;
	c->pio = pio;
	c->mmio = mmio;
	c->apic_id = apic_id;
	c->sh = shared_get(mem);
	if (!c->sh) {
		free(c);
		return NULL;
	}
	emu_decode_init(c);
	/* VIREO_EMU_JIT=0 runs every block in the interpreter (to compare). */
	const char *jit = getenv("VIREO_EMU_JIT");
	if (!jit || strcmp(jit, "0") != 0)
		c->jit = emu_jit_create();
	c->jit_threshold = JIT_THRESHOLD;
	c->code_max_entries = CODE_MAX_ENTRIES;
	const char *max = getenv("VIREO_EMU_DECODED_MAX");
	if (max && atoi(max) >= 1024)
		c->code_max_entries = (unsigned)atoi(max);
	const char *ops = getenv("VIREO_EMU_OPSTATS");
	if (ops && strcmp(ops, "1") == 0)
		c->opstats = calloc(OPSTAT_KEYS, sizeof(*c->opstats));
	reset_state(c);
	return c;
}

/*
 * VIREO_EMU_OPSTATS=1: the instructions that ran through their handler
 * (not inline in translated code), most frequent first: which inline form
 * or fast path would pay.
 */
static void print_opstats(const struct emu_cpu *c)
{
	static const char *const where[OPSTAT_WHERE] = { "call", "slow", "interp" };
	static const char *const kind[5] = { "-", "r", "m", "i", "x" };
	static const unsigned sizes[4] = { 1, 2, 4, 8 };
	uint64_t total = 0;

	if (!c->opstats)
		return;
	for (unsigned k = 0; k < OPSTAT_KEYS; k++)
		total += c->opstats[k];
	fprintf(stderr, "emu opstats vcpu %u: %llu of %llu insns through handlers\n", c->apic_id,
		(unsigned long long)total, (unsigned long long)c->stats.insns);
	for (unsigned n = 0; n < 40; n++) {
		unsigned best = 0;
		for (unsigned k = 1; k < OPSTAT_KEYS; k++)
			if (c->opstats[k] > c->opstats[best])
				best = k;
		if (!c->opstats[best])
			break;
		unsigned m = best / OPSTAT_SHAPES % (ZYDIS_MNEMONIC_MAX_VALUE + 1);
		unsigned sh = best % OPSTAT_SHAPES;
		fprintf(stderr, "  %-6s %-12s %s,%s size %u%s %12llu  %5.2f%%\n",
			where[best / OPSTAT_SHAPES / (ZYDIS_MNEMONIC_MAX_VALUE + 1)],
			ZydisMnemonicGetString((ZydisMnemonic)m), kind[sh / 40], kind[sh / 8 % 5],
			sizes[sh / 2 % 4], sh % 2 ? " fs/gs" : "",
			(unsigned long long)c->opstats[best],
			100.0 * (double)c->opstats[best] / (double)(c->stats.insns ? c->stats.insns : 1));
		c->opstats[best] = 0;
	}
}

/* VIREO_EMU_STATS=1: one line per vCPU of its slow-path counts (struct emu_stats). */
static void print_stats(const struct emu_cpu *c)
{
	const struct emu_stats *s = &c->stats;
	const char *env = getenv("VIREO_EMU_STATS");
	char exc[512] = "";
	size_t n = 0;

	if (!env || strcmp(env, "1") != 0)
		return;
	static const char *const chain_exit[10] = {
		"irq", "no slot", "page", "gen", "epoch", "fetch tag",
		"fetch page", "epoch (other page)", "gen (other page)", "budget",
	};
	char chains[512] = "";
	size_t m = 0;
	for (unsigned i = 0; i < 10; i++)
		if (s->chain_exit[i] && m < sizeof(chains))
			m += snprintf(chains + m, sizeof(chains) - m, " %s %llu,", chain_exit[i],
				      (unsigned long long)s->chain_exit[i]);
	if (m > 0 && m < sizeof(chains))
		chains[m - 1] = ';';
	for (int v = 0; v < 32; v++)
		if (s->exceptions[v] && n < sizeof(exc))
			n += snprintf(exc + n, sizeof(exc) - n, " #%d:%llu", v,
				      (unsigned long long)s->exceptions[v]);
	fprintf(stderr,
		"emu stats vcpu %u: %llu insns; decoded %llu insns in %llu pages, %llu cache resets, "
		"%llu code-page writes (all vCPUs); translated %llu blocks, %llu translator "
		"resets; blocks run %llu interpreted, %llu translated entered from the loop, "
		"chain slots filled: %llu for another page, %llu replacing one; back to the loop:%s "
		"TLB %llu fills (%llu over another page, %llu for a permission), %llu victim hits, %llu flushes, "
		"%llu page flushes; pio %llu, mmio %llu, lapic %llu; interrupts %llu, int n %llu, hlt %llu; "
		"exceptions%s\n",
		c->apic_id, (unsigned long long)s->insns, (unsigned long long)s->decoded_insns,
		(unsigned long long)s->decoded_pages, (unsigned long long)s->cache_resets,
		(unsigned long long)atomic_load(&c->sh->code_writes),
		(unsigned long long)s->jit_blocks, (unsigned long long)s->jit_resets,
		(unsigned long long)s->interp_blocks, (unsigned long long)s->jit_entries,
		(unsigned long long)s->chain_cross_page, (unsigned long long)s->chain_slot_taken,
		chains[0] ? chains : " none;",
		(unsigned long long)s->tlb_fills, (unsigned long long)s->tlb_refills[0],
		(unsigned long long)s->tlb_refills[1], (unsigned long long)s->tlb_victim_hits,
		(unsigned long long)s->tlb_flushes,
		(unsigned long long)s->tlb_page_flushes,
		(unsigned long long)s->pio, (unsigned long long)s->mmio,
		(unsigned long long)s->lapic, (unsigned long long)s->interrupts,
		(unsigned long long)s->soft_ints, (unsigned long long)s->hlts,
		exc[0] ? exc : " none");
}

void emu_cpu_destroy(struct emu_cpu *c)
{
	if (!c)
		return;
	print_stats(c);
	print_opstats(c);
	free(c->opstats);
	emu_decode_free(c);
	emu_jit_destroy(c->jit);
	shared_put(c->sh);
	free(c);
}

void emu_seg_from_state(struct emu_seg *s, const struct seg_state *st)
{
	s->sel = st->selector;
	s->base = st->base;
	s->limit = st->limit;
	s->attr = (uint16_t)((st->type & 0xF) | (st->s ? SA_S : 0) |
			     ((st->dpl & 3) << 5) | (st->present ? SA_P : 0) |
			     (st->avl ? 1u << 12 : 0) | (st->l ? SA_L : 0) |
			     (st->db ? SA_DB : 0) | (st->g ? SA_G : 0));
}

int emu_cpu_set_boot_state(struct emu_cpu *c, const struct cpu_boot_state *st)
{
	c->gpr[EMU_RAX] = st->rax;
	c->gpr[EMU_RBX] = st->rbx;
	c->gpr[EMU_RCX] = st->rcx;
	c->gpr[EMU_RDX] = st->rdx;
	c->gpr[EMU_RSI] = st->rsi;
	c->gpr[EMU_RDI] = st->rdi;
	c->gpr[EMU_RSP] = st->rsp;
	c->rip = st->rip;
	emu_set_flags(c, st->rflags);
	c->cr0 = st->cr0 | CR0_ET;
	c->cr3 = st->cr3;
	c->cr4 = st->cr4;
	c->efer = st->efer;
	if ((c->efer & EFER_LME) && (c->cr0 & CR0_PG))
		c->efer |= EFER_LMA;
	emu_seg_from_state(&c->seg[SEG_CS], &st->cs);
	emu_seg_from_state(&c->seg[SEG_DS], &st->ds);
	emu_seg_from_state(&c->seg[SEG_ES], &st->es);
	emu_seg_from_state(&c->seg[SEG_FS], &st->fs);
	emu_seg_from_state(&c->seg[SEG_GS], &st->gs);
	emu_seg_from_state(&c->seg[SEG_SS], &st->ss);
	emu_seg_from_state(&c->seg[SEG_TR], &st->tr);
	emu_seg_from_state(&c->seg[SEG_LDTR], &st->ldt);
	if (!st->tr.present && !st->tr.type)
		c->seg[SEG_TR].attr = SA_P | 0xB;
	c->gdtr = (struct emu_dtr){ st->gdt_base, st->gdt_limit };
	c->idtr = (struct emu_dtr){ st->idt_base, st->idt_limit };
	emu_set_cpl(c, (c->cr0 & CR0_PE) ? SA_DPL(c->seg[SEG_SS].attr) : 0);
	c->halted = false;
	c->wait_sipi = false;
	c->triple_fault = false;
	c->unimplemented = false;
	emu_update_mode(c);
	emu_tlb_flush(c, true);
	return 0;
}

int emu_cpu_setup_flat64(struct emu_cpu *c, uint64_t table_gpa)
{
	uint64_t *pml4, *pdpt;

	if (table_gpa & 0xFFF)
		return -EINVAL;
	pml4 = gmem_ptr(c->mem, table_gpa, 6 * 4096);
	if (!pml4)
		return -EINVAL;
	memset(pml4, 0, 6 * 4096);
	pdpt = pml4 + 512;
	pml4[0] = (table_gpa + 0x1000) | 0x7;
	for (int i = 0; i < 4; i++) {
		uint64_t *pd = pml4 + 512 * (2 + i);
		pdpt[i] = (table_gpa + 0x2000 + 0x1000 * i) | 0x7;
		for (int j = 0; j < 512; j++)
			pd[j] = ((uint64_t)i << 30) + ((uint64_t)j << 21) + 0x87;
	}
	emu_code_invalidate(c->mem, table_gpa, 6 * 4096);

	reset_state(c);
	c->rip = 0;
	c->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	c->cr4 = CR4_PAE | CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	c->cr3 = table_gpa;
	c->efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
	c->seg[SEG_CS] = (struct emu_seg){ .sel = 0x10, .limit = 0xFFFFFFFF,
					   .attr = 0xB | SA_S | SA_P | SA_L | SA_G };
	for (int s = 0; s < 6; s++) {
		if (s == SEG_CS)
			continue;
		c->seg[s] = (struct emu_seg){ .sel = 0x18, .limit = 0xFFFFFFFF,
					      .attr = 0x3 | SA_S | SA_P | SA_DB | SA_G };
	}
	emu_set_cpl(c, 0);
	emu_set_flags(c, 2);
	emu_update_mode(c);
	emu_tlb_flush(c, true);
	return 0;
}

void emu_cpu_get_regs(const struct emu_cpu *c, struct emu_regs *r)
{
	memcpy(r->gpr, c->gpr, sizeof(r->gpr));
	r->rip = c->rip;
	r->rflags = emu_flags((struct emu_cpu *)c);
}

void emu_cpu_set_regs(struct emu_cpu *c, const struct emu_regs *r)
{
	memcpy(c->gpr, r->gpr, sizeof(c->gpr));
	c->rip = r->rip;
	emu_set_flags(c, r->rflags);
}

void emu_cpu_get_fxsave(const struct emu_cpu *c, uint8_t out[512])
{
	memcpy(out, c->fx, 512);
}

void emu_cpu_set_fxsave(struct emu_cpu *c, const uint8_t in[512])
{
	memcpy(c->fx, in, 512);
}

uint64_t emu_cpu_cr2(const struct emu_cpu *c)
{
	return c->cr2;
}

bool emu_cpu_halted(const struct emu_cpu *c)
{
	return c->halted;
}

/* --- mode --- */

void emu_update_mode(struct emu_cpu *c)
{
	uint16_t cs = c->seg[SEG_CS].attr;

	c->fc_la = FC_NONE;        /* the fetch cache's tags hold mode and CPL */
	c->code64 = false;
	if (!(c->cr0 & CR0_PE)) {
		c->dmode = DM_REAL;
	} else if (c->efer & EFER_LMA) {
		if (cs & SA_L) {
			c->dmode = DM_LONG64;
			c->code64 = true;
		} else {
			c->dmode = (cs & SA_DB) ? DM_COMPAT32 : DM_COMPAT16;
		}
	} else {
		c->dmode = (cs & SA_DB) ? DM_P32 : DM_P16;
	}
	c->ipmask = c->code64 ? ~0ULL : (cs & SA_DB) && (c->cr0 & CR0_PE) ?
		    0xFFFFFFFFULL : 0xFFFFULL;
}

void emu_set_cr0(struct emu_cpu *c, uint64_t v)
{
	uint64_t old = c->cr0;
	if ((v & CR0_PG) && !(v & CR0_PE))
		emu_raise_err(c, EXC_GP, 0);
	if ((v >> 32) != 0)
		emu_raise_err(c, EXC_GP, 0);
	v |= CR0_ET;
	if ((v & CR0_PG) && !(old & CR0_PG) && (c->efer & EFER_LME)) {
		if (!(c->cr4 & CR4_PAE))
			emu_raise_err(c, EXC_GP, 0);
		c->efer |= EFER_LMA;
	}
	if (!(v & CR0_PG) && (old & CR0_PG)) {
		if (c->code64)
			emu_raise_err(c, EXC_GP, 0);
		c->efer &= ~(uint64_t)EFER_LMA;
	}
	c->cr0 = v;
	if ((old ^ v) & (CR0_PG | CR0_WP | CR0_PE))
		emu_tlb_flush(c, true);
	emu_update_mode(c);
}

void emu_set_cr4(struct emu_cpu *c, uint64_t v)
{
	const uint64_t ok = 0x1 | 0x2 | 0x4 | 0x8 | CR4_PSE | CR4_PAE | 0x40 | CR4_PGE |
			    0x100 | CR4_OSFXSR | CR4_OSXMMEXCPT;
	if (v & ~ok)
		emu_raise_err(c, EXC_GP, 0);
	if ((c->efer & EFER_LMA) && !(v & CR4_PAE))
		emu_raise_err(c, EXC_GP, 0);
	uint64_t old = c->cr4;
	c->cr4 = v;
	if ((old ^ v) & (CR4_PGE | CR4_PAE | CR4_PSE))
		emu_tlb_flush(c, true);
}

void emu_set_cr3(struct emu_cpu *c, uint64_t v)
{
	c->cr3 = v & ((1ULL << 39) - 1);
	emu_tlb_flush(c, false);
}

void emu_set_efer(struct emu_cpu *c, uint64_t v)
{
	const uint64_t ok = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
	if (v & ~ok)
		emu_raise_err(c, EXC_GP, 0);
	/* LMA is read-only; LME may not change while paging is on. */
	v = (v & ~(uint64_t)EFER_LMA) | (c->efer & EFER_LMA);
	if ((c->cr0 & CR0_PG) && ((v ^ c->efer) & EFER_LME))
		emu_raise_err(c, EXC_GP, 0);
	if ((v ^ c->efer) & EFER_NXE)
		emu_tlb_flush(c, true);
	c->efer = v;
}

/* --- operands --- */

uint64_t emu_ea(struct emu_cpu *c, const struct dinsn *d, const struct dop *o)
{
	uint64_t a = (uint64_t)o->val;
	if (o->base != REG_NONE)
		a += o->base == REG_RIP ? c->next_rip : c->gpr[o->base];
	if (o->index != REG_NONE)
		a += c->gpr[o->index] * o->scale;
	return a & size_mask(d->asize);
}

uint64_t emu_op_read_slow(struct emu_cpu *c, const struct dinsn *d, int i)
{
	const struct dop *o = &d->op[i];
	switch (o->kind) {
	case OPK_REG:
		return gpr_read(c, o->reg, o->size);
	case OPK_MEM:
		return emu_read(c, o->seg, emu_ea(c, d, o), o->size);
	case OPK_IMM:
		return (uint64_t)o->val;
	case OPK_SREG:
		return c->seg[o->reg].sel;
	default:
		emu_raise_ud(c);
	}
}

void emu_op_write_slow(struct emu_cpu *c, const struct dinsn *d, int i, uint64_t v)
{
	const struct dop *o = &d->op[i];
	switch (o->kind) {
	case OPK_REG:
		gpr_write(c, o->reg, o->size, v);
		return;
	case OPK_MEM:
		emu_write(c, o->seg, emu_ea(c, d, o), o->size, v);
		return;
	default:
		emu_raise_ud(c);
	}
}

/* --- stack --- */

unsigned emu_stack_size(const struct emu_cpu *c)
{
	if (c->code64)
		return 8;
	return (c->seg[SEG_SS].attr & SA_DB) && (c->cr0 & CR0_PE) ? 4 : 2;
}

static void set_rsp(struct emu_cpu *c, uint64_t v)
{
	gpr_write(c, EMU_RSP, emu_stack_size(c), v);
}

void emu_push(struct emu_cpu *c, unsigned size, uint64_t v)
{
	uint64_t sp = (c->gpr[EMU_RSP] - size) & size_mask(emu_stack_size(c));
	emu_write(c, SEG_SS, sp, size, v);
	set_rsp(c, sp);
}

uint64_t emu_stack_peek(struct emu_cpu *c, unsigned off, unsigned size)
{
	uint64_t sp = (c->gpr[EMU_RSP] + off) & size_mask(emu_stack_size(c));
	return emu_read(c, SEG_SS, sp, size);
}

void emu_set_rsp_off(struct emu_cpu *c, int64_t delta)
{
	set_rsp(c, c->gpr[EMU_RSP] + (uint64_t)delta);
}

uint64_t emu_pop(struct emu_cpu *c, unsigned size)
{
	uint64_t v = emu_stack_peek(c, 0, size);
	emu_set_rsp_off(c, size);
	return v;
}

/* --- execution --- */

static inline const struct dinsn *fetch(struct emu_cpu *c)
{
	uint64_t la = c->code64 ? c->rip : (uint32_t)(c->seg[SEG_CS].base + c->rip);
	if (__builtin_expect((la & ~0xFFFULL) == c->fc_la, 1)) {
		struct code_page *p = c->fc_page;
		if (__builtin_expect(c->fc_gen == atomic_load_explicit(c->fc_genp,
								     memory_order_relaxed), 1)) {
			uint16_t i = p->idx[la & 0xFFF];
			if (i)
				return &p->insns[i - 1];
		}
	}
	return emu_fetch_decode(c);
}

static inline void exec_one(struct emu_cpu *c)
{
	c->insn_rip = c->rip;
	c->insn_rsp = c->gpr[EMU_RSP];
	const struct dinsn *d = fetch(c);
	c->next_rip = (c->rip + d->len) & c->ipmask;
	d->fn(c, d);
	c->rip = c->next_rip;
}

/*
 * Execute the decoded block at RIP: its instructions back to back, at most
 * c->budget of them (all are charged, also when a taken branch ends the
 * block early). RIP and RSP are kept per instruction so that a fault
 * anywhere in the block is precise. A store to decoded code (exit_req)
 * ends the block, so that the rest is decoded again.
 */
static inline void run_block(struct emu_cpu *c)
{
	uint64_t rip = c->rip, ipmask = c->ipmask;

	/* Keep rip scalar: a 16-byte load of rip:next_rip just after the
	 * 8-byte store of rip would defeat store forwarding. */
	__asm__("" : "+r"(rip));
	c->insn_rip = rip;
	c->insn_rsp = c->gpr[EMU_RSP];
	uint64_t prev_la = c->fc_la;
	const struct dinsn *d = fetch(c);
	unsigned n = d->rem;

	if (n > c->budget)
		n = c->budget;
	c->budget -= n;
	c->exit_req = false;
	if (c->jit && c->code64 && n == d->rem && d != &c->scratch) {
		struct dinsn *w = (struct dinsn *)d;
		if (w->jit || (++w->jit_hits >= c->jit_threshold &&
			       emu_jit_translate(c, w, n))) {
			if (c->jit_prev)
				emu_jit_chain(c, d, prev_la);
			c->stats.jit_entries++;
			w->jit(c, d, rip);
			return;
		}
	}
	c->stats.interp_blocks++;
	c->jit_prev = NULL;     /* not a successor of the last translation */
	/* Only a block's last instruction and its conditional branches may
	 * jump (a taken one ends the block), so RIP stays in a register
	 * instead of going through c->next_rip. */
	for (;;) {
		uint64_t next = (rip + d->len) & ipmask;
		c->next_rip = next;
		if (__builtin_expect(c->opstats != NULL, 0))
			c->opstats[emu_opstat_key(d, OPSTAT_INTERP)]++;
		d->fn(c, d);
		if (--n == 0 || c->exit_req || c->next_rip != next)
			break;
		rip = next;
		d++;
		c->rip = rip;
		c->insn_rip = rip;
		c->insn_rsp = c->gpr[EMU_RSP];
	}
	c->rip = c->next_rip;
}

/*
 * Blocks back to back until the budget is spent, an interrupt is pending
 * that RFLAGS.IF lets in, or the vCPU halts. (With IF clear a pending
 * interrupt waits without ending blocks: STI, POPF and IRET set IF within
 * a block, and the check after it sees them.) Out of line from
 * emu_cpu_run, whose sigsetjmp would keep c and the loop state in memory.
 */
static __attribute__((noinline)) void run_blocks(struct emu_cpu *c)
{
	do {
		/* Interrupts are checked only between blocks, so a shadow
		 * (which ends its block) lasts for the whole next block. */
		if (c->shadow)
			c->shadow--;
		run_block(c);
	} while (c->budget &&
		 !(atomic_load_explicit(&c->irq_pending, memory_order_relaxed) &&
		   (c->rflags & FL_IF)) &&
		 !c->halted && !c->wait_sipi);
}

static bool fault_is_contributory(int v)
{
	return v == EXC_DE || v == EXC_TS || v == EXC_NP || v == EXC_SS || v == EXC_GP;
}

/*
 * Deliver c->exc_* through the IDT, turning a fault during delivery into
 * #DF and a fault during #DF into a triple fault.
 */
static void deliver_pending(struct emu_cpu *c, bool ext)
{
	volatile int vec = c->exc_vec;
	volatile bool has_err = c->exc_has_err, soft = c->exc_soft;
	volatile uint32_t err = c->exc_err;

	if (ext)
		c->stats.interrupts++;
	else if (soft)
		c->stats.soft_ints++;
	else if (vec >= 0 && vec < 32)
		c->stats.exceptions[vec]++;
	for (;;) {
		if (sigsetjmp(c->jmp, 0) == 0) {
			c->deliver_depth = vec + 1;
			emu_deliver(c, vec, has_err, err, soft, ext);
			c->deliver_depth = 0;
			return;
		}
		/* A fault while delivering vec. */
		int first = c->deliver_depth - 1;
		int second = c->exc_vec;
		c->deliver_depth = 0;
		if (first == EXC_DF) {
			c->triple_fault = true;
			return;
		}
		bool df = (fault_is_contributory(first) && fault_is_contributory(second)) ||
			  (first == EXC_PF && (second == EXC_PF || fault_is_contributory(second)));
		if (df) {
			vec = EXC_DF;
			has_err = true;
			err = 0;
		} else {
			vec = second;
			has_err = c->exc_has_err;
			err = c->exc_err;
		}
		soft = false;
	}
}

/* Undo a faulting instruction's partial effects on RIP/RSP. */
static void fault_fixup(struct emu_cpu *c)
{
	/* Faults restore RIP; soft interrupts leave it after the insn. */
	c->rip = c->exc_soft ? c->next_rip : c->insn_rip;
	if (!c->exc_soft)
		c->gpr[EMU_RSP] = c->insn_rsp;
}

/* A pending external interrupt, if deliverable now; true if delivered. */
static bool take_interrupt_slow(struct emu_cpu *c)
{
	if (c->shadow || !(c->rflags & FL_IF) || !c->irq_ack)
		return false;
	int v = c->irq_ack(c, c->irq_opaque);
	if (v < 0)
		return false;
	c->halted = false;
	c->exc_vec = v;
	c->exc_has_err = false;
	c->exc_soft = false;
	deliver_pending(c, true);
	return true;
}

static inline bool take_interrupt(struct emu_cpu *c)
{
	if (__builtin_expect(!atomic_load_explicit(&c->irq_pending, memory_order_relaxed), 1))
		return false;
	return take_interrupt_slow(c);
}

int emu_cpu_step(struct emu_cpu *c, bool deliver)
{
	if (c->triple_fault || c->unimplemented)
		return EMU_STEP_OK;
	c->insn_rip = c->rip;
	c->insn_rsp = c->gpr[EMU_RSP];
	c->exc_soft = false;
	if (sigsetjmp(c->jmp, 0)) {
		fault_fixup(c);
		if (c->unimplemented)
			return EMU_STEP_OK;
		if (!deliver)
			return c->exc_vec;
		deliver_pending(c, false);
		return EMU_STEP_OK;
	}
	if (deliver && take_interrupt(c))
		return EMU_STEP_OK;
	if (c->halted || c->wait_sipi)
		return EMU_STEP_OK;
	if (c->shadow)
		c->shadow--;
	exec_one(c);
	return EMU_STEP_OK;
}

static void run_budget(struct emu_cpu *c)
{
again:
	if (c->triple_fault || c->unimplemented)
		return;
	c->exc_soft = false;
	if (sigsetjmp(c->jmp, 0)) {
		fault_fixup(c);
		if (c->unimplemented)
			return;
		deliver_pending(c, false);
		goto again;
	}
	while (c->budget) {
		if (take_interrupt(c)) {
			c->budget--;
			goto again;        /* delivery re-armed c->jmp */
		}
		if (c->halted || c->wait_sipi)
			return;
		run_blocks(c);
	}
}

void emu_cpu_run(struct emu_cpu *c, unsigned n)
{
	c->budget = n;
	run_budget(c);
	c->stats.insns += n - c->budget;
}

void emu_cpu_describe(const struct emu_cpu *c, char *buf, size_t len)
{
	char bytes[3 * 16 + 1] = "";
	uint64_t la = c->code64 ? c->rip : (uint32_t)(c->seg[SEG_CS].base + c->rip);
	uint8_t b[15];
	/* Read the bytes without faulting: physical when paging is off. */
	size_t n = 0;
	if (!(c->cr0 & CR0_PG) && gmem_read(c->mem, la, b, sizeof(b)) == 0)
		n = sizeof(b);
	else if (c->cr0 & CR0_PG) {
		const struct tlb_ent *e = &c->tlb[emu_tlb_slot(la)];
		if (e->tag == ((la & ~0xFFFULL) | TLB_VALID) && e->host &&
		    (la & 0xFFF) <= 4096 - sizeof(b)) {
			memcpy(b, e->host + (la & 0xFFF), sizeof(b));
			n = sizeof(b);
		}
	}
	for (size_t i = 0; i < n; i++)
		snprintf(bytes + 3 * i, 4, i + 1 < n ? "%02x " : "%02x", b[i]);
	snprintf(buf, len,
		 "rip=%04x:%016llx rsp=%016llx rax=%016llx rflags=%08llx cr0=%08llx "
		 "cr3=%016llx cr4=%08llx efer=%llx cpl=%u insn: %s",
		 c->seg[SEG_CS].sel, (unsigned long long)c->rip,
		 (unsigned long long)c->gpr[EMU_RSP], (unsigned long long)c->gpr[EMU_RAX],
		 (unsigned long long)(emu_flags((struct emu_cpu *)c)),
		 (unsigned long long)c->cr0,
		 (unsigned long long)c->cr3, (unsigned long long)c->cr4,
		 (unsigned long long)c->efer, c->cpl, n ? bytes : "(unreadable)");
}
