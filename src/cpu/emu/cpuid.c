/*
 * The CPU model: CPUID leaves, MSRs and the TSC. Only what is emulated is
 * advertised (see shared/EMU-TARGET.md §2-3). Family 6 model 0x30 is not
 * named in Linux 6.1's asm/intel-family.h, so no model quirks apply.
 *
 * The TSC counts host CLOCK_MONOTONIC nanoseconds: 1 GHz, announced via
 * leaf 0x15 (crystal 1 GHz, ratio 1/1) and leaf 0x16 (1000 MHz), which is
 * also the LAPIC timer's input clock (emu_engine.c's EMU_LAPIC_HZ). The
 * LAPIC (src/hw/lapic.c) implements the TSC-deadline mode, so leaf 1
 * advertises it; IA32_TSC_DEADLINE and IA32_APIC_BASE's enable bit go to
 * the vCPU's LAPIC.
 *
 * IA32_TSC_ADJUST is the TSC's offset from the host clock (both start at 0
 * and move together on TSC and TSC_ADJUST writes, as the SDM specifies).
 * With it, the invariant TSC and the TSC-sync check, Linux trusts the TSC
 * without the clocksource watchdog, as on current hardware: the watchdog's
 * early reference is jiffies, which lose ticks when the emulated guest runs
 * with interrupts off for more than a tick, and would condemn a good TSC.
 */
#include <string.h>
#include <time.h>

#include "cpu/emu/emu_internal.h"
#include "hw/lapic.h"

#define EMU_MODEL 0x30
#define EMU_TSC_HZ 1000000000u

/* Set by the x87/SSE implementation once it exists (fpu.c / sse.c). */
bool emu_cpuid_has_sse;

static void put_str(uint32_t *r, const char *s)
{
	memcpy(r, s, 4);
}

void emu_cpuid(struct emu_cpu *c, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	uint32_t a = 0, b = 0, cx = 0, dx = 0;

	switch (leaf) {
	case 0:
		a = 0x16;
		put_str(&b, "Genu");
		put_str(&dx, "ineI");
		put_str(&cx, "ntel");
		break;
	case 1:
		a = (6 << 8) | ((EMU_MODEL & 0xF) << 4) | ((EMU_MODEL >> 4) << 16) | 1;
		b = (c->apic_id << 24) | (1 << 16) | (8 << 8);
		cx = (1u << 31) | (1u << 24) | (1u << 13);     /* hypervisor TSC-deadline CX16 */
		dx = (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 9) |
		     (1 << 3) | (1 << 13) | (1 << 15) | (1 << 16) | (1 << 19);
		/* TSC MSR PAE CX8 APIC PSE PGE CMOV PAT CLFLUSH */
		if (emu_cpuid_has_sse)
			dx |= (1 << 0) | (1 << 23) | (1 << 24) | (1 << 25) | (1 << 26);
		break;
	case 6:
		a = 1 << 2;                                    /* ARAT */
		break;
	case 7:
		if (sub == 0)
			b = (1 << 9) | (1 << 1);               /* ERMS TSC_ADJUST */
		break;
	case 0xB: {
		/*
		 * x2APIC topology: every vCPU is a core of one package, so
		 * Linux shares per-package data (loops_per_jiffy instead of
		 * a timing loop on each AP). Level 0 SMT (1 thread), level 1
		 * core (ncpus, APIC ID bits below the package: shift).
		 */
		unsigned n = c->ncpus ? c->ncpus : 1, shift = 0;
		while ((1u << shift) < n)
			shift++;
		dx = c->apic_id;
		cx = sub & 0xFF;
		if (sub == 0) {
			b = 1;
			cx |= 1 << 8;
		} else if (sub == 1) {
			a = shift;
			b = n;
			cx |= 2 << 8;
		}
		break;
	}
	case 0x15:
		a = 1;
		b = 1;
		cx = EMU_TSC_HZ;
		break;
	case 0x16:
		a = EMU_TSC_HZ / 1000000;
		b = a;
		cx = 100;
		break;
	case 0x80000000:
		a = 0x80000008;
		break;
	case 0x80000001:
		cx = 1;                                        /* LAHF_LM */
		dx = (1 << 11) | (1 << 20) | (1u << 29);       /* SYSCALL NX LM */
		break;
	case 0x80000002: case 0x80000003: case 0x80000004: {
		static const char brand[49] = "vireo emulated x86-64 CPU";
		uint32_t w[4];
		memcpy(w, brand + (leaf - 0x80000002) * 16, 16);
		a = w[0]; b = w[1]; cx = w[2]; dx = w[3];
		break;
	}
	case 0x80000007:
		dx = 1 << 8;                                   /* invariant TSC */
		break;
	case 0x80000008:
		a = 39 | (48 << 8);
		break;
	default:
		/* Intel: leaves past the maximum return the highest basic leaf. */
		if (leaf > 0x16 && leaf < 0x80000000) {
			emu_cpuid(c, 0x16, sub, out);
			return;
		}
		break;
	}
	out[0] = a;
	out[1] = b;
	out[2] = cx;
	out[3] = dx;
}

