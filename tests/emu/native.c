/*
 * The native side of emu-diff: run one instruction on the host CPU in user
 * mode with every GPR, RFLAGS' arithmetic bits and DF, and the FXSAVE state
 * taken from the case, and capture the same state afterwards.
 *
 * A fixed trampoline page (TRAMP_BASE) saves the host's callee-saved
 * registers, RSP and FPU state into the control page (CTL_BASE), loads the
 * case's state and jumps to the case's slot: the instruction bytes followed
 * by a jmp back to the store half of the trampoline. All addressing is
 * absolute disp32, so the only registers the trampoline needs are the ones
 * it is loading. A branch under test targets the slot's second jmp, at
 * rip + len + 5, which goes through a stub that records "taken"; so the
 * RIP after the instruction is known for both outcomes. A fault inside
 * the slot lands in fault_handler(), which copies the state from the
 * signal frame (RIP at the faulting instruction, vector = the kernel's
 * trap number, CR2) and redirects to the recovery half of the trampoline. The handler runs on an alternate stack because
 * the test's RSP points into the data area being compared (or anywhere).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "harness.h"

struct ctl {
	struct xstate in;                           /* 0x000 */
	uint8_t pad0[0x400 - sizeof(struct xstate)];
	struct xstate out;                          /* 0x400 */
	uint8_t pad1[0x800 - 0x400 - sizeof(struct xstate)];
	uint64_t save_rsp;                          /* 0x800 */
	uint64_t target;                            /* 0x808 */
	uint64_t taken;                             /* 0x810 */
	uint8_t pad2[0xA00 - 0x818];
	uint8_t hostfx[512];                        /* 0xA00 */
};

_Static_assert(sizeof(struct xstate) <= 0x400, "xstate too big");

#define CTL_ADDR(field) ((uint32_t)(CTL_BASE + offsetof(struct ctl, field)))

/* The fixed mappings, through mmap's pointers (not casts of constants,
 * which compilers treat as objects of size zero). */
static struct ctl *ctl;
static uint8_t *tramp_base, *data_area;
static size_t tramp_len;         /* bytes emitted so far */
static uint64_t store_addr, recover_addr, taken_addr;
static volatile int fault_vector;
static volatile uint64_t fault_cr2;

static void emit(const void *b, unsigned n)
{
	if (tramp_len + n <= 4096)
		memcpy(tramp_base + tramp_len, b, n);
	tramp_len += n;
}

static void emit8(uint8_t b)
{
	emit(&b, 1);
}

static void emit32(uint32_t v)
{
	emit(&v, 4);
}

/* mov [abs32], reg64 (store) or mov reg64, [abs32] (load). */
static void emit_mov_abs(int reg, uint32_t addr, bool load)
{
	emit8(0x48 | ((reg >> 3) << 2));
	emit8(load ? 0x8B : 0x89);
	emit8(0x04 | ((reg & 7) << 3));
	emit8(0x25);
	emit32(addr);
}

/* fxsave64 / fxrstor64 [abs32] */
static void emit_fx(uint32_t addr, bool restore)
{
	emit8(0x48);
	emit8(0x0F);
	emit8(0xAE);
	emit8(restore ? 0x0C : 0x04);
	emit8(0x25);
	emit32(addr);
}

static void emit_leave(void)
{
	static const uint8_t pops[] = { 0x41, 0x5F, 0x41, 0x5E, 0x41, 0x5D,
					0x41, 0x5C, 0x5D, 0x5B, 0xC3 };

	emit_fx(CTL_ADDR(hostfx), true);
	emit_mov_abs(R_RSP, CTL_ADDR(save_rsp), true);
	emit8(0xFC);                                    /* cld */
	emit(pops, sizeof(pops));
}

static void build_trampoline(void)
{
	static const uint8_t pushes[] = { 0x53, 0x55, 0x41, 0x54, 0x41, 0x55,
					  0x41, 0x56, 0x41, 0x57 };
	tramp_len = 0;
	/* enter: */
	emit(pushes, sizeof(pushes));
	emit_mov_abs(R_RSP, CTL_ADDR(save_rsp), false);
	emit_fx(CTL_ADDR(hostfx), false);
	emit_fx(CTL_ADDR(in.fx), true);
	emit8(0xBC);                                    /* mov esp, imm32 */
	emit32(CTL_ADDR(in.rflags));
	emit8(0x9D);                                    /* popfq */
	for (int r = 0; r < 16; r++)
		if (r != R_RSP)
			emit_mov_abs(r, CTL_ADDR(in.gpr) + 8 * r, true);
	emit_mov_abs(R_RSP, CTL_ADDR(in.gpr) + 8 * R_RSP, true);
	emit8(0xFF);                                    /* jmp [abs32] */
	emit8(0x24);
	emit8(0x25);
	emit32(CTL_ADDR(target));

	/* store: reached by the jmp that follows the instruction. */
	store_addr = TRAMP_BASE + tramp_len;
	emit_mov_abs(R_RSP, CTL_ADDR(out.gpr) + 8 * R_RSP, false);
	emit8(0xBC);
	emit32(CTL_ADDR(out.rflags) + 8);
	emit8(0x9C);                                    /* pushfq */
	for (int r = 0; r < 16; r++)
		if (r != R_RSP)
			emit_mov_abs(r, CTL_ADDR(out.gpr) + 8 * r, false);
	emit_fx(CTL_ADDR(out.fx), false);
	emit_leave();

	/* recover: the fault handler sends execution here. */
	recover_addr = TRAMP_BASE + tramp_len;
	emit_leave();

	/* taken: the second jmp of a slot (a branch's target) comes here;
	 * it notes that and goes on to store. mov and jmp leave the flags. */
	taken_addr = TRAMP_BASE + tramp_len;
	emit8(0x48);                                    /* mov qword [abs32], 1 */
	emit8(0xC7);
	emit8(0x04);
	emit8(0x25);
	emit32(CTL_ADDR(taken));
	emit32(1);
	emit8(0xE9);                                    /* jmp store */
	emit32((uint32_t)(store_addr - (TRAMP_BASE + tramp_len + 4)));
}

