/*
 * Unit tests of the emu CPU through emu.h (plus a peek at private state
 * where the contract has no accessor, e.g. CPL): mode switches, paging
 * faults and A/D bits, exception delivery with IST, SYSCALL/SYSRET,
 * self-modifying code, REP MOVSB faulting mid-way, robustness on random
 * bytes. Code sequences were assembled with GNU as (source in comments).
 */
#include <stdlib.h>
#include <string.h>

#include "cpu/emu/emu.h"
#include "cpu/emu/emu_hooks.h"
#include "cpu/emu/emu_internal.h"
#include "mem/bus.h"
#include "mem/guest_mem.h"
#include "../tap.h"

#define RAM_SIZE (64ULL << 20)
#define PT_GPA 0x100000ULL

static struct guest_mem mem;
static struct bus pio, mmio;

static void put(uint64_t gpa, const void *p, size_t n)
{
	CHECK(gmem_write(&mem, gpa, p, n) == 0);
	emu_code_invalidate(&mem, gpa, n);
}

static void put64(uint64_t gpa, uint64_t v)
{
	put(gpa, &v, 8);
}

static uint64_t get64(uint64_t gpa)
{
	uint64_t v = 0;
	gmem_read(&mem, gpa, &v, 8);
	return v;
}

static struct emu_cpu *flat64(uint64_t rip)
{
	struct emu_cpu *c = emu_cpu_create(&mem, &pio, &mmio, 0);
	struct emu_regs r;
	CHECK(c != NULL);
	CHECK_EQ(emu_cpu_setup_flat64(c, PT_GPA), 0);
	emu_cpu_get_regs(c, &r);
	r.rip = rip;
	r.gpr[EMU_RSP] = 0x8000;
	emu_cpu_set_regs(c, &r);
	return c;
}

static void run_steps(struct emu_cpu *c, int n)
{
	for (int i = 0; i < n; i++)
		emu_cpu_step(c, true);
}

/* Real mode -> protected mode -> long mode, as Linux's trampoline does. */
static void test_mode_switch(void)
{
	/*
	 * .code16: cli; lgdtl %cs:0x1088; mov %cr0,%eax; or $1,%eax;
	 * mov %eax,%cr0; ljmpl $8,$pm32
	 * .code32: mov $0x18,%ax; mov %ax,%ds/%ss/%es; mov $0x8000,%esp;
	 * CR4.PAE; CR3=0x10000; EFER.LME via rdmsr/wrmsr; CR0.PG; ljmp $0x10,$lm64
	 * .code64: movabs $0x1122334455667788,%rax; push %rax; pop %rbx; hlt
	 * then the GDT (null, code32, code64, data) and its descriptor.
	 */
	static const uint8_t code[] = {
		0xfa, 0x2e, 0x66, 0x0f, 0x01, 0x16, 0x88, 0x10, 0x0f, 0x20, 0xc0, 0x66,
		0x83, 0xc8, 0x01, 0x0f, 0x22, 0xc0, 0x66, 0xea, 0x1a, 0x10, 0x00, 0x00,
		0x08, 0x00, 0x66, 0xb8, 0x18, 0x00, 0x8e, 0xd8, 0x8e, 0xd0, 0x8e, 0xc0,
		0xbc, 0x00, 0x80, 0x00, 0x00, 0x0f, 0x20, 0xe0, 0x83, 0xc8, 0x20, 0x0f,
		0x22, 0xe0, 0xb8, 0x00, 0x00, 0x01, 0x00, 0x0f, 0x22, 0xd8, 0xb9, 0x80,
		0x00, 0x00, 0xc0, 0x0f, 0x32, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x0f, 0x30,
		0x0f, 0x20, 0xc0, 0x0d, 0x00, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0, 0xea,
		0x5a, 0x10, 0x00, 0x00, 0x10, 0x00, 0x48, 0xb8, 0x88, 0x77, 0x66, 0x55,
		0x44, 0x33, 0x22, 0x11, 0x50, 0x5b, 0xf4, 0x90, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x9b, 0xcf, 0x00,
		0xff, 0xff, 0x00, 0x00, 0x00, 0x9b, 0xaf, 0x00, 0xff, 0xff, 0x00, 0x00,
		0x00, 0x93, 0xcf, 0x00, 0x1f, 0x00, 0x68, 0x10, 0x00, 0x00,
	};
	struct cpu_boot_state st;
	struct emu_regs r;
	struct emu_cpu *c = emu_cpu_create(&mem, &pio, &mmio, 0);

	put(0x1000, code, sizeof(code));
	/* Identity map of the first 2 MiB for long mode: PML4 0x10000. */
	put64(0x10000, 0x11000 | 3);
	put64(0x11000, 0x12000 | 3);
	put64(0x12000, 0x0 | 0x83);

	memset(&st, 0, sizeof(st));
	st.rip = 0x1000;
	st.rflags = 0x202;
	struct seg_state rs = { .selector = 0, .base = 0, .limit = 0xFFFF, .type = 3,
				.s = 1, .present = 1 };
	st.ds = st.es = st.fs = st.gs = st.ss = rs;
	st.cs = rs;
	st.cs.type = 0xB;
	st.idt_limit = 0x3FF;
	CHECK_EQ(emu_cpu_set_boot_state(c, &st), 0);
	CHECK_EQ(c->dmode, DM_REAL);

	for (int i = 0; i < 40 && !c->halted; i++)
		CHECK_EQ(emu_cpu_step(c, false), EMU_STEP_OK);
	emu_cpu_get_regs(c, &r);
	CHECK(c->halted);
	CHECK_EQ(c->dmode, DM_LONG64);
	CHECK(c->efer & EFER_LMA);
	CHECK_EQ(r.gpr[EMU_RBX], 0x1122334455667788ULL);
	CHECK_EQ(r.gpr[EMU_RSP], 0x8000);
	CHECK_EQ(c->seg[SEG_CS].sel, 0x10);
	CHECK_EQ(r.rip, 0x1000 + 0x67);
	CHECK_EQ(r.rflags & 0x200, 0);     /* cli */
	emu_cpu_destroy(c);
}

