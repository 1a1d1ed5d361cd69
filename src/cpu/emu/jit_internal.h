/*
 * The block translator's shared parts (jit.c translates, jit_chain.c
 * chains translations and keeps their buffer): the buffer and its chain
 * slots, and an emitter of the x86-64 instructions generated code uses.
 * Generated code keeps the vCPU in rbx, the block's first RIP in r12 and
 * its first decoded entry in r13.
 */
#ifndef VIREO_CPU_EMU_JIT_INTERNAL_H
#define VIREO_CPU_EMU_JIT_INTERNAL_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cpu/emu/emu_internal.h"

#if defined(__x86_64__)

/* A boot of Debian's kernel translates about 28 MiB of code in all, most
 * of it run only for a while: a small buffer, emptied when full, keeps
 * the hot code and costs less RSS than one that holds everything. */
#define JIT_BUF_SIZE (16u << 20)
/* Host bytes one instruction can take (at most an inline store with its
 * TLB checks and the handler call behind them: about 320), and the
 * prologue, fall-through and exit stub (under 100; the chain slots are
 * kept apart, in emu_jit.slots); checked after each block. */
#define JIT_INSN_MAX 384
#define JIT_FIXED    512

struct emu_jit {
	uint8_t *buf;
	size_t size;           /* JIT_BUF_SIZE, or VIREO_EMU_JIT_MB MiB */
	/* Each translation's two chain slots, apart from the code: the run
	 * loop writes them, and stores next to code that has just run cost
	 * the host a self-modifying-code pipeline flush each. */
	struct jit_chain *slots;
	size_t slot_pairs, slot_pairs_used;
	size_t used;
	size_t fixed;          /* the chaining code at the start, kept across resets */
	struct jit_chain *jcache;
	/* VIREO_EMU_PERFMAP=1: /tmp/perf-PID.map, a symbol per translation
	 * (its guest RIP) for perf report; NULL when off. */
	FILE *perfmap;
};

/*
 * Chaining: each translation has two slots (in emu_jit.slots) naming blocks that
 * followed it (a conditional branch has two successors; a return or an
 * indirect jump keeps its two most recent targets). Its exit stub jumps
 * straight into such a block's body when the next RIP is a slot's, the
 * run loop would have gone on anyway (budget left, no interrupt pending,
 * not halted; an interrupt shadow is counted down as the loop does), and
 * the slot's code page is still what the
 * fetch would find: on the same page, the fetch cache's current page and
 * generation; on another page, its entry in c->fcache for this mode and
 * CPL (flushed with the TLB) and the page's current generation. Either
 * way the page's decoding must be the one the slot was filled from
 * (code_page.epoch). The stub does the run loop's bookkeeping itself,
 * and otherwise returns to the loop, leaving its slots in c->jit_prev
 * for the loop to fill.
 */
struct jit_chain {
	uint64_t rip;          /* CHAIN_EMPTY until filled */
	uint64_t body;         /* the successor's code after its prologue */
	uint64_t doff;         /* its entry's offset in the page's entries */
	struct code_page *page;
	struct fetch_ent *fe;  /* the successor page's fetch-cache entry */
	_Atomic uint32_t *genp; /* and its generation in the shared code map */
	uint32_t epoch;        /* the page's decoding the entries are of */
	uint32_t n;            /* its instructions (charged to the budget) */
	uint64_t pad;          /* to 64 bytes: the jump cache indexes by shift */
};
_Static_assert(sizeof(struct jit_chain) == 64, "jit_chain is 64 bytes");

/*
 * The jump cache: translated blocks by RIP, hashed, tried when neither
 * slot names the next RIP (a return to one of many callers, an indirect
 * call), with the same checks as a slot.
 */
#define JCACHE_SIZE 4096

static inline unsigned jcache_index(uint64_t rip)
{
	return (unsigned)(rip ^ (rip >> 12)) & (JCACHE_SIZE - 1);
}

/* The RIP of an empty slot. Not canonical, but a guest can still make it
 * its next RIP (an indirect jump or a return to it, which faults at the
 * fetch), so an empty slot is never just this: jit_chain_empty() gives it
 * a fetch-cache entry and a page that fail the chaining code's checks. */
#define CHAIN_EMPTY 0x8000000000000001ULL

/* An empty slot or jump-cache entry (jit_chain.c). */
struct jit_chain jit_chain_empty(void);

/* --- emitter --- */

struct emit {
	uint8_t *p;
};

#define OFF(f)  ((int32_t)offsetof(struct emu_cpu, f))
#define GPR(r)  (OFF(gpr) + 8 * (int32_t)(r))

