/*
 * Private state of the emu engine's CPU: the vCPU structure, the decoded
 * instruction form, and the helpers the per-class instruction files share
 * (memory access, operands, lazy flags, exceptions).
 *
 * Control flow on faults: a handler that hits an exception calls
 * emu_raise(), which longjmps back to emu_cpu_step(). Handlers therefore
 * commit architectural state only after their last access that may fault,
 * which keeps exceptions precise (RIP at the instruction, registers intact;
 * REP string instructions commit per iteration).
 */
#ifndef VIREO_CPU_EMU_INTERNAL_H
#define VIREO_CPU_EMU_INTERNAL_H

#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <Zydis/Zydis.h>

#include "cpu/emu/emu.h"
#include "cpu/emu/emu_hooks.h"

struct emu_cpu;
struct dinsn;
struct lapic;

typedef void (*emu_handler)(struct emu_cpu *c, const struct dinsn *d);

/* Operand kinds of the decoded form. */
enum { OPK_NONE, OPK_REG, OPK_MEM, OPK_IMM, OPK_SREG, OPK_CR, OPK_DR,
       OPK_PTR, OPK_OTHER };

#define REG_NONE 0xFF
#define REG_RIP  16
/* 8-bit registers AH, CH, DH, BH are GPR 0-3 with this flag. */
#define REG_HIGH8 0x20

/* Segment register numbers (encoding order). */
enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR };

struct dop {
	uint8_t kind;
	uint16_t size;         /* bytes */
	uint8_t reg;           /* GPR (| REG_HIGH8), sreg, CR or DR number */
	uint8_t seg;           /* memory: effective segment */
	uint8_t base, index;   /* memory: GPR, REG_RIP or REG_NONE */
	uint8_t scale;
	uint16_t sel;          /* far pointer selector */
	int64_t val;           /* displacement or immediate (sign-extended) */
};

struct dinsn {
	emu_handler fn;
	uint16_t mnem;         /* ZydisMnemonic */
	uint8_t len;
	uint8_t osize;         /* effective operand size, bytes */
	uint8_t asize;         /* address size, bytes */
	uint8_t nops;          /* visible operands */
	uint8_t rep;           /* 0, REP_REP (rep/repe), REP_NE */
	uint8_t lock;
	uint8_t sseg;          /* string source segment (overridable) */
	uint8_t opcode;
	uint8_t map;           /* ZydisOpcodeMap */
	/* Instructions from this one to the end of its decoded block,
	 * inclusive: the following rem - 1 entries run straight after it. */
	uint8_t rem;
	uint8_t jit_hits;      /* block entries seen before translating (jit.c) */
	struct dop op[3];
	/* Host code of the block entered here, or NULL (jit.c); valid while
	 * the page stays decoded, as it depends only on this block's entries. */
	void (*jit)(struct emu_cpu *c, const struct dinsn *d, uint64_t rip);
};

enum { REP_NONE, REP_E, REP_NE };

/* Segment descriptor cache. attr: VMX access-rights layout. */
struct emu_seg {
	uint64_t base;
	uint32_t limit;
	uint16_t sel;
	uint16_t attr;
};

#define SA_TYPE(a)  ((a) & 0xF)
#define SA_S        (1u << 4)
#define SA_DPL(a)   (((a) >> 5) & 3)
#define SA_P        (1u << 7)
#define SA_L        (1u << 13)
#define SA_DB       (1u << 14)
#define SA_G        (1u << 15)

struct emu_dtr {
	uint64_t base;
	uint16_t limit;
};

/* Software TLB entry: one guest-virtual page. */
struct tlb_ent {
	uint64_t tag;          /* virtual page | TLB_VALID, 0 = empty */
	/* The tag again where a read (0) or write (1) by the supervisor (0)
	 * or user (1) may go straight to host memory (RAM, allowed; a store
	 * still checks for decoded code), else 0: fast[acc * 2 + user], one
	 * compare on the fast paths instead of tag, permission and RAM. */
	uint64_t fast[4];
	uint8_t *host;         /* host address of the page, NULL for MMIO */
	uint64_t gpa;          /* guest-physical page */
	uint32_t perm;         /* TP_* */
	int32_t pidx;          /* page index in the shared code map, -1 if none */
};

#define TLB_BITS  10
#define TLB_SIZE  (1u << TLB_BITS)
#define TLB_VALID 1ULL
#define TLB_VICTIMS 8

/*
 * TLB slot of la: the page number folded by adding, so that regions a
 * multiple of 1 MiB apart (a copy's source and destination) do not share
 * slots, and so that neighbouring pages never do: from page v to v + 1
 * the sum grows by 1 to 3, never by a multiple of TLB_SIZE. Translated
 * code (jit.c) relies on that: it compares the tag of an access's last
 * byte with the entry of its first, and must miss when they differ.
 */
static inline unsigned emu_tlb_slot(uint64_t la)
{
	uint64_t vpn = la >> 12;
	return (unsigned)((vpn + (vpn >> TLB_BITS) + (vpn >> 2 * TLB_BITS)) % TLB_SIZE);
}

