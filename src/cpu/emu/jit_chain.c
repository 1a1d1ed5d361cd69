/*
 * Chaining translated blocks (see struct jit_chain in jit_internal.h):
 * the shared chaining code at the start of the translation buffer, each
 * translation's exit stub into it, the run loop's filling of slots and
 * the jump cache; and the buffer itself, emptied when full.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu/emu/jit_internal.h"

#if defined(__x86_64__)

enum { RSI = 6, RDI = 7, R8 = 8, R13 = 13 };
#define SLOT(f) ((int32_t)offsetof(struct jit_chain, f))
#define MOV ((const uint8_t[]){ 0x8B })
#define CMP ((const uint8_t[]){ 0x3B })

/* rcx = rax & ~0xFFF: the next RIP's linear page. */
static void next_page_to_rcx(struct emit *e)
{
	static const uint8_t page[] = {
		0x48, 0x89, 0xC1,                          /* mov rcx, rax */
		0x48, 0x81, 0xE1, 0x00, 0xF0, 0xFF, 0xFF,  /* and rcx, ~0xFFF */
	};
	emit_bytes(e, page, sizeof(page));
}

/*
 * The chaining code every exit stub calls, with rax = the next RIP and
 * rdi = the translation's slots: if a slot names a chained block and the
 * run loop would go on, it returns with rsi = that slot (rdx its code
 * page) for the stub to jump to; else it drops the stub's return address
 * and returns to the run loop with the slots in c->jit_prev.
 */