/* Page table for 0x400000-0x5FFFFF with 4 KiB pages at 0x110000. */
#define PT4K 0x110000ULL

static void setup_4k_pages(void)
{
	put64(PT_GPA + 0x2000 + 2 * 8, PT4K | 3);          /* PD0[2] -> PT, no U */
	for (int i = 0; i < 512; i++)
		put64(PT4K + i * 8, 0);
	put64(PT4K + 0 * 8, 0x300000 | 3);                  /* RW */
	put64(PT4K + 1 * 8, 0);                             /* not present */
	put64(PT4K + 2 * 8, 0x301000 | 1);                  /* read-only */
	put64(PT4K + 3 * 8, 0x302000 | 3 | (1ULL << 63));   /* NX */
	put64(PT4K + 4 * 8, 0x303000 | 3 | (1ULL << 51));   /* reserved bit */
}

static int step_at(struct emu_cpu *c, uint64_t rip, uint64_t rdi)
{
	struct emu_regs r;
	emu_cpu_get_regs(c, &r);
	r.rip = rip;
	r.gpr[EMU_RDI] = rdi;
	emu_cpu_set_regs(c, &r);
	return emu_cpu_step(c, false);
}

/*
 * Translated code checks the access's permission at the CPL too: a loop
 * of 64-bit loads, translated while it reads a user page at CPL 3, then
 * run at CPL 3 on a supervisor page whose TLB entry a supervisor load
 * filled. The load must fault (no IDT here: a triple fault) before the
 * loop counts down.
 */
static void test_jit_user_permission(void)
{
	static const uint8_t loop[] = {
		0x48, 0x8B, 0x07,       /* 0x2100: mov rax, [rdi] */
		0xFF, 0xC9,             /* dec ecx */
		0x75, 0xF9,             /* jnz 0x2100 */
		0x0F, 0x0B,             /* ud2 */
	};
	struct emu_cpu *c = flat64(0x1000);
	struct emu_regs r;

	if (!c->jit) {
		CHECK(true);            /* no translator on this host */
		emu_cpu_destroy(c);
		return;
	}
	setup_4k_pages();
	put(0x2100, loop, sizeof(loop));
	c->jit_threshold = 2;
	for (int pass = 0; pass < 2; pass++) {
		uint64_t page = pass == 0 ? 0x3000 : 0x400000;   /* user, supervisor */
		emu_cpu_get_regs(c, &r);
		r.rip = 0x2100;
		r.gpr[EMU_RDI] = page;
		r.gpr[EMU_RCX] = 20;
		emu_cpu_set_regs(c, &r);        /* flushes the TLB */
		emu_set_cpl(c, 0);
		emu_lin_read(c, page, 8, false);  /* the supervisor's fill */
		emu_set_cpl(c, 3);
		c->triple_fault = false;
		emu_cpu_run(c, 100000);
		emu_cpu_get_regs(c, &r);
		CHECK(c->triple_fault);
		CHECK_EQ(r.gpr[EMU_RCX], pass == 0 ? 0 : 20);
		CHECK_EQ(r.rip, pass == 0 ? 0x2107 : 0x2100);
	}
	CHECK(c->stats.jit_blocks > 0);
	emu_cpu_destroy(c);
}

/*
 * Translated code finds a page-crossing access's miss by comparing the
 * last byte's tag with the first byte's entry: neighbouring pages must
 * never share a TLB slot, at the carries above all.
 */
static void test_tlb_slot_neighbours(void)
{
	unsigned same = 0;

	for (uint64_t v = 0; v < (1u << 22); v++)
		same += emu_tlb_slot(v << 12) == emu_tlb_slot((v + 1) << 12);
	for (unsigned bit = 10; bit < 52; bit++) {
		uint64_t v = (1ULL << bit) - 1;     /* the carry out of bit - 1 */
		same += emu_tlb_slot(v << 12) == emu_tlb_slot((v + 1) << 12);
		same += emu_tlb_slot((v | 0xFFFF8000000ULL) << 12) ==
			emu_tlb_slot(((v | 0xFFFF8000000ULL) + 1) << 12);
	}
	CHECK_EQ(same, 0);
	/* Regions 1 MiB apart (a copy's source and destination) do not meet. */
	CHECK(emu_tlb_slot(0x200000) != emu_tlb_slot(0x300000));
}

