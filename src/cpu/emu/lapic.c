/*
 * A minimal xAPIC per emulated vCPU: ID, version, TPR/PPR, EOI, LDR/DFR
 * (flat and cluster logical mode), SVR, IRR/ISR/TMR, ESR, the LVT and its
 * timer (one-shot, periodic, TSC-deadline), and the ICR for fixed, NMI,
 * INIT and STARTUP IPIs. MSIs are delivered here too.
 *
 * The vCPU reaches its own APIC through the APIC-base page (mmu.c calls
 * emu_lapic_read/write), so no bus range or thread-local lookup is needed.
 * Other threads (IPIs, MSIs, the IOAPIC) only set IRR bits or post
 * INIT/SIPI under the APIC's lock; the owning vCPU thread applies INIT and
 * SIPI itself (emu_lapic_service), so nobody else touches its registers.
 *
 * The timer counts at the 1 GHz crystal of CPUID leaf 0x15 (host
 * CLOCK_MONOTONIC nanoseconds, the same clock as the TSC).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/emu/emu_internal.h"
#include "cpu/emu/lapic.h"

enum {
	R_ID = 0x20, R_VER = 0x30, R_TPR = 0x80, R_APR = 0x90, R_PPR = 0xA0,
	R_EOI = 0xB0, R_RRD = 0xC0, R_LDR = 0xD0, R_DFR = 0xE0, R_SVR = 0xF0,
	R_ISR = 0x100, R_TMR = 0x180, R_IRR = 0x200, R_ESR = 0x280,
	R_LVT_CMCI = 0x2F0, R_ICR_LO = 0x300, R_ICR_HI = 0x310,
	R_LVT_TIMER = 0x320, R_LVT_THERM = 0x330, R_LVT_PERF = 0x340,
	R_LVT_LINT0 = 0x350, R_LVT_LINT1 = 0x360, R_LVT_ERR = 0x370,
	R_TMICT = 0x380, R_TMCCT = 0x390, R_TDCR = 0x3E0,
};

#define LVT_MASK (1u << 16)
#define NLVT 7

struct emu_lapic {
	struct emu_apic_sys *sys;
	struct emu_cpu *c;
	unsigned id;
	pthread_mutex_t lock;
	uint32_t irr[8], isr[8], tmr[8];
	uint32_t tpr, ldr, dfr, svr, esr, icr_lo, icr_hi;
	uint32_t lvt[NLVT];            /* CMCI, timer, thermal, perf, LINT0, LINT1, error */
	uint32_t tdcr, tmict;
	uint64_t timer_start;          /* ns */
	uint64_t timer_next;           /* ns of the next expiry, 0 = none */
	bool init_pending;
	int sipi_vector;               /* -1 = none */
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int lvt_index(uint32_t reg)
{
	if (reg == R_LVT_CMCI)
		return 0;
	if (reg >= R_LVT_TIMER && reg <= R_LVT_ERR)
		return 1 + (int)((reg - R_LVT_TIMER) >> 4);
	return -1;
}

static int highest(const uint32_t v[8])
{
	for (int i = 7; i >= 0; i--)
		if (v[i])
			return i * 32 + 31 - __builtin_clz(v[i]);
	return -1;
}

static unsigned ppr(const struct emu_lapic *a)
{
	int isr = highest(a->isr);
	unsigned isrv = isr < 0 ? 0 : (unsigned)isr & 0xF0;
	return (a->tpr & 0xF0) >= isrv ? a->tpr & 0xFF : isrv;
}

/* Recompute the CPU's interrupt-pending flag; lock held. */
static void update_pending(struct emu_lapic *a)
{
	int v = highest(a->irr);
	bool p = v >= 0 && ((unsigned)v & 0xF0) > (ppr(a) & 0xF0) && (a->svr & 0x100);
	atomic_store(&a->c->irq_pending, p || a->init_pending || a->sipi_vector >= 0);
}

static void set_irr(struct emu_lapic *a, unsigned vec, bool level)
{
	pthread_mutex_lock(&a->lock);
	if (vec >= 16) {
		a->irr[vec / 32] |= 1u << (vec % 32);
		if (level)
			a->tmr[vec / 32] |= 1u << (vec % 32);
		else
			a->tmr[vec / 32] &= ~(1u << (vec % 32));
	} else {
		a->esr |= 1u << 6;        /* received illegal vector */
	}
	update_pending(a);
	pthread_mutex_unlock(&a->lock);
	if (a->sys->kick)
		a->sys->kick(a->sys->opaque, a->id);
}