static void emit_chain_helper(struct emit *e, struct jit_chain *jcache)
{
	uint8_t *to_ret[16], *found, *cross, *go;
	unsigned k = 0;

	/* An interrupt pending with RFLAGS.IF set (as run_blocks() checks):
	 * back to the loop. (A halt spends the budget, checked below; a wait
	 * for SIPI never starts inside emu_cpu_run.) */
	mem_op(e, false, 0x80, 7, OFF(irq_pending));       /* cmp byte, 0 */
	put8(e, 0);
	uint8_t *none = jcc_fwd(e, CC_E);
	_Static_assert(FL_IF == 0x200, "IF is bit 1 of RFLAGS' second byte");
	mem_op(e, false, 0xF6, 0, OFF(rflags) + 1);        /* test byte rflags + 1, 2 */
	put8(e, 0x02);
	to_ret[k++] = jcc_fwd(e, CC_NE);
	patch_to(none, e->p);
	static const uint8_t slot0[] = { 0x48, 0x89, 0xFE };    /* mov rsi, rdi */
	emit_bytes(e, slot0, sizeof(slot0));
	base_op(e, true, CMP, 1, RAX, RSI, SLOT(rip));
	found = jcc_fwd(e, CC_E);
	static const uint8_t next_slot[] = { 0x48, 0x83, 0xC6, sizeof(struct jit_chain) };
	emit_bytes(e, next_slot, sizeof(next_slot));             /* add rsi, slot size */
	base_op(e, true, CMP, 1, RAX, RSI, SLOT(rip));
	uint8_t *found2 = jcc_fwd(e, CC_E);
	static const uint8_t hash[] = {
		0x48, 0x89, 0xC1,                          /* mov rcx, rax */
		0x48, 0xC1, 0xE9, 0x0C,                    /* shr rcx, 12 */
		0x48, 0x31, 0xC1,                          /* xor rcx, rax */
		0x81, 0xE1, (JCACHE_SIZE - 1) & 0xFF, (JCACHE_SIZE - 1) >> 8, 0, 0,  /* and ecx, mask */
		0x48, 0xC1, 0xE1, 0x06,                    /* shl rcx, 6 */
	};
	emit_bytes(e, hash, sizeof(hash));
	load_imm(e, RSI, (uint64_t)(uintptr_t)jcache);
	static const uint8_t add_rsi_rcx[] = { 0x48, 0x01, 0xCE };   /* add rsi, rcx */
	emit_bytes(e, add_rsi_rcx, sizeof(add_rsi_rcx));
	base_op(e, true, CMP, 1, RAX, RSI, SLOT(rip));
	to_ret[k++] = jcc_fwd(e, CC_NE);
	patch_to(found, e->p);
	patch_to(found2, e->p);
	next_page_to_rcx(e);
	base_op(e, true, MOV, 1, RDX, RSI, SLOT(page));
	mem_op(e, true, 0x3B, RCX, OFF(fc_la));            /* cmp rcx, fc_la */
	cross = jcc_fwd(e, CC_NE);

	/* The same page as the block that ran: the fetch cache's. */
	mem_op(e, true, 0x3B, RDX, OFF(fc_page));          /* cmp rdx, fc_page */
	to_ret[k++] = jcc_fwd(e, CC_NE);
	mem_op(e, true, 0x8B, RCX, OFF(fc_genp));          /* mov rcx, fc_genp */
	put8(e, 0x8B);                                      /* mov ecx, [rcx] */
	put8(e, 0x09);
	mem_op(e, false, 0x3B, RCX, OFF(fc_gen));          /* cmp ecx, fc_gen */
	to_ret[k++] = jcc_fwd(e, CC_NE);
	base_op(e, false, MOV, 1, RCX, RDX, (int32_t)offsetof(struct code_page, epoch));
	base_op(e, false, CMP, 1, RCX, RSI, SLOT(epoch));
	to_ret[k++] = jcc_fwd(e, CC_NE);
	put8(e, 0xE9);                                      /* jmp go */
	go = e->p;
	put32(e, 0);

	/* Another page: its fetch-cache entry, tagged with this mode and CPL,
	 * must still hold the slot's page, at its current generation. */
	patch_to(cross, e->p);
	static const uint8_t movzx[] = { 0x0F, 0xB6 };        /* movzx r8d, byte [rbx + dmode] */
	base_op(e, false, movzx, 2, R8, RBX, OFF(dmode));
	static const uint8_t tag_low[] = {
		0x41, 0xC1, 0xE0, 0x02,                    /* shl r8d, 2 */
		0x41, 0x83, 0xC8, 0x01,                    /* or r8d, 1 */
	};
	emit_bytes(e, tag_low, sizeof(tag_low));
	mem_op(e, false, 0x80, 7, OFF(cpl));               /* cmp byte cpl, 3 */
	put8(e, 3);
	static const uint8_t user_bit[] = {
		0x75, 0x04,                                /* jne +4 */
		0x41, 0x83, 0xC8, 0x02,                    /* or r8d, 2 */
		0x4C, 0x09, 0xC1,                          /* or rcx, r8 */
	};
	emit_bytes(e, user_bit, sizeof(user_bit));
	base_op(e, true, MOV, 1, R8, RSI, SLOT(fe));
	base_op(e, true, CMP, 1, RCX, R8, (int32_t)offsetof(struct fetch_ent, tag));
	to_ret[k++] = jcc_fwd(e, CC_NE);
	base_op(e, true, CMP, 1, RDX, R8, (int32_t)offsetof(struct fetch_ent, page));
	to_ret[k++] = jcc_fwd(e, CC_NE);
	base_op(e, false, MOV, 1, RCX, RDX, (int32_t)offsetof(struct code_page, epoch));
	base_op(e, false, CMP, 1, RCX, RSI, SLOT(epoch));
	to_ret[k++] = jcc_fwd(e, CC_NE);
	base_op(e, true, MOV, 1, R8, RSI, SLOT(genp));
	static const uint8_t gen_load[] = { 0x41, 0x8B, 0x08 };  /* mov ecx, [r8] */
	emit_bytes(e, gen_load, sizeof(gen_load));
	base_op(e, false, CMP, 1, RCX, RDX, (int32_t)offsetof(struct code_page, gen));
	to_ret[k++] = jcc_fwd(e, CC_NE);
	/* The fetch cache moves to the successor's page, as a fetch would. */
	mem_op(e, false, 0x89, RCX, OFF(fc_gen));
	store64(e, RDX, OFF(fc_page));
	base_op(e, true, (const uint8_t[]){ 0x89 }, 1, R8, RBX, OFF(fc_genp));
	/* Whether the page is global is the fetch's to know: until the next
	 * fetch, a CR3 write forgets it. */
	store_imm8(e, OFF(fc_global), 0);
	next_page_to_rcx(e);
	store64(e, RCX, OFF(fc_la));

	patch_to(go, e->p);
	mem_op(e, false, 0x8B, RCX, OFF(budget));          /* mov ecx, budget */
	base_op(e, false, (const uint8_t[]){ 0x2B }, 1, RCX, RSI, SLOT(n));  /* sub ecx, n */
	to_ret[k++] = jcc_fwd(e, CC_B);
	/* Committed. An interrupt shadow (STI, MOV SS: they end their block)
	 * lasts for the next block, as in the run loop, which counts it
	 * down before each block. */
	mem_op(e, false, 0x80, 7, OFF(shadow));            /* cmp byte shadow, 0 */
	put8(e, 0);
	put8(e, 0x74);                                      /* je +6 */
	put8(e, 0x06);
	mem_op(e, false, 0xFE, 1, OFF(shadow));            /* dec byte shadow */
	mem_op(e, false, 0x89, RCX, OFF(budget));
	store_imm8(e, OFF(exit_req), 0);
	/* insn_rip and insn_rsp: the block's handler calls set them. */
	static const uint8_t r12_rax[] = { 0x49, 0x89, 0xC4 };   /* mov r12, rax */
	emit_bytes(e, r12_rax, sizeof(r12_rax));
	/* r13 = page->insns + doff */
	base_op(e, true, MOV, 1, R13, RDX, (int32_t)offsetof(struct code_page, insns));
	base_op(e, true, (const uint8_t[]){ 0x03 }, 1, R13, RSI, SLOT(doff));
	put8(e, 0xC3);          /* ret: the exit stub jumps to the slot's body */

	uint8_t *ret = e->p;
	static const uint8_t drop_stub_return[] = { 0x48, 0x83, 0xC4, 0x08 };   /* add rsp, 8 */
	emit_bytes(e, drop_stub_return, sizeof(drop_stub_return));
	store64(e, RDI, OFF(jit_prev));
	static const uint8_t epilogue[] = {
		0x41, 0x5D, 0x41, 0x5C, 0x5B,   /* pop r13; pop r12; pop rbx */
		0xC3,                           /* ret */
	};
	emit_bytes(e, epilogue, sizeof(epilogue));
	/* Each way back to the run loop counts itself (stats.chain_exit[],
	 * in the order cpu.c's print_stats() names them), then returns. */
	_Static_assert(sizeof(((struct emu_stats *)0)->chain_exit) / sizeof(uint64_t) == 10,
		       "one counter per way back");
	if (k != 10)
		abort();
	for (unsigned i = 0; i < k; i++) {
		patch_to(to_ret[i], e->p);
		mem_op(e, true, 0xFF, 0, OFF(stats.chain_exit) + 8 * (int32_t)i);   /* inc qword */
		put8(e, 0xE9);                                                        /* jmp ret */
		put32(e, (uint32_t)(ret - (e->p + 4)));
	}
}