/*
 * Two pages used in turn that share a TLB slot: the one a fill pushes out
 * waits in the victim entries and comes back by a swap, without a walk;
 * INVLPG and a flush forget victims as they do slots.
 */
static void test_tlb_victims(void)
{
	struct emu_cpu *c = flat64(0x1000);
	uint64_t a = 0x800000, b = a + 0x1000;

	while (emu_tlb_slot(b) != emu_tlb_slot(a))
		b += 0x1000;
	CHECK(b < RAM_SIZE);
	put64(a, 0x1111);
	put64(b, 0x2222);
	emu_tlb_flush(c, true);
	uint64_t fills = c->stats.tlb_fills;
	CHECK_EQ(emu_lin_read(c, a, 8, false), 0x1111);
	CHECK_EQ(emu_lin_read(c, b, 8, false), 0x2222);     /* a -> victim */
	CHECK_EQ(emu_lin_read(c, a, 8, false), 0x1111);     /* swapped back */
	CHECK_EQ(emu_lin_read(c, b, 8, false), 0x2222);
	CHECK_EQ(c->stats.tlb_fills - fills, 2);
	CHECK_EQ(c->stats.tlb_victim_hits, 2);
	emu_tlb_flush_page(c, a);                           /* a is the victim now */
	CHECK_EQ(emu_lin_read(c, a, 8, false), 0x1111);
	CHECK_EQ(c->stats.tlb_fills - fills, 3);
	emu_tlb_flush(c, true);
	CHECK_EQ(emu_lin_read(c, b, 8, false), 0x2222);
	CHECK_EQ(c->stats.tlb_fills - fills, 4);
	CHECK_EQ(c->stats.tlb_victim_hits, 2);
	emu_cpu_destroy(c);
}

/*
 * A guest chooses its next RIP (an indirect jump, a return): one equal to
 * the marker of an empty chain slot must not be taken for a filled slot.
 * The RIP is not canonical, so the fetch there faults (no IDT here: a
 * triple fault); the VMM must not follow the empty slot's pointers.
 */
static void test_jit_empty_slot_rip(void)
{
	static const uint8_t code[] = {
		0x48, 0x8B, 0x04, 0xCF, /* 0x2100: mov rax, [rdi + rcx * 8] */
		0xFF, 0xC9,             /* dec ecx */
		0xFF, 0xE0,             /* jmp rax */
	};
	struct emu_cpu *c = flat64(0x1000);
	struct emu_regs r;

	if (!c->jit) {
		CHECK(true);
		emu_cpu_destroy(c);
		return;
	}
	put(0x2100, code, sizeof(code));
	for (unsigned i = 1; i <= 20; i++)
		put64(0x6000 + 8 * i, 0x2100);
	put64(0x6000, 0x8000000000000001ULL);
	c->jit_threshold = 2;
	emu_cpu_get_regs(c, &r);
	r.rip = 0x2100;
	r.gpr[EMU_RDI] = 0x6000;
	r.gpr[EMU_RCX] = 20;
	emu_cpu_set_regs(c, &r);
	emu_cpu_run(c, 100000);
	CHECK(c->triple_fault);
	CHECK(c->stats.jit_blocks > 0);
	emu_cpu_destroy(c);
}

static void test_paging(void)
{
	static const uint8_t load[] = { 0x8a, 0x07 };      /* mov (%rdi),%al */
	static const uint8_t store[] = { 0x88, 0x07 };     /* mov %al,(%rdi) */
	static const uint8_t jmp[] = { 0xff, 0xe7 };       /* jmp *%rdi */
	struct emu_cpu *c = flat64(0x1000);
	struct emu_regs r;

	setup_4k_pages();
	put(0x2000, load, 2);
	put(0x2010, store, 2);
	put(0x2020, jmp, 2);

	CHECK_EQ(step_at(c, 0x2000, 0x401000), EXC_PF);
	CHECK_EQ(c->exc_err, 0);
	CHECK_EQ(emu_cpu_cr2(c), 0x401000);
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(r.rip, 0x2000);

	CHECK_EQ(step_at(c, 0x2010, 0x401008), EXC_PF);
	CHECK_EQ(c->exc_err, PFE_W);
	CHECK_EQ(emu_cpu_cr2(c), 0x401008);

	/* Write to a read-only page at CPL0: faults with CR0.WP, not without. */
	CHECK_EQ(step_at(c, 0x2010, 0x402000), EXC_PF);
	CHECK_EQ(c->exc_err, PFE_W | PFE_P);
	c->cr0 &= ~(uint64_t)CR0_WP;
	emu_tlb_flush(c, true);
	CHECK_EQ(step_at(c, 0x2010, 0x402000), EMU_STEP_OK);
	c->cr0 |= CR0_WP;
	emu_tlb_flush(c, true);

	/* Reserved bit. */
	CHECK_EQ(step_at(c, 0x2000, 0x404000), EXC_PF);
	CHECK_EQ(c->exc_err, PFE_P | PFE_RSVD);

	/* User access to a supervisor page. */
	emu_set_cpl(c, 3);
	CHECK_EQ(step_at(c, 0x2000, 0x400000), EXC_PF);
	CHECK_EQ(c->exc_err, PFE_P | PFE_U);
	emu_set_cpl(c, 0);
	/* ... also when a supervisor access filled its TLB entry first. */
	CHECK_EQ(step_at(c, 0x2000, 0x400000), EMU_STEP_OK);
	emu_set_cpl(c, 3);
	CHECK_EQ(step_at(c, 0x2000, 0x400000), EXC_PF);
	CHECK_EQ(c->exc_err, PFE_P | PFE_U);
	emu_set_cpl(c, 0);

	/* A and D bits: a load sets A only, a store sets D. */
	put64(PT4K, 0x300000 | 3);
	emu_tlb_flush(c, true);
	CHECK_EQ(step_at(c, 0x2000, 0x400000), EMU_STEP_OK);
	CHECK_EQ(get64(PT4K) & 0x60, 0x20);
	CHECK(get64(PT_GPA + 0x2000 + 16) & 0x20);
	CHECK_EQ(step_at(c, 0x2010, 0x400000), EMU_STEP_OK);
	CHECK_EQ(get64(PT4K) & 0x60, 0x60);

	/* NX: the jump works, the fetch at the target faults with I/D. */
	CHECK_EQ(step_at(c, 0x2020, 0x403000), EMU_STEP_OK);
	CHECK_EQ(emu_cpu_step(c, false), EXC_PF);
	CHECK_EQ(c->exc_err, PFE_P | PFE_I);
	CHECK_EQ(emu_cpu_cr2(c), 0x403000);
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(r.rip, 0x403000);

	/* Non-canonical address: #GP(0). */
	CHECK_EQ(step_at(c, 0x2000, 0x0000800000000000ULL), EXC_GP);
	emu_cpu_destroy(c);
}

