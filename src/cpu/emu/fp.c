/*
 * The emu CPU's FP core: availability checks (#UD, #NM, #MF, #XM), guest
 * memory of any length, FXSAVE/FXRSTOR (legacy and 64-bit formats),
 * LDMXCSR/STMXCSR, EMMS, FWAIT, and the registration of every FP
 * mnemonic (see fp_internal.h for how results are computed).
 */
#include "cpu/emu/emu_fp.h"
#include "cpu/emu/fp_internal.h"

/* Advertised in CPUID leaf 1 (FPU, MMX, FXSR, SSE, SSE2) once set (cpuid.c). */
extern bool emu_cpuid_has_sse;

uint32_t fp_mxcsr_mask = 0xFFFF;

/* --- checks --- */

bool fp_x87_pending(const struct emu_cpu *c)
{
	/* The CPU recomputes FSW.ES from the flags and masks on every load. */
	return fx_get16(c, FX_FSW) & ~fx_get16(c, FX_FCW) & 0x3F;
}

/*
 * x87: EM or TS -> #NM; a waiting instruction with an unmasked exception
 * pending -> #MF. With CR0.NE clear the CPU would signal FERR# to the PIC
 * instead; Linux always sets NE, so #MF is raised either way.
 */
void fp_check_x87(struct emu_cpu *c, bool waiting)
{
	if (c->cr0 & (CR0_EM | CR0_TS))
		emu_raise(c, EXC_NM);
	if (waiting && fp_x87_pending(c))
		emu_raise(c, EXC_MF);
}

void fp_check_mmx(struct emu_cpu *c)
{
	if (c->cr0 & CR0_EM)
		emu_raise_ud(c);
	if (c->cr0 & CR0_TS)
		emu_raise(c, EXC_NM);
	if (fp_x87_pending(c))
		emu_raise(c, EXC_MF);
}

void fp_check_sse(struct emu_cpu *c)
{
	if ((c->cr0 & CR0_EM) || !(c->cr4 & CR4_OSFXSR))
		emu_raise_ud(c);
	if (c->cr0 & CR0_TS)
		emu_raise(c, EXC_NM);
}

void fp_raise_xm(struct emu_cpu *c)
{
	if (!(c->cr4 & CR4_OSXMMEXCPT))
		emu_raise_ud(c);
	emu_raise(c, EXC_XM);
}

void fp_mmx_enter(struct emu_cpu *c)
{
	fx_put16(c, FX_FSW, fx_get16(c, FX_FSW) & ~FSW_TOP);
	c->fx[FX_FTW] = 0xFF;
}

/* --- memory --- */

uint64_t fp_la(struct emu_cpu *c, const struct dinsn *d, const struct dop *o)
{
	return emu_seg_la(c, o->seg, emu_ea(c, d, o));
}

void fp_check_align16(struct emu_cpu *c, const struct dinsn *d, const struct dop *o)
{
	if (fp_la(c, d, o) & 15)
		emu_raise_err(c, EXC_GP, 0);
}

static unsigned chunk(unsigned left)
{
	return left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
}

void fp_mem_read(struct emu_cpu *c, int seg, uint64_t off, void *buf, unsigned n)
{
	uint8_t *p = buf;
	for (unsigned i = 0; i < n; ) {
		unsigned sz = chunk(n - i);
		uint64_t v = emu_read(c, seg, off + i, sz);
		memcpy(p + i, &v, sz);
		i += sz;
	}
}

void fp_probe_write(struct emu_cpu *c, int seg, uint64_t off, unsigned n)
{
	uint64_t first = emu_seg_la(c, seg, off);
	uint64_t last = emu_seg_la(c, seg, off + n - 1);

	(void)emu_lin_ptr(c, first, 1, ACC_W);
	if ((first ^ last) & ~0xFFFULL)          /* CR2: where the 2nd page starts */
		(void)emu_lin_ptr(c, last & ~0xFFFULL, 1, ACC_W);
}

void fp_mem_write(struct emu_cpu *c, int seg, uint64_t off, const void *buf,
		  unsigned n)
{
	const uint8_t *p = buf;

	/* Translate both pages for writing before the first byte is stored. */
	fp_probe_write(c, seg, off, n);
	for (unsigned i = 0; i < n; ) {
		unsigned sz = chunk(n - i);
		uint64_t v = 0;
		memcpy(&v, p + i, sz);
		emu_write(c, seg, off + i, sz, v);
		i += sz;
	}
}

bool fp_has_prefix(struct emu_cpu *c, const struct dinsn *d, uint8_t prefix)
{
	uint64_t la = emu_seg_la(c, SEG_CS, c->rip);
	for (unsigned i = 0; i < d->len; i++) {
		uint8_t b = (uint8_t)emu_lin_read(c, la + i, 1, false);
		if (b == prefix)
			return true;
		bool legacy = b == 0x66 || b == 0x67 || b == 0xF0 || b == 0xF2 ||
			      b == 0xF3 || b == 0x2E || b == 0x36 || b == 0x3E ||
			      b == 0x26 || b == 0x64 || b == 0x65;
		bool rex = c->code64 && (b & 0xF0) == 0x40;
		if (!legacy && !rex)
			return false;
	}
	return false;
}

