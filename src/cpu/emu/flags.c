/*
 * Lazy arithmetic flags. The common ALU operations record their operands
 * and result (emu_lazy); CF/PF/AF/ZF/SF/OF are computed only when read.
 */
#include "cpu/emu/emu_internal.h"

const uint8_t emu_parity[256] = {
#define P2(n) n, n ^ 1, n ^ 1, n
#define P4(n) P2(n), P2(n ^ 1), P2(n ^ 1), P2(n)
#define P6(n) P4(n), P4(n ^ 1), P4(n ^ 1), P4(n)
	P6(1), P6(0), P6(0), P6(1)
#undef P2
#undef P4
#undef P6
};

static uint64_t lazy_cf(const struct emu_cpu *c)
{
	uint64_t m = size_mask(c->lf_size);
	uint64_t d = c->lf_dst & m, s = c->lf_src & m, r = c->lf_res & m;

	switch (c->lf_op) {
	case LF_ADD: return r < d;
	case LF_ADC: return r < d || (c->lf_cin && r == d);
	case LF_SUB: return d < s;
	case LF_SBB: return d < s || (c->lf_cin && s == m) ||
			    (c->lf_cin && d == s);
	case LF_INC:
	case LF_DEC:
	case LF_SHIFT: return c->lf_cin;
	default: return 0;
	}
}

static uint64_t lazy_flags(const struct emu_cpu *c)
{
	unsigned sz = c->lf_size;
	unsigned top = sz * 8 - 1;
	uint64_t d = c->lf_dst, s = c->lf_src, r = c->lf_res;
	uint64_t f = emu_szp(r, sz);

	if (lazy_cf(c))
		f |= FL_CF;
	switch (c->lf_op) {
	case LF_ADD: case LF_ADC: case LF_INC:
		if ((((d ^ r) & (s ^ r)) >> top) & 1)
			f |= FL_OF;
		f |= (d ^ s ^ r) & FL_AF;
		break;
	case LF_SUB: case LF_SBB: case LF_DEC:
		if ((((d ^ s) & (d ^ r)) >> top) & 1)
			f |= FL_OF;
		f |= (d ^ s ^ r) & FL_AF;
		break;
	case LF_SHIFT:
		if (s)
			f |= FL_OF;
		break;
	default:
		break;
	}
	return f;
}

uint64_t emu_flags(struct emu_cpu *c)
{
	if (c->lf_op != LF_NONE) {
		c->rflags = (c->rflags & ~(uint64_t)FL_ARITH) | lazy_flags(c);
		c->lf_op = LF_NONE;
	}
	return c->rflags | 2;
}

void emu_set_flags(struct emu_cpu *c, uint64_t f)
{
	c->lf_op = LF_NONE;
	c->rflags = (f | 2) & 0x3F7FD5;
}

bool emu_cf(struct emu_cpu *c)
{
	if (c->lf_op == LF_NONE)
		return c->rflags & FL_CF;
	return lazy_cf(c);
}

bool emu_cond(struct emu_cpu *c, unsigned cc)
{
	uint64_t f;
	bool r;

	/* Fast paths for the common compare-and-branch forms. */
	if (c->lf_op != LF_NONE) {
		uint64_t m = size_mask(c->lf_size);
		switch (cc >> 1) {
		case 2:         /* E / NE */
			return ((c->lf_res & m) == 0) ^ (cc & 1);
		case 4:         /* S / NS */
			return ((c->lf_res >> (c->lf_size * 8 - 1)) & 1) ^ (cc & 1);
		case 1:         /* B / AE */
			if (c->lf_op == LF_SUB)
				return ((c->lf_dst & m) < (c->lf_src & m)) ^ (cc & 1);
			break;
		default:
			break;
		}
	}
	f = emu_flags(c);
	switch (cc >> 1) {
	case 0: r = f & FL_OF; break;
	case 1: r = f & FL_CF; break;
	case 2: r = f & FL_ZF; break;
	case 3: r = f & (FL_CF | FL_ZF); break;
	case 4: r = f & FL_SF; break;
	case 5: r = f & FL_PF; break;
	case 6: r = !!(f & FL_SF) != !!(f & FL_OF); break;
	default: r = (f & FL_ZF) || (!!(f & FL_SF) != !!(f & FL_OF)); break;
	}
	return r ^ (cc & 1);
}