/* A fault in REP MOVSB leaves RCX/RSI/RDI at the faulting iteration. */
static void test_rep_movsb_fault(void)
{
	static const uint8_t code[] = { 0xf3, 0xa4, 0xf4 };   /* rep movsb; hlt */
	struct emu_cpu *c = flat64(0x1000);
	struct emu_regs r;
	uint8_t src[64], dst[16];

	setup_4k_pages();
	put64(PT4K + 1 * 8, 0);
	for (int i = 0; i < 64; i++)
		src[i] = (uint8_t)(i + 1);
	put(0x200000, src, 64);
	put(0x1000, code, sizeof(code));
	emu_cpu_get_regs(c, &r);
	r.gpr[EMU_RSI] = 0x200000;
	r.gpr[EMU_RDI] = 0x400FF0;
	r.gpr[EMU_RCX] = 64;
	emu_cpu_set_regs(c, &r);
	CHECK_EQ(emu_cpu_step(c, false), EXC_PF);
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(r.rip, 0x1000);
	CHECK_EQ(r.gpr[EMU_RCX], 48);
	CHECK_EQ(r.gpr[EMU_RSI], 0x200010);
	CHECK_EQ(r.gpr[EMU_RDI], 0x401000);
	CHECK_EQ(emu_cpu_cr2(c), 0x401000);
	gmem_read(&mem, 0x300FF0, dst, 16);
	CHECK(memcmp(dst, src, 16) == 0);

	/* Map the page and resume: the copy completes. */
	put64(PT4K + 1 * 8, 0x304000 | 3);
	CHECK_EQ(emu_cpu_step(c, false), EMU_STEP_OK);
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(r.gpr[EMU_RCX], 0);
	CHECK_EQ(r.gpr[EMU_RDI], 0x401030);
	gmem_read(&mem, 0x304000, dst, 16);
	CHECK(memcmp(dst, src + 16, 16) == 0);

	/* Backwards (DF=1) with REP STOSQ. */
	static const uint8_t stos[] = { 0xfd, 0xf3, 0x48, 0xab, 0xfc };
	put(0x1100, stos, sizeof(stos));
	r.rip = 0x1100;
	r.gpr[EMU_RAX] = 0xAABBCCDDEEFF0011ULL;
	r.gpr[EMU_RDI] = 0x200100;
	r.gpr[EMU_RCX] = 4;
	emu_cpu_set_regs(c, &r);
	run_steps(c, 3);
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(r.gpr[EMU_RDI], 0x200100 - 32);
	CHECK_EQ(get64(0x200100 - 24), 0xAABBCCDDEEFF0011ULL);
	CHECK_EQ(r.rflags & FL_DF, 0);
	emu_cpu_destroy(c);
}

