/*
 * The emu engine's interrupt system: an i8259 pair, an IOAPIC, an i8254
 * PIT and one LAPIC per vCPU, wired like a PC and presented to devices as
 * a struct irq_chip (src/hw/platform.h).
 *
 * Wiring (matches the MADT of acpi_tables.c):
 *   GSI 0-15  -> i8259 IRQ 0-15 and IOAPIC pin = GSI, except GSI 0 (the
 *                PIT's IRQ0) -> IOAPIC pin 2 (ISA override). GSI 2 (the
 *                cascade) is not a device line and is dropped.
 *   GSI 16-23 -> IOAPIC pins 16-23 only (PCI INTx).
 *   i8259 INT -> LINT0 of LAPIC 0 (ExtINT, virtual wire) and IOAPIC pin 0.
 *   PIT ch. 0 -> GSI 0.  LAPIC EOI of a level vector -> IOAPIC EOI.
 *   MSI       -> decoded (dest ID bits 19:12, dest mode bit 2; vector,
 *                delivery mode, trigger from data) and sent to the LAPICs.
 * Lines are logical levels (1 = asserted), whatever the polarity.
 *
 * HOW THE EMU ENGINE USES IT
 *
 *  1. Create, after the buses and before the vCPU threads run:
 *       ic = irqchip_emu_create(pio, mmio, ncpus, lapic_hz, &ops, cpus);
 *     lapic_hz is the LAPIC timer's input clock (the crystal advertised in
 *     CPUID 0x15: ECX = lapic_hz, EBX/EAX = TSC ratio); ops (lapic.h) are
 *     the engine's kick/init/sipi/nmi (+ optional tsc_to_ns) callbacks;
 *     cpus[i] is what they get for vCPU i. LAPIC i has APIC ID i (CPUID.1
 *     EBX[31:24] = i, as in the MADT). engine_ops.irq_chip returns
 *     irqchip_emu_irq_chip(ic).
 *
 *  2. Each vCPU thread, once at start: irqchip_emu_vcpu_start(ic, i) (routes
 *     its accesses to the shared LAPIC page to LAPIC i), and keep
 *     a = irqchip_emu_lapic(ic, i) for the fast calls below.
 *
 *  3. Between instructions (the interrupt window: RFLAGS.IF = 1 and no
 *     MOV SS/STI shadow):
 *       if (lapic_pending(a) >= 0) {           // one atomic load
 *               int v = lapic_ack(a);          // IRR -> ISR, or 8259 INTA
 *               if (v >= 0) deliver external interrupt v through the IDT;
 *       }
 *     and every so often (each translated block, or every ~1000
 *     instructions; the deadline is an atomic load):
 *       if (now >= irqchip_emu_next_deadline_ns(ic, i))
 *               irqchip_emu_poll(ic, i, now);  // LAPIC timer + PIT
 *     NMI, INIT and SIPI arrive through ops->nmi/init/sipi, from any thread:
 *     latch them and handle them between instructions (INIT: the LAPIC has
 *     already reset itself; enter wait-for-SIPI. SIPI: start at vector<<8:0
 *     if waiting).
 *
 *  4. HLT (and wait-for-SIPI): loop
 *       if (latched NMI/INIT/SIPI || (IF && lapic_pending(a) >= 0)) leave;
 *       d = irqchip_emu_next_deadline_ns(ic, i);
 *       sleep until d (absolute CLOCK_MONOTONIC ns; IRQCHIP_NO_DEADLINE =
 *             forever) or until ops->kick wakes us;
 *       irqchip_emu_poll(ic, i, now);
 *     ops->kick may run just before the sleep starts: latch it (a flag
 *     checked under the sleep's mutex, or an eventfd), never lose it.
 *
 *  5. MSRs: IA32_TSC_DEADLINE (0x6E0) write -> lapic_set_tsc_deadline(a, v),
 *     read -> lapic_get_tsc_deadline(a). IA32_APIC_BASE bit 11 ->
 *     lapic_set_hw_enabled(a, bit). An engine that decodes APIC-page
 *     accesses itself (relocated APIC base) calls lapic_mmio_read/write(a).
 *
 *  6. Teardown after the vCPU threads are joined: irqchip_emu_destroy(ic).
 *
 * The PIT is polled by whichever vCPU gets there first (it has its own
 * mutex), so there is no timer thread and an idle PIT costs nothing.
 */
#ifndef VIREO_HW_IRQCHIP_EMU_H
#define VIREO_HW_IRQCHIP_EMU_H

#include <stdint.h>

#include "hw/i8254.h"
#include "hw/i8259.h"
#include "hw/ioapic.h"
#include "hw/lapic.h"
#include "hw/platform.h"
#include "mem/bus.h"

#define IRQCHIP_NO_DEADLINE UINT64_MAX

struct irqchip_emu {
	struct irq_chip chip;        /* what devices get */
	struct pic *pic;
	struct ioapic *ioapic;
	struct i8254 *pit;
	struct lapic_set *lapics;
	struct bus *pio, *mmio;
	uint64_t dropped;            /* bad GSIs and MSI addresses (atomic) */
};

/* NULL (logged) on failure. cpus has ncpus entries. */
struct irqchip_emu *irqchip_emu_create(struct bus *pio, struct bus *mmio, unsigned ncpus,
				       uint64_t lapic_hz, const struct lapic_cpu_ops *ops,
				       void *cpus[]);
/* The same with a fake clock for the PIT and the LAPIC registers (tests). */
struct irqchip_emu *irqchip_emu_create_clock(struct bus *pio, struct bus *mmio,
					     unsigned ncpus, uint64_t lapic_hz,
					     const struct lapic_cpu_ops *ops, void *cpus[],
					     uint64_t (*clock)(void));
void irqchip_emu_destroy(struct irqchip_emu *ic);

struct irq_chip *irqchip_emu_irq_chip(struct irqchip_emu *ic);
struct lapic *irqchip_emu_lapic(struct irqchip_emu *ic, unsigned cpu);

/* Per vCPU thread; see the steps above. */
void irqchip_emu_vcpu_start(struct irqchip_emu *ic, unsigned cpu);
int irqchip_emu_pending(struct irqchip_emu *ic, unsigned cpu);
int irqchip_emu_ack(struct irqchip_emu *ic, unsigned cpu);
uint64_t irqchip_emu_next_deadline_ns(struct irqchip_emu *ic, unsigned cpu);
void irqchip_emu_poll(struct irqchip_emu *ic, unsigned cpu, uint64_t now_ns);

#endif
