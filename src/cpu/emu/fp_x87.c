/*
 * x87 instructions, executed by the host's x87 unit.
 *
 * Every x87 instruction is an escape byte D8-DF and a ModRM byte; register
 * forms are fully described by the two, memory forms by the escape and
 * ModRM.reg. A table of 2048 host stubs, one per (escape, ModRM), runs
 * exactly that instruction (memory forms address (%rdi), a buffer holding
 * the guest operand) between fxrstor64 and fxsave64 of the guest image.
 * The host thus computes TOP, tags, condition codes, exception flags,
 * precision and rounding control and the results bit for bit.
 *
 * The escape and ModRM are re-read from the instruction bytes, then
 * checked against what Zydis decodes for them, so only the encoding the
 * decoder accepted (the guest may rewrite its code meanwhile) ever runs.
 *
 * x87 exceptions are delayed: the guest's FCW is used as it is, an
 * unmasked exception sets FSW.ES, and the next waiting instruction takes
 * #MF (fp_check_x87) before anything reaches the host, which therefore
 * never has an exception pending when it runs a waiting instruction.
 *
 * FNSTENV/FLDENV/FNSAVE/FRSTOR (mode-dependent layouts) and FNSTSW AX are
 * plain C.
 */
#include "cpu/emu/fp_internal.h"

/* stub(esc, modrm) = 8 bytes at vireo_emu_x87_stubs + 8 * index. */
asm(".pushsection .text\n"
    ".balign 16\n"
    "vireo_emu_x87_stubs:\n"
    ".irp esc,0xd8,0xd9,0xda,0xdb,0xdc,0xdd,0xde,0xdf\n"
    ".set vireo_emu_x87_m, 0\n"
    ".rept 256\n"
    ".byte \\esc, vireo_emu_x87_m\n"
    "jmp *%r11\n"
    ".byte 0xcc, 0xcc, 0xcc\n"
    ".set vireo_emu_x87_m, vireo_emu_x87_m + 1\n"
    ".endr\n"
    ".endr\n"
    ".popsection\n");

/* Mnemonic Zydis decodes for each stub (0: none / not runnable). */
static uint16_t stub_mnem[2048];

static unsigned stub_index(uint8_t esc, uint8_t modrm)
{
	if (modrm < 0xC0)
		modrm = (modrm & 0x38) | 7;     /* memory form: (%rdi) */
	return (esc - 0xD8u) * 256u + modrm;
}

/*
 * Run stub idx over the FXSAVE image img (16-byte aligned) with mem as
 * the memory operand. *fl: guest FLAGS low byte in (FCMOVcc reads it),
 * host FLAGS low byte out (FCOMI writes it).
 */
static void x87_run(uint8_t *img, void *mem, unsigned idx, uint8_t *fl)
{
	uint8_t host[512] __attribute__((aligned(16)));
	uint64_t target = idx;
	uint64_t ax = (uint64_t)*fl << 8;

	asm volatile("fxsave64 %[h]\n\t"
		     "fxrstor64 (%[img])\n\t"
		     "lea vireo_emu_x87_stubs(%%rip), %%r11\n\t"
		     "lea (%%r11,%[t],8), %[t]\n\t"
		     "lea 1f(%%rip), %%r11\n\t"
		     "sahf\n\t"
		     "jmp *%[t]\n"
		     "1:\n\t"
		     "lahf\n\t"
		     "fxsave64 (%[img])\n\t"
		     "fxrstor64 %[h]"
		     : [h] "=m"(host), [t] "+r"(target), "+a"(ax)
		     : [img] "r"(img), "D"(mem)
		     : "r11", "cc", "memory");
	*fl = (uint8_t)(ax >> 8);
}

/* Escape byte and ModRM of the executing instruction. */
static void x87_bytes(struct emu_cpu *c, const struct dinsn *d, uint8_t *esc,
		      uint8_t *modrm)
{
	uint64_t la = emu_seg_la(c, SEG_CS, c->rip);
	unsigned i = 0;
	uint8_t b;

	do {
		if (i + 1 >= d->len)
			emu_raise_ud(c);
		b = (uint8_t)emu_lin_read(c, la + i++, 1, false);
	} while (b < 0xD8 || b > 0xDF);
	*esc = b;
	*modrm = (uint8_t)emu_lin_read(c, la + i, 1, false);
	if (stub_mnem[stub_index(*esc, *modrm)] != d->mnem)
		emu_raise_ud(c);
}