/* irq_ack hook of struct emu_cpu: IRR -> ISR for the best vector. */
static int lapic_ack(struct emu_cpu *c, void *opaque)
{
	struct emu_lapic *a = opaque;
	int v;

	pthread_mutex_lock(&a->lock);
	v = highest(a->irr);
	if (v >= 0 && ((unsigned)v & 0xF0) > (ppr(a) & 0xF0) && (a->svr & 0x100)) {
		a->irr[v / 32] &= ~(1u << (v % 32));
		a->isr[v / 32] |= 1u << (v % 32);
	} else {
		v = -1;
	}
	update_pending(a);
	pthread_mutex_unlock(&a->lock);
	return v;
}

static bool matches(struct emu_lapic *a, uint32_t dest, bool logical)
{
	if (!logical)
		return dest == 0xFF || dest == a->id;
	if (dest == 0xFF)
		return true;
	uint32_t ldr = a->ldr >> 24;
	if ((a->dfr >> 28) == 0xF)
		return (ldr & dest) != 0;
	return (ldr >> 4) == (dest >> 4) && (ldr & dest & 0xF);
}

void emu_apic_deliver(struct emu_apic_sys *sys, int src, uint32_t dest,
		      bool logical, unsigned mode, unsigned vec, bool level,
		      unsigned shorthand, bool assert)
{
	for (unsigned i = 0; i < sys->n; i++) {
		struct emu_lapic *a = sys->lapic[i];
		bool hit;
		switch (shorthand) {
		case 1: hit = (int)i == src; break;
		case 2: hit = true; break;
		case 3: hit = (int)i != src; break;
		default: hit = matches(a, dest, logical); break;
		}
		if (!hit)
			continue;
		switch (mode) {
		case 0: case 1:                    /* fixed, lowest priority */
			set_irr(a, vec, level);
			break;
		case 4:                            /* NMI: as vector 2 */
			pthread_mutex_lock(&a->lock);
			a->irr[0] |= 1u << 2;
			update_pending(a);
			pthread_mutex_unlock(&a->lock);
			break;
		case 5:                            /* INIT (deassert ignored) */
			if (!assert && level)
				break;
			pthread_mutex_lock(&a->lock);
			a->init_pending = true;
			update_pending(a);
			pthread_mutex_unlock(&a->lock);
			if (sys->kick)
				sys->kick(sys->opaque, i);
			break;
		case 6:                            /* STARTUP */
			pthread_mutex_lock(&a->lock);
			if (a->c->wait_sipi || a->init_pending)
				a->sipi_vector = (int)vec;
			update_pending(a);
			pthread_mutex_unlock(&a->lock);
			if (sys->kick)
				sys->kick(sys->opaque, i);
			break;
		default:
			break;
		}
		if (mode == 1)
			break;                     /* lowest priority: one target */
	}
}

void emu_apic_msi(struct emu_apic_sys *sys, uint64_t addr, uint32_t data)
{
	if ((addr & 0xFFF00000ULL) != 0xFEE00000ULL)
		return;
	emu_apic_deliver(sys, -1, (uint32_t)(addr >> 12) & 0xFF, (addr >> 2) & 1,
			 (data >> 8) & 7, data & 0xFF, (data >> 15) & 1, 0, true);
}

static void reset_regs(struct emu_lapic *a)
{
	memset(a->irr, 0, sizeof(a->irr));
	memset(a->isr, 0, sizeof(a->isr));
	memset(a->tmr, 0, sizeof(a->tmr));
	a->tpr = a->ldr = a->esr = a->icr_lo = a->icr_hi = 0;
	a->dfr = 0xFFFFFFFF;
	a->svr = 0xFF;
	for (int i = 0; i < NLVT; i++)
		a->lvt[i] = LVT_MASK;
	a->tdcr = a->tmict = 0;
	a->timer_next = 0;
}

static unsigned divider(const struct emu_lapic *a)
{
	unsigned v = (a->tdcr & 3) | ((a->tdcr >> 1) & 4);
	return v == 7 ? 1 : 2u << v;
}

