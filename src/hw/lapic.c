/*
 * Local APIC (xAPIC) model; see lapic.h for the threading and time rules.
 *
 * Every state change that can alter what the CPU would take next ends in
 * update_locked(), which stores the answer of lapic_pending() in an atomic,
 * so the per-instruction check takes no lock. Messages from other threads
 * take the target's mutex; calls out (CPU ops, EOI hook, 8259 INTA) happen
 * after it is dropped. Lock order of the interrupt system: i8259, then
 * IOAPIC, then one LAPIC; a LAPIC never calls out while holding its lock.
 */
#include "hw/lapic.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "mem/layout.h"

enum {
	R_ID = 0x20, R_VER = 0x30, R_TPR = 0x80, R_APR = 0x90, R_PPR = 0xA0,
	R_EOI = 0xB0, R_RRD = 0xC0, R_LDR = 0xD0, R_DFR = 0xE0, R_SVR = 0xF0,
	R_ISR = 0x100, R_TMR = 0x180, R_IRR = 0x200, R_ESR = 0x280,
	R_ICR_LO = 0x300, R_ICR_HI = 0x310, R_LVT = 0x320,
	R_TMICT = 0x380, R_TMCCT = 0x390, R_TDCR = 0x3E0,
};

/* The LVT in register order from 0x320; version reports NLVT - 1 = 5. */
enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, NLVT };

#define LAPIC_VERSION   (0x14u | ((NLVT - 1u) << 16))
#define LVT_MASKED      (1u << 16)
#define LVT_LEVEL       (1u << 15)
#define LVT_REMOTE_IRR  (1u << 14)
#define LVT_TIMER_MODE(v) (((v) >> 17) & 3)
enum { TIMER_ONESHOT, TIMER_PERIODIC, TIMER_TSC_DEADLINE };
#define SVR_ENABLE      (1u << 8)
#define ESR_SEND_ILLEGAL (1u << 5)
#define ESR_RECV_ILLEGAL (1u << 6)
#define ICR_LEVEL_ASSERT (1u << 14)
#define ICR_LEVEL_TRIG   (1u << 15)

static const uint32_t lvt_writable[NLVT] = {
	[LVT_TIMER] = 0xFF | LVT_MASKED | (3u << 17),
	[LVT_THERMAL] = 0x7FF | LVT_MASKED,
	[LVT_PERF] = 0x7FF | LVT_MASKED,
	[LVT_LINT0] = 0x7FF | (1u << 13) | LVT_LEVEL | LVT_MASKED,
	[LVT_LINT1] = 0x7FF | (1u << 13) | LVT_LEVEL | LVT_MASKED,
	[LVT_ERROR] = 0xFF | LVT_MASKED,
};

struct lapic {
	struct lapic_set *set;
	unsigned idx;
	void *cpu;
	pthread_mutex_t lock;
	int pending;                 /* atomic: lapic_pending()'s answer */
	uint64_t deadline;           /* atomic: ns, LAPIC_NO_DEADLINE */
	bool hw_enabled;
	uint32_t id, tpr, ldr, dfr, svr, esr, esr_acc, icr_lo, icr_hi;
	uint32_t irr[8], isr[8], tmr[8];
	uint32_t lvt[NLVT];
	uint32_t tdcr, tmict;
	uint64_t timer_start;        /* ns: start of the current count/period */
	bool timer_armed;            /* one-shot/periodic counting */
	uint64_t tsc_deadline;
	bool lint_level[2];
	bool extint_edge;            /* ExtINT message from the IOAPIC */
	bool kick_due;               /* pending went from -1 to >= 0 */
};

struct lapic_set {
	unsigned n;
	uint64_t hz;
	const struct lapic_cpu_ops *ops;
	uint64_t (*clock)(void);
	void (*eoi)(void *opaque, uint8_t vector);
	int (*extint_ack)(void *opaque);
	void *hook_opaque;
	struct lapic *apic;          /* n of them */
};

static __thread unsigned current_idx;

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(const struct lapic_set *s)
{
	return s->clock ? s->clock() : monotonic_ns();
}

static void set_bit256(uint32_t v[8], unsigned n)   { v[n >> 5] |= 1u << (n & 31); }
static void clear_bit256(uint32_t v[8], unsigned n) { v[n >> 5] &= ~(1u << (n & 31)); }
static bool test_bit256(const uint32_t v[8], unsigned n) { return v[n >> 5] >> (n & 31) & 1; }