static bool is_store(uint16_t m)
{
	return m == ZYDIS_MNEMONIC_FST || m == ZYDIS_MNEMONIC_FSTP ||
	       m == ZYDIS_MNEMONIC_FIST || m == ZYDIS_MNEMONIC_FISTP ||
	       m == ZYDIS_MNEMONIC_FISTTP || m == ZYDIS_MNEMONIC_FBSTP ||
	       m == ZYDIS_MNEMONIC_FNSTCW || m == ZYDIS_MNEMONIC_FNSTSW;
}

/* Control instructions: no wait, FIP/FDP/FOP not updated. */
static bool is_control(uint16_t m)
{
	return m == ZYDIS_MNEMONIC_FNINIT || m == ZYDIS_MNEMONIC_FNCLEX ||
	       m == ZYDIS_MNEMONIC_FNSTCW || m == ZYDIS_MNEMONIC_FNSTSW ||
	       m == ZYDIS_MNEMONIC_FLDCW;
}

static bool is_fcomi(uint16_t m)
{
	return m == ZYDIS_MNEMONIC_FCOMI || m == ZYDIS_MNEMONIC_FCOMIP ||
	       m == ZYDIS_MNEMONIC_FUCOMI || m == ZYDIS_MNEMONIC_FUCOMIP;
}

static void h_x87(struct emu_cpu *c, const struct dinsn *d)
{
	uint8_t img[512] __attribute__((aligned(16)));
	uint8_t buf[16], esc, modrm, fl;
	const struct dop *mo = d->nops && d->op[0].kind == OPK_MEM ? &d->op[0] : NULL;
	bool store = mo && is_store(d->mnem);
	bool waiting = d->mnem != ZYDIS_MNEMONIC_FNINIT &&
		       d->mnem != ZYDIS_MNEMONIC_FNCLEX &&
		       d->mnem != ZYDIS_MNEMONIC_FNSTCW &&
		       d->mnem != ZYDIS_MNEMONIC_FNSTSW;
	unsigned n = mo ? mo->size : 0;
	uint64_t off = mo ? emu_ea(c, d, mo) : 0;

	fp_check_x87(c, waiting);
	x87_bytes(c, d, &esc, &modrm);
	if (n > sizeof(buf))
		emu_raise_ud(c);
	if (mo && !store)
		fp_mem_read(c, mo->seg, off, buf, n);
	if (store) {
		/* Translate for writing now: a #PF must leave the stack as it is. */
		fp_probe_write(c, mo->seg, off, n);
		memset(buf, 0xA5, sizeof(buf));
	}

	uint32_t mxcsr = fx_mxcsr(c) & fp_mxcsr_mask;
	memcpy(img, c->fx, sizeof(img));
	memcpy(img + FX_MXCSR, &mxcsr, 4);
	fl = (uint8_t)(emu_flags(c) & 0xFF);
	x87_run(img, buf, stub_index(esc, modrm), &fl);

	bool stored = store;
	if (store) {
		/* An unmasked exception suppresses the store: look for it
		 * with a second fill if the first one came back unchanged. */
		static const uint8_t a5[16] = { [0 ... 15] = 0xA5 };
		if (!memcmp(buf, a5, n)) {
			memcpy(img, c->fx, sizeof(img));
			memcpy(img + FX_MXCSR, &mxcsr, 4);
			memset(buf, 0x5A, sizeof(buf));
			fl = (uint8_t)(emu_flags(c) & 0xFF);
			x87_run(img, buf, stub_index(esc, modrm), &fl);
			stored = false;
			for (unsigned i = 0; i < n; i++)
				stored |= buf[i] != 0x5A;
		}
		if (stored)
			fp_mem_write(c, mo->seg, off, buf, n);
	}
	if (!is_control(d->mnem)) {
		/* The host recorded its own stub: record the guest's insn. */
		uint16_t fop = (uint16_t)(((esc & 7) << 8) | modrm);
		uint64_t fip = c->rip;
		memcpy(img + FX_FOP, &fop, 2);
		memcpy(img + FX_FIP, &fip, 8);
		if (mo)
			memcpy(img + FX_FDP, &off, 8);
	}
	memcpy(img + FX_MXCSR, c->fx + FX_MXCSR, 8);
	memcpy(c->fx, img, sizeof(img));
	if (is_fcomi(d->mnem))
		emu_set_arith(c, fl & (FL_ZF | FL_PF | FL_CF));
}