static uint32_t current_count(struct emu_lapic *a, uint64_t now)
{
	if (!a->tmict || ((a->lvt[1] >> 17) & 3) == 2)
		return 0;
	uint64_t ticks = (now - a->timer_start) / divider(a);
	if (((a->lvt[1] >> 17) & 3) == 1)
		return a->tmict - (uint32_t)(ticks % a->tmict);
	return ticks >= a->tmict ? 0 : a->tmict - (uint32_t)ticks;
}

/* Fire an expired timer; lock held. Returns the next deadline (0: none). */
static uint64_t timer_check(struct emu_lapic *a, uint64_t now)
{
	unsigned mode = (a->lvt[1] >> 17) & 3;
	uint64_t next = 0;

	if (mode == 2) {
		uint64_t dl = a->c->tsc_deadline;
		uint64_t tsc = now + a->c->tsc_offset;
		if (dl && tsc >= dl) {
			a->c->tsc_deadline = 0;
			if (!(a->lvt[1] & LVT_MASK))
				a->irr[(a->lvt[1] & 0xFF) / 32] |= 1u << (a->lvt[1] & 31);
		} else if (dl) {
			next = dl - a->c->tsc_offset;
		}
		return next;
	}
	if (!a->timer_next)
		return 0;
	if (now >= a->timer_next) {
		if (!(a->lvt[1] & LVT_MASK) && (a->lvt[1] & 0xFF) >= 16)
			a->irr[(a->lvt[1] & 0xFF) / 32] |= 1u << (a->lvt[1] & 31);
		if (mode == 1 && a->tmict) {
			uint64_t period = (uint64_t)a->tmict * divider(a);
			uint64_t n = (now - a->timer_next) / period + 1;
			a->timer_next += n * period;
		} else {
			a->timer_next = 0;
		}
	}
	return a->timer_next;
}

uint64_t emu_lapic_read(struct emu_cpu *c, uint64_t off, unsigned size)
{
	struct emu_lapic *a = c->lapic;
	uint32_t reg = off & 0xFF0, v = 0;

	pthread_mutex_lock(&a->lock);
	switch (reg) {
	case R_ID: v = a->id << 24; break;
	case R_VER: v = 0x14 | ((NLVT - 1) << 16); break;
	case R_TPR: v = a->tpr; break;
	case R_PPR: v = ppr(a); break;
	case R_LDR: v = a->ldr; break;
	case R_DFR: v = a->dfr; break;
	case R_SVR: v = a->svr; break;
	case R_ESR: v = a->esr; break;
	case R_ICR_LO: v = a->icr_lo & ~(1u << 12); break;
	case R_ICR_HI: v = a->icr_hi; break;
	case R_TMICT: v = a->tmict; break;
	case R_TMCCT: v = current_count(a, now_ns()); break;
	case R_TDCR: v = a->tdcr; break;
	default:
		if (reg >= R_ISR && reg < R_ISR + 0x80)
			v = a->isr[(reg - R_ISR) >> 4];
		else if (reg >= R_TMR && reg < R_TMR + 0x80)
			v = a->tmr[(reg - R_TMR) >> 4];
		else if (reg >= R_IRR && reg < R_IRR + 0x80)
			v = a->irr[(reg - R_IRR) >> 4];
		else if (lvt_index(reg) >= 0)
			v = a->lvt[lvt_index(reg)];
		break;
	}
	pthread_mutex_unlock(&a->lock);
	return (off & 0xF) ? v >> (8 * (off & 3)) : v;
}