/* Permissions per (access, user) pair, computed at fill time. */
enum { ACC_R = 0, ACC_W = 1, ACC_X = 2 };
#define TP_BIT(acc, user)  (1u << ((acc) * 2 + (user)))
_Static_assert(TP_BIT(ACC_W, 1) == 1u << 3, "struct tlb_ent's fast[] follows TP_BIT");
_Static_assert(sizeof(struct tlb_ent) == 64, "translated code indexes the TLB by shifting");
#define TP_GLOBAL          (1u << 8)

/* Where an instruction ran through its handler, for VIREO_EMU_OPSTATS,
 * and its shape: the first two operands' kinds (OPK_NONE..OPK_IMM, else
 * 4), the first one's size (1, 2, 4, 8 bytes) and whether it addresses
 * through FS or GS. */
enum { OPSTAT_JIT_CALL, OPSTAT_JIT_SLOW, OPSTAT_INTERP, OPSTAT_WHERE };
#define OPSTAT_SHAPES (5 * 5 * 4 * 2)
#define OPSTAT_KEYS (OPSTAT_WHERE * (ZYDIS_MNEMONIC_MAX_VALUE + 1) * OPSTAT_SHAPES)

static inline unsigned emu_opstat_kind(const struct dinsn *d, unsigned i)
{
	return i >= d->nops ? OPK_NONE : d->op[i].kind <= OPK_IMM ? d->op[i].kind : 4;
}

static inline unsigned emu_opstat_key(const struct dinsn *d, unsigned where)
{
	unsigned size = d->nops ? d->op[0].size : 0, fsgs = 0;
	for (unsigned i = 0; i < d->nops && i < 3; i++)
		if (d->op[i].kind == OPK_MEM && (d->op[i].seg == SEG_FS || d->op[i].seg == SEG_GS))
			fsgs = 1;
	unsigned shape = ((emu_opstat_kind(d, 0) * 5 + emu_opstat_kind(d, 1)) * 4 +
			  (size >= 8 ? 3 : size >= 4 ? 2 : size >= 2 ? 1 : 0)) * 2 + fsgs;
	return (where * (ZYDIS_MNEMONIC_MAX_VALUE + 1) + d->mnem) * OPSTAT_SHAPES + shape;
}

/* Lazy flags: the last arithmetic operation. */
enum { LF_NONE, LF_ADD, LF_ADC, LF_SUB, LF_SBB, LF_LOGIC, LF_INC, LF_DEC,
       LF_SHIFT };     /* SHL/SHR/SAR, MUL/IMUL: CF in lf_cin, OF in lf_src,
                          SF/ZF/PF from lf_res, AF 0 */

#define FL_CF 0x0001u
#define FL_PF 0x0004u
#define FL_AF 0x0010u
#define FL_ZF 0x0040u
#define FL_SF 0x0080u
#define FL_TF 0x0100u
#define FL_IF 0x0200u
#define FL_DF 0x0400u
#define FL_OF 0x0800u
#define FL_IOPL 0x3000u
#define FL_NT 0x4000u
#define FL_RF 0x10000u
#define FL_VM 0x20000u
#define FL_AC 0x40000u
#define FL_VIF 0x80000u
#define FL_VIP 0x100000u
#define FL_ID 0x200000u
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

#define CR0_PE 0x1u
#define CR0_MP 0x2u
#define CR0_EM 0x4u
#define CR0_TS 0x8u
#define CR0_ET 0x10u
#define CR0_NE 0x20u
#define CR0_WP 0x10000u
#define CR0_AM 0x40000u
#define CR0_NW 0x20000000u
#define CR0_CD 0x40000000u
#define CR0_PG 0x80000000u

#define CR4_PSE 0x10u
#define CR4_PAE 0x20u
#define CR4_PGE 0x80u
#define CR4_OSFXSR 0x200u
#define CR4_OSXMMEXCPT 0x400u

#define EFER_SCE 0x1u
#define EFER_LME 0x100u
#define EFER_LMA 0x400u
#define EFER_NXE 0x800u

/* Decoder modes (index into the decoder array). */
enum { DM_REAL, DM_P16, DM_P32, DM_COMPAT16, DM_COMPAT32, DM_LONG64, DM_COUNT };

enum { EXC_DE = 0, EXC_DB = 1, EXC_NMI = 2, EXC_BP = 3, EXC_OF = 4,
       EXC_BR = 5, EXC_UD = 6, EXC_NM = 7, EXC_DF = 8, EXC_TS = 10,
       EXC_NP = 11, EXC_SS = 12, EXC_GP = 13, EXC_PF = 14, EXC_MF = 16,
       EXC_AC = 17, EXC_MC = 18, EXC_XM = 19 };

/* Page-fault error code bits. */
#define PFE_P    0x1u
#define PFE_W    0x2u
#define PFE_U    0x4u
#define PFE_RSVD 0x8u
#define PFE_I    0x10u