/*
 * The helper is called, and the jump into the successor is the stub's
 * own: an indirect jump at one shared place would have a successor per
 * block transition of the whole guest to predict, one per translation
 * predicts about as well as the guest's own branches.
 */
void jit_emit_exit(struct emit *e, struct jit_chain *slots, const uint8_t *helper)
{
	load(e, RAX, OFF(next_rip), 8);
	store64(e, RAX, OFF(rip));
	load_imm(e, RDI, (uint64_t)(uintptr_t)slots);                /* mov rdi, slots */
	put8(e, 0xE8);                                               /* call helper */
	put32(e, (uint32_t)(helper - (e->p + 4)));
	base_op(e, false, (const uint8_t[]){ 0xFF }, 1, 4, RSI, SLOT(body));  /* jmp [rsi + body] */
}

/*
 * The run loop is about to enter translated block d, which follows the
 * translation whose exit returned with its slots in c->jit_prev: fill a
 * slot with d (a slot already naming d's RIP is refreshed: its page may
 * have been decoded afresh; with both slots taken, the older goes).
 */
void emu_jit_chain(struct emu_cpu *c, const struct dinsn *d, uint64_t prev_la)
{
	struct jit_chain *slots = c->jit_prev, *slot;
	struct code_page *p = c->fc_page;

	c->jit_prev = NULL;
	if (!slots || !p || d < p->insns || d >= p->insns + p->n || c->fc_la == FC_NONE)
		return;
	if (c->fc_la != prev_la)
		c->stats.chain_cross_page++;
	if (slots[0].rip == c->rip || slots[0].rip == CHAIN_EMPTY) {
		slot = &slots[0];
	} else if (slots[1].rip == c->rip || slots[1].rip == CHAIN_EMPTY) {
		slot = &slots[1];
	} else {
		c->stats.chain_slot_taken++;
		slots[1] = slots[0];
		slot = &slots[0];
	}
	*slot = (struct jit_chain){
		.rip = c->rip,
		.body = (uint64_t)(uintptr_t)d->jit + sizeof(prologue),
		.doff = (uint64_t)((const uint8_t *)d - (const uint8_t *)p->insns),
		.page = p,
		.fe = emu_fcache_ent(c, c->fc_la),
		.genp = c->fc_genp,
		.epoch = p->epoch,
		.n = d->rem,
	};
	c->jit->jcache[jcache_index(c->rip)] = *slot;
}

