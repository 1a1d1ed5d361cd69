/*
 * Local APIC model (xAPIC, MMIO page at LAPIC_BASE) for the emu engine, one
 * per vCPU, grouped in a struct lapic_set so IPIs, the IOAPIC and MSIs can
 * reach every LAPIC. Engine-independent: the CPU talks to it through the
 * functions below and is told about NMI/INIT/SIPI through lapic_cpu_ops.
 *
 * Registers: ID, version 0x14 (max LVT 5: timer, thermal, perf, LINT0,
 * LINT1, error), TPR/APR/PPR, EOI, LDR/DFR (flat and cluster), SVR, ISR/
 * TMR/IRR, ESR, ICR (fixed, lowest priority, NMI, INIT, INIT de-assert,
 * SIPI, shorthands; the busy bit always reads 0), the LVT, and the timer
 * (one-shot, periodic, TSC-deadline) counting at lapic_hz / divide.
 *
 * Threads. The vCPU thread owning a LAPIC calls lapic_pending/lapic_ack/
 * lapic_poll/lapic_next_deadline_ns/lapic_set_tsc_deadline and does its
 * MMIO accesses; any thread may deliver into any LAPIC (IPIs, IOAPIC,
 * MSIs). Each LAPIC has a mutex; no lock is held while calling out (CPU
 * ops, the EOI hook, the ExtINT source), so callees may call back in.
 * lapic_pending() and lapic_next_deadline_ns() are lock-free atomic loads,
 * cheap enough to call between every two instructions.
 *
 * Time. Timers run off "now" in nanoseconds of the host monotonic clock,
 * or of the clock function given to lapic_set_create (tests use a fake
 * one). No thread per timer: the vCPU sleeps in HLT at most until
 * lapic_next_deadline_ns() and calls lapic_poll(now) to fire what expired.
 */
#ifndef VIREO_HW_LAPIC_H
#define VIREO_HW_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "mem/bus.h"

#define LAPIC_MMIO_SIZE 0x1000

/* lapic_pending(): the interrupt to take is an 8259 ExtINT (vector via ack). */
#define LAPIC_PENDING_EXTINT 0x100
/* lapic_next_deadline_ns(): no timer armed. */
#define LAPIC_NO_DEADLINE UINT64_MAX

/* Delivery modes (ICR, IOAPIC redirection entries, MSI data bits 10:8). */
enum apic_delivery {
	APIC_DM_FIXED = 0,
	APIC_DM_LOWEST = 1,
	APIC_DM_SMI = 2,
	APIC_DM_NMI = 4,
	APIC_DM_INIT = 5,
	APIC_DM_SIPI = 6,
	APIC_DM_EXTINT = 7,
};

enum apic_shorthand {
	APIC_DEST_NONE = 0,
	APIC_DEST_SELF = 1,
	APIC_DEST_ALL = 2,
	APIC_DEST_ALL_BUT_SELF = 3,
};

/* One interrupt message, as sent by the ICR, the IOAPIC or an MSI. */
struct apic_irq {
	uint8_t vector;
	uint8_t delivery;            /* enum apic_delivery */
	uint8_t dest;                /* APIC ID or logical mask (xAPIC: 8 bits) */
	uint8_t shorthand;           /* enum apic_shorthand */
	bool dest_logical;
	bool level_trigger;          /* sets the TMR bit: EOI is broadcast */
	bool assert;                 /* false only for INIT level de-assert */
};

/*
 * How a LAPIC reaches its CPU. All may be called from any thread, without
 * the target LAPIC's lock but possibly with the PIT, 8259 or IOAPIC lock
 * held: they must not block nor call into those models; record the event
 * and wake the vCPU. After nmi/init/sipi the LAPIC also calls kick.
 *   kick: lapic_pending() went from -1 to >= 0 (on any thread, the owner's
 *         too: TPR, EOI, timer); wake the vCPU if it sleeps in HLT. To keep
 *         a flag from kicks: set it in kick; the CPU clears it, then reads
 *         lapic_pending() and sets it again if that is >= 0.
 *   init: INIT was received (the LAPIC has already reset its registers);
 *         the CPU enters wait-for-SIPI (APs) or resets.
 *   sipi: STARTUP with this vector; the CPU, if waiting for SIPI, starts in
 *         real mode at CS = vector << 8, IP = 0. Ignore it otherwise.
 *   nmi:  NMI (ICR, LINT0/1 in NMI mode, IOAPIC or MSI with NMI mode).
 * tsc_to_ns (optional): convert a guest TSC value of this CPU to the LAPIC
 *   clock's nanoseconds, for TSC-deadline. NULL: the TSC counts nanoseconds
 *   of that clock (a 1 GHz TSC with no offset).
 */
struct lapic_cpu_ops {
	void (*kick)(void *cpu);
	void (*init)(void *cpu);
	void (*sipi)(void *cpu, uint8_t vector);
	void (*nmi)(void *cpu);
	uint64_t (*tsc_to_ns)(void *cpu, uint64_t tsc);
};