/* --- FNSTSW AX, FNSTENV/FLDENV, FNSAVE/FRSTOR --- */

/*
 * The image holds registers in stack order (ST(j) = R((TOP + j) & 7)):
 * when TOP changes from old_top to new_top the physical registers stay,
 * so the slots rotate.
 */
static void rotate_stack(uint8_t *img, unsigned old_top, unsigned new_top)
{
	uint8_t st[8][16];

	memcpy(st, img + FX_ST(0), sizeof(st));
	for (unsigned j = 0; j < 8; j++)
		memcpy(img + FX_ST(j), st[(new_top + j - old_top) & 7], 16);
}

static void h_fnstsw(struct emu_cpu *c, const struct dinsn *d)
{
	if (d->op[0].kind != OPK_REG) {
		h_x87(c, d);
		return;
	}
	fp_check_x87(c, false);
	gpr_write(c, EMU_RAX, 2, fx_get16(c, FX_FSW));
}

/* Full 2-bit tag of physical register p (from the abridged FXSAVE tag). */
static unsigned full_tag(const struct emu_cpu *c, unsigned p)
{
	unsigned top = (fx_get16(c, FX_FSW) >> 11) & 7;
	const uint8_t *r = c->fx + FX_ST((p - top) & 7);
	uint64_t mant;
	uint16_t exp;

	if (!((c->fx[FX_FTW] >> p) & 1))
		return 3;
	memcpy(&mant, r, 8);
	memcpy(&exp, r + 8, 2);
	exp &= 0x7FFF;
	if (exp == 0x7FFF)
		return 2;
	if (exp == 0)
		return mant ? 2 : 1;
	return (mant >> 63) ? 0 : 2;
}

/* The environment in the protected-mode layout: 28 bytes, or 14 with o16. */
static unsigned env_store(struct emu_cpu *c, uint8_t *out, bool o16)
{
	uint16_t ftw = 0, fop = fx_get16(c, FX_FOP) & 0x7FF;
	uint32_t fip, fdp;
	uint16_t w[7];

	for (unsigned p = 0; p < 8; p++)
		ftw |= (uint16_t)(full_tag(c, p) << (2 * p));
	memcpy(&fip, c->fx + FX_FIP, 4);
	memcpy(&fdp, c->fx + FX_FDP, 4);
	if (o16) {
		w[0] = fx_get16(c, FX_FCW);
		w[1] = fx_get16(c, FX_FSW);
		w[2] = ftw;
		w[3] = (uint16_t)fip;
		w[4] = c->seg[SEG_CS].sel;
		w[5] = (uint16_t)fdp;
		w[6] = c->seg[SEG_DS].sel;
		memcpy(out, w, 14);
		return 14;
	}
	uint32_t v[7] = {
		0xFFFF0000u | fx_get16(c, FX_FCW), 0xFFFF0000u | fx_get16(c, FX_FSW),
		0xFFFF0000u | ftw, fip, c->seg[SEG_CS].sel | (uint32_t)fop << 16,
		fdp, 0xFFFF0000u | c->seg[SEG_DS].sel,
	};
	memcpy(out, v, 28);
	return 28;
}

/* Load an environment into img (a copy of c->fx); returns its size. */
static unsigned env_load(const uint8_t *in, uint8_t *img, bool o16)
{
	uint16_t fcw, fsw, ftw, fop = 0;
	uint64_t fip, fdp;
	uint8_t abridged = 0;

	if (o16) {
		uint16_t w[7];
		memcpy(w, in, 14);
		fcw = w[0], fsw = w[1], ftw = w[2], fip = w[3], fdp = w[5];
	} else {
		uint32_t v[7];
		memcpy(v, in, 28);
		fcw = (uint16_t)v[0], fsw = (uint16_t)v[1], ftw = (uint16_t)v[2];
		fip = v[3], fop = (uint16_t)((v[4] >> 16) & 0x7FF), fdp = v[5];
	}
	for (unsigned p = 0; p < 8; p++)
		if (((ftw >> (2 * p)) & 3) != 3)
			abridged |= (uint8_t)(1u << p);
	memcpy(img + FX_FCW, &fcw, 2);
	memcpy(img + FX_FSW, &fsw, 2);
	img[FX_FTW] = abridged;
	memcpy(img + FX_FOP, &fop, 2);
	memcpy(img + FX_FIP, &fip, 8);
	memcpy(img + FX_FDP, &fdp, 8);
	return o16 ? 14 : 28;
}

