/*
 * The block translator (src/cpu/emu/jit.c) against the interpreter: random
 * 64-bit programs (ALU of every size, MOV, LEA, shifts, multiplies, SETcc, ADC/SBB,
 * stack loads and stores, PUSHF, forward conditional branches) run as a loop, so that the loop body is
 * translated after its first passes: one instruction at a time
 * (emu_cpu_step, what the differential suite checks against the host), in
 * the interpreter's blocks and translated; registers, RFLAGS and the
 * stack memory must come out the same. The translator's own forms (MOV, LEA, the binary ALU
 * operations) are mixed with forms it calls handlers for, so that the
 * flags it leaves out as dead are checked by whatever reads them next.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/emu/emu.h"
#include "cpu/emu/emu_internal.h"
#include "mem/bus.h"
#include "mem/guest_mem.h"
#include "../tap.h"

#define RAM_SIZE   (16ULL << 20)
#define PT_GPA     0x100000ULL
#define CODE_GPA   0x10000ULL
#define STACK_LO   0x7000ULL      /* RSP = 0x8000; data at [rsp + 0..0x7f] */
#define STACK_LEN  0x1100ULL
#define LOOPS      4

static struct guest_mem mem;
static struct bus pio, mmio;
static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct prog {
	uint8_t b[4096];
	unsigned n;
};

static void emit(struct prog *p, unsigned n, ...)
{
	va_list ap;
	va_start(ap, n);
	for (unsigned i = 0; i < n; i++)
		p->b[p->n++] = (uint8_t)va_arg(ap, int);
	va_end(ap);
}

static void emit32(struct prog *p, uint32_t v)
{
	memcpy(p->b + p->n, &v, 4);
	p->n += 4;
}

/* A register the body may write: not RSP (the stack), not R15 (the loop). */
static unsigned any_reg(void)
{
	unsigned r;
	do
		r = rnd() % 16;
	while (r == EMU_RSP || r == 15);
	return r;
}

static uint8_t rex(bool w, unsigned reg, unsigned rm)
{
	return (uint8_t)(0x40 | (w ? 8 : 0) | (reg >> 3) << 2 | rm >> 3);
}

static uint32_t edge_imm(void)
{
	static const uint32_t v[] = { 0, 1, 0x7F, 0x80, 0xFF, 0x7FFFFFFF, 0x80000000,
				      0xFFFFFFFF, 0xFFFFFF80 };
	return rnd() % 2 ? v[rnd() % (sizeof(v) / sizeof(v[0]))] : (uint32_t)rnd();
}