struct lapic;
struct lapic_set;

/*
 * Create n LAPICs with APIC IDs 0..n-1 (index = APIC ID), the timer
 * counting at hz before the divider. cpus[i] is passed to ops for LAPIC i.
 * clock: NULL for CLOCK_MONOTONIC, or a function returning "now" in ns.
 * LAPIC 0 is the BSP: its LINT0 starts as unmasked ExtINT (virtual wire,
 * as firmware leaves it). NULL on failure.
 */
struct lapic_set *lapic_set_create(unsigned n, uint64_t hz, const struct lapic_cpu_ops *ops,
				   void *const cpus[], uint64_t (*clock)(void));
void lapic_set_destroy(struct lapic_set *s);
unsigned lapic_set_count(const struct lapic_set *s);
struct lapic *lapic_get(struct lapic_set *s, unsigned idx);

/*
 * Hooks to the rest of the interrupt system (set once, before vCPUs run):
 * eoi: called after an EOI of a level-triggered vector (TMR set), for the
 *      IOAPIC to clear remote IRR.
 * extint_ack: INTA cycle to the 8259, returns the vector (pic_ack).
 */
void lapic_set_hooks(struct lapic_set *s, void (*eoi)(void *opaque, uint8_t vector),
		     int (*extint_ack)(void *opaque), void *opaque);

/*
 * MMIO. lapic_set_attach claims [LAPIC_BASE, +4 KiB) on mmio; an access is
 * routed to the LAPIC of the calling thread, set by lapic_set_current()
 * (a thread-local index, one per thread, default 0): each vCPU thread calls
 * lapic_set_current(s, its index) once before running guest code. An
 * engine that intercepts the APIC page itself (e.g. to honour a relocated
 * IA32_APIC_BASE) may instead call lapic_mmio_read/write on its own LAPIC.
 * Any offset and size 1/2/4/8 is accepted; registers are 32-bit at 16-byte
 * strides; writes other than 4 or 8 bytes at a register's start are ignored.
 */
int lapic_set_attach(struct lapic_set *s, struct bus *mmio);
void lapic_set_detach(struct lapic_set *s, struct bus *mmio);
void lapic_set_current(struct lapic_set *s, unsigned idx);
uint64_t lapic_mmio_read(struct lapic *a, uint64_t off, unsigned size);
void lapic_mmio_write(struct lapic *a, uint64_t off, unsigned size, uint64_t val);

/* Deliver a message to its destination LAPICs; src is the sender for the
 * self shorthands (NULL from the IOAPIC/MSI). Any thread. */
void lapic_deliver(struct lapic_set *s, const struct apic_irq *irq, struct lapic *src);
/* Decode an MSI write (address 0xFEExxxxx, data) and deliver it. Any thread.
 * Returns 0, or -EINVAL if the address is not an MSI address. */
int lapic_msi(struct lapic_set *s, uint64_t addr, uint32_t data);
/* Drive the LINT0/LINT1 input pin (0/1) of a LAPIC. Any thread. */
void lapic_set_lint(struct lapic *a, unsigned pin, int level);

/*
 * CPU side, owner thread only.
 * lapic_pending: what the CPU would take now if RFLAGS.IF allowed it: a
 *   vector (its priority class above PPR, LAPIC software-enabled), or
 *   LAPIC_PENDING_EXTINT (the 8259 via LINT0 or an IOAPIC ExtINT), or -1.
 *   One atomic load.
 * lapic_ack: the INTA cycle: moves the vector from IRR to ISR and returns
 *   it, or runs the 8259's INTA for ExtINT and returns its vector; -1 if
 *   nothing is pending after all.
 */
int lapic_pending(struct lapic *a);
int lapic_ack(struct lapic *a);

/* Earliest time (ns) the timer fires, LAPIC_NO_DEADLINE if unarmed. */
uint64_t lapic_next_deadline_ns(struct lapic *a);
/* Fire the timer if now_ns reached its deadline (periodic: re-arm). */
void lapic_poll(struct lapic *a, uint64_t now_ns);

/* IA32_TSC_DEADLINE (MSR 0x6E0) write/read, forwarded by the CPU. Writes are
 * ignored unless the LVT timer is in TSC-deadline mode; 0 disarms. */
void lapic_set_tsc_deadline(struct lapic *a, uint64_t tsc);
uint64_t lapic_get_tsc_deadline(struct lapic *a);

/* IA32_APIC_BASE bit 11 (global enable). Disabled: no MMIO effects, no
 * messages accepted, the 8259's INTR goes straight to the CPU. */
void lapic_set_hw_enabled(struct lapic *a, bool enabled);

/* Reset to the power-on/INIT state, keeping the APIC ID. Owner thread (or
 * before vCPUs run). */
void lapic_reset(struct lapic *a);

#endif