/* Host registers used by generated code (their encoding numbers). */
enum { RAX = 0, RCX = 1, RDX = 2, RBX = 3 };

static inline void put8(struct emit *e, uint8_t v)
{
	*e->p++ = v;
}

static inline void put32(struct emit *e, uint32_t v)
{
	memcpy(e->p, &v, 4);
	e->p += 4;
}

static inline void put64(struct emit *e, uint64_t v)
{
	memcpy(e->p, &v, 8);
	e->p += 8;
}

/* opcode with a [rbx + disp32] operand and reg (or /digit) in ModRM.reg. */
static inline void mem_op(struct emit *e, bool wide, uint8_t opcode, unsigned reg, int32_t disp)
{
	if (wide)
		put8(e, 0x48);
	put8(e, opcode);
	put8(e, (uint8_t)(0x80 | reg << 3 | 3));
	put32(e, (uint32_t)disp);
}

static inline void load(struct emit *e, unsigned reg, int32_t disp, unsigned size)
{
	mem_op(e, size == 8, 0x8B, reg, disp);     /* a 32-bit load zero-extends */
}

static inline void store64(struct emit *e, unsigned reg, int32_t disp)
{
	mem_op(e, true, 0x89, reg, disp);
}

static inline void store_imm8(struct emit *e, int32_t disp, uint8_t v)
{
	mem_op(e, false, 0xC6, 0, disp);
	put8(e, v);
}

/* reg = v (all 64 bits). */
static inline void load_imm(struct emit *e, unsigned reg, uint64_t v)
{
	if (v <= 0xFFFFFFFFu) {
		put8(e, (uint8_t)(0xB8 + reg));        /* mov r32, imm32 */
		put32(e, (uint32_t)v);
	} else if ((int64_t)v == (int32_t)v) {
		put8(e, 0x48);                          /* mov r64, simm32 */
		put8(e, 0xC7);
		put8(e, (uint8_t)(0xC0 + reg));
		put32(e, (uint32_t)v);
	} else {
		put8(e, 0x48);                          /* mov r64, imm64 */
		put8(e, (uint8_t)(0xB8 + reg));
		put64(e, v);
	}
}

/* reg = r12 + off: a RIP within the block. */
static inline void rip_to(struct emit *e, unsigned reg, uint32_t off)
{
	put8(e, 0x49);                          /* lea reg, [r12 + disp32] */
	put8(e, 0x8D);
	put8(e, (uint8_t)(0x84 | reg << 3));
	put8(e, 0x24);
	put32(e, off);
}

static inline void rip_to_rax(struct emit *e, uint32_t off)
{
	rip_to(e, RAX, off);
}

static inline void emit_bytes(struct emit *e, const uint8_t *b, size_t n)
{
	memcpy(e->p, b, n);
	e->p += n;
}

/* jcc rel32 to a label placed later; returns the field to patch. */
static uint8_t *jcc_fwd(struct emit *e, uint8_t cc)
{
	put8(e, 0x0F);
	put8(e, (uint8_t)(0x80 | cc));
	uint8_t *field = e->p;
	put32(e, 0);
	return field;
}

static inline void patch_to(uint8_t *field, const uint8_t *target)
{
	uint32_t rel = (uint32_t)(target - (field + 4));
	memcpy(field, &rel, 4);
}

#define CC_B  0x2
#define CC_E  0x4
#define CC_NE 0x5

static const uint8_t prologue[] = {
	0x53, 0x41, 0x54, 0x41, 0x55,   /* push rbx; push r12; push r13 */
	0x48, 0x89, 0xFB,               /* mov rbx, rdi */
	0x49, 0x89, 0xD4,               /* mov r12, rdx */
	0x49, 0x89, 0xF5,               /* mov r13, rsi */
};

/* opcode with a [base + disp32] operand and reg in ModRM.reg (base not
 * rsp, rbp, r12 or r13, whose encodings differ). */
static inline void base_op(struct emit *e, bool wide, const uint8_t *opc, size_t n, unsigned reg,
		    unsigned base, int32_t disp)
{
	if (wide || reg >= 8 || base >= 8)
		put8(e, (uint8_t)(0x40 | (wide ? 8 : 0) | (reg >= 8 ? 4 : 0) | (base >= 8 ? 1 : 0)));
	emit_bytes(e, opc, n);
	put8(e, (uint8_t)(0x80 | (reg & 7) << 3 | (base & 7)));
	put32(e, (uint32_t)disp);
}

/* The exit stub: c->rip = c->next_rip, then the chaining code (helper,
 * at the start of the buffer) with the translation's slots (jit_chain.c). */
void jit_emit_exit(struct emit *e, struct jit_chain *slots, const uint8_t *helper);

#endif
#endif
