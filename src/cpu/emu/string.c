/*
 * String instructions MOVS/STOS/LODS/CMPS/SCAS/INS/OUTS with REP, REPE,
 * REPNE and DF=1. RCX/RSI/RDI are committed after every iteration, so a
 * fault leaves them at the faulting iteration (RIP still at the
 * instruction). REP MOVS/STOS with DF=0 copy whole page runs through host
 * pointers.
 */
#include <string.h>

#include "cpu/emu/emu_internal.h"
#include "mem/bus.h"

static void adv(struct emu_cpu *c, int reg, unsigned asize, int64_t step)
{
	gpr_write(c, reg, asize, c->gpr[reg] + (uint64_t)step);
}

static int64_t step_of(struct emu_cpu *c, unsigned sz)
{
	return (c->rflags & FL_DF) ? -(int64_t)sz : (int64_t)sz;
}

/* Number of iterations that stay within the pages of both pointers. */
static uint64_t run_len(uint64_t la_dst, uint64_t la_src, bool has_src,
			unsigned sz, uint64_t count)
{
	uint64_t n = (4096 - (la_dst & 0xFFF)) / sz;
	if (has_src) {
		uint64_t m = (4096 - (la_src & 0xFFF)) / sz;
		if (m < n)
			n = m;
	}
	return n < count ? n : count;
}

/* Fast path: returns true if it made progress (registers committed). */
static bool fast_chunk(struct emu_cpu *c, const struct dinsn *d, bool movs)
{
	unsigned sz = d->osize, as = d->asize;
	uint64_t am = size_mask(as);
	uint64_t cnt = c->gpr[EMU_RCX] & am;
	uint64_t di = c->gpr[EMU_RDI] & am, si = c->gpr[EMU_RSI] & am;
	uint64_t la_d = emu_seg_la(c, SEG_ES, di);
	uint64_t la_s = movs ? emu_seg_la(c, d->sseg, si) : 0;

	if ((c->rflags & FL_DF) || cnt < 2)
		return false;
	/* Address wrap within the run would need per-iteration masking. */
	uint64_t n = run_len(la_d, la_s, movs, sz, cnt);
	if (n < 2 || di + n * sz - 1 > am || (movs && si + n * sz - 1 > am))
		return false;
	uint8_t *src = NULL;
	if (movs) {
		src = emu_lin_ptr(c, la_s, (unsigned)(n * sz), ACC_R);
		if (!src)
			return false;
	}
	uint8_t *dst = emu_lin_ptr(c, la_d, (unsigned)(n * sz), ACC_W);
	if (!dst)
		return false;
	if (movs) {
		if (dst > src && dst < src + n * sz) {
			/* Overlap: element by element, as the CPU copies. */
			for (uint64_t i = 0; i < n; i++) {
				uint64_t t;
				memcpy(&t, src + i * sz, sz);
				memcpy(dst + i * sz, &t, sz);
			}
		} else {
			memmove(dst, src, n * sz);
		}
		adv(c, EMU_RSI, as, (int64_t)(n * sz));
	} else {
		uint64_t v = c->gpr[EMU_RAX] & size_mask(sz);
		/* A value of one repeated byte (zero, mostly) is a memset. */
		if (v == (v & 0xFF) * (size_mask(sz) / 0xFF)) {
			memset(dst, (int)(v & 0xFF), n * sz);
		} else {
			for (uint64_t i = 0; i < n; i++)
				memcpy(dst + i * sz, &v, sz);
		}
	}
	adv(c, EMU_RDI, as, (int64_t)(n * sz));
	gpr_write(c, EMU_RCX, as, cnt - n);
	return true;
}

/* Iterations (or page-sized chunks) per execution of a REP instruction. */
#define REP_SLICE 65536

enum { K_MOVS, K_STOS, K_LODS, K_CMPS, K_SCAS, K_INS, K_OUTS };

/* One iteration; returns false when a REPE/REPNE condition ends the loop. */
static void iter(struct emu_cpu *c, const struct dinsn *d, int k)
{
	unsigned sz = d->osize, as = d->asize;
	uint64_t am = size_mask(as);
	int64_t st = step_of(c, sz);
	uint64_t si = c->gpr[EMU_RSI] & am, di = c->gpr[EMU_RDI] & am, a, b;

	switch (k) {
	case K_MOVS:
		a = emu_read(c, d->sseg, si, sz);
		emu_write(c, SEG_ES, di, sz, a);
		adv(c, EMU_RSI, as, st);
		adv(c, EMU_RDI, as, st);
		break;
	case K_STOS:
		emu_write(c, SEG_ES, di, sz, c->gpr[EMU_RAX]);
		adv(c, EMU_RDI, as, st);
		break;
	case K_LODS:
		a = emu_read(c, d->sseg, si, sz);
		gpr_write(c, EMU_RAX, sz, a);
		adv(c, EMU_RSI, as, st);
		break;
	case K_CMPS:
		a = emu_read(c, d->sseg, si, sz);
		b = emu_read(c, SEG_ES, di, sz);
		adv(c, EMU_RSI, as, st);
		adv(c, EMU_RDI, as, st);
		emu_lazy(c, LF_SUB, sz, a, b, (a - b) & size_mask(sz));
		break;
	case K_SCAS:
		a = c->gpr[EMU_RAX] & size_mask(sz);
		b = emu_read(c, SEG_ES, di, sz);
		adv(c, EMU_RDI, as, st);
		emu_lazy(c, LF_SUB, sz, a, b, (a - b) & size_mask(sz));
		break;
	case K_INS: {
		uint16_t port = (uint16_t)c->gpr[EMU_RDX];
		emu_io_check(c, port, sz);
		/* Probe the destination first so a #PF does not lose input. */
		emu_write(c, SEG_ES, di, sz, emu_read(c, SEG_ES, di, sz));
		a = bus_read(c->pio, port, sz);
		c->stats.pio++;
		emu_write(c, SEG_ES, di, sz, a);
		adv(c, EMU_RDI, as, st);
		break;
	}
	default: {
		uint16_t port = (uint16_t)c->gpr[EMU_RDX];
		emu_io_check(c, port, sz);
		a = emu_read(c, d->sseg, si, sz);
		bus_write(c->pio, port, sz, a);
		c->stats.pio++;
		adv(c, EMU_RSI, as, st);
		break;
	}
	}
}