void fp_host_roundtrip(uint8_t img[512])
{
	uint8_t host[512] __attribute__((aligned(16)));

	asm volatile("fxsave64 %[h]\n\t"
		     "fxrstor64 %[g]\n\t"
		     "fxsave64 %[g]\n\t"
		     "fxrstor64 %[h]"
		     : [h] "=m"(host), [g] "+m"(*(uint8_t(*)[512])img));
}

/* --- FXSAVE / FXRSTOR --- */

/* Bytes the CPU stores/loads: XMM8-15 only in 64-bit mode. */
static unsigned fx_bytes(const struct emu_cpu *c)
{
	return c->code64 ? FX_XMM(16) : FX_XMM(8);
}

static void h_fxsave(struct emu_cpu *c, const struct dinsn *d)
{
	uint8_t img[512];
	bool w64 = d->mnem == ZYDIS_MNEMONIC_FXSAVE64;

	if (c->cr0 & (CR0_EM | CR0_TS))
		emu_raise(c, EXC_NM);
	if (d->op[0].kind != OPK_MEM)
		emu_raise_ud(c);
	fp_check_align16(c, d, &d->op[0]);
	memcpy(img, c->fx, sizeof(img));
	memcpy(img + FX_MXCSR_MASK, &fp_mxcsr_mask, 4);
	if (!w64) {
		/* 32-bit format: FIP/FCS and FDP/FDS. */
		uint16_t cs = c->seg[SEG_CS].sel, ds = c->seg[SEG_DS].sel;
		memcpy(img + 12, &cs, 2);
		memset(img + 14, 0, 2);
		memcpy(img + 20, &ds, 2);
		memset(img + 22, 0, 2);
	}
	fp_mem_write(c, d->op[0].seg, emu_ea(c, d, &d->op[0]), img, fx_bytes(c));
}

static void h_fxrstor(struct emu_cpu *c, const struct dinsn *d)
{
	uint8_t img[512] __attribute__((aligned(16)));
	bool w64 = d->mnem == ZYDIS_MNEMONIC_FXRSTOR64;
	unsigned n = fx_bytes(c);
	uint32_t mxcsr;

	if (c->cr0 & (CR0_EM | CR0_TS))
		emu_raise(c, EXC_NM);
	if (d->op[0].kind != OPK_MEM)
		emu_raise_ud(c);
	fp_check_align16(c, d, &d->op[0]);
	memcpy(img, c->fx, sizeof(img));
	fp_mem_read(c, d->op[0].seg, emu_ea(c, d, &d->op[0]), img, n);
	memcpy(&mxcsr, img + FX_MXCSR, 4);
	if (mxcsr & ~fp_mxcsr_mask)
		emu_raise_err(c, EXC_GP, 0);
	if (!w64) {
		memset(img + 12, 0, 4);         /* FIP is the 32-bit offset */
		memset(img + 20, 0, 4);
	}
	fp_host_roundtrip(img);
	memcpy(img + FX_MXCSR_MASK, c->fx + FX_MXCSR_MASK, 4);
	memcpy(c->fx, img, sizeof(img));
}

/* --- MXCSR, EMMS, FWAIT --- */

static void h_ldmxcsr(struct emu_cpu *c, const struct dinsn *d)
{
	fp_check_sse(c);
	uint32_t v = (uint32_t)emu_op_read(c, d, 0);
	if (v & ~fp_mxcsr_mask)
		emu_raise_err(c, EXC_GP, 0);
	fx_set_mxcsr(c, v);
}

static void h_stmxcsr(struct emu_cpu *c, const struct dinsn *d)
{
	fp_check_sse(c);
	emu_op_write(c, d, 0, fx_mxcsr(c));
}

static void h_emms(struct emu_cpu *c, const struct dinsn *d)
{
	fp_check_mmx(c);
	c->fx[FX_FTW] = 0;
}

static void h_fwait(struct emu_cpu *c, const struct dinsn *d)
{
	if ((c->cr0 & (CR0_TS | CR0_MP)) == (CR0_TS | CR0_MP))
		emu_raise(c, EXC_NM);
	if (fp_x87_pending(c))
		emu_raise(c, EXC_MF);
}

static void read_host_mxcsr_mask(void)
{
	uint8_t host[512] __attribute__((aligned(16)));
	uint32_t m;

	memset(host, 0, sizeof(host));
	asm volatile("fxsave64 %0" : "=m"(host));
	memcpy(&m, host + FX_MXCSR_MASK, 4);
	fp_mxcsr_mask = m ? m : 0xFFBF;  /* 0: a CPU without DAZ */
}

void emu_fp_register(void)
{
	read_host_mxcsr_mask();
	emu_register(ZYDIS_MNEMONIC_FXSAVE, h_fxsave);
	emu_register(ZYDIS_MNEMONIC_FXSAVE64, h_fxsave);
	emu_register(ZYDIS_MNEMONIC_FXRSTOR, h_fxrstor);
	emu_register(ZYDIS_MNEMONIC_FXRSTOR64, h_fxrstor);
	emu_register(ZYDIS_MNEMONIC_LDMXCSR, h_ldmxcsr);
	emu_register(ZYDIS_MNEMONIC_STMXCSR, h_stmxcsr);
	emu_register(ZYDIS_MNEMONIC_EMMS, h_emms);
	emu_register(ZYDIS_MNEMONIC_FWAIT, h_fwait);
	fp_sse_register();
	fp_x87_register();
	emu_cpuid_has_sse = true;
}