/* Per guest_mem state shared by all vCPUs: which pages hold decoded code. */
struct emu_shared {
	struct guest_mem *mem;
	unsigned refs;
	uint64_t npages;
	_Atomic uint8_t *has_code;    /* set by a decoder, cleared by a write */
	_Atomic uint32_t *gen;        /* bumped when a code page is written */
	_Atomic uint64_t code_writes; /* writes that dropped a decoded page */
};

/* A cached, decoded guest-physical code page. */
struct code_page {
	struct code_page *next;       /* hash chain */
	uint64_t gpa;                 /* page address */
	int32_t pidx;
	uint32_t gen;
	uint8_t dmode;
	uint32_t epoch;               /* bumped each time the page is decoded afresh */
	uint16_t n, cap;
	uint16_t *idx;                /* 4096 entries: 0 = not decoded, else n+1 */
	struct dinsn *insns;
};

#define CODE_HASH 4096
#define BLOCK_MAX_INSNS 64            /* decoded block length (decode.c) */
#define FC_NONE (~0ULL)
/* Fetch-cache entries: the kernel's network path alone runs in more than
 * 512 code pages; at 512 its chains across pages failed 1.5 million times
 * in the virtio benchmark, at 2048 22,000 times. */
#define FCACHE_SIZE 2048
#define CODE_MAX_PAGES 8192
/* Decoded entries (80 bytes each) kept per vCPU before the cache starts
 * afresh: a Linux boot decodes about 460,000 (36 MiB) in all, but runs
 * most of them only for a while. */
#define CODE_MAX_ENTRIES 131072

/*
 * Counts of the engine's slow paths, per vCPU; VIREO_EMU_STATS=1 prints
 * them when the VM ends: where a boot's time goes besides executing.
 */
struct emu_stats {
	uint64_t insns;                /* executed (as the budget counts them) */
	uint64_t decoded_insns, decoded_pages, cache_resets;
	uint64_t jit_blocks, jit_resets;
	/* Blocks the run loop ran: interpreted, or entered translated (each
	 * such entry but the loop's first is a chain that did not hold);
	 * chain slots the loop then filled for a successor on another code
	 * page, and fills that pushed out a successor (both slots taken). */
	uint64_t interp_blocks, jit_entries, chain_cross_page, chain_slot_taken;
	uint64_t tlb_fills, tlb_flushes, tlb_page_flushes;
	/* Fills of a valid entry: [0] another page's (a conflict), [1] the
	 * same page's, for a permission it did not hold. */
	uint64_t tlb_refills[2];
	uint64_t tlb_victim_hits;      /* misses served by a swap, no walk */
	/* Why translated blocks went back to the run loop instead of into a
	 * successor, by the chaining code's checks in their order. */
	uint64_t chain_exit[10];
	uint64_t pio, mmio, lapic;
	uint64_t interrupts, soft_ints, hlts;
	uint64_t exceptions[32];
};

struct emu_cpu {
	uint64_t gpr[16];
	uint64_t rip;
	uint64_t next_rip;            /* of the executing instruction */
	uint64_t rflags;              /* arithmetic bits stale while lf_op != LF_NONE */
	uint8_t lf_op, lf_size;
	uint8_t lf_cin;               /* carry-in (ADC/SBB) or kept CF (INC/DEC) */
	uint64_t lf_dst, lf_src, lf_res;

	/*
	 * What translated code and the run loop touch at every block, kept
	 * with the registers in the struct's first 4 KiB: spread over it,
	 * stores to these and loads of the registers could alias 4 KiB apart
	 * (shifting them by 8 bytes once slowed the guest by 10-20%).
	 */
	uint64_t insn_rip, insn_rsp;  /* at the start of the instruction */
	unsigned budget;              /* instructions left in emu_cpu_run */
	bool exit_req;                /* end the running block (code written) */
	bool fc_global;               /* fc_la is a global page (chains: false) */
	/* Fetch fast path: the code page of the last fetch, by linear page. */
	uint64_t fc_la;               /* linear page, or FC_NONE */
	struct code_page *fc_page;
	_Atomic uint32_t *fc_genp;    /* fc_page's slot in the shared code map */
	uint32_t fc_gen;              /* generation fc_page was decoded at */
	/* The chaining slots of the translated block that returned last. */
	struct jit_chain *jit_prev;

	struct emu_seg seg[8];        /* ES CS SS DS FS GS LDTR TR */
	struct emu_dtr gdtr, idtr;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer;
	uint64_t dr[8];
	uint8_t cpl;
	/* 8 at CPL 3, else 0: where translated code finds the fast tag for
	 * the CPL in a TLB entry (fast[acc * 2 + user]). Set with the CPL by
	 * emu_set_cpl(), the only writer of cpl: a stale value would let
	 * user code through supervisor pages. */
	uint64_t tlb_user_off;
	uint8_t dmode;                /* DM_* from CR0.PE, EFER.LMA, CS */
	uint8_t code64;               /* in 64-bit mode */
	uint64_t ipmask;              /* RIP wrap for the current CS */

	/* MSRs */
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
	uint64_t apic_base, tsc_offset, tsc_aux, pat, tsc_deadline;
	uint64_t misc_enable, sysenter_cs, sysenter_esp, sysenter_eip;

