/*
 * Private helpers of the emu CPU's x87/MMX/SSE implementation (fp.c,
 * fp_sse.c, fp_x87.c).
 *
 * The guest's FP state lives in c->fx as a 64-bit FXSAVE image. Results
 * are computed by the host's own x87/SSE units (vireo runs on x86-64
 * only), which makes them bit-exact with the CPU, NaN payloads, denormals
 * and rounding included:
 *  - SSE: operands in host XMM registers, the guest MXCSR loaded around
 *    the one instruction with every exception masked, the raised flags
 *    read back (fp_sse.c); unmasked ones then become #XM.
 *  - x87: the whole image is loaded with fxrstor64, one instruction runs,
 *    fxsave64 stores it back (fp_x87.c). x87 exceptions are delayed to the
 *    next waiting instruction, so the guest's FCW is used as it is.
 * The host's own FP state is saved and restored around each of these, in
 * the same asm statement, so vireo's code never sees guest FP state.
 */
#ifndef VIREO_CPU_EMU_FP_INTERNAL_H
#define VIREO_CPU_EMU_FP_INTERNAL_H

#include <string.h>

#include "cpu/emu/emu_internal.h"

typedef long long fp_v2di __attribute__((vector_size(16)));

union xmm {
	uint8_t b[16];
	uint16_t w[8];
	uint32_t d[4];
	uint64_t q[2];
	fp_v2di v;
};

/* FXSAVE image offsets. */
#define FX_FCW   0
#define FX_FSW   2
#define FX_FTW   4          /* abridged: one bit per physical register */
#define FX_FOP   6
#define FX_FIP   8
#define FX_FDP   16
#define FX_MXCSR 24
#define FX_MXCSR_MASK 28
#define FX_ST(i) (32 + 16 * (i))
#define FX_XMM(i) (160 + 16 * (i))

/* MXCSR: flags 0-5, DAZ 6, masks 7-12, RC 13-14, FTZ 15. */
#define MXCSR_FLAGS 0x3Fu
#define MXCSR_MASKS 0x1F80u
#define MXCSR_UE 0x10u
#define MXCSR_FTZ 0x8000u

/* FSW */
#define FSW_ES 0x0080u
#define FSW_B  0x8000u
#define FSW_TOP 0x3800u

static inline uint16_t fx_get16(const struct emu_cpu *c, unsigned off)
{
	uint16_t v;
	memcpy(&v, c->fx + off, 2);
	return v;
}

static inline void fx_put16(struct emu_cpu *c, unsigned off, uint16_t v)
{
	memcpy(c->fx + off, &v, 2);
}

static inline uint32_t fx_mxcsr(const struct emu_cpu *c)
{
	uint32_t v;
	memcpy(&v, c->fx + FX_MXCSR, 4);
	return v;
}

static inline void fx_set_mxcsr(struct emu_cpu *c, uint32_t v)
{
	memcpy(c->fx + FX_MXCSR, &v, 4);
}

static inline void xmm_get(const struct emu_cpu *c, unsigned i, union xmm *x)
{
	memcpy(x->b, c->fx + FX_XMM(i & 15), 16);
}

static inline void xmm_put(struct emu_cpu *c, unsigned i, const union xmm *x)
{
	memcpy(c->fx + FX_XMM(i & 15), x->b, 16);
}

static inline uint64_t mm_get(const struct emu_cpu *c, unsigned i)
{
	uint64_t v;
	memcpy(&v, c->fx + FX_ST(i & 7), 8);
	return v;
}

/* Writing an MMX register sets the exponent field of its x87 slot to ones. */
static inline void mm_put(struct emu_cpu *c, unsigned i, uint64_t v)
{
	memcpy(c->fx + FX_ST(i & 7), &v, 8);
	c->fx[FX_ST(i & 7) + 8] = 0xFF;
	c->fx[FX_ST(i & 7) + 9] = 0xFF;
}

/* The host's MXCSR_MASK (bits MXCSR may have set), read at registration. */
extern uint32_t fp_mxcsr_mask;

/* Availability checks: raise #UD / #NM / #MF as the SDM orders them. */
void fp_check_x87(struct emu_cpu *c, bool waiting);
void fp_check_mmx(struct emu_cpu *c);
void fp_check_sse(struct emu_cpu *c);
/* An unmasked x87 exception is pending (the next waiting insn takes #MF). */
bool fp_x87_pending(const struct emu_cpu *c);
/* Executing an MMX instruction: TOP = 0, all registers tagged valid. */
void fp_mmx_enter(struct emu_cpu *c);
/* #XM if CR4.OSXMMEXCPT, else #UD. */
__attribute__((noreturn)) void fp_raise_xm(struct emu_cpu *c);

/*
 * Guest memory of any length through emu_read/emu_write. fp_mem_write
 * translates both ends for writing first, so a #PF leaves memory as it
 * was; fp_mem_read does all reads before the caller commits anything.
 */
uint64_t fp_la(struct emu_cpu *c, const struct dinsn *d, const struct dop *o);
void fp_mem_read(struct emu_cpu *c, int seg, uint64_t off, void *buf, unsigned n);
void fp_mem_write(struct emu_cpu *c, int seg, uint64_t off, const void *buf,
		  unsigned n);
/* Translate [off, off+n) for writing (#PF now, nothing stored). */
void fp_probe_write(struct emu_cpu *c, int seg, uint64_t off, unsigned n);
/* #GP(0) unless the linear address of memory operand o is 16-byte aligned. */
void fp_check_align16(struct emu_cpu *c, const struct dinsn *d, const struct dop *o);

/* Legacy prefixes of the executing instruction (re-read from its bytes). */
bool fp_has_prefix(struct emu_cpu *c, const struct dinsn *d, uint8_t prefix);

/*
 * Run the host's fxrstor64 + fxsave64 over img: the host canonicalises
 * what a guest FXRSTOR/FRSTOR/FLDENV loads (e.g. recomputes FSW.ES/B).
 * img's MXCSR must already be valid.
 */
void fp_host_roundtrip(uint8_t img[512]);

void fp_sse_register(void);
void fp_x87_register(void);

#endif
