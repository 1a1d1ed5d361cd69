/*
 * I/O APIC (82093AA-style, version 0x11, 24 pins) at IOAPIC_BASE:
 * IOREGSEL at +0x00, IOWIN at +0x10, and the EOI register of version 0x20
 * parts at +0x40 (accepted, though version 0x11 is reported, so Linux uses
 * the LAPIC's EOI broadcast or its edge/level flip, both handled).
 *
 * Redirection entries: vector, delivery mode (fixed, lowest priority, SMI,
 * NMI, INIT, ExtINT), physical/logical destination, polarity, trigger,
 * mask, remote IRR (level), delivery status (always 0: delivery is
 * immediate). Lines are logical: 1 = asserted, whatever the polarity bit
 * says (as KVM's IOAPIC does; the polarity bit is only stored).
 *
 * Edge pins deliver on a rising edge when unmasked. Level pins deliver
 * while asserted, unmasked and remote IRR clear, then set remote IRR until
 * an EOI for their vector (ioapic_eoi, from the LAPICs' EOI broadcast, or
 * the EOI register), or until the entry is switched to edge.
 *
 * Thread-safe (one mutex, held while delivering to LAPICs).
 */
#ifndef VIREO_HW_IOAPIC_H
#define VIREO_HW_IOAPIC_H

#include <stdint.h>

#include "hw/lapic.h"
#include "mem/bus.h"

#define IOAPIC_PINS     24
#define IOAPIC_MMIO_SIZE 0x1000

struct ioapic;

/* id: the IOAPIC's APIC ID (as in the MADT). Messages go to lapics. */
struct ioapic *ioapic_create(struct lapic_set *lapics, uint8_t id);
void ioapic_destroy(struct ioapic *io);
int ioapic_attach(struct ioapic *io, struct bus *mmio);
void ioapic_detach(struct ioapic *io, struct bus *mmio);

/* Drive pin (0-23). Any thread. */
void ioapic_set_irq(struct ioapic *io, unsigned pin, int level);
/* End of interrupt for vector (LAPIC EOI broadcast). Any thread. */
void ioapic_eoi(struct ioapic *io, uint8_t vector);

/* The MMIO window, offsets relative to IOAPIC_BASE; any size/offset. */
uint64_t ioapic_mmio_read(struct ioapic *io, uint64_t off, unsigned size);
void ioapic_mmio_write(struct ioapic *io, uint64_t off, unsigned size, uint64_t val);

/* Power-on state: all entries masked, edge, vector 0. */
void ioapic_reset(struct ioapic *io);

#endif
