/*
 * emu-diff: differential tests of the emu CPU against the host CPU.
 *
 * One test case is one instruction (its bytes at a fixed code address),
 * the full GPR/RFLAGS/FXSAVE input state and the contents of a small data
 * area at fixed addresses. The native runner (native.c) executes it on the
 * host in user mode, the emulated runner (emurun.c) in an emu_cpu whose
 * identity map makes the same addresses valid; main.c compares the two.
 */
#ifndef VIREO_TESTS_EMU_HARNESS_H
#define VIREO_TESTS_EMU_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <Zydis/Zydis.h>

/*
 * Fixed addresses, the same as host virtual addresses (native) and guest
 * physical = virtual addresses (emulated). All below 2 GiB so the native
 * trampoline can address them with absolute disp32 operands.
 */
#define TRAMP_BASE     0x10000000ULL   /* native enter/leave code, 1 page */
#define SLOT_BASE      0x10100000ULL   /* one 32-byte slot per case */
#define SLOT_AREA      0x00400000ULL
#define SLOT_SIZE      48              /* code + jmp store + jmp taken */
#define CTL_BASE       0x1F000000ULL   /* native in/out/save area, 2 pages */
/* The data area ends at a 2 MiB boundary: the 2 MiB page after it is
 * unmapped on both sides (natively by mmap, in the emulator by clearing
 * its PDE), so operands crossing into it fault the same way. */
#define DATA_BASE      0x201FD000ULL   /* stack page + two operand pages */
#define DATA_PAGES     3
#define DATA_SIZE      (DATA_PAGES * 4096ULL)
#define STACK_TOP      (DATA_BASE + 0x800)       /* test RSP */
#define OPND_BASE      (DATA_BASE + 0x1000)      /* two adjacent pages */
#define OPND_CROSS     (DATA_BASE + 0x2000)      /* the page boundary */
#define GUARD_PAGE     (DATA_BASE + DATA_SIZE)   /* unmapped, 2 MiB-aligned */
#define PT_GPA         0x00100000ULL   /* emu page tables (6 pages) */
#define GUEST_RAM      (1ULL << 30)

/* RFLAGS bits. */
#define F_CF 0x0001ULL
#define F_PF 0x0004ULL
#define F_AF 0x0010ULL
#define F_ZF 0x0040ULL
#define F_SF 0x0080ULL
#define F_DF 0x0400ULL
#define F_OF 0x0800ULL
#define F_ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)
/* What is compared: the arithmetic flags and DF (IF, RF etc. differ
 * between host user mode and emulated CPL0 by design). */
#define F_COMPARED (F_ARITH | F_DF)

enum { R_RAX, R_RCX, R_RDX, R_RBX, R_RSP, R_RBP, R_RSI, R_RDI,
       R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15 };

/* CPU state in and out; layout shared with the native trampoline. */
struct xstate {
	uint64_t gpr[16];
	uint64_t rip;
	uint64_t rflags;
	uint8_t fx[512] __attribute__((aligned(16)));
};

/* Result of running one case on either side. */
struct result {
	struct xstate st;
	int vector;             /* -1: no exception */
	uint64_t cr2;
	uint8_t data[DATA_SIZE];
};

/* One memory window of the data area the case initialises. */
struct fill {
	uint64_t addr;
	unsigned len;
	uint8_t bytes[64];
};

struct tcase {
	uint8_t code[24];       /* one instruction, or a short sequence */
	unsigned len;
	uint64_t rip;
	struct xstate in;
	struct fill fill[4];
	unsigned nfill;
	/* Flags the SDM leaves undefined for this instruction and input. */
	uint64_t undef_flags;
	/* GPRs whose result the SDM leaves undefined (bit per register). */
	unsigned undef_regs;
	/* An 8-byte memory word compared only under a mask (PUSHF image). */
	uint64_t mask_addr, mask_bits;
	bool cmp_fx;
	/* Native reference is this other encoding (e.g. BSF for rep bsf). */
	uint8_t ref_code[16];
	unsigned ref_len;
	/* Instructions in code (emulator steps); 0 means 1. */
	unsigned nsteps;
};