static void emit_random_insn(struct prog *p)
{
	bool w = rnd() % 3 != 0;
	unsigned d = any_reg(), s = rnd() % 16;
	static const uint8_t alu[] = { 0x01, 0x09, 0x11, 0x19, 0x21, 0x29, 0x31, 0x39,
				       0x85, 0x89 };

	switch (rnd() % 21) {
	case 0: case 1: case 2:         /* op r, r (incl. ADC/SBB, CMP, TEST, MOV) */
		emit(p, 3, rex(w, s, d), alu[rnd() % sizeof(alu)], 0xC0 | (s & 7) << 3 | (d & 7));
		break;
	case 3: case 4:                 /* op r, imm32 / imm8 */
		if (rnd() % 2) {
			emit(p, 3, rex(w, 0, d), 0x81, 0xC0 | (unsigned)(rnd() % 8) << 3 | (d & 7));
			emit32(p, edge_imm());
		} else {
			emit(p, 4, rex(w, 0, d), 0x83, 0xC0 | (unsigned)(rnd() % 8) << 3 | (d & 7),
			     (int)(rnd() & 0xFF));
		}
		break;
	case 5:                         /* mov r, imm32 / imm64 */
		if (rnd() % 2) {
			emit(p, 3, rex(w, 0, d), 0xC7, 0xC0 | (d & 7));
			emit32(p, edge_imm());
		} else {
			emit(p, 2, rex(true, 0, d), 0xB8 + (d & 7));
			emit32(p, (uint32_t)rnd());
			emit32(p, edge_imm());
		}
		break;
	case 6: {                       /* lea r, [base + index * scale + disp32], [rip + disp], no base */
		if (rnd() % 4 == 0) {
			emit(p, 3, rex(w, d, 0), 0x8D, 0x05 | (d & 7) << 3);
			emit32(p, edge_imm());
			break;
		}
		unsigned base = rnd() % 16, index = rnd() % 16;
		if (rnd() % 4 == 0) {   /* [index * scale + disp32], [disp32]: no base */
			emit(p, 4, 0x40 | (w ? 8 : 0) | (d >> 3) << 2 | (index >> 3) << 1,
			     0x8D, 0x04 | (d & 7) << 3, (int)((rnd() % 4) << 6 | (index & 7) << 3 | 5));
			emit32(p, edge_imm());
			break;
		}
		if (index == EMU_RSP)
			index = 0;
		emit(p, 4, 0x40 | (w ? 8 : 0) | (d >> 3) << 2 | (index >> 3) << 1 | base >> 3,
		     0x8D, 0x84 | (d & 7) << 3,
		     (int)((rnd() % 4) << 6 | (index & 7) << 3 | (base & 7)));
		emit32(p, edge_imm());
		break;
	}
	case 7: {                       /* shl/shr/sar/rol/ror r, imm8 or 1; inc/dec r */
		static const uint8_t sub[] = { 0, 1, 4, 5, 7 };
		if (rnd() % 3 == 0) {
			emit(p, 4, rex(w, 0, d), 0xC1, 0xC0 | sub[rnd() % 5] << 3 | (d & 7),
			     (int)(rnd() % 70));
		} else if (rnd() % 2) {
			emit(p, 3, rex(w, 0, d), 0xD1, 0xC0 | sub[rnd() % 5] << 3 | (d & 7));
		} else {
			emit(p, 3, rex(w, 0, d), 0xFF, 0xC0 | (unsigned)(rnd() % 2) << 3 | (d & 7));
		}
		break;
	}
	case 8:                         /* imul r, r; imul r, r, imm; setcc r8 */
		if (rnd() % 3 == 0)
			emit(p, 4, rex(w, d, s), 0x0F, 0xAF, 0xC0 | (d & 7) << 3 | (s & 7));
		else if (rnd() % 2 == 0) {
			emit(p, 3, rex(w, d, s), 0x69, 0xC0 | (d & 7) << 3 | (s & 7));
			emit32(p, edge_imm());
		} else if (rnd() % 2 == 0)
			emit(p, 4, rex(w, d, s), 0x6B, 0xC0 | (d & 7) << 3 | (s & 7),
			     (int)(rnd() & 0xFF));
		else
			emit(p, 4, rex(false, 0, d), 0x0F, 0x90 + (unsigned)(rnd() % 16), 0xC0 | (d & 7));
		break;
	case 9:                         /* mov [rsp + disp8], r / imm32 (some across a page) */
		if (rnd() % 3 == 0) {
			emit(p, 5, rex(w, 0, 0), 0xC7, 0x44, 0x24, (int)(rnd() % 0x80) - 8);
			emit32(p, edge_imm());
			break;
		}
		emit(p, 5, rex(w, s, 0), 0x89, 0x44 | (s & 7) << 3, 0x24,
		     (int)(rnd() % 0x80) - 8);
		break;
	case 10:                        /* mov r, [rsp + disp8] */
		emit(p, 5, rex(w, d, 0), 0x8B, 0x44 | (d & 7) << 3, 0x24,
		     (int)(rnd() % 0x80) - 8);
		break;
	case 11:                        /* pushfq; pop r: the flags, materialised */
		emit(p, 1, 0x9C);
		emit(p, 2, rex(false, 0, d), 0x58 + (d & 7));
		break;
	case 13: {                      /* movzx/movsx r, byte/word [rsp + disp8]; movsxd */
		static const uint8_t ext[] = { 0xB6, 0xB7, 0xBE, 0xBF };
		int disp = (int)(rnd() % 0x80) - 8;     /* some across a page */
		if (rnd() % 5 == 0)
			emit(p, 5, rex(true, d, 0), 0x63, 0x44 | (d & 7) << 3, 0x24, disp);
		else
			emit(p, 6, rex(w, d, 0), 0x0F, ext[rnd() % 4], 0x44 | (d & 7) << 3, 0x24,
			     disp);
		break;
	}
	case 14: {                      /* push r/imm8/imm32 (also RSP); an instruction; pop r */
		unsigned k = (unsigned)(rnd() % 4);
		if (k == 3) {           /* push rsp; pop rsp: POP RSP keeps the value */
			emit(p, 2, 0x54, 0x5C);
			break;
		}
		if (k == 0)
			emit(p, 2, rex(false, 0, s), 0x50 + (s & 7));
		else if (k == 1)
			emit(p, 2, 0x6A, (int)(rnd() & 0xFF));
		else {
			emit(p, 1, 0x68);
			emit32(p, edge_imm());
		}
		if (rnd() % 2)
			emit(p, 3, rex(w, s, d), alu[rnd() % sizeof(alu)], 0xC0 | (s & 7) << 3 | (d & 7));
		emit(p, 2, rex(false, 0, d), 0x58 + (d & 7));
		break;
	}
	case 15: {                      /* op r, r; then cmovcc r, r or setcc r8 (AH-BH too) */
		unsigned cc = (unsigned)(rnd() % 16), k = (unsigned)(rnd() % 3);
		emit(p, 3, rex(w, s, d), alu[rnd() % 8], 0xC0 | (s & 7) << 3 | (d & 7));
		if (rnd() % 3 == 0)             /* inc/dec between: CF carried through */
			emit(p, 3, rex(w, 0, d), 0xFF, 0xC0 | (unsigned)(rnd() % 2) << 3 | (d & 7));
		if (k == 0)
			emit(p, 4, rex(w, d, s), 0x0F, 0x40 + cc, 0xC0 | (d & 7) << 3 | (s & 7));
		else if (k == 1)
			emit(p, 4, rex(false, 0, d), 0x0F, 0x90 + cc, 0xC0 | (d & 7));
		else                            /* no REX: rm 4-7 are AH, CH, DH, BH */
			emit(p, 3, 0x0F, 0x90 + cc, 0xC0 | (unsigned)(rnd() % 8));
		break;
	}
	case 16: {                      /* call f; jmp over f; f: op r, r; ret */
		unsigned at = p->n;
		emit(p, 1, 0xE8);
		emit32(p, 2);
		emit(p, 2, 0xEB, 0);
		emit(p, 3, rex(w, s, d), alu[rnd() % sizeof(alu)], 0xC0 | (s & 7) << 3 | (d & 7));
		emit(p, 1, 0xC3);
		p->b[at + 6] = (uint8_t)(p->n - (at + 7));
		break;
	}
	case 17: {                      /* op r8, r8 / r8, imm8; test r8, imm8 (AH-BH without REX) */
		static const uint8_t alu8[] = { 0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38,
						0x84 };
		bool use_rex = rnd() % 2;
		unsigned dd = use_rex ? d : (unsigned)(rnd() % 8), ss = use_rex ? s : (unsigned)(rnd() % 8);
		unsigned k = (unsigned)(rnd() % 3);
		if (use_rex)
			emit(p, 1, rex(false, ss, dd));
		if (k == 0)
			emit(p, 2, alu8[rnd() % sizeof(alu8)], 0xC0 | (ss & 7) << 3 | (dd & 7));
		else if (k == 1)
			emit(p, 3, 0x80, 0xC0 | (unsigned)(rnd() % 8) << 3 | (dd & 7), (int)(rnd() & 0xFF));
		else
			emit(p, 3, 0xF6, 0xC0 | (dd & 7), (int)(rnd() & 0xFF));
		break;
	}
	case 18: {                      /* op [rsp + disp8], r / imm; op r, [rsp + disp8] (some across a page) */
		static const uint8_t mem_op[] = { 0x01, 0x09, 0x21, 0x29, 0x31, 0x39, 0x85,
						  0x03, 0x0B, 0x23, 0x2B, 0x33, 0x3B };
		int disp = (int)(rnd() % 0x80) - 8;
		unsigned k = (unsigned)(rnd() % 4);
		if (k == 0) {
			uint8_t op = mem_op[rnd() % sizeof(mem_op)];
			unsigned r = op & 2 ? d : s;    /* op r, [m] writes r */
			emit(p, 5, rex(w, r, 4), op, 0x44 | (r & 7) << 3, 0x24, disp & 0xFF);
		} else if (k == 1) {            /* 8-bit: op [rsp + disp8], r8 / imm8 */
			if (rnd() % 2)
				emit(p, 5, rex(false, s, 4), 8 * (unsigned)(rnd() % 8),
				     0x44 | (s & 7) << 3, 0x24, disp & 0xFF);
			else
				emit(p, 6, rex(false, 0, 4), 0x80, 0x44 | (unsigned)(rnd() % 8) << 3, 0x24,
				     disp & 0xFF, (int)(rnd() & 0xFF));
		} else {                        /* op [rsp + disp8], imm8 / imm32 */
			if (rnd() % 2) {
				emit(p, 5, rex(w, 0, 4), 0x83, 0x44 | (unsigned)(rnd() % 8) << 3, 0x24,
				     disp & 0xFF);
				emit(p, 1, (int)(rnd() & 0xFF));
			} else {
				emit(p, 5, rex(w, 0, 4), 0x81, 0x44 | (unsigned)(rnd() % 8) << 3, 0x24,
				     disp & 0xFF);
				emit32(p, edge_imm());
			}
		}
		break;
	}
	case 19: {                      /* movzx/movsx r, r8/r16 (AH-BH without REX); movsxd r64, r32 */
		static const uint8_t ext[] = { 0xB6, 0xB7, 0xBE, 0xBF };
		unsigned k = (unsigned)(rnd() % 3);
		if (k == 0) {                   /* no REX: 32-bit destination, rm 4-7 of a byte are AH-BH */
			static const uint8_t low[] = { 0, 1, 2, 3, 5, 6, 7 };
			emit(p, 3, 0x0F, ext[rnd() % 4], 0xC0 | low[rnd() % 7] << 3 | (unsigned)(rnd() % 8));
		} else if (k == 1) {
			emit(p, 4, rex(w, d, s), 0x0F, ext[rnd() % 4], 0xC0 | (d & 7) << 3 | (s & 7));
		} else {
			emit(p, 3, rex(true, d, s), 0x63, 0xC0 | (d & 7) << 3 | (s & 7));
		}
		break;
	}
	case 20: {                      /* mov byte/word [rsp + disp8], r / imm; mov r8/r16, [...] */
		int disp = (int)(rnd() % 0x80) - 8;     /* some across a page */
		bool word = rnd() % 2, use_rex = rnd() % 2;
		unsigned k = (unsigned)(rnd() % 3);
		/* without REX, byte registers 4-7 are AH-BH; a load's never SPL */
		unsigned reg = k == 1 ? d : s;
		if (!use_rex && !word)
			reg &= 7;
		if (word)
			emit(p, 1, 0x66);
		if (use_rex || word)
			emit(p, 1, rex(false, reg, 4));
		if (k == 2) {
			emit(p, 4, word ? 0xC7 : 0xC6, 0x44, 0x24, disp & 0xFF);
			emit(p, word ? 2 : 1, (int)(rnd() & 0xFF), (int)(rnd() & 0xFF));
		} else {
			emit(p, 4, (k == 1 ? 0x8A : 0x88) + (word ? 1 : 0), 0x44 | (reg & 7) << 3, 0x24,
			     disp & 0xFF);
		}
		break;
	}
	case 12: {                      /* jcc over one to three instructions */
		unsigned at = p->n, k = 1 + (unsigned)(rnd() % 3);
		emit(p, 2, 0x70 + (unsigned)(rnd() % 16), 0);
		for (unsigned i = 0; i < k; i++)
			emit_random_insn(p);
		p->b[at + 1] = (uint8_t)(p->n - at - 2);
		break;
	}
	}
}