static void h_fnstenv(struct emu_cpu *c, const struct dinsn *d)
{
	uint8_t out[108];
	bool save = d->mnem == ZYDIS_MNEMONIC_FNSAVE;
	unsigned n;

	fp_check_x87(c, false);
	if (d->op[0].kind != OPK_MEM)
		emu_raise_ud(c);
	n = env_store(c, out, d->osize == 2);
	if (save)
		for (unsigned j = 0; j < 8; j++, n += 10)
			memcpy(out + n, c->fx + FX_ST(j), 10);
	fp_mem_write(c, d->op[0].seg, emu_ea(c, d, &d->op[0]), out, n);
	if (save) {
		/* FNSAVE ends with FNINIT (TOP = 0). */
		rotate_stack(c->fx, (fx_get16(c, FX_FSW) >> 11) & 7, 0);
		fx_put16(c, FX_FCW, 0x037F);
		fx_put16(c, FX_FSW, 0);
		c->fx[FX_FTW] = 0;
		memset(c->fx + FX_FOP, 0, 18);
	} else {
		/* FNSTENV masks every exception afterwards. */
		fx_put16(c, FX_FCW, fx_get16(c, FX_FCW) | 0x3F);
	}
}

static void h_fldenv(struct emu_cpu *c, const struct dinsn *d)
{
	uint8_t in[108], img[512] __attribute__((aligned(16)));
	bool rstor = d->mnem == ZYDIS_MNEMONIC_FRSTOR;
	bool o16 = d->osize == 2;
	unsigned n = (o16 ? 14 : 28) + (rstor ? 80 : 0);
	uint32_t mxcsr = fx_mxcsr(c) & fp_mxcsr_mask;

	fp_check_x87(c, true);
	if (d->op[0].kind != OPK_MEM)
		emu_raise_ud(c);
	fp_mem_read(c, d->op[0].seg, emu_ea(c, d, &d->op[0]), in, n);
	memcpy(img, c->fx, sizeof(img));
	memcpy(img + FX_MXCSR, &mxcsr, 4);
	unsigned e = env_load(in, img, o16);
	uint16_t fsw;
	memcpy(&fsw, img + FX_FSW, 2);
	rotate_stack(img, (fx_get16(c, FX_FSW) >> 11) & 7, (fsw >> 11) & 7);
	if (rstor)
		for (unsigned j = 0; j < 8; j++) {
			memcpy(img + FX_ST(j), in + e + 10 * j, 10);
			memset(img + FX_ST(j) + 10, 0, 6);
		}
	fp_host_roundtrip(img);
	memcpy(img + FX_MXCSR, c->fx + FX_MXCSR, 8);
	memcpy(c->fx, img, sizeof(img));
}