static bool in_test_code(uint64_t rip)
{
	return (rip >= SLOT_BASE && rip < SLOT_BASE + SLOT_AREA) ||
	       (rip >= TRAMP_BASE && rip < TRAMP_BASE + 4096);
}

static const int greg_of[16] = {
	REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
	REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
};

static void fault_handler(int sig, siginfo_t *si, void *uctx)
{
	ucontext_t *uc = uctx;
	greg_t *g = uc->uc_mcontext.gregs;

	if (!in_test_code((uint64_t)g[REG_RIP])) {
		/* A bug in the harness itself: die the ordinary way. */
		signal(sig, SIG_DFL);
		return;
	}
	for (int r = 0; r < 16; r++)
		ctl->out.gpr[r] = (uint64_t)g[greg_of[r]];
	ctl->out.rip = (uint64_t)g[REG_RIP];
	ctl->out.rflags = (uint64_t)g[REG_EFL];
	if (uc->uc_mcontext.fpregs)
		memcpy(ctl->out.fx, uc->uc_mcontext.fpregs, 512);
	fault_vector = (int)g[REG_TRAPNO];
	fault_cr2 = (uint64_t)g[REG_CR2];
	if (sig == SIGSEGV && fault_vector == 14)
		fault_cr2 = (uint64_t)(uintptr_t)si->si_addr;
	g[REG_RIP] = (greg_t)recover_addr;
	g[REG_RSP] = (greg_t)ctl->save_rsp;
	g[REG_EFL] &= ~(greg_t)(F_DF | 0x100);          /* DF, TF */
}

static void *map_fixed(uint64_t addr, size_t len, int prot)
{
	void *p = mmap((void *)(uintptr_t)addr, len, prot,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if ((uint64_t)(uintptr_t)p != addr) {
		munmap(p, len);
		errno = EEXIST;
		return NULL;
	}
	/* Hide that p == addr, or GCC's bounds checks see a constant. */
	__asm__("" : "+r"(p));
	return p;
}

int native_init(void)
{
	static uint8_t altstack[256 * 1024];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	struct sigaction sa;
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP };

	tramp_base = map_fixed(TRAMP_BASE, 4096, PROT_READ | PROT_WRITE | PROT_EXEC);
	ctl = map_fixed(CTL_BASE, 2 * 4096, PROT_READ | PROT_WRITE);
	data_area = map_fixed(DATA_BASE, DATA_SIZE, PROT_READ | PROT_WRITE);
	if (!tramp_base || !ctl || !data_area ||
	    !map_fixed(SLOT_BASE, SLOT_AREA, PROT_READ | PROT_WRITE | PROT_EXEC))
		return -errno;
	/* Keep the page after the data area unmapped: reserve it PROT_NONE
	 * so nothing else lands there. */
	if (!map_fixed(GUARD_PAGE, 4096, PROT_NONE))
		return -errno;
	build_trampoline();

	if (sigaltstack(&ss, NULL))
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fault_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL))
			return -errno;
	return 0;
}

/* The data area's background pattern: distinct bytes everywhere so that
 * a stray write of a plausible value is still noticed. */
void native_prepare_data(const struct tcase *c, uint8_t *img)
{
	static uint8_t pattern[DATA_SIZE];
	static bool have_pattern;

	if (!have_pattern) {
		for (size_t i = 0; i < DATA_SIZE; i++)
			pattern[i] = (uint8_t)(i * 0x9D + (i >> 8) * 0x35 + 0x5A);
		have_pattern = true;
	}
	memcpy(img, pattern, DATA_SIZE);
	for (unsigned f = 0; f < c->nfill; f++) {
		uint64_t off = c->fill[f].addr - DATA_BASE;

		if (off < DATA_SIZE && c->fill[f].len <= DATA_SIZE - off)
			memcpy(img + off, c->fill[f].bytes, c->fill[f].len);
	}
}

void native_run(const struct tcase *c, const uint8_t *code, unsigned len,
		const uint8_t *data_img, struct result *out)
{
	uint8_t *slot = (uint8_t *)(uintptr_t)c->rip;
	int32_t rel;
	void (*enter)(void) = (void (*)(void))(void *)tramp_base;

	memcpy(slot, code, len);
	/* jmp store; then, at the branch target rip + len + 5, jmp taken */
	slot[len] = 0xE9;
	rel = (int32_t)(store_addr - (c->rip + len + 5));
	memcpy(slot + len + 1, &rel, 4);
	slot[len + 5] = 0xE9;
	rel = (int32_t)(taken_addr - (c->rip + len + 10));
	memcpy(slot + len + 6, &rel, 4);
	__builtin___clear_cache((char *)slot, (char *)slot + len + 10);

	memcpy(data_area, data_img, DATA_SIZE);
	ctl->in = c->in;
	/* Only the compared flags (and the reserved bit 1) are loaded: TF,
	 * AC and friends would change how the host runs the test. */
	ctl->in.rflags = (c->in.rflags & F_COMPARED) | 2;
	ctl->target = c->rip;
	ctl->taken = 0;
	fault_vector = -1;
	fault_cr2 = 0;

	enter();

	out->st = ctl->out;
	out->vector = fault_vector;
	out->cr2 = fault_cr2;
	if (out->vector < 0)
		out->st.rip = c->rip + c->len + (ctl->taken ? 5 : 0);
	memcpy(out->data, data_area, DATA_SIZE);
}