	uint8_t fx[512] __attribute__((aligned(16)));  /* FXSAVE image */

	/* Interrupts and halting */
	uint8_t shadow;               /* instructions left in the STI/MOV SS shadow */
	bool halted;
	bool wait_sipi;               /* AP before INIT-SIPI */
	_Atomic bool irq_pending;     /* checked between instructions */
	/* Returns the vector to deliver or -1; set by the interrupt controller. */
	int (*irq_ack)(struct emu_cpu *c, void *opaque);
	void *irq_opaque;
	struct lapic *lapic;          /* hw/lapic.h; NULL: the APIC page goes to the bus */

	/* Exceptions */
	sigjmp_buf jmp;
	int exc_vec;
	uint32_t exc_err;
	bool exc_has_err;
	bool exc_soft;                /* INT n / INT3 / INTO: RIP after it */
	int deliver_depth;            /* 0, or vector being delivered + 1 */
	bool triple_fault;
	bool unimplemented;

	/* Memory */
	struct guest_mem *mem;
	struct bus *pio, *mmio;
	struct emu_shared *sh;
	struct tlb_ent tlb[TLB_SIZE];
	/* Entries a fill pushed out of their slot, tried before a page walk:
	 * two pages the guest uses in turn that share a slot (a syscall
	 * loop's user buffer and a kernel variable) then cost a swap each
	 * time instead of a walk. */
	struct tlb_ent tlb_victim[TLB_VICTIMS];
	unsigned tlb_victim_next;

	/* Decoded code cache */
	ZydisDecoder dec[DM_COUNT];
	struct code_page *hash[CODE_HASH];
	unsigned npages;
	unsigned nentries;            /* decoded entries allocated, all pages */
	struct dinsn scratch;         /* instructions crossing a page */
	/* Second level: recently fetched linear pages, filled after the
	 * execute-permission check at the CPL in the tag; emptied with the
	 * TLB and when decoded pages are freed. */
	struct fetch_ent {
		uint64_t tag;         /* linear page | dmode << 2 | 2 if CPL 3 | 1 */
		uint8_t *host;
		struct code_page *page;
	} fcache[FCACHE_SIZE];
	uint8_t last_bytes[16];       /* bytes of the last fetched insn (errors) */
	uint8_t last_len;

	/* Block translator (jit.c): host code buffer, NULL when off. */
	struct emu_jit *jit;
	uint8_t jit_threshold;        /* JIT_THRESHOLD; tests lower it */
	/* VIREO_EMU_OPSTATS=1: instructions run through a handler, counted by
	 * emu_opstat_key() (cpu.c prints them), else NULL. */
	uint64_t *opstats;
	unsigned code_max_entries;    /* CODE_MAX_ENTRIES, or VIREO_EMU_DECODED_MAX */

	unsigned apic_id;
	unsigned ncpus;               /* vCPUs of the VM (CPUID topology); 0 = 1 */
	/* fcache[i] maps a global page: kept at CR3 writes. (Apart from the
	 * entries, which the chaining code reads, to keep them 24 bytes.) */
	bool fcache_global[FCACHE_SIZE];
	struct emu_stats stats;
};

/* --- exceptions (except.c) --- */
__attribute__((noreturn)) void emu_raise(struct emu_cpu *c, int vec);
__attribute__((noreturn)) void emu_raise_err(struct emu_cpu *c, int vec, uint32_t err);
__attribute__((noreturn)) void emu_raise_ud(struct emu_cpu *c);
/* Deliver the exception/interrupt in c->exc_* (may raise again). */
void emu_deliver(struct emu_cpu *c, int vec, bool has_err, uint32_t err,
		 bool soft, bool ext);

/* --- memory (mmu.c) --- */
void emu_tlb_flush(struct emu_cpu *c, bool global_too);
void emu_tlb_flush_page(struct emu_cpu *c, uint64_t la);
/* Linear-address access; sup forces a supervisor access (descriptor tables). */
uint64_t emu_lin_read(struct emu_cpu *c, uint64_t la, unsigned size, bool sup);
void emu_lin_write(struct emu_cpu *c, uint64_t la, unsigned size, uint64_t v,
		   bool sup);
/* Host pointer for an aligned-enough RAM access within one page, else NULL. */
void *emu_lin_ptr(struct emu_cpu *c, uint64_t la, unsigned size, int acc);
/* The guest-physical page of code at la (its host address in *host);
 * *global: the translation is a global page's. */
uint64_t emu_fetch_page(struct emu_cpu *c, uint64_t la, uint8_t **host, bool *global);
/* The CPL changes here only (the callers then call emu_update_mode). */
static inline void emu_set_cpl(struct emu_cpu *c, unsigned cpl)
{
	c->cpl = (uint8_t)cpl;
	c->tlb_user_off = cpl == 3 ? 8 : 0;
}