static void string_op(struct emu_cpu *c, const struct dinsn *d, int k)
{
	unsigned as = d->asize;
	uint64_t am = size_mask(as);

	if (!d->rep) {
		iter(c, d, k);
		return;
	}
	bool cond = k == K_CMPS || k == K_SCAS;
	for (unsigned n = 0;; n++) {
		if ((c->gpr[EMU_RCX] & am) == 0)
			break;
		/*
		 * Very long runs (e.g. over MMIO) stop here and resume at the
		 * same RIP, as an interrupt between iterations would make them.
		 */
		if (n >= REP_SLICE) {
			c->next_rip = c->rip;
			break;
		}
		if ((k == K_MOVS || k == K_STOS) && fast_chunk(c, d, k == K_MOVS))
			continue;
		iter(c, d, k);
		gpr_write(c, EMU_RCX, as, c->gpr[EMU_RCX] - 1);
		if (cond) {
			bool zf = emu_cond(c, 4);
			if ((d->rep == REP_E && !zf) || (d->rep == REP_NE && zf))
				break;
		}
	}
}

#define STR(name, k) \
static void h_##name(struct emu_cpu *c, const struct dinsn *d) { string_op(c, d, k); }
STR(movs, K_MOVS) STR(stos, K_STOS) STR(lods, K_LODS) STR(cmps, K_CMPS)
STR(scas, K_SCAS) STR(ins, K_INS) STR(outs, K_OUTS)

/*
 * MOVSD/CMPSD are also SSE2 mnemonics: here only the string forms (legacy
 * opcode map); an SSE implementation registers over these and forwards
 * the string forms back.
 */
static void h_movsd(struct emu_cpu *c, const struct dinsn *d)
{
	if (d->map != ZYDIS_OPCODE_MAP_DEFAULT)
		emu_raise_ud(c);
	string_op(c, d, K_MOVS);
}

static void h_cmpsd(struct emu_cpu *c, const struct dinsn *d)
{
	if (d->map != ZYDIS_OPCODE_MAP_DEFAULT)
		emu_raise_ud(c);
	string_op(c, d, K_CMPS);
}

void emu_string_register(void)
{
	emu_register(ZYDIS_MNEMONIC_MOVSB, h_movs);
	emu_register(ZYDIS_MNEMONIC_MOVSW, h_movs);
	emu_register(ZYDIS_MNEMONIC_MOVSD, h_movsd);
	emu_register(ZYDIS_MNEMONIC_MOVSQ, h_movs);
	emu_register(ZYDIS_MNEMONIC_STOSB, h_stos);
	emu_register(ZYDIS_MNEMONIC_STOSW, h_stos);
	emu_register(ZYDIS_MNEMONIC_STOSD, h_stos);
	emu_register(ZYDIS_MNEMONIC_STOSQ, h_stos);
	emu_register(ZYDIS_MNEMONIC_LODSB, h_lods);
	emu_register(ZYDIS_MNEMONIC_LODSW, h_lods);
	emu_register(ZYDIS_MNEMONIC_LODSD, h_lods);
	emu_register(ZYDIS_MNEMONIC_LODSQ, h_lods);
	emu_register(ZYDIS_MNEMONIC_CMPSB, h_cmps);
	emu_register(ZYDIS_MNEMONIC_CMPSW, h_cmps);
	emu_register(ZYDIS_MNEMONIC_CMPSD, h_cmpsd);
	emu_register(ZYDIS_MNEMONIC_CMPSQ, h_cmps);
	emu_register(ZYDIS_MNEMONIC_SCASB, h_scas);
	emu_register(ZYDIS_MNEMONIC_SCASW, h_scas);
	emu_register(ZYDIS_MNEMONIC_SCASD, h_scas);
	emu_register(ZYDIS_MNEMONIC_SCASQ, h_scas);
	emu_register(ZYDIS_MNEMONIC_INSB, h_ins);
	emu_register(ZYDIS_MNEMONIC_INSW, h_ins);
	emu_register(ZYDIS_MNEMONIC_INSD, h_ins);
	emu_register(ZYDIS_MNEMONIC_OUTSB, h_outs);
	emu_register(ZYDIS_MNEMONIC_OUTSW, h_outs);
	emu_register(ZYDIS_MNEMONIC_OUTSD, h_outs);
}