void emu_lapic_write(struct emu_cpu *c, uint64_t off, unsigned size, uint64_t val)
{
	struct emu_lapic *a = c->lapic;
	uint32_t reg = off & 0xFF0, v = (uint32_t)val;
	bool send = false;
	int level_eoi = -1;

	if (off & 0xF)
		return;
	pthread_mutex_lock(&a->lock);
	switch (reg) {
	case R_ID: a->id = v >> 24; break;
	case R_TPR: a->tpr = v & 0xFF; break;
	case R_EOI: {
		int s = highest(a->isr);
		if (s >= 0) {
			a->isr[s / 32] &= ~(1u << (s % 32));
			if (a->tmr[s / 32] & (1u << (s % 32)))
				level_eoi = s;
		}
		break;
	}
	case R_LDR: a->ldr = v & 0xFF000000u; break;
	case R_DFR: a->dfr = v | 0x0FFFFFFFu; break;
	case R_SVR:
		a->svr = v & 0x13FF;
		if (!(v & 0x100))
			for (int i = 0; i < NLVT; i++)
				a->lvt[i] |= LVT_MASK;
		break;
	case R_ESR: a->esr = 0; break;
	case R_ICR_HI: a->icr_hi = v & 0xFF000000u; break;
	case R_ICR_LO: a->icr_lo = v & ~(1u << 12); send = true; break;
	case R_TMICT: {
		uint64_t now = now_ns();
		a->tmict = v;
		a->timer_start = now;
		a->timer_next = v ? now + (uint64_t)v * divider(a) : 0;
		break;
	}
	case R_TDCR: a->tdcr = v & 0xB; break;
	default:
		if (lvt_index(reg) >= 0) {
			uint32_t keep = (a->svr & 0x100) ? 0 : LVT_MASK;
			a->lvt[lvt_index(reg)] = v | keep;
		}
		break;
	}
	update_pending(a);
	uint32_t lo = a->icr_lo, hi = a->icr_hi;
	pthread_mutex_unlock(&a->lock);
	if (level_eoi >= 0 && a->sys->eoi)
		a->sys->eoi(a->sys->opaque, (unsigned)level_eoi);
	if (send)
		emu_apic_deliver(a->sys, (int)c->apic_id, hi >> 24, (lo >> 11) & 1,
				 (lo >> 8) & 7, lo & 0xFF, (lo >> 15) & 1,
				 (lo >> 18) & 3, (lo >> 14) & 1);
}

struct emu_lapic *emu_lapic_create(struct emu_apic_sys *sys, struct emu_cpu *c)
{
	struct emu_lapic *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->sys = sys;
	a->c = c;
	a->id = c->apic_id;
	a->sipi_vector = -1;
	pthread_mutex_init(&a->lock, NULL);
	reset_regs(a);
	c->lapic = a;
	c->irq_ack = lapic_ack;
	c->irq_opaque = a;
	return a;
}

void emu_lapic_destroy(struct emu_lapic *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* Real-mode start at vector << 12 after SIPI. */
static void start_at(struct emu_cpu *c, unsigned vector)
{
	struct cpu_boot_state st;
	struct seg_state rs = { .limit = 0xFFFF, .type = 3, .s = 1, .present = 1 };

	memset(&st, 0, sizeof(st));
	st.ds = st.es = st.fs = st.gs = st.ss = rs;
	st.cs = rs;
	st.cs.type = 0xB;
	st.cs.selector = (uint16_t)(vector << 8);
	st.cs.base = (uint64_t)vector << 12;
	st.ldt = (struct seg_state){ .limit = 0xFFFF, .type = 2, .present = 1 };
	st.tr = (struct seg_state){ .limit = 0xFFFF, .type = 0xB, .present = 1 };
	st.rflags = 2;
	st.cr0 = 0x60000010;
	st.gdt_limit = st.idt_limit = 0xFFFF;
	emu_cpu_set_boot_state(c, &st);
}

uint64_t emu_lapic_service(struct emu_cpu *c)
{
	struct emu_lapic *a = c->lapic;
	uint64_t next;

	if (!a)
		return 0;
	pthread_mutex_lock(&a->lock);
	if (a->init_pending) {
		a->init_pending = false;
		reset_regs(a);
		c->wait_sipi = true;
		c->halted = false;
	}
	if (a->sipi_vector >= 0 && c->wait_sipi) {
		start_at(c, (unsigned)a->sipi_vector);
		a->sipi_vector = -1;
	}
	a->sipi_vector = -1;
	next = timer_check(a, now_ns());
	update_pending(a);
	pthread_mutex_unlock(&a->lock);
	return next;
}

bool emu_lapic_has_event(struct emu_cpu *c)
{
	struct emu_lapic *a = c->lapic;
	bool r;
	if (!a)
		return false;
	pthread_mutex_lock(&a->lock);
	r = a->init_pending || a->sipi_vector >= 0;
	pthread_mutex_unlock(&a->lock);
	return r;
}