/* Delivery through a long-mode IDT: #UD on IST1, then #PF with CR2. */
static void test_idt_ist(void)
{
	/* lgdt 0x1800; lidt 0x1810; mov $0x20,%ax; ltr %ax; mov $0x7000,%rsp;
	 * ud2; movabs 0x100000000,%rax; hlt */
	static const uint8_t main_code[] = {
		0x0f, 0x01, 0x14, 0x25, 0x00, 0x18, 0x00, 0x00, 0x0f, 0x01, 0x1c, 0x25,
		0x10, 0x18, 0x00, 0x00, 0x66, 0xb8, 0x20, 0x00, 0x0f, 0x00, 0xd8, 0x48,
		0xc7, 0xc4, 0x00, 0x70, 0x00, 0x00, 0x0f, 0x0b, 0x48, 0xa1, 0x00, 0x00,
		0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xf4,
	};
	/* mov %rsp,%rbx; addq $2,(%rsp); iretq */
	static const uint8_t ud_handler[] = {
		0x48, 0x89, 0xe3, 0x48, 0x83, 0x04, 0x24, 0x02, 0x48, 0xcf,
	};
	/* mov %cr2,%rcx; pop %rdx; hlt */
	static const uint8_t pf_handler[] = { 0x0f, 0x20, 0xd1, 0x5a, 0xf4 };
	struct emu_cpu *c = flat64(0x1000);
	struct emu_regs r;
	uint8_t zero[0x800] = { 0 };

	put(0x1000, zero, sizeof(zero));
	put(0x1000, main_code, sizeof(main_code));
	put(0x1100, ud_handler, sizeof(ud_handler));
	put(0x1180, pf_handler, sizeof(pf_handler));
	/* GDT at 0x1200: null, -, code64 0x10, data 0x18, TSS 0x20 (16 bytes). */
	put64(0x1210, 0x00af9b000000ffffULL);
	put64(0x1218, 0x00cf93000000ffffULL);
	put64(0x1220, 0x67 | (0x1300ULL << 16) | (0x89ULL << 40));
	put64(0x1228, 0);
	/* TSS at 0x1300: RSP0 0x5000, IST1 0x9000. */
	put64(0x1304, 0x5000);
	put64(0x1324, 0x9000);
	/* IDT at 0x1400: #UD -> 0x1100 on IST1, #PF -> 0x1180. */
	put64(0x1400 + 6 * 16, 0x1100 | (0x10ULL << 16) | (1ULL << 32) | (0x8eULL << 40));
	put64(0x1400 + 14 * 16, 0x1180 | (0x10ULL << 16) | (0x8eULL << 40));
	/* Descriptors at 0x1800 (GDT) and 0x1810 (IDT). */
	put64(0x1800, 47 | (0x1200ULL << 16));
	put64(0x1810, (16 * 15 - 1) | (0x1400ULL << 16));

	run_steps(c, 6);            /* up to and including the #UD delivery */
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(r.rip, 0x1100);
	CHECK_EQ(r.gpr[EMU_RSP], 0x9000 - 40);
	CHECK_EQ(get64(0x9000 - 40), 0x101e);          /* RIP of ud2 */
	CHECK_EQ(get64(0x9000 - 32), 0x10);            /* CS */
	CHECK_EQ(get64(0x9000 - 16), 0x7000);          /* old RSP */
	CHECK_EQ(get64(0x9000 - 8), 0x18);             /* old SS */
	CHECK_EQ(c->seg[SEG_TR].attr & 0xF, 0xB);      /* busy */

	run_steps(c, 3);            /* handler: back after ud2 */
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(r.rip, 0x1020);
	CHECK_EQ(r.gpr[EMU_RSP], 0x7000);
	CHECK_EQ(r.gpr[EMU_RBX], 0x9000 - 40);

	run_steps(c, 5);            /* #PF delivery, mov cr2, pop, hlt */
	emu_cpu_get_regs(c, &r);
	CHECK(c->halted);
	CHECK_EQ(r.gpr[EMU_RCX], 0x100000000ULL);
	CHECK_EQ(r.gpr[EMU_RDX], 0);                   /* error code */
	CHECK_EQ(r.gpr[EMU_RSP], 0x7000 - 40);
	CHECK_EQ(get64(0x7000 - 48), 0);               /* pushed error code */
	CHECK_EQ(get64(0x7000 - 40), 0x1020);          /* faulting RIP */

	/* A #GP with a broken IDT entry escalates to #DF, then triple fault. */
	put64(0x1400 + 13 * 16, 0);
	put64(0x1400 + 8 * 16, 0);
	c->halted = false;
	emu_cpu_get_regs(c, &r);
	r.rip = 0x2000;
	r.gpr[EMU_RDI] = 0x0000800000000000ULL;
	emu_cpu_set_regs(c, &r);
	put(0x2000, (const uint8_t[]){ 0x8a, 0x07 }, 2);
	emu_cpu_step(c, true);
	CHECK(c->triple_fault);
	emu_cpu_destroy(c);
}

/* IRETQ to ring 3, INT 0x80 back through a DPL3 gate with the RSP0 stack,
 * and INT 0x81 through a DPL0 gate: #GP with the IDT error code. */
