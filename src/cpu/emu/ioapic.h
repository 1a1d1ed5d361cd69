/*
 * The emu engine's IOAPIC (ioapic.c): private to src/cpu/emu/.
 */
#ifndef VIREO_CPU_EMU_IOAPIC_H
#define VIREO_CPU_EMU_IOAPIC_H

#include <stdint.h>

struct bus;
struct emu_apic_sys;
struct emu_ioapic;

/* NULL on failure (no memory, or the MMIO range is taken). */
struct emu_ioapic *emu_ioapic_create(struct emu_apic_sys *sys, struct bus *mmio,
				     uint64_t base);
void emu_ioapic_destroy(struct emu_ioapic *io, struct bus *mmio, uint64_t base);
/* level: 1 = asserted (logical level, polarity already applied). */
void emu_ioapic_set_level(struct emu_ioapic *io, unsigned pin, int level);
/* A local APIC's EOI of a level-triggered vector. */
void emu_ioapic_eoi(struct emu_ioapic *io, unsigned vec);

#endif