/* mov r15d, LOOPS; body: ...; dec r15; jnz body; hlt */
static void make_prog(struct prog *p, unsigned len)
{
	p->n = 0;
	emit(p, 2, 0x41, 0xBF);
	emit32(p, LOOPS);
	unsigned body = p->n;
	for (unsigned i = 0; i < len; i++)
		emit_random_insn(p);
	emit(p, 3, 0x49, 0xFF, 0xCF);
	int32_t rel = (int32_t)body - (int32_t)(p->n + 6);
	emit(p, 2, 0x0F, 0x85);
	emit32(p, (uint32_t)rel);
	emit(p, 1, 0xF4);
}

struct outcome {
	struct emu_regs r;
	uint8_t stack[STACK_LEN];
	bool halted;
	uint64_t translated;   /* blocks the translator made */
	uint64_t entries;      /* translated blocks entered from the run loop */
};

enum { RUN_STEP, RUN_BLOCKS, RUN_JIT };

/* Code and page tables beyond the program (NULL: none), set up after the
 * flat page tables. */
static void (*extra_setup)(void);

static void run(const struct prog *p, const struct emu_regs *in,
		const uint8_t *stack, int how, struct outcome *out)
{
	static const uint8_t zero[4096];

	CHECK(gmem_write(&mem, CODE_GPA, zero, sizeof(zero)) == 0);
	CHECK(gmem_write(&mem, CODE_GPA, p->b, p->n) == 0);
	emu_code_invalidate(&mem, CODE_GPA, sizeof(zero));
	CHECK(gmem_write(&mem, STACK_LO, stack, STACK_LEN) == 0);

	struct emu_cpu *c = emu_cpu_create(&mem, &pio, &mmio, 0);
	CHECK(c != NULL);
	if (how != RUN_JIT) {
		emu_jit_destroy(c->jit);
		c->jit = NULL;
	} else {
		CHECK(c->jit != NULL);
		c->jit_threshold = 2;   /* the loop runs LOOPS times */
	}
	CHECK_EQ(emu_cpu_setup_flat64(c, PT_GPA), 0);
	if (extra_setup)
		extra_setup();
	struct emu_regs r = *in;
	r.rip = CODE_GPA;
	r.gpr[EMU_RSP] = 0x8000;
	emu_cpu_set_regs(c, &r);
	if (how == RUN_STEP)
		for (int i = 0; i < 100000 && !emu_cpu_halted(c); i++)
			emu_cpu_step(c, true);
	else
		for (int i = 0; i < 1000 && !emu_cpu_halted(c); i++)
			emu_cpu_run(c, 100000);
	out->halted = emu_cpu_halted(c);
	out->translated = c->stats.jit_blocks;
	out->entries = c->stats.jit_entries;
	emu_cpu_get_regs(c, &out->r);
	gmem_read(&mem, STACK_LO, out->stack, STACK_LEN);
	emu_cpu_destroy(c);
}