/* Segmented access: offset is already truncated to the address size. */
uint64_t emu_seg_la(struct emu_cpu *c, int seg, uint64_t off);
uint64_t emu_read(struct emu_cpu *c, int seg, uint64_t off, unsigned size);
void emu_write(struct emu_cpu *c, int seg, uint64_t off, unsigned size, uint64_t v);
void emu_code_written(struct emu_shared *sh, int32_t pidx);
int32_t emu_page_index(const struct emu_shared *sh, uint64_t gpa);

/*
 * TLB hit path of a data access: the host address of size bytes at la
 * when the TLB maps la's page to RAM with acc allowed at the current CPL
 * and the access stays in the page (and, for a write, the page holds no
 * decoded code); NULL otherwise, to take the slow path (emu_lin_*), which
 * also does the canonical check (entries are only filled for canonical
 * addresses).
 */
static inline uint8_t *emu_tlb_hit(struct emu_cpu *c, uint64_t la, unsigned size,
				   int acc)
{
	const struct tlb_ent *e = &c->tlb[emu_tlb_slot(la)];
	unsigned off = la & 0xFFF;

	if (__builtin_expect(e->fast[acc * 2 + (c->cpl == 3)] != ((la & ~0xFFFULL) | TLB_VALID) ||
			     off > 4096 - size, 0))
		return NULL;
	if (acc == ACC_W && e->pidx >= 0 &&
	    atomic_load_explicit(&c->sh->has_code[e->pidx], memory_order_relaxed))
		return NULL;
	return e->host + off;
}

static inline uint64_t emu_host_load(const uint8_t *p, unsigned size)
{
	switch (size) {
	case 1: return *p;
	case 2: { uint16_t v; __builtin_memcpy(&v, p, 2); return v; }
	case 4: { uint32_t v; __builtin_memcpy(&v, p, 4); return v; }
	default: { uint64_t v; __builtin_memcpy(&v, p, 8); return v; }
	}
}

static inline void emu_host_store(uint8_t *p, unsigned size, uint64_t v)
{
	switch (size) {
	case 1: *p = (uint8_t)v; break;
	case 2: { uint16_t x = (uint16_t)v; __builtin_memcpy(p, &x, 2); break; }
	case 4: { uint32_t x = (uint32_t)v; __builtin_memcpy(p, &x, 4); break; }
	default: __builtin_memcpy(p, &v, 8); break;
	}
}

/* --- decode cache (decode.c) --- */
/* Forget which code page RIP is on (TLB flush, mode change). */
/* Forget the fetch cache's translations; with global_too false those of
 * global pages stay, as their TLB entries do (a CR3 write: the kernel's
 * code, and the chains between its pages, survive a process switch). */
static inline void emu_fetch_forget(struct emu_cpu *c, bool global_too)
{
	if (global_too || !c->fc_global)
		c->fc_la = FC_NONE;
	for (unsigned i = 0; i < FCACHE_SIZE; i++)
		if (global_too || !c->fcache_global[i])
			c->fcache[i].tag = 0;
}
/* The fetch cache's entry for linear address la: a multiplicative hash of
 * the page number (folding its bits with XOR let the kernel's system-call
 * entry page and do_syscall_64's evict each other on every call). */
static inline struct fetch_ent *emu_fcache_ent(struct emu_cpu *c, uint64_t la)
{
	_Static_assert((FCACHE_SIZE & (FCACHE_SIZE - 1)) == 0, "a power of two");
	uint64_t h = (la >> 12) * 0x9E3779B97F4A7C15ULL;

	return &c->fcache[h >> (64 - __builtin_ctz(FCACHE_SIZE))];
}

/* Forget linear page la's code page only (INVLPG). */
static inline void emu_fetch_forget_page(struct emu_cpu *c, uint64_t la)
{
	struct fetch_ent *fe = emu_fcache_ent(c, la);

	if ((fe->tag & ~0xFFFULL) == (la & ~0xFFFULL))
		fe->tag = 0;
	if (c->fc_la == (la & ~0xFFFULL))
		c->fc_la = FC_NONE;
}
void emu_decode_init(struct emu_cpu *c);
void emu_decode_free(struct emu_cpu *c);
const struct dinsn *emu_fetch_decode(struct emu_cpu *c);
/* A conditional branch (Jcc): it may end its block early, when taken. */
bool emu_insn_is_jcc(const struct dinsn *d);
extern emu_handler emu_table[ZYDIS_MNEMONIC_MAX_VALUE + 1];
void emu_register(ZydisMnemonic m, emu_handler fn);
/* Per-file registration of handlers (called once, in this order, by
 * cpu.c; an x87/SSE file registers last and may wrap earlier entries). */
void emu_alu_register(void);
void emu_arith_register(void);
void emu_ctrl_register(void);
void emu_string_register(void);
void emu_segment_register(void);
void emu_except_register(void);
void emu_system_register(void);
void emu_misc_register(void);

/* Specialised handlers for common operand forms, chosen once at decode
 * time for an instruction decoded in mode dmode (NULL: keep d->fn). */
emu_handler emu_alu_special(const struct dinsn *d, unsigned dmode);
emu_handler emu_arith_special(const struct dinsn *d, unsigned dmode);
emu_handler emu_ctrl_special(const struct dinsn *d, unsigned dmode);
emu_handler emu_move_special(const struct dinsn *d, unsigned dmode);

