/*
 * emu-diff class DECODE: hand-encoded instructions whose point is the
 * decoder's corner cases rather than arithmetic: NOP forms (90 is not
 * XCHG EAX,EAX and must not clear RAX's upper half; 87 C0 is and must),
 * ENDBR64 and hint NOPs, redundant and misplaced prefixes (a REX that is
 * not last before the opcode is ignored), the 15-byte length limit (#GP),
 * opcodes invalid in 64-bit mode (#UD), LOCK where it is not allowed
 * (#UD), MOVSXD without REX.W, XLAT, and INT3 (a trap: RIP after it).
 * Every entry is exactly one instruction (the harness steps one) and runs
 * with random registers; RBX and RSI point into the data area for the
 * entries that address memory through them (XLAT reads [RBX + AL]).
 */
#include <string.h>

#include "harness.h"

struct raw {
	uint8_t len;
	uint8_t b[15];
};

static const struct raw entries[] = {
	{ 1, { 0x90 } },                                /* nop */
	{ 2, { 0x87, 0xC0 } },                          /* xchg eax,eax */
	{ 2, { 0x41, 0x90 } },                          /* xchg eax,r8d */
	{ 2, { 0x48, 0x90 } },                          /* rex.w nop */
	{ 2, { 0x66, 0x90 } },                          /* xchg ax,ax */
	{ 2, { 0xF3, 0x90 } },                          /* pause */
	{ 3, { 0x0F, 0x1F, 0x00 } },                    /* nopl [rax] */
	{ 6, { 0x66, 0x0F, 0x1F, 0x44, 0x00, 0x00 } },  /* nopw [rax+rax] */
	{ 4, { 0xF3, 0x0F, 0x1E, 0xFA } },              /* endbr64 */
	{ 3, { 0x0F, 0x18, 0x06 } },                    /* prefetchnta [rsi] */
	{ 3, { 0x0F, 0xAE, 0xF8 } },                    /* sfence */
	{ 3, { 0x0F, 0xAE, 0xE8 } },                    /* lfence */
	{ 3, { 0x0F, 0xAE, 0xF0 } },                    /* mfence */
	{ 4, { 0x48, 0x66, 0x01, 0xD8 } },              /* REX ignored: add ax,bx */
	{ 4, { 0x66, 0x48, 0x01, 0xD8 } },              /* add rax,rbx */
	{ 4, { 0x40, 0x48, 0x01, 0xD8 } },              /* two REX: last wins */
	{ 4, { 0x48, 0x40, 0x01, 0xD8 } },              /* add eax,ebx */
	{ 3, { 0x40, 0x88, 0xE0 } },                    /* mov al,spl (not ah) */
	{ 2, { 0x88, 0xE0 } },                          /* mov al,ah */
	{ 5, { 0x2E, 0x3E, 0x26, 0x36, 0x90 } },        /* ignored segments */
	{ 3, { 0x2E, 0x8B, 0x03 } },                    /* cs: mov eax,[rbx] */
	{ 5, { 0x66, 0x66, 0x66, 0x01, 0xD8 } },        /* repeated 66 */
	{ 3, { 0xF2, 0x01, 0xD8 } },                    /* stray F2 */
	{ 15, { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
		0x66, 0x66, 0x66, 0x01, 0xD8 } },       /* 15 bytes: fine */
	{ 15, { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
		0x66, 0x66, 0x66, 0x66, 0x01 } },       /* + modrm = 16: #GP */
	{ 2, { 0x63, 0xC3 } },                          /* movsxd eax,ebx */
	{ 3, { 0x66, 0x63, 0xC3 } },                    /* movsxd ax,bx */
	{ 1, { 0xD7 } },                                /* xlat */
	{ 1, { 0xCC } },                                /* int3 */
	{ 2, { 0x0F, 0x0B } },                          /* ud2 */
	{ 3, { 0x0F, 0xB9, 0xC0 } },                    /* ud1 */
	{ 1, { 0x27 } },                                /* daa: #UD */
	{ 1, { 0x37 } },                                /* aaa: #UD */
	{ 1, { 0x0E } },                                /* push cs: #UD */
	{ 1, { 0x06 } },                                /* push es: #UD */
	{ 1, { 0x60 } },                                /* pusha: #UD */
	{ 1, { 0xCE } },                                /* into: #UD */
	{ 2, { 0xD4, 0x0A } },                          /* aam: #UD */
	{ 2, { 0x82, 0xC0 } },                          /* 82 /0: #UD */
	{ 3, { 0xF0, 0x8B, 0x03 } },                    /* lock mov: #UD */
	{ 2, { 0xF0, 0x90 } },                          /* lock nop: #UD */
	{ 4, { 0xF0, 0x0F, 0xBC, 0xC3 } },              /* lock bsf: #UD */
	{ 2, { 0x8D, 0xC0 } },                          /* lea eax,eax: #UD */
	{ 3, { 0x0F, 0xC7, 0xC8 } },                    /* cmpxchg8b reg: #UD */
	{ 2, { 0x8F, 0xC0 } },                          /* pop rax via 8F /0 */
	{ 2, { 0xFF, 0xF0 } },                          /* push rax via FF /6 */
	{ 3, { 0x0F, 0xA3, 0xC3 } },                    /* bt ebx,eax */
	{ 1, { 0x98 } },                                /* cwde */
	{ 3, { 0xF6, 0xC8, 0x5A } },                    /* test al,imm (F6 /1) */
};

#define NENTRIES (sizeof(entries) / sizeof(entries[0]))

static bool gen_decode(struct gen *g, struct tcase *c, unsigned i,
		       const struct tclass *k)
{
	const struct raw *e = &entries[i % NENTRIES];
	uint8_t w[64];

	set_bytes(c, e->b, e->len);
	for (unsigned b = 0; b < sizeof(w); b++)
		w[b] = (uint8_t)rng_next(&g->rng);
	c->in.gpr[R_RBX] = OPND_BASE + 0x100 + rng_below(&g->rng, 0x1000);
	c->in.gpr[R_RSI] = c->in.gpr[R_RBX];
	add_fill(c, c->in.gpr[R_RBX] - 32, w, sizeof(w));
	c->in.gpr[R_RAX] = rng_below(&g->rng, 2) ? OPND_BASE + 0x800 :
			   edge_value(g, 64);
	return true;
}

const struct tclass decode_classes[] = {
	{ "DECODE", 3000, gen_decode, 0, 0, 0 },
	{ NULL, 0, NULL, 0, 0, 0 },
};