/*
 * Chains across code pages and through the jump cache, and their checks:
 * a loop on one page calls f on another from three sites (so f's return
 * has three successors: two slots and the jump cache); halfway the guest
 * maps f's linear page to another physical page holding f' and flushes it
 * with INVLPG, so a chain into the old f must not be taken any more.
 */
#define F_LA      0x401000ULL     /* f's linear page, 4 KiB-mapped */
#define F2_GPA    0x402000ULL     /* f' */
#define REMAP_PT  0x300000ULL     /* the page table for 0x400000-0x5FFFFF */
#define REMAP_AT  20              /* r15 when the guest remaps */

static void remap_setup(void)
{
	uint64_t *pd0 = gmem_ptr(&mem, PT_GPA + 0x2000, 4096);
	uint64_t *pt = gmem_ptr(&mem, REMAP_PT, 4096);
	static const uint8_t f[] = { 0xB8, 1, 0, 0, 0, 0xC3 };      /* mov eax, 1; ret */
	static const uint8_t f2[] = { 0xB8, 100, 0, 0, 0, 0xC3 };   /* mov eax, 100; ret */

	CHECK(pd0 && pt);
	for (unsigned k = 0; k < 512; k++)
		pt[k] = (0x400000ULL + 0x1000ULL * k) | 0x7;
	pd0[2] = REMAP_PT | 0x7;
	CHECK(gmem_write(&mem, F_LA, f, sizeof(f)) == 0);
	CHECK(gmem_write(&mem, F2_GPA, f2, sizeof(f2)) == 0);
	emu_code_invalidate(&mem, F_LA, 0x2000);
	emu_code_invalidate(&mem, REMAP_PT, 4096);
	emu_code_invalidate(&mem, PT_GPA, 6 * 4096);
}