uint64_t emu_rdtsc(struct emu_cpu *c)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	return ns + c->tsc_offset;
}

enum {
	MSR_TSC = 0x10, MSR_APIC_BASE = 0x1B, MSR_TSC_ADJUST = 0x3B, MSR_BIOS_SIGN = 0x8B,
	MSR_SYSENTER_CS = 0x174, MSR_SYSENTER_ESP = 0x175, MSR_SYSENTER_EIP = 0x176,
	MSR_MISC_ENABLE = 0x1A0, MSR_PAT = 0x277, MSR_TSC_DEADLINE = 0x6E0,
	MSR_EFER = 0xC0000080, MSR_STAR = 0xC0000081, MSR_LSTAR = 0xC0000082,
	MSR_CSTAR = 0xC0000083, MSR_SFMASK = 0xC0000084, MSR_FS_BASE = 0xC0000100,
	MSR_GS_BASE = 0xC0000101, MSR_KERNEL_GS_BASE = 0xC0000102,
};

static bool canonical(uint64_t v)
{
	return (uint64_t)((int64_t)(v << 16) >> 16) == v;
}

bool emu_rdmsr(struct emu_cpu *c, uint32_t msr, uint64_t *v)
{
	switch (msr) {
	case MSR_TSC: *v = emu_rdtsc(c); return true;
	case MSR_TSC_ADJUST: *v = c->tsc_offset; return true;
	case MSR_APIC_BASE: *v = c->apic_base; return true;
	case MSR_BIOS_SIGN: *v = 0; return true;
	case MSR_MISC_ENABLE: *v = c->misc_enable; return true;
	case MSR_PAT: *v = c->pat; return true;
	case MSR_TSC_DEADLINE:
		*v = c->lapic ? lapic_get_tsc_deadline(c->lapic) : c->tsc_deadline;
		return true;
	case MSR_EFER: *v = c->efer; return true;
	case MSR_STAR: *v = c->star; return true;
	case MSR_LSTAR: *v = c->lstar; return true;
	case MSR_SFMASK: *v = c->sfmask; return true;
	case MSR_FS_BASE: *v = c->seg[SEG_FS].base; return true;
	case MSR_GS_BASE: *v = c->seg[SEG_GS].base; return true;
	case MSR_KERNEL_GS_BASE: *v = c->kernel_gs_base; return true;
	default: return false;
	}
}

bool emu_wrmsr(struct emu_cpu *c, uint32_t msr, uint64_t v)
{
	switch (msr) {
	case MSR_TSC:
		c->tsc_offset += v - emu_rdtsc(c);
		return true;
	case MSR_TSC_ADJUST:
		c->tsc_offset = v;
		return true;
	case MSR_APIC_BASE:
		/* Keep the BSP bit; x2APIC (bit 10) is not offered. */
		if (v & (1ULL << 10))
			return false;
		c->apic_base = (v & ~0x1FFULL & ((1ULL << 39) - 1)) | (c->apic_base & (1ULL << 8)) |
			       (v & (1ULL << 11));
		if (c->lapic)
			lapic_set_hw_enabled(c->lapic, v & (1ULL << 11));
		return true;
	case MSR_BIOS_SIGN: return true;
	case MSR_MISC_ENABLE:
		c->misc_enable = v | 1;
		return true;
	case MSR_PAT:
		for (int i = 0; i < 8; i++) {
			unsigned t = (v >> (8 * i)) & 0xFF;
			if (t == 2 || t == 3 || t > 7)
				return false;
		}
		c->pat = v;
		return true;
	case MSR_TSC_DEADLINE:
		if (c->lapic)
			lapic_set_tsc_deadline(c->lapic, v);
		else
			c->tsc_deadline = v;
		return true;
	case MSR_EFER:
		emu_set_efer(c, v);      /* raises #GP itself on bad bits */
		return true;
	case MSR_STAR: c->star = v; return true;
	case MSR_LSTAR:
		if (!canonical(v))
			return false;
		c->lstar = v;
		return true;
	case MSR_SFMASK: c->sfmask = v & 0xFFFFFFFFULL; return true;
	case MSR_FS_BASE:
	case MSR_GS_BASE:
	case MSR_KERNEL_GS_BASE:
		if (!canonical(v))
			return false;
		if (msr == MSR_FS_BASE)
			c->seg[SEG_FS].base = v;
		else if (msr == MSR_GS_BASE)
			c->seg[SEG_GS].base = v;
		else
			c->kernel_gs_base = v;
		return true;
	default:
		return false;
	}
}