struct rng {
	uint64_t s;
};

/* Generation context handed to the class generators. */
struct gen {
	struct rng rng;
	uint64_t rip;           /* where the case will run */
	bool has_cx16;
	bool has_guard;         /* memory-fault cases can be compared */
	unsigned used_regs;     /* registers taken by operands so far */
};

struct tclass {
	const char *name;
	unsigned count;         /* cases to generate */
	/* Fill c (already case_init()ed: random GPRs, flags, stack) for
	 * case i; false: the encoder refused this choice, try again. */
	bool (*gen)(struct gen *g, struct tcase *c, unsigned i,
		    const struct tclass *k);
	ZydisMnemonic mn;       /* for generators shared by several classes */
	uint64_t arg;           /* generator-specific */
	uint64_t undef;         /* flags the SDM leaves undefined, if fixed */
};

/* gen.c */
uint64_t rng_next(struct rng *r);
unsigned rng_below(struct rng *r, unsigned n);
uint64_t edge_value(struct gen *g, unsigned bits);
unsigned shift_count(struct gen *g, unsigned bits);
uint64_t size_mask(unsigned bits);
void case_init(struct gen *g, struct tcase *c);
/* A random general register of the given size not yet used (not RSP). */
ZydisRegister pick_reg(struct gen *g, unsigned bits, bool allow_high8);
int reg_index(ZydisRegister r);
/* Set the architectural value of a (possibly partial) register. */
void set_reg_value(struct tcase *c, ZydisRegister r, uint64_t v);
/* A memory operand of `bits` at a generated address (aligned, misaligned
 * or page-crossing) holding value v; fills op and the case's registers. */
void mem_operand(struct gen *g, struct tcase *c, ZydisEncoderOperand *op,
		 unsigned bits, uint64_t v);
/* Same at an exact address, with base/index/disp chosen randomly. */
void mem_operand_at(struct gen *g, struct tcase *c, ZydisEncoderOperand *op,
		    unsigned bits, uint64_t addr);
void add_fill(struct tcase *c, uint64_t addr, const void *bytes, unsigned len);
void op_reg(ZydisEncoderOperand *op, ZydisRegister r);
void op_imm(ZydisEncoderOperand *op, int64_t v);
/* Encode into c->code; RIP-relative operands are fixed up. false on
 * encoder failure (caller retries another operand choice). */
bool encode(struct gen *g, struct tcase *c, ZydisMnemonic m, uint64_t prefixes,
	    unsigned nops, const ZydisEncoderOperand *ops);
void set_bytes(struct tcase *c, const uint8_t *b, unsigned len);
ZydisRegister gpr_of_size(int idx, unsigned bits);

/* Class tables. */
extern const struct tclass alu_classes[];
extern const struct tclass misc_classes[];
extern const struct tclass fp_classes[];
extern const struct tclass str_classes[];
extern const struct tclass decode_classes[];
extern const struct tclass seq_classes[];
extern const struct tclass branch_classes[];

/* native.c */
int native_init(void);
/* Run c natively; code/len: c->code, or c->ref_code for a reference
 * encoding. data_img: the data area's initial contents. */
void native_run(const struct tcase *c, const uint8_t *code, unsigned len,
		const uint8_t *data_img, struct result *out);
/* The data area as the case sees it before running (after fills). */
void native_prepare_data(const struct tcase *c, uint8_t *img);

/* emurun.c */
int emurun_init(void);
void emurun_reset(void);
bool emurun_available(void);
/* True once the guard page is unmapped in the emulator too. */
bool emurun_has_guard(void);
bool emurun_cpuid(uint32_t leaf, uint32_t sub, uint32_t out[4]);
void emurun_run(const struct tcase *c, const uint8_t *data_img,
		struct result *out);

#endif
