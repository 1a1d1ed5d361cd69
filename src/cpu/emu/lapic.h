/*
 * The emu engine's local APICs (lapic.c): private to src/cpu/emu/.
 */
#ifndef VIREO_CPU_EMU_LAPIC_H
#define VIREO_CPU_EMU_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

struct emu_cpu;
struct emu_lapic;

/* All APICs of a VM, for IPIs and MSIs. kick wakes vCPU cpu's thread. */
struct emu_apic_sys {
	struct emu_lapic *lapic[64];
	unsigned n;
	void (*kick)(void *opaque, unsigned cpu);
	void *opaque;
	/* EOI of a level-triggered vector, for the IOAPIC's remote IRR. */
	void (*eoi)(void *opaque, unsigned vec);
};

struct emu_lapic *emu_lapic_create(struct emu_apic_sys *sys, struct emu_cpu *c);
void emu_lapic_destroy(struct emu_lapic *a);

/* The owning vCPU's accesses to its APIC page. */
uint64_t emu_lapic_read(struct emu_cpu *c, uint64_t off, unsigned size);
void emu_lapic_write(struct emu_cpu *c, uint64_t off, unsigned size, uint64_t val);

/*
 * On the vCPU's thread between instruction batches: apply INIT/SIPI, fire
 * an expired timer. Returns the host-ns time of the next timer expiry, or
 * 0 if none (for a timed sleep in HLT).
 */
uint64_t emu_lapic_service(struct emu_cpu *c);
bool emu_lapic_has_event(struct emu_cpu *c);

/*
 * Deliver an interrupt message: src is the sending APIC (-1: a device),
 * mode the delivery mode (0 fixed, 1 lowest, 4 NMI, 5 INIT, 6 STARTUP),
 * shorthand 0 none, 1 self, 2 all, 3 all but self.
 */
void emu_apic_deliver(struct emu_apic_sys *sys, int src, uint32_t dest,
		      bool logical, unsigned mode, unsigned vec, bool level,
		      unsigned shorthand, bool assert);
void emu_apic_msi(struct emu_apic_sys *sys, uint64_t addr, uint32_t data);

#endif