static void make_remap_prog(struct prog *p, unsigned loops)
{
	p->n = 0;
	emit(p, 2, 0x41, 0xBF);                     /* mov r15d, loops */
	emit32(p, loops);
	unsigned body = p->n;
	for (int site = 0; site < 3; site++) {
		emit(p, 1, 0xE8);                   /* call f */
		emit32(p, (uint32_t)(F_LA - (CODE_GPA + p->n + 4)));
		emit(p, 2, 0x01, 0xC3);             /* add ebx, eax */
	}
	emit(p, 4, 0x41, 0x83, 0xFF, REMAP_AT);     /* cmp r15d, REMAP_AT */
	emit(p, 2, 0x75, 5 + 6 + 5 + 3);            /* jne over the remap */
	emit(p, 1, 0xB8);                           /* mov eax, &pt[1] */
	emit32(p, (uint32_t)(REMAP_PT + 8));
	emit(p, 2, 0xC7, 0x00);                     /* mov dword [rax], F2_GPA | 7 */
	emit32(p, (uint32_t)(F2_GPA | 0x7));
	emit(p, 1, 0xB9);                           /* mov ecx, F_LA */
	emit32(p, (uint32_t)F_LA);
	emit(p, 3, 0x0F, 0x01, 0x39);               /* invlpg [rcx] */
	emit(p, 3, 0x49, 0xFF, 0xCF);               /* dec r15 */
	emit(p, 2, 0x0F, 0x85);                     /* jnz body */
	emit32(p, (uint32_t)((int32_t)body - (int32_t)(p->n + 4)));
	emit(p, 1, 0xF4);
}