/*
 * Forms the block translator (jit.c) emits as host code instead of a
 * handler call, recognised by their specialised handler: MOV, MOVZX and
 * MOVSX(D) between registers (JF_EXT, op JL_*, size the source's), the
 * binary operations with a register destination (8-bit ones too) and a
 * register or immediate source, and with one memory operand in 64-bit
 * addressing (JF_ALU_M: the destination, JF_ALU_RM: the source; the TLB
 * hit inline), LEA with 64-bit addressing, SHL/SHR/SAR of a register by
 * a constant (and ROL/ROR, op 1: ROR, where their flags are dead),
 * two/three-operand IMUL of registers and immediates,
 * MOV loads and stores of every size (of immediates too; a byte or word
 * load keeps the rest of its register) and MOVZX/MOVSX(D) loads with 64-bit
 * addressing (their TLB hit inline, the handler for the rest), PUSH/POP
 * of 64-bit registers (and PUSH of immediates), CALL rel32 and RET
 * likewise, JMP rel (JF_JMP), INC/DEC of a register (op 1: INC) and ADC/SBB of 32/64-bit
 * registers with a register or immediate source (op 1: SBB) where the
 * host flags hold the guest's CF, and SETcc of a byte register and
 * CMOVcc of 32/64-bit registers where the host flags hold all of the
 * guest's (op: the condition), and the instructions that do nothing or
 * only order memory (JF_NOP). op is JA_* for the binary operations,
 * JS_* for shifts, JL_* for loads (whose size is the access's).
 */
enum { JF_NONE, JF_MOV_RR, JF_MOV_RI, JF_LEA, JF_ALU_RR, JF_ALU_RI, JF_SHIFT,
       JF_IMUL, JF_LOAD, JF_STORE, JF_INCDEC, JF_PUSH, JF_POP, JF_SETCC, JF_CMOVCC,
       JF_CALL, JF_RET, JF_ADC, JF_ALU_M, JF_ALU_RM, JF_ROT, JF_EXT, JF_JMP, JF_NOP };
/* JF_NOP's op: NOP, ENDBR64, PREFETCH*, LFENCE, SFENCE (nothing: the host
 * orders loads and stores as x86 does), PAUSE, MFENCE (the host's). */
enum { JN_NOTHING, JN_PAUSE, JN_MFENCE };
enum { JA_ADD, JA_OR, JA_AND, JA_SUB, JA_XOR, JA_CMP, JA_TEST };
enum { JS_SHL, JS_SHR, JS_SAR };
/* JF_LOAD's op: a MOV (the access is the register's size), MOVZX, MOVSX(D). */
enum { JL_MOV, JL_ZX, JL_SX };
struct jit_form {
	uint8_t kind, op, size;
};
bool emu_alu_jit_form(const struct dinsn *d, struct jit_form *f);
bool emu_move_jit_form(const struct dinsn *d, struct jit_form *f);
bool emu_arith_jit_form(const struct dinsn *d, struct jit_form *f);
bool emu_ctrl_jit_form(const struct dinsn *d, struct jit_form *f);

/* Handlers picked by operand kind (segment.c, system.c). */
void emu_h_mov_sreg(struct emu_cpu *c, const struct dinsn *d);
void emu_h_mov_cr(struct emu_cpu *c, const struct dinsn *d);
void emu_h_mov_dr(struct emu_cpu *c, const struct dinsn *d);

/* Host pointer for a LOCKed read-modify-write of memory operand i, or
 * NULL to use plain accesses (alu.c). */
void *emu_lock_ptr(struct emu_cpu *c, const struct dinsn *d, int i, bool locked);
/* RFLAGS from POPF/IRET with the CPL/IOPL rules (ctrl.c). */
void emu_write_flags(struct emu_cpu *c, uint64_t v, unsigned osize, bool iret);
/* Far RET and protected-mode IRET (segment.c). */
void emu_far_ret(struct emu_cpu *c, unsigned osize, unsigned extra);
void emu_iret_prot(struct emu_cpu *c, unsigned osize);
/* #GP unless port I/O is allowed at this CPL/IOPL (system.c). */
void emu_io_check(struct emu_cpu *c, uint16_t port, unsigned size);

/* --- block translator (jit.c) --- */
/* Entries of a block before it is translated: code that runs a few times
 * (boot, initcalls) stays interpreted. At 2, a Linux boot translated
 * 550,000 blocks and filled the 4 MiB buffer 165 times; at 32, 75,000
 * blocks and 26 times, and the boot took 5.3 s of CPU instead of 7.2. */
#define JIT_THRESHOLD 32
struct emu_jit *emu_jit_create(void);
void emu_jit_destroy(struct emu_jit *j);
/* Host code for the n-instruction block entered at d (64-bit mode), or
 * NULL (untranslatable, or the buffer was full and is emptied: every
 * page's entries then lose their code). */