void fp_x87_register(void)
{
	static const ZydisMnemonic generic[] = {
		ZYDIS_MNEMONIC_FLD, ZYDIS_MNEMONIC_FST, ZYDIS_MNEMONIC_FSTP,
		ZYDIS_MNEMONIC_FSTPNCE, ZYDIS_MNEMONIC_FILD, ZYDIS_MNEMONIC_FIST,
		ZYDIS_MNEMONIC_FISTP, ZYDIS_MNEMONIC_FISTTP, ZYDIS_MNEMONIC_FBLD,
		ZYDIS_MNEMONIC_FBSTP, ZYDIS_MNEMONIC_FADD, ZYDIS_MNEMONIC_FADDP,
		ZYDIS_MNEMONIC_FIADD, ZYDIS_MNEMONIC_FSUB, ZYDIS_MNEMONIC_FSUBP,
		ZYDIS_MNEMONIC_FISUB, ZYDIS_MNEMONIC_FSUBR, ZYDIS_MNEMONIC_FSUBRP,
		ZYDIS_MNEMONIC_FISUBR, ZYDIS_MNEMONIC_FMUL, ZYDIS_MNEMONIC_FMULP,
		ZYDIS_MNEMONIC_FIMUL, ZYDIS_MNEMONIC_FDIV, ZYDIS_MNEMONIC_FDIVP,
		ZYDIS_MNEMONIC_FIDIV, ZYDIS_MNEMONIC_FDIVR, ZYDIS_MNEMONIC_FDIVRP,
		ZYDIS_MNEMONIC_FIDIVR, ZYDIS_MNEMONIC_FCOM, ZYDIS_MNEMONIC_FCOMP,
		ZYDIS_MNEMONIC_FCOMPP, ZYDIS_MNEMONIC_FICOM, ZYDIS_MNEMONIC_FICOMP,
		ZYDIS_MNEMONIC_FUCOM, ZYDIS_MNEMONIC_FUCOMP, ZYDIS_MNEMONIC_FUCOMPP,
		ZYDIS_MNEMONIC_FCOMI, ZYDIS_MNEMONIC_FCOMIP, ZYDIS_MNEMONIC_FUCOMI,
		ZYDIS_MNEMONIC_FUCOMIP, ZYDIS_MNEMONIC_FTST, ZYDIS_MNEMONIC_FXAM,
		ZYDIS_MNEMONIC_FCHS, ZYDIS_MNEMONIC_FABS, ZYDIS_MNEMONIC_FSQRT,
		ZYDIS_MNEMONIC_FRNDINT, ZYDIS_MNEMONIC_FSCALE, ZYDIS_MNEMONIC_FXTRACT,
		ZYDIS_MNEMONIC_FPREM, ZYDIS_MNEMONIC_FPREM1, ZYDIS_MNEMONIC_FXCH,
		ZYDIS_MNEMONIC_FLD1, ZYDIS_MNEMONIC_FLDZ, ZYDIS_MNEMONIC_FLDPI,
		ZYDIS_MNEMONIC_FLDL2E, ZYDIS_MNEMONIC_FLDL2T, ZYDIS_MNEMONIC_FLDLG2,
		ZYDIS_MNEMONIC_FLDLN2, ZYDIS_MNEMONIC_FSIN, ZYDIS_MNEMONIC_FCOS,
		ZYDIS_MNEMONIC_FSINCOS, ZYDIS_MNEMONIC_FPTAN, ZYDIS_MNEMONIC_FPATAN,
		ZYDIS_MNEMONIC_F2XM1, ZYDIS_MNEMONIC_FYL2X, ZYDIS_MNEMONIC_FYL2XP1,
		ZYDIS_MNEMONIC_FNOP, ZYDIS_MNEMONIC_FFREE, ZYDIS_MNEMONIC_FFREEP,
		ZYDIS_MNEMONIC_FINCSTP, ZYDIS_MNEMONIC_FDECSTP, ZYDIS_MNEMONIC_FCMOVB,
		ZYDIS_MNEMONIC_FCMOVE, ZYDIS_MNEMONIC_FCMOVBE, ZYDIS_MNEMONIC_FCMOVU,
		ZYDIS_MNEMONIC_FCMOVNB, ZYDIS_MNEMONIC_FCMOVNE, ZYDIS_MNEMONIC_FCMOVNBE,
		ZYDIS_MNEMONIC_FCMOVNU, ZYDIS_MNEMONIC_FLDCW, ZYDIS_MNEMONIC_FNSTCW,
		ZYDIS_MNEMONIC_FNINIT, ZYDIS_MNEMONIC_FNCLEX, ZYDIS_MNEMONIC_FENI8087_NOP,
		ZYDIS_MNEMONIC_FDISI8087_NOP, ZYDIS_MNEMONIC_FSETPM287_NOP,
	};
	ZydisDecoder dec;

	/* What each stub is, as the decoder sees it (64-bit mode: (%rdi)). */
	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	for (unsigned i = 0; i < 2048; i++) {
		uint8_t b[2] = { (uint8_t)(0xD8 + i / 256), (uint8_t)(i % 256) };
		ZydisDecodedInstruction in;
		if (b[1] < 0xC0 && (b[1] & 0xC7) != 7)
			continue;
		if (ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec, NULL, b, 2, &in)))
			stub_mnem[i] = (uint16_t)in.mnemonic;
	}
	for (unsigned i = 0; i < sizeof(generic) / sizeof(generic[0]); i++)
		emu_register(generic[i], h_x87);
	emu_register(ZYDIS_MNEMONIC_FNSTSW, h_fnstsw);
	emu_register(ZYDIS_MNEMONIC_FNSTENV, h_fnstenv);
	emu_register(ZYDIS_MNEMONIC_FNSAVE, h_fnstenv);
	emu_register(ZYDIS_MNEMONIC_FLDENV, h_fldenv);
	emu_register(ZYDIS_MNEMONIC_FRSTOR, h_fldenv);
}