static const uint64_t edge[] = {
	0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000,
	0xFFFFFFFF, 0x100000000ULL, 0x7FFFFFFFFFFFFFFFULL, 0x8000000000000000ULL,
	~0ULL, 0x123456789ABCDEF0ULL,
};

int main(void)
{
	CHECK(gmem_init(&mem, RAM_SIZE, 0) == 0);
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");

	/* EMU_BLOCKS_PROGRAMS and EMU_BLOCKS_SEED: a longer run, another draw. */
	unsigned programs = getenv("EMU_BLOCKS_PROGRAMS") ?
			    (unsigned)atoi(getenv("EMU_BLOCKS_PROGRAMS")) : 1000;
	unsigned mismatches = 0, translated = 0;
	if (getenv("EMU_BLOCKS_SEED"))
		rng = strtoull(getenv("EMU_BLOCKS_SEED"), NULL, 0) | 1;
	static struct outcome a, b;   /* reference, compared run */
	static uint8_t stack[STACK_LEN];
	struct prog *p = malloc(sizeof(*p));
	CHECK(p != NULL);

	for (unsigned t = 0; t < programs; t++) {
		struct emu_regs in;
		memset(&in, 0, sizeof(in));
		for (int i = 0; i < 16; i++)
			in.gpr[i] = rnd() % 2 ? edge[rnd() % (sizeof(edge) / sizeof(edge[0]))] : rnd();
		in.rflags = 0x2 | (rnd() & 0x8D5);
		for (unsigned i = 0; i < STACK_LEN; i++)
			stack[i] = (uint8_t)rnd();
		make_prog(p, 1 + (unsigned)(rnd() % 60));

		/* The reference is one instruction at a time; then the
		 * interpreter's blocks, then the translated blocks. */
		run(p, &in, stack, RUN_STEP, &a);
		bool same = true;
		for (int how = RUN_BLOCKS; how <= RUN_JIT && same; how++) {
			run(p, &in, stack, how, &b);
			same = a.halted && b.halted &&
			       memcmp(a.r.gpr, b.r.gpr, sizeof(a.r.gpr)) == 0 &&
			       a.r.rip == b.r.rip &&
			       (a.r.rflags & 0x8D5) == (b.r.rflags & 0x8D5) &&
			       memcmp(a.stack, b.stack, STACK_LEN) == 0;
			if (!same)
				fprintf(stderr, "%s run:\n", how == RUN_JIT ? "translated" : "block");
		}
		translated += b.translated > 0;
		if (!same && mismatches++ < 5) {
			fprintf(stderr, "program %u (%u bytes) differs:", t, p->n);
			for (unsigned i = 0; i < p->n; i++)
				fprintf(stderr, " %02x", p->b[i]);
			fprintf(stderr, "\n");
			for (int i = 0; i < 16; i++)
				if (a.r.gpr[i] != b.r.gpr[i])
					fprintf(stderr, "  r%d step %016llx run %016llx\n", i,
						(unsigned long long)a.r.gpr[i],
						(unsigned long long)b.r.gpr[i]);
			fprintf(stderr, "  rflags step %llx run %llx, rip %llx %llx\n",
				(unsigned long long)a.r.rflags, (unsigned long long)b.r.rflags,
				(unsigned long long)a.r.rip, (unsigned long long)b.r.rip);
		}
	}
	/* The largest translation: a full block of conditional branches
	 * (a handler call with both end-of-block checks each); the
	 * translator aborts if a block outgrows the space it reserved. */
	p->n = 0;
	emit(p, 2, 0x41, 0xBF);
	emit32(p, LOOPS);
	unsigned body = p->n;
	for (unsigned i = 0; i < 2 * BLOCK_MAX_INSNS; i++)
		emit(p, 2, 0x70 + (i % 16), 0);       /* jcc to the next instruction */
	emit(p, 3, 0x49, 0xFF, 0xCF);
	emit(p, 2, 0x0F, 0x85);
	emit32(p, (uint32_t)((int32_t)body - (int32_t)(p->n + 4)));
	emit(p, 1, 0xF4);
	struct emu_regs in = { .rflags = 0x2 };   /* RBX = 0 */
	run(p, &in, stack, RUN_STEP, &a);
	run(p, &in, stack, RUN_JIT, &b);
	CHECK(a.halted && b.halted);
	CHECK(memcmp(a.r.gpr, b.r.gpr, sizeof(a.r.gpr)) == 0 && a.r.rip == b.r.rip);

	/* Self-modifying code inside a translated block: the last pass
	 * stores into the immediate of a MOV later in the block, which by
	 * then is translated (an inline store that must take the slow path
	 * and end the block, so that the MOV is decoded again). */
	p->n = 0;
	emit(p, 2, 0x41, 0xBF);
	emit32(p, LOOPS);
	body = p->n;
	emit(p, 4, 0x41, 0x83, 0xFF, 0x01);         /* cmp r15d, 1 */
	emit(p, 2, 0x75, 0x07);                     /* jne over the store */
	emit(p, 3, 0x44, 0x89, 0x3D);               /* mov [rip + 1], r15d: the imm below */
	emit32(p, 1);
	emit(p, 1, 0xB8);                           /* mov eax, imm32 */
	emit32(p, 0);
	emit(p, 2, 0x01, 0xC3);                     /* add ebx, eax */
	emit(p, 3, 0x49, 0xFF, 0xCF);
	emit(p, 2, 0x0F, 0x85);
	emit32(p, (uint32_t)((int32_t)body - (int32_t)(p->n + 4)));
	emit(p, 1, 0xF4);
	run(p, &in, stack, RUN_JIT, &b);
	CHECK(b.halted);
	CHECK_EQ(b.r.gpr[EMU_RBX], 1);

	/* ADC right after CMP, on the host's CF: with a carry-in of 1 and
	 * an addend of all ones the result equals the destination, where
	 * only the recorded carry-in tells CF (read back by PUSHF). */
	p->n = 0;
	emit(p, 2, 0x41, 0xBF);
	emit32(p, LOOPS);
	body = p->n;
	emit(p, 5, 0xB8, 1, 0, 0, 0);               /* mov eax, 1 */
	emit(p, 5, 0xBB, 2, 0, 0, 0);               /* mov ebx, 2 */
	emit(p, 2, 0x39, 0xD8);                     /* cmp eax, ebx: CF = 1 */
	emit(p, 3, 0x83, 0xD1, 0xFF);               /* adc ecx, -1 */
	emit(p, 2, 0x9C, 0x5A);                     /* pushfq; pop rdx */
	emit(p, 3, 0x49, 0x01, 0xD6);               /* add r14, rdx */
	emit(p, 3, 0x49, 0xFF, 0xCF);
	emit(p, 2, 0x0F, 0x85);
	emit32(p, (uint32_t)((int32_t)body - (int32_t)(p->n + 4)));
	emit(p, 1, 0xF4);
	memset(&in, 0, sizeof(in));
	in.rflags = 0x2;
	in.gpr[EMU_RCX] = 0x1234;
	run(p, &in, stack, RUN_STEP, &a);
	run(p, &in, stack, RUN_JIT, &b);
	CHECK(a.halted && b.halted && b.translated > 0);
	CHECK_EQ(b.r.gpr[14], a.r.gpr[14]);
	CHECK_EQ(a.r.gpr[EMU_RCX], 0x1234);
	CHECK((a.r.gpr[EMU_RDX] & 1) == 1);

	/* Chains across pages and the jump cache, and a remapped page. */
	const unsigned loops = 40;
	make_remap_prog(p, loops);
	extra_setup = remap_setup;
	memset(&in, 0, sizeof(in));
	in.rflags = 0x2;
	run(p, &in, stack, RUN_STEP, &a);
	run(p, &in, stack, RUN_JIT, &b);
	extra_setup = NULL;
	uint64_t want = 3 * ((loops - REMAP_AT + 1) * 1 + (REMAP_AT - 1) * 100);
	CHECK(a.halted && b.halted);
	CHECK_EQ(a.r.gpr[EMU_RBX], want);
	CHECK_EQ(b.r.gpr[EMU_RBX], want);
	/* 40 passes of 9 blocks: all but a few go block to block without
	 * the run loop (the first passes, before translation and chaining,
	 * and the misses right after the remap). */
	printf("remap program: %llu of %u block entries from the run loop\n",
	       (unsigned long long)b.entries, loops * 9);
	CHECK(b.entries < 20);

	CHECK_EQ(mismatches, 0);
	printf("%u random programs, %u differ between single steps, blocks and translation; "
	       "%u ran translated\n", programs, mismatches, translated);
	/* Every program loops LOOPS times, past the lowered threshold: a
	 * translator that never engages would compare nothing. */
	CHECK(translated == programs);
	free(p);
	gmem_destroy(&mem);
	return test_done();
}