static int highest256(const uint32_t v[8])
{
	for (int i = 7; i >= 0; i--)
		if (v[i])
			return i * 32 + 31 - __builtin_clz(v[i]);
	return -1;
}

static uint32_t ppr_locked(const struct lapic *a)
{
	int isrv = highest256(a->isr);
	uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xF0;

	return (a->tpr & 0xF0) >= isr_class ? a->tpr & 0xFF : isr_class;
}

static bool sw_enabled(const struct lapic *a)
{
	return a->svr & SVR_ENABLE;
}

static bool extint_ready_locked(const struct lapic *a)
{
	uint32_t l = a->lvt[LVT_LINT0];

	if (!a->hw_enabled)
		return a->lint_level[0];        /* INTR straight to the CPU */
	if (a->extint_edge)
		return true;
	return a->lint_level[0] && !(l & LVT_MASKED) && ((l >> 8) & 7) == APIC_DM_EXTINT;
}

static int compute_pending_locked(const struct lapic *a)
{
	int v;

	if (extint_ready_locked(a))
		return LAPIC_PENDING_EXTINT;
	if (!a->hw_enabled || !sw_enabled(a))
		return -1;
	v = highest256(a->irr);
	if (v < 0 || ((uint32_t)v & 0xF0) <= (ppr_locked(a) & 0xF0))
		return -1;
	return v;
}

/*
 * Publish lapic_pending()'s answer; returns it. A change from nothing to
 * something deliverable owes the CPU a kick, paid by unlock_kick().
 */
static int update_locked(struct lapic *a)
{
	int p = compute_pending_locked(a);

	if (p >= 0 && a->pending < 0)
		a->kick_due = true;
	__atomic_store_n(&a->pending, p, __ATOMIC_RELEASE);
	return p;
}

static void set_deadline_locked(struct lapic *a, uint64_t ns)
{
	__atomic_store_n(&a->deadline, ns, __ATOMIC_RELEASE);
}

static void kick(struct lapic *a)
{
	const struct lapic_cpu_ops *ops = a->set->ops;

	if (ops && ops->kick)
		ops->kick(a->cpu);
}

static void unlock_kick(struct lapic *a)
{
	bool k = a->kick_due;

	a->kick_due = false;
	pthread_mutex_unlock(&a->lock);
	if (k)
		kick(a);
}

/* Queue a vector in IRR (edge or level); vectors 0-15 are illegal. */
static void raise_vector_locked(struct lapic *a, unsigned vector, bool level)
{
	if (vector < 16) {
		a->esr_acc |= ESR_RECV_ILLEGAL;
		if (!(a->lvt[LVT_ERROR] & LVT_MASKED) && (a->lvt[LVT_ERROR] & 0xFF) >= 16)
			set_bit256(a->irr, a->lvt[LVT_ERROR] & 0xFF);
		return;
	}
	set_bit256(a->irr, vector);
	if (level)
		set_bit256(a->tmr, vector);
	else
		clear_bit256(a->tmr, vector);
}

/* ---- timer ---- */

static unsigned timer_divisor(uint32_t tdcr)
{
	unsigned v = (tdcr & 3) | ((tdcr >> 1) & 4);

	return v == 7 ? 1 : 2u << v;
}

static uint64_t ticks_to_ns(const struct lapic *a, uint64_t ticks)
{
	unsigned __int128 ns = (unsigned __int128)ticks * timer_divisor(a->tdcr) * 1000000000u;

	ns /= a->set->hz;
	if (ns == 0)
		ns = 1;
	return ns > UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t)ns;
}

static uint64_t elapsed_ticks(const struct lapic *a, uint64_t now)
{
	unsigned __int128 t;

	if (now <= a->timer_start)
		return 0;
	t = (unsigned __int128)(now - a->timer_start) * a->set->hz;
	t /= (uint64_t)timer_divisor(a->tdcr) * 1000000000u;
	return t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
}

/* Recompute the deadline of a one-shot/periodic count after a change. */
static void timer_rearm_locked(struct lapic *a)
{
	if (LVT_TIMER_MODE(a->lvt[LVT_TIMER]) == TIMER_TSC_DEADLINE)
		return;
	if (!a->timer_armed || a->tmict == 0) {
		a->timer_armed = false;
		set_deadline_locked(a, LAPIC_NO_DEADLINE);
		return;
	}
	set_deadline_locked(a, a->timer_start + ticks_to_ns(a, a->tmict));
}