static void test_privilege_change(void)
{
	/* lgdt 0x1800; lidt 0x1810; mov $0x40,%ax; ltr %ax; mov $0x7000,%rsp;
	 * push $0x33; push $0x6000; push $0x202; push $0x2b; push $0x1200; iretq */
	static const uint8_t main_code[] = {
		0x0f, 0x01, 0x14, 0x25, 0x00, 0x18, 0x00, 0x00, 0x0f, 0x01, 0x1c, 0x25,
		0x10, 0x18, 0x00, 0x00, 0x66, 0xb8, 0x40, 0x00, 0x0f, 0x00, 0xd8, 0x48,
		0xc7, 0xc4, 0x00, 0x70, 0x00, 0x00, 0x6a, 0x33, 0x68, 0x00, 0x60, 0x00,
		0x00, 0x68, 0x02, 0x02, 0x00, 0x00, 0x6a, 0x2b, 0x68, 0x00, 0x12, 0x00,
		0x00, 0x48, 0xcf,
	};
	/* mov $5,%eax; int $0x80; mov $6,%ecx; int $0x81 */
	static const uint8_t user[] = {
		0xb8, 0x05, 0x00, 0x00, 0x00, 0xcd, 0x80, 0xb9, 0x06, 0x00, 0x00, 0x00,
		0xcd, 0x81,
	};
	/* mov %rsp,%rbx; mov %ss,%edx; iretq */
	static const uint8_t k80[] = { 0x48, 0x89, 0xe3, 0x8c, 0xd2, 0x48, 0xcf };
	/* pop %rdx; hlt */
	static const uint8_t kgp[] = { 0x5a, 0xf4 };
	struct emu_cpu *c = flat64(0x1000);
	struct emu_regs r;
	uint8_t zero[0x1000] = { 0 };

	put(0x1000, zero, sizeof(zero));
	put(0x1000, main_code, sizeof(main_code));
	put(0x1100, k80, sizeof(k80));
	put(0x1180, kgp, sizeof(kgp));
	put(0x1200, user, sizeof(user));
	put64(0x1210, 0x00af9b000000ffffULL);                /* 0x10 code64 */
	put64(0x1218, 0x00cf93000000ffffULL);                /* 0x18 data */
	put64(0x1228, 0x00affb000000ffffULL);  /* 0x28 user code64 */
	put64(0x1230, 0x00cff3000000ffffULL);  /* 0x30 user data */
	put64(0x1240, 0x67 | (0x1300ULL << 16) | (0x89ULL << 40));
	put64(0x1304, 0x5000);                                /* RSP0 */
	put64(0x1400 + 0x80 * 16, 0x1100 | (0x10ULL << 16) | (0xeeULL << 40));
	put64(0x1400 + 0x81 * 16, 0x1100 | (0x10ULL << 16) | (0x8eULL << 40));
	put64(0x1400 + 13 * 16, 0x1180 | (0x10ULL << 16) | (0x8eULL << 40));
	put64(0x1800, 0x4f | (0x1200ULL << 16));
	put64(0x1810, (16 * 0x82 - 1) | (0x1400ULL << 16));

	run_steps(c, 11);
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(r.rip, 0x1200);
	CHECK_EQ(c->cpl, 3);
	CHECK_EQ(r.gpr[EMU_RSP], 0x6000);
	CHECK_EQ(c->seg[SEG_SS].sel, 0x33);
	run_steps(c, 3);                   /* mov, int 0x80, handler's mov */
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(c->cpl, 0);
	CHECK_EQ(r.gpr[EMU_RBX], 0x5000 - 40);
	CHECK_EQ(get64(0x5000 - 40), 0x1207);
	CHECK_EQ(get64(0x5000 - 32), 0x2b);
	CHECK_EQ(get64(0x5000 - 16), 0x6000);
	CHECK_EQ(get64(0x5000 - 8), 0x33);
	run_steps(c, 2);                   /* mov %ss; iretq */
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(r.gpr[EMU_RDX] & 0xFFFF, 0);   /* SS = NULL selector in ring 0 */
	CHECK_EQ(c->cpl, 3);
	CHECK_EQ(r.rip, 0x1207);
	CHECK_EQ(r.gpr[EMU_RSP], 0x6000);
	run_steps(c, 4);                   /* mov, int 0x81 -> #GP, pop, hlt */
	emu_cpu_get_regs(c, &r);
	CHECK(c->halted);
	CHECK_EQ(c->cpl, 0);
	CHECK_EQ(r.gpr[EMU_RDX], 0x81 * 8 + 2);
	CHECK_EQ(r.gpr[EMU_RSP], 0x5000 - 40);
	emu_cpu_destroy(c);
}