/*
 * What an empty slot points at: a fetch-cache entry whose tag no fetch
 * has (bit 0 clear), a page at a generation and decoding the slot does
 * not name. Matched by a guest's next RIP of CHAIN_EMPTY, the slot fails
 * the first check on its way (the RIP is on no page the fetch cache
 * holds) and returns to the run loop.
 */
static struct fetch_ent no_fetch;
static struct code_page no_page = { .epoch = 0 };
static _Atomic uint32_t no_gen = 1;

struct jit_chain jit_chain_empty(void)
{
	return (struct jit_chain){ .rip = CHAIN_EMPTY, .page = &no_page, .fe = &no_fetch,
				   .genp = &no_gen, .epoch = 1 };
}

/* --- the buffer --- */

struct emu_jit *emu_jit_create(void)
{
	struct emu_jit *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->size = JIT_BUF_SIZE;
	const char *mb = getenv("VIREO_EMU_JIT_MB");
	if (mb && atoi(mb) > 0 && atoi(mb) <= 1024)
		j->size = (size_t)atoi(mb) << 20;
	j->buf = mmap(NULL, j->size, PROT_READ | PROT_WRITE | PROT_EXEC,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (j->buf == MAP_FAILED) {
		free(j);
		return NULL;
	}
	j->jcache = malloc(JCACHE_SIZE * sizeof(*j->jcache));
	/* A translation takes at least 128 bytes of code: a pair for each. */
	j->slot_pairs = j->size / 128;
	j->slots = mmap(NULL, j->slot_pairs * 2 * sizeof(*j->slots), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!j->jcache || j->slots == MAP_FAILED) {
		if (j->slots != MAP_FAILED)
			munmap(j->slots, j->slot_pairs * 2 * sizeof(*j->slots));
		munmap(j->buf, j->size);
		free(j->jcache);
		free(j);
		return NULL;
	}
	for (unsigned i = 0; i < JCACHE_SIZE; i++)
		j->jcache[i] = jit_chain_empty();
	struct emit e = { .p = j->buf };
	emit_chain_helper(&e, j->jcache);
	j->fixed = j->used = ((size_t)(e.p - j->buf) + 15) & ~(size_t)15;
	const char *pm = getenv("VIREO_EMU_PERFMAP");
	if (pm && strcmp(pm, "1") == 0) {
		char path[64];
		snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
		j->perfmap = fopen(path, "a");
		if (j->perfmap) {
			/* A line per write, so that vCPUs' lines do not mix. */
			setvbuf(j->perfmap, NULL, _IOLBF, 0);
			fprintf(j->perfmap, "%lx %zx vireo-jit-chain-helper\n",
				(unsigned long)(uintptr_t)j->buf, j->fixed);
		}
	}
	return j;
}

/* VIREO_EMU_PERFMAP: the code as it is before a reset (the last one is
 * the VM's end), for disassembling what perf sampled. */
static void dump_code(const struct emu_jit *j)
{
	char path[64];

	snprintf(path, sizeof(path), "/tmp/perf-%d.code", (int)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	uint64_t base = (uint64_t)(uintptr_t)j->buf;
	if (write(fd, &base, 8) != 8 || write(fd, j->buf, j->used) < 0)
		perror(path);
	close(fd);
}

void emu_jit_destroy(struct emu_jit *j)
{
	if (!j)
		return;
	if (j->perfmap)
		fclose(j->perfmap);
	munmap(j->buf, j->size);
	munmap(j->slots, j->slot_pairs * 2 * sizeof(*j->slots));
	free(j->jcache);
	free(j);
}

void emu_jit_code_range(const struct emu_jit *j, const void **lo, size_t *len)
{
	*lo = j ? j->buf : NULL;
	*len = j ? j->size : 0;
}

void emu_jit_reset(struct emu_cpu *c)
{
	if (!c->jit)
		return;
	if (c->jit->perfmap)
		dump_code(c->jit);
	for (unsigned h = 0; h < CODE_HASH; h++)
		for (struct code_page *p = c->hash[h]; p; p = p->next)
			for (unsigned i = 0; i < p->n; i++)
				p->insns[i].jit = NULL;
	for (unsigned i = 0; i < JCACHE_SIZE; i++)
		c->jit->jcache[i] = jit_chain_empty();
	c->jit->used = c->jit->fixed;
	c->jit->slot_pairs_used = 0;
	c->jit_prev = NULL;
	c->stats.jit_resets++;
}

#endif