static uint32_t timer_current_count_locked(const struct lapic *a, uint64_t now)
{
	uint64_t el;

	if (!a->timer_armed || a->tmict == 0 ||
	    LVT_TIMER_MODE(a->lvt[LVT_TIMER]) == TIMER_TSC_DEADLINE)
		return 0;
	el = elapsed_ticks(a, now);
	if (LVT_TIMER_MODE(a->lvt[LVT_TIMER]) == TIMER_PERIODIC)
		return a->tmict - (uint32_t)(el % a->tmict);
	return el >= a->tmict ? 0 : a->tmict - (uint32_t)el;
}

static void timer_fire_locked(struct lapic *a)
{
	uint32_t l = a->lvt[LVT_TIMER];

	if (!(l & LVT_MASKED))
		raise_vector_locked(a, l & 0xFF, false);
}

void lapic_poll(struct lapic *a, uint64_t now)
{
	if (now < __atomic_load_n(&a->deadline, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&a->lock);
	if (a->deadline != LAPIC_NO_DEADLINE && now >= a->deadline) {
		switch (LVT_TIMER_MODE(a->lvt[LVT_TIMER])) {
		case TIMER_TSC_DEADLINE:
			a->tsc_deadline = 0;
			set_deadline_locked(a, LAPIC_NO_DEADLINE);
			break;
		case TIMER_PERIODIC: {
			/* Missed periods coalesce into one interrupt. */
			uint64_t period = ticks_to_ns(a, a->tmict);

			a->timer_start += (now - a->timer_start) / period * period;
			set_deadline_locked(a, a->timer_start + period);
			break;
		}
		default:
			a->timer_armed = false;
			set_deadline_locked(a, LAPIC_NO_DEADLINE);
			break;
		}
		timer_fire_locked(a);
		update_locked(a);
	}
	unlock_kick(a);
}

uint64_t lapic_next_deadline_ns(struct lapic *a)
{
	return __atomic_load_n(&a->deadline, __ATOMIC_ACQUIRE);
}

void lapic_set_tsc_deadline(struct lapic *a, uint64_t tsc)
{
	const struct lapic_cpu_ops *ops = a->set->ops;
	uint64_t ns = tsc;

	if (tsc && ops && ops->tsc_to_ns)
		ns = ops->tsc_to_ns(a->cpu, tsc);
	pthread_mutex_lock(&a->lock);
	if (LVT_TIMER_MODE(a->lvt[LVT_TIMER]) == TIMER_TSC_DEADLINE) {
		a->tsc_deadline = tsc;
		set_deadline_locked(a, tsc ? ns : LAPIC_NO_DEADLINE);
	}
	pthread_mutex_unlock(&a->lock);
}

uint64_t lapic_get_tsc_deadline(struct lapic *a)
{
	uint64_t v;

	pthread_mutex_lock(&a->lock);
	v = LVT_TIMER_MODE(a->lvt[LVT_TIMER]) == TIMER_TSC_DEADLINE ? a->tsc_deadline : 0;
	pthread_mutex_unlock(&a->lock);
	return v;
}

/* ---- reset, creation ---- */

static void reset_locked(struct lapic *a, bool virtual_wire)
{
	memset(a->irr, 0, sizeof(a->irr));
	memset(a->isr, 0, sizeof(a->isr));
	memset(a->tmr, 0, sizeof(a->tmr));
	a->tpr = a->ldr = a->esr = a->esr_acc = a->icr_lo = a->icr_hi = 0;
	a->dfr = 0xF0000000;
	a->svr = 0xFF;
	for (unsigned i = 0; i < NLVT; i++)
		a->lvt[i] = LVT_MASKED;
	/* What firmware leaves on the BSP: the 8259 through LINT0, NMI on LINT1. */
	if (virtual_wire) {
		a->lvt[LVT_LINT0] = APIC_DM_EXTINT << 8;
		a->lvt[LVT_LINT1] = APIC_DM_NMI << 8;
	}
	a->tdcr = a->tmict = 0;
	a->timer_armed = false;
	a->tsc_deadline = 0;
	a->extint_edge = false;
	set_deadline_locked(a, LAPIC_NO_DEADLINE);
	update_locked(a);
}

void lapic_reset(struct lapic *a)
{
	pthread_mutex_lock(&a->lock);
	reset_locked(a, a->idx == 0);
	unlock_kick(a);
}

struct lapic_set *lapic_set_create(unsigned n, uint64_t hz, const struct lapic_cpu_ops *ops,
				   void *const cpus[], uint64_t (*clock)(void))
{
	struct lapic_set *s;

	if (n == 0 || n > 255 || hz == 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->apic = calloc(n, sizeof(*s->apic));
	if (!s->apic) {
		free(s);
		return NULL;
	}
	s->n = n;
	s->hz = hz;
	s->ops = ops;
	s->clock = clock;
	for (unsigned i = 0; i < n; i++) {
		struct lapic *a = &s->apic[i];

		a->set = s;
		a->idx = i;
		a->id = i;
		a->cpu = cpus ? cpus[i] : NULL;
		a->hw_enabled = true;
		pthread_mutex_init(&a->lock, NULL);
		lapic_reset(a);
	}
	return s;
}

void lapic_set_destroy(struct lapic_set *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->n; i++)
		pthread_mutex_destroy(&s->apic[i].lock);
	free(s->apic);
	free(s);
}

unsigned lapic_set_count(const struct lapic_set *s)
{
	return s->n;
}

struct lapic *lapic_get(struct lapic_set *s, unsigned idx)
{
	return idx < s->n ? &s->apic[idx] : NULL;
}

void lapic_set_hooks(struct lapic_set *s, void (*eoi)(void *opaque, uint8_t vector),
		     int (*extint_ack)(void *opaque), void *opaque)
{
	s->eoi = eoi;
	s->extint_ack = extint_ack;
	s->hook_opaque = opaque;
}

void lapic_set_hw_enabled(struct lapic *a, bool enabled)
{
	pthread_mutex_lock(&a->lock);
	a->hw_enabled = enabled;
	update_locked(a);
	unlock_kick(a);
}

/* ---- message delivery ---- */

/* Does LAPIC a take a message for irq->dest (no shorthand)? */
static bool dest_match(struct lapic *a, const struct apic_irq *irq)
{
	bool hit;

	pthread_mutex_lock(&a->lock);
	if (!irq->dest_logical) {
		hit = irq->dest == 0xFF || irq->dest == a->id;
	} else if (irq->dest == 0xFF) {
		hit = true;
	} else {
		uint8_t ldr = a->ldr >> 24;

		if ((a->dfr >> 28) == 0xF)                   /* flat */
			hit = (ldr & irq->dest) != 0;
		else                                         /* cluster */
			hit = ((irq->dest >> 4) == (ldr >> 4) || (irq->dest >> 4) == 0xF) &&
			      (irq->dest & ldr & 0x0F);
	}
	pthread_mutex_unlock(&a->lock);
	return hit;
}

/* Accept one message in LAPIC a. Called with no lock held. */
static void accept(struct lapic *a, const struct apic_irq *irq)
{
	const struct lapic_cpu_ops *ops = a->set->ops;
	enum { NONE, NMI, INIT, SIPI } act = NONE;

	pthread_mutex_lock(&a->lock);
	if (!a->hw_enabled) {
		pthread_mutex_unlock(&a->lock);
		return;
	}
	switch (irq->delivery) {
	case APIC_DM_FIXED:
	case APIC_DM_LOWEST:
		raise_vector_locked(a, irq->vector, irq->level_trigger);
		update_locked(a);
		break;
	case APIC_DM_NMI:
		act = NMI;
		break;
	case APIC_DM_INIT:
		if (!irq->assert && irq->level_trigger)
			break;                      /* INIT level de-assert: no-op */
		reset_locked(a, false);
		act = INIT;
		break;
	case APIC_DM_SIPI:
		act = SIPI;
		break;
	case APIC_DM_EXTINT:
		a->extint_edge = true;
		update_locked(a);
		break;
	default:                                    /* SMI, reserved */
		break;
	}
	unlock_kick(a);

	if (ops) {
		if (act == NMI && ops->nmi)
			ops->nmi(a->cpu);
		else if (act == INIT && ops->init)
			ops->init(a->cpu);
		else if (act == SIPI && ops->sipi)
			ops->sipi(a->cpu, irq->vector);
	}
	if (act != NONE)
		kick(a);
}

void lapic_deliver(struct lapic_set *s, const struct apic_irq *irq, struct lapic *src)
{
	struct lapic *best = NULL;
	uint32_t best_ppr = 0;

	switch (irq->shorthand) {
	case APIC_DEST_SELF:
		if (src)
			accept(src, irq);
		return;
	case APIC_DEST_ALL:
	case APIC_DEST_ALL_BUT_SELF:
		for (unsigned i = 0; i < s->n; i++)
			if (irq->shorthand == APIC_DEST_ALL || &s->apic[i] != src)
				accept(&s->apic[i], irq);
		return;
	default:
		break;
	}
	if (irq->delivery != APIC_DM_LOWEST) {
		for (unsigned i = 0; i < s->n; i++)
			if (dest_match(&s->apic[i], irq))
				accept(&s->apic[i], irq);
		return;
	}
	/* Lowest priority: the enabled target with the lowest PPR, first wins. */
	for (unsigned i = 0; i < s->n; i++) {
		struct lapic *a = &s->apic[i];
		uint32_t p;
		bool ok;

		if (!dest_match(a, irq))
			continue;
		pthread_mutex_lock(&a->lock);
		ok = a->hw_enabled && sw_enabled(a);
		p = ppr_locked(a);
		pthread_mutex_unlock(&a->lock);
		if (!best || (ok && p < best_ppr)) {
			best = a;
			best_ppr = ok ? p : UINT32_MAX;
		}
	}
	if (best)
		accept(best, irq);
}

int lapic_msi(struct lapic_set *s, uint64_t addr, uint32_t data)
{
	struct apic_irq irq;

	if ((addr >> 32) != 0 || (addr & 0xFFF00000u) != LAPIC_BASE)
		return -EINVAL;
	irq = (struct apic_irq){
		.vector = data & 0xFF,
		.delivery = (data >> 8) & 7,
		.dest = (addr >> 12) & 0xFF,
		.shorthand = APIC_DEST_NONE,
		.dest_logical = addr & 4,
		.level_trigger = data & (1u << 15),
		.assert = !(data & (1u << 15)) || (data & (1u << 14)),
	};
	lapic_deliver(s, &irq, NULL);
	return 0;
}

void lapic_set_lint(struct lapic *a, unsigned pin, int level)
{
	const struct lapic_cpu_ops *ops = a->set->ops;
	bool rising, nmi = false;
	uint32_t l;

	if (pin > 1)
		return;
	pthread_mutex_lock(&a->lock);
	rising = level && !a->lint_level[pin];
	a->lint_level[pin] = level != 0;
	l = a->lvt[LVT_LINT0 + pin];
	if (a->hw_enabled && !(l & LVT_MASKED)) {
		switch ((l >> 8) & 7) {
		case APIC_DM_NMI:
			nmi = rising;
			break;
		case APIC_DM_FIXED:
			if (rising || (level && (l & LVT_LEVEL)))
				raise_vector_locked(a, l & 0xFF, l & LVT_LEVEL);
			break;
		default:
			break;
		}
	}
	update_locked(a);
	unlock_kick(a);
	if (nmi && ops && ops->nmi)
		ops->nmi(a->cpu);
	if (nmi)
		kick(a);
}

/* ---- CPU side ---- */

int lapic_pending(struct lapic *a)
{
	return __atomic_load_n(&a->pending, __ATOMIC_ACQUIRE);
}

int lapic_ack(struct lapic *a)
{
	struct lapic_set *s = a->set;
	uint8_t spurious;
	int p;

	pthread_mutex_lock(&a->lock);
	p = compute_pending_locked(a);
	if (p >= 0 && p != LAPIC_PENDING_EXTINT) {
		clear_bit256(a->irr, p);
		set_bit256(a->isr, p);
	} else if (p == LAPIC_PENDING_EXTINT) {
		a->extint_edge = false;
	}
	update_locked(a);
	spurious = a->svr & 0xFF;
	unlock_kick(a);
	if (p == LAPIC_PENDING_EXTINT)
		return s->extint_ack ? s->extint_ack(s->hook_opaque) & 0xFF : spurious;
	return p;
}

/* ---- registers ---- */

static uint32_t apr_locked(const struct lapic *a)
{
	int irrv = highest256(a->irr), isrv = highest256(a->isr);
	uint32_t cls = (uint32_t)(irrv > isrv ? irrv : isrv);

	if (irrv < 0 && isrv < 0)
		return a->tpr & 0xFF;
	cls &= 0xF0;
	return (a->tpr & 0xF0) >= cls ? a->tpr & 0xFF : cls;
}

static uint32_t reg_read_locked(struct lapic *a, unsigned reg)
{
	if (reg >= R_ISR && reg < R_ISR + 0x80)
		return a->isr[(reg - R_ISR) >> 4];
	if (reg >= R_TMR && reg < R_TMR + 0x80)
		return a->tmr[(reg - R_TMR) >> 4];
	if (reg >= R_IRR && reg < R_IRR + 0x80)
		return a->irr[(reg - R_IRR) >> 4];
	if (reg >= R_LVT && reg < R_LVT + NLVT * 0x10)
		return a->lvt[(reg - R_LVT) >> 4];
	switch (reg) {
	case R_ID:     return a->id << 24;
	case R_VER:    return LAPIC_VERSION;
	case R_TPR:    return a->tpr;
	case R_APR:    return apr_locked(a);
	case R_PPR:    return ppr_locked(a);
	case R_LDR:    return a->ldr;
	case R_DFR:    return a->dfr | 0x0FFFFFFF;
	case R_SVR:    return a->svr;
	case R_ESR:    return a->esr;
	case R_ICR_LO: return a->icr_lo;         /* delivery status (busy) 0 */
	case R_ICR_HI: return a->icr_hi;
	case R_TMICT:  return a->tmict;
	case R_TMCCT:  return timer_current_count_locked(a, now_ns(a->set));
	case R_TDCR:   return a->tdcr;
	default:       return 0;                 /* EOI, RRD, reserved */
	}
}

uint64_t lapic_mmio_read(struct lapic *a, uint64_t off, unsigned size)
{
	unsigned byte = off & 0xF;
	uint64_t v;

	if (off >= LAPIC_MMIO_SIZE || size == 0 || size > 8)
		return 0;
	pthread_mutex_lock(&a->lock);
	v = a->hw_enabled ? reg_read_locked(a, off & 0xFF0) : 0;
	pthread_mutex_unlock(&a->lock);
	/* Bytes 4-15 of each 16-byte slot read as zero. */
	v = byte < 4 ? v >> (8 * byte) : 0;
	return size == 8 ? v : v & ((1ull << (8 * size)) - 1);
}

/* The write side; sets *eoi_vec to a level vector whose EOI must be broadcast. */
static void reg_write_locked(struct lapic *a, unsigned reg, uint32_t val, int *eoi_vec,
			     bool *send_ipi)
{
	if (reg >= R_LVT && reg < R_LVT + NLVT * 0x10) {
		unsigned i = (reg - R_LVT) >> 4;
		uint32_t old = a->lvt[i];

		a->lvt[i] = (val & lvt_writable[i]) | (old & LVT_REMOTE_IRR);
		if (!sw_enabled(a))
			a->lvt[i] |= LVT_MASKED;
		if (i == LVT_TIMER && ((LVT_TIMER_MODE(old) == TIMER_TSC_DEADLINE) !=
				       (LVT_TIMER_MODE(a->lvt[i]) == TIMER_TSC_DEADLINE))) {
			/* Switching to or from TSC-deadline disarms the timer. */
			a->tmict = 0;
			a->tsc_deadline = 0;
			a->timer_armed = false;
			set_deadline_locked(a, LAPIC_NO_DEADLINE);
		} else if (i == LVT_TIMER) {
			timer_rearm_locked(a);
		}
		return;
	}
	switch (reg) {
	case R_ID:
		a->id = val >> 24;
		break;
	case R_TPR:
		a->tpr = val & 0xFF;
		break;
	case R_EOI: {
		int v = highest256(a->isr);

		if (v >= 0) {
			clear_bit256(a->isr, v);
			if (test_bit256(a->tmr, v))
				*eoi_vec = v;
		}
		break;
	}
	case R_LDR:
		a->ldr = val & 0xFF000000;
		break;
	case R_DFR:
		a->dfr = val & 0xF0000000;
		break;
	case R_SVR:
		a->svr = val & 0x3FF;
		if (!sw_enabled(a))
			for (unsigned i = 0; i < NLVT; i++)
				a->lvt[i] |= LVT_MASKED;
		break;
	case R_ESR:
		a->esr = a->esr_acc;
		a->esr_acc = 0;
		break;
	case R_ICR_LO:
		a->icr_lo = val & 0x000CCFFF;   /* no busy bit, no reserved bits */
		*send_ipi = true;
		break;
	case R_ICR_HI:
		a->icr_hi = val & 0xFF000000;
		break;
	case R_TMICT:
		if (LVT_TIMER_MODE(a->lvt[LVT_TIMER]) == TIMER_TSC_DEADLINE)
			break;
		a->tmict = val;
		a->timer_start = now_ns(a->set);
		a->timer_armed = val != 0;
		timer_rearm_locked(a);
		break;
	case R_TDCR: {
		/* Keep the current count; continue from it at the new rate. */
		uint64_t now = now_ns(a->set);
		uint32_t done = a->tmict - timer_current_count_locked(a, now);

		a->tdcr = val & 0xB;
		if (a->timer_armed && a->tmict) {
			uint64_t back = done ? ticks_to_ns(a, done) : 0;

			a->timer_start = back < now ? now - back : 0;
		}
		timer_rearm_locked(a);
		break;
	}
	default:                        /* read-only and reserved: ignored */
		break;
	}
}

void lapic_mmio_write(struct lapic *a, uint64_t off, unsigned size, uint64_t val)
{
	struct lapic_set *s = a->set;
	bool send_ipi = false;
	int eoi_vec = -1;
	struct apic_irq irq;

	if (off >= LAPIC_MMIO_SIZE || (off & 0xF) || (size != 4 && size != 8))
		return;
	pthread_mutex_lock(&a->lock);
	if (!a->hw_enabled) {
		pthread_mutex_unlock(&a->lock);
		return;
	}
	reg_write_locked(a, off & 0xFF0, (uint32_t)val, &eoi_vec, &send_ipi);
	if (send_ipi) {
		irq = (struct apic_irq){
			.vector = a->icr_lo & 0xFF,
			.delivery = (a->icr_lo >> 8) & 7,
			.dest_logical = a->icr_lo & (1u << 11),
			.assert = a->icr_lo & ICR_LEVEL_ASSERT,
			.level_trigger = a->icr_lo & ICR_LEVEL_TRIG,
			.shorthand = (a->icr_lo >> 18) & 3,
			.dest = a->icr_hi >> 24,
		};
		/* Fixed IPIs with vectors 0-15 are not sent. */
		if ((irq.delivery == APIC_DM_FIXED || irq.delivery == APIC_DM_LOWEST) &&
		    irq.vector < 16) {
			a->esr_acc |= ESR_SEND_ILLEGAL;
			send_ipi = false;
		}
		/* An IPI is edge-triggered unless it is an INIT (de-)assert. */
		if (irq.delivery != APIC_DM_INIT)
			irq.level_trigger = false;
	}
	update_locked(a);
	unlock_kick(a);

	if (eoi_vec >= 0 && s->eoi)
		s->eoi(s->hook_opaque, (uint8_t)eoi_vec);
	if (send_ipi)
		lapic_deliver(s, &irq, a);
}

/* ---- the shared MMIO page ---- */

void lapic_set_current(struct lapic_set *s, unsigned idx)
{
	current_idx = s && idx < s->n ? idx : 0;
}

static struct lapic *current_lapic(struct lapic_set *s)
{
	return &s->apic[current_idx < s->n ? current_idx : 0];
}

static uint64_t set_mmio_read(void *opaque, uint64_t off, unsigned size)
{
	return lapic_mmio_read(current_lapic(opaque), off, size);
}

static void set_mmio_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	lapic_mmio_write(current_lapic(opaque), off, size, val);
}

static const struct bus_ops lapic_bus_ops = {
	.read = set_mmio_read,
	.write = set_mmio_write,
};

int lapic_set_attach(struct lapic_set *s, struct bus *mmio)
{
	int err = bus_add(mmio, LAPIC_BASE, LAPIC_MMIO_SIZE, &lapic_bus_ops, s, "lapic");

	if (err)
		log_err("lapic: cannot claim MMIO at 0x%llx: %d", LAPIC_BASE, err);
	return err;
}

void lapic_set_detach(struct lapic_set *s, struct bus *mmio)
{
	bus_remove(mmio, LAPIC_BASE, s);
}