void *emu_jit_translate(struct emu_cpu *c, struct dinsn *d, unsigned n);
/* Forget all translations (decoded pages freed). */
void emu_jit_reset(struct emu_cpu *c);
/* Where translated code lives (nothing without a translator). */
void emu_jit_code_range(const struct emu_jit *j, const void **lo, size_t *len);
/* About to run translated entry d, fetched at c->rip: link the block that
 * returned last (c->jit_prev) to it if both are on one code page (the
 * fetch cache's page was prev_la before this fetch and still is). */
void emu_jit_chain(struct emu_cpu *c, const struct dinsn *d, uint64_t prev_la);

/* --- flags (flags.c) --- */
uint64_t emu_flags(struct emu_cpu *c);              /* materialized RFLAGS */
void emu_set_flags(struct emu_cpu *c, uint64_t f);  /* whole RFLAGS */
bool emu_cf(struct emu_cpu *c);
bool emu_cond(struct emu_cpu *c, unsigned cc);
extern const uint8_t emu_parity[256];

/* dst, src and res must be truncated to size bytes (the fast condition
 * evaluation below relies on it). */
static inline void emu_lazy(struct emu_cpu *c, int op, unsigned size,
			    uint64_t dst, uint64_t src, uint64_t res)
{
	c->lf_op = op;
	c->lf_size = size;
	c->lf_dst = dst;
	c->lf_src = src;
	c->lf_res = res;
}

/* CF without materialising RFLAGS for the common lazy states. */
static inline bool emu_cf_fast(struct emu_cpu *c)
{
	switch (c->lf_op) {
	case LF_NONE: return c->rflags & FL_CF;
	case LF_LOGIC: return false;
	case LF_ADD: return c->lf_res < c->lf_dst;
	case LF_SUB: return c->lf_dst < c->lf_src;
	case LF_INC: case LF_DEC: case LF_SHIFT: return c->lf_cin;
	default: return emu_cf(c);
	}
}

/*
 * Condition cc (the low nibble of Jcc/SETcc/CMOVcc) straight from the
 * lazy state after CMP/SUB, logic ops and the like; the rest materialise
 * RFLAGS (emu_cond).
 */
static inline bool emu_cond_fast(struct emu_cpu *c, unsigned cc)
{
	uint64_t r = c->lf_res;
	unsigned sh = 64 - c->lf_size * 8;
	bool v;

	switch (c->lf_op) {
	case LF_SUB: {
		uint64_t a = c->lf_dst, b = c->lf_src;
		switch (cc >> 1) {
		case 1: v = a < b; break;
		case 2: v = a == b; break;
		case 3: v = a <= b; break;
		case 4: v = (r << sh) >> 63; break;
		case 6: v = (int64_t)(a << sh) < (int64_t)(b << sh); break;
		case 7: v = (int64_t)(a << sh) <= (int64_t)(b << sh); break;
		default: return emu_cond(c, cc);
		}
		return v ^ (cc & 1);
	}
	case LF_LOGIC:          /* CF = OF = 0 */
		switch (cc >> 1) {
		case 0: case 1: v = false; break;
		case 2: case 3: v = r == 0; break;
		case 4: case 6: v = (r << sh) >> 63; break;
		case 7: v = r == 0 || (r << sh) >> 63; break;
		default: return emu_cond(c, cc);
		}
		return v ^ (cc & 1);
	case LF_ADD:
		if ((cc >> 1) == 1)                     /* B / AE */
			return (r < c->lf_dst) ^ (cc & 1);
		/* fall through */
	case LF_ADC: case LF_SBB: case LF_INC: case LF_DEC: case LF_SHIFT:
		switch (cc >> 1) {
		case 2: return (r == 0) ^ (cc & 1);
		case 4: return ((r << sh) >> 63) ^ (cc & 1);
		default: return emu_cond(c, cc);
		}
	default:
		return emu_cond(c, cc);
	}
}

/* Replace the arithmetic flags with bits (others kept). */
static inline void emu_set_arith(struct emu_cpu *c, uint64_t bits)
{
	c->lf_op = LF_NONE;
	c->rflags = (c->rflags & ~(uint64_t)FL_ARITH) | (bits & FL_ARITH);
}

/* SF, ZF, PF of a result of size bytes. */
static inline uint64_t emu_szp(uint64_t res, unsigned size)
{
	uint64_t f = emu_parity[res & 0xFF] ? FL_PF : 0;
	unsigned bits = size * 8;
	uint64_t m = bits == 64 ? ~0ULL : (1ULL << bits) - 1;
	if ((res & m) == 0)
		f |= FL_ZF;
	if ((res >> (bits - 1)) & 1)
		f |= FL_SF;
	return f;
}