static void test_syscall(void)
{
	static const uint8_t kern[] = {
		0xb9, 0x81, 0x00, 0x00, 0xc0, 0x31, 0xc0, 0xba, 0x10, 0x00, 0x18, 0x00,
		0x0f, 0x30, 0xb9, 0x82, 0x00, 0x00, 0xc0, 0xb8, 0x00, 0x11, 0x00, 0x00,
		0x31, 0xd2, 0x0f, 0x30, 0xb9, 0x84, 0x00, 0x00, 0xc0, 0xb8, 0x00, 0x02,
		0x00, 0x00, 0x0f, 0x30, 0xb9, 0x00, 0x12, 0x00, 0x00, 0x41, 0xbb, 0x02,
		0x02, 0x00, 0x00, 0x48, 0x0f, 0x07,
	};
	/* mov %rcx,%rbx; mov %r11,%rbp; add $1,%r12; sysretq */
	static const uint8_t entry[] = {
		0x48, 0x89, 0xcb, 0x4c, 0x89, 0xdd, 0x49, 0x83, 0xc4, 0x01, 0x48, 0x0f,
		0x07,
	};
	/* mov $7,%eax; syscall; mov $9,%esi; jmp . */
	static const uint8_t user[] = {
		0xb8, 0x07, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xbe, 0x09, 0x00, 0x00, 0x00,
		0xeb, 0xfe,
	};
	struct emu_cpu *c = flat64(0x1000);
	struct emu_regs r;

	put(0x1000, kern, sizeof(kern));
	put(0x1100, entry, sizeof(entry));
	put(0x1200, user, sizeof(user));
	run_steps(c, 14);
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(r.rip, 0x1200);
	CHECK_EQ(c->cpl, 3);
	CHECK_EQ(c->seg[SEG_CS].sel, 0x2b);
	CHECK_EQ(c->seg[SEG_SS].sel, 0x23);
	CHECK(r.rflags & FL_IF);
	run_steps(c, 2);
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(r.rip, 0x1100);
	CHECK_EQ(c->cpl, 0);
	CHECK_EQ(c->seg[SEG_CS].sel, 0x10);
	CHECK_EQ(r.rflags & FL_IF, 0);                 /* SFMASK */
	run_steps(c, 5);
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(c->cpl, 3);
	CHECK_EQ(r.gpr[EMU_RBX], 0x1207);
	CHECK_EQ(r.gpr[EMU_RBP] & 0x200, 0x200);
	CHECK_EQ(r.gpr[EMU_R12], 1);
	CHECK_EQ(r.gpr[EMU_RSI], 9);
	CHECK_EQ(r.rip, 0x120c);
	/* Privileged instructions fault at CPL3. */
	put(0x1300, (const uint8_t[]){ 0xf4 }, 1);
	r.rip = 0x1300;
	emu_cpu_set_regs(c, &r);
	CHECK_EQ(emu_cpu_step(c, false), EXC_GP);
	emu_cpu_destroy(c);
}

static void test_self_modifying(void)
{
	/* mov $1,%eax; movb $2,0x1001; jmp 0x1000 */
	static const uint8_t code[] = {
		0xb8, 0x01, 0x00, 0x00, 0x00, 0xc6, 0x04, 0x25, 0x01, 0x10, 0x00, 0x00,
		0x02, 0xe9, 0xee, 0xff, 0xff, 0xff,
	};
	struct emu_cpu *c = flat64(0x1000);
	struct emu_regs r;

	put(0x1000, code, sizeof(code));
	emu_code_invalidate(&mem, 0x1000, sizeof(code));
	run_steps(c, 1);
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(r.gpr[EMU_RAX], 1);
	run_steps(c, 3);
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(r.gpr[EMU_RAX], 2);

	/* A write that bypasses the CPU (DMA) goes through the hook. */
	const uint8_t mov7[] = { 0xb8, 0x07, 0x00, 0x00, 0x00 };
	put(0x1000, mov7, sizeof(mov7));
	emu_code_invalidate(&mem, 0x1000, sizeof(mov7));
	r.rip = 0x1000;
	emu_cpu_set_regs(c, &r);
	run_steps(c, 1);
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(r.gpr[EMU_RAX], 7);
	emu_cpu_destroy(c);
}

static void test_real_mode_int(void)
{
	struct cpu_boot_state st;
	struct emu_regs r;
	struct emu_cpu *c = emu_cpu_create(&mem, &pio, &mmio, 0);

	put(0x1000, (const uint8_t[]){ 0xcd, 0x21, 0xf4 }, 3);     /* int $0x21; hlt */
	put(0x2000, (const uint8_t[]){ 0xb0, 0x42, 0xcf }, 3);     /* mov $0x42,%al; iret */
	put(0x21 * 4, (const uint8_t[]){ 0x00, 0x00, 0x00, 0x02 }, 4);  /* 0200:0000 */
	memset(&st, 0, sizeof(st));
	struct seg_state rs = { .limit = 0xFFFF, .type = 3, .s = 1, .present = 1 };
	st.ds = st.es = st.fs = st.gs = st.ss = rs;
	st.cs = rs;
	st.cs.type = 0xB;
	st.cs.selector = 0x100;
	st.cs.base = 0x1000;
	st.rip = 0;
	st.rsp = 0x7000;
	st.rflags = 0x202;
	st.idt_limit = 0x3FF;
	emu_cpu_set_boot_state(c, &st);
	run_steps(c, 2);
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(c->seg[SEG_CS].sel, 0x200);
	CHECK_EQ(r.rflags & FL_IF, 0);
	CHECK_EQ(r.gpr[EMU_RSP], 0x7000 - 6);
	run_steps(c, 2);
	emu_cpu_get_regs(c, &r);
	CHECK(c->halted);
	CHECK_EQ(r.gpr[EMU_RAX] & 0xFF, 0x42);
	CHECK_EQ(r.gpr[EMU_RSP], 0x7000);
	CHECK_EQ(c->seg[SEG_CS].sel, 0x100);
	CHECK_EQ(r.rip, 3);
	CHECK(r.rflags & FL_IF);
	emu_cpu_destroy(c);
}