static inline uint64_t size_mask(unsigned size)
{
	return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

static inline uint64_t sext(uint64_t v, unsigned size)
{
	switch (size) {
	case 1: return (uint64_t)(int64_t)(int8_t)v;
	case 2: return (uint64_t)(int64_t)(int16_t)v;
	case 4: return (uint64_t)(int64_t)(int32_t)v;
	default: return v;
	}
}

/* --- registers and operands (cpu.c) --- */
static inline uint64_t gpr_read(const struct emu_cpu *c, unsigned reg, unsigned size)
{
	if (reg & REG_HIGH8)
		return (c->gpr[reg & 3] >> 8) & 0xFF;
	return c->gpr[reg] & size_mask(size);
}

static inline void gpr_write(struct emu_cpu *c, unsigned reg, unsigned size, uint64_t v)
{
	if (reg & REG_HIGH8) {
		uint64_t *r = &c->gpr[reg & 3];
		*r = (*r & ~0xFF00ULL) | ((v & 0xFF) << 8);
		return;
	}
	switch (size) {
	case 1: c->gpr[reg] = (c->gpr[reg] & ~0xFFULL) | (v & 0xFF); break;
	case 2: c->gpr[reg] = (c->gpr[reg] & ~0xFFFFULL) | (v & 0xFFFF); break;
	case 4: c->gpr[reg] = (uint32_t)v; break;
	default: c->gpr[reg] = v; break;
	}
}

uint64_t emu_ea(struct emu_cpu *c, const struct dinsn *d, const struct dop *o);
uint64_t emu_op_read_slow(struct emu_cpu *c, const struct dinsn *d, int i);
void emu_op_write_slow(struct emu_cpu *c, const struct dinsn *d, int i, uint64_t v);

/* Linear address of memory operand o in 64-bit mode (64-bit addressing). */
static inline uint64_t emu_la64(const struct emu_cpu *c, const struct dop *o)
{
	uint64_t a = (uint64_t)o->val;
	if (o->base == REG_RIP)
		a += c->next_rip;
	else if (o->base != REG_NONE)
		a += c->gpr[o->base];
	if (o->index != REG_NONE)
		a += c->gpr[o->index] * o->scale;
	if (o->seg == SEG_FS || o->seg == SEG_GS)
		a += c->seg[o->seg].base;
	return a;
}

/* Operand access; registers and immediates inline, the rest out of line. */
static inline uint64_t emu_op_read(struct emu_cpu *c, const struct dinsn *d, int i)
{
	const struct dop *o = &d->op[i];
	if (o->kind == OPK_REG)
		return gpr_read(c, o->reg, o->size);
	if (o->kind == OPK_IMM)
		return (uint64_t)o->val;
	return emu_op_read_slow(c, d, i);
}

static inline void emu_op_write(struct emu_cpu *c, const struct dinsn *d, int i, uint64_t v)
{
	const struct dop *o = &d->op[i];
	if (o->kind == OPK_REG)
		gpr_write(c, o->reg, o->size, v);
	else
		emu_op_write_slow(c, d, i, v);
}

/* Stack. */
unsigned emu_stack_size(const struct emu_cpu *c);
void emu_push(struct emu_cpu *c, unsigned size, uint64_t v);
uint64_t emu_pop(struct emu_cpu *c, unsigned size);   /* commits RSP */
uint64_t emu_stack_peek(struct emu_cpu *c, unsigned off, unsigned size);
void emu_set_rsp_off(struct emu_cpu *c, int64_t delta);

/* Mode bookkeeping after CR0/EFER/CS changes. */
void emu_update_mode(struct emu_cpu *c);
void emu_set_cr0(struct emu_cpu *c, uint64_t v);
void emu_set_cr4(struct emu_cpu *c, uint64_t v);
void emu_set_cr3(struct emu_cpu *c, uint64_t v);
void emu_set_efer(struct emu_cpu *c, uint64_t v);

/* Segments (system.c). */
void emu_load_seg_real(struct emu_cpu *c, int seg, uint16_t sel);
/* Protected-mode load with checks; raises #GP/#NP/#SS. */
void emu_load_seg(struct emu_cpu *c, int seg, uint16_t sel);
void emu_load_seg_desc(struct emu_cpu *c, int seg, uint16_t sel, uint64_t desc_lo,
		       uint64_t desc_hi);
uint64_t emu_read_desc(struct emu_cpu *c, uint16_t sel, uint32_t err_vec,
		       uint64_t *hi);
void emu_far_jump(struct emu_cpu *c, uint16_t sel, uint64_t off, unsigned osize,
		  bool is_call, uint64_t ret_ip);
void emu_seg_from_state(struct emu_seg *s, const struct seg_state *st);

/* CPUID and MSRs (cpuid.c). */
void emu_cpuid(struct emu_cpu *c, uint32_t leaf, uint32_t sub, uint32_t out[4]);
bool emu_rdmsr(struct emu_cpu *c, uint32_t msr, uint64_t *v);
bool emu_wrmsr(struct emu_cpu *c, uint32_t msr, uint64_t v);
uint64_t emu_rdtsc(struct emu_cpu *c);

/* Engine-visible helpers. */
/* Run up to n instructions with delivery (engine loop); stops early on
 * HLT, wait-for-SIPI, triple fault or unimplemented situations. */
void emu_cpu_run(struct emu_cpu *c, unsigned n);
bool emu_cpu_halted(const struct emu_cpu *c);
void emu_cpu_describe(const struct emu_cpu *c, char *buf, size_t len);

#endif