static void test_faults_and_ud(void)
{
	struct emu_cpu *c = flat64(0x1000);
	struct emu_regs r;

	/* div %ecx with ecx = 0: #DE, RIP unchanged. */
	put(0x1000, (const uint8_t[]){ 0xf7, 0xf1 }, 2);
	emu_cpu_get_regs(c, &r);
	r.gpr[EMU_RCX] = 0;
	emu_cpu_set_regs(c, &r);
	CHECK_EQ(emu_cpu_step(c, false), EXC_DE);
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(r.rip, 0x1000);
	/* vzeroupper (VEX), ud2, lock nop, popcnt (not advertised): #UD. */
	put(0x1000, (const uint8_t[]){ 0xc5, 0xf8, 0x77 }, 3);
	CHECK_EQ(emu_cpu_step(c, false), EXC_UD);
	put(0x1000, (const uint8_t[]){ 0x0f, 0x0b }, 2);
	CHECK_EQ(emu_cpu_step(c, false), EXC_UD);
	put(0x1000, (const uint8_t[]){ 0xf0, 0x90 }, 2);
	CHECK_EQ(emu_cpu_step(c, false), EXC_UD);
	put(0x1000, (const uint8_t[]){ 0xf3, 0x0f, 0xb8, 0xc1 }, 4);
	CHECK_EQ(emu_cpu_step(c, false), EXC_UD);
	/* rep bsf (tzcnt encoding) acts as BSF: 0x10 -> 4, zero keeps dest. */
	put(0x1000, (const uint8_t[]){ 0xf3, 0x0f, 0xbc, 0xc1 }, 4);
	r.rip = 0x1000;
	r.gpr[EMU_RCX] = 0x10;
	r.gpr[EMU_RAX] = 0x55;
	emu_cpu_set_regs(c, &r);
	CHECK_EQ(emu_cpu_step(c, false), EMU_STEP_OK);
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(r.gpr[EMU_RAX], 4);
	r.rip = 0x1000;
	r.gpr[EMU_RCX] = 0;
	emu_cpu_set_regs(c, &r);
	emu_cpu_step(c, false);
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(r.gpr[EMU_RAX], 4);
	CHECK(r.rflags & FL_ZF);
	/* CPUID: vendor, LM, no XSAVE. */
	put(0x1000, (const uint8_t[]){ 0x0f, 0xa2 }, 2);
	r.rip = 0x1000;
	r.gpr[EMU_RAX] = 0;
	emu_cpu_set_regs(c, &r);
	emu_cpu_step(c, false);
	emu_cpu_get_regs(c, &r);
	CHECK_EQ(r.gpr[EMU_RBX], 0x756e6547);   /* "Genu" */
	CHECK(r.gpr[EMU_RAX] >= 0x16);
	emu_cpu_destroy(c);
}

/* Random bytes in real, 32-bit and 64-bit mode, with and without
 * delivery: every step ends in OK or a vector, never a crash or a hang. */
static void test_random_bytes(void)
{
	struct emu_cpu *c = emu_cpu_create(&mem, &pio, &mmio, 0);
	uint32_t seed = 12345;
	uint8_t buf[32];

	for (int iter = 0; iter < 3000; iter++) {
		int mode = iter % 3;
		bool deliver = (iter / 3) % 2;
		if (mode == 2) {
			emu_cpu_setup_flat64(c, PT_GPA);
		} else {
			struct cpu_boot_state st;
			memset(&st, 0, sizeof(st));
			struct seg_state fl = { .limit = mode ? 0xFFFFFFFF : 0xFFFF, .type = 3,
						.s = 1, .present = 1, .db = mode == 1,
						.g = mode == 1 };
			st.ds = st.es = st.fs = st.gs = st.ss = st.cs = fl;
			st.cs.type = 0xB;
			st.cs.selector = mode ? 8 : 0;
			st.cr0 = mode ? 0x11 : 0;
			st.rflags = 2;
			st.idt_limit = mode ? 0 : 0x3FF;
			emu_cpu_set_boot_state(c, &st);
		}
		for (unsigned i = 0; i < sizeof(buf); i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = (uint8_t)(seed >> 16);
		}
		if (iter % 5 == 0)
			buf[0] = 0x0F;            /* more two-byte opcodes */
		put(0x3000, buf, sizeof(buf));
		struct emu_regs r;
		emu_cpu_get_regs(c, &r);
		for (int g = 0; g < 16; g++) {
			seed = seed * 1103515245u + 12345u;
			r.gpr[g] = (g & 1) ? 0x200000 + (seed & 0xFFFF) : (uint64_t)seed << (g * 3);
		}
		r.rip = 0x3000;
		emu_cpu_set_regs(c, &r);
		for (int s = 0; s < 8; s++) {
			int v = emu_cpu_step(c, deliver);
			if ((!deliver && v != EMU_STEP_OK) || c->halted || c->triple_fault ||
			    c->unimplemented)
				break;
		}
	}
	CHECK(1);
	emu_cpu_destroy(c);
}

int main(void)
{
	if (gmem_init(&mem, RAM_SIZE, 0) != 0)
		return 1;
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	test_mode_switch();
	test_paging();
	test_tlb_slot_neighbours();
	test_tlb_victims();
	test_jit_empty_slot_rip();
	test_jit_user_permission();
	test_rep_movsb_fault();
	test_idt_ist();
	test_privilege_change();
	test_syscall();
	test_self_modifying();
	test_real_mode_int();
	test_faults_and_ud();
	test_random_bytes();
	bus_destroy(&pio);
	bus_destroy(&mmio);
	gmem_destroy(&mem);
	return test_done();
}
