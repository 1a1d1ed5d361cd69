/*
 * The PC's pair of 8259A programmable interrupt controllers: master at
 * ports 0x20/0x21, slave at 0xA0/0xA1 cascaded on the master's IR2, and
 * the edge/level control registers (ELCR) at 0x4D0/0x4D1.
 *
 * Modelled: ICW1-ICW4 (edge/level from the ELCR, not ICW1's LTIM), OCW1
 * (mask), OCW2 (non-specific/specific EOI, rotation, set priority), OCW3
 * (read IRR/ISR, poll, special mask), auto-EOI (with rotation), special
 * fully nested mode, rotating priority, spurious IRQ7/IRQ15 on an INTA
 * with nothing left to deliver.
 *
 * The master's INT output is reported through set_int (to the BSP LAPIC's
 * LINT0 and IOAPIC pin 0 by the irqchip glue); pic_ack is the CPU's INTA
 * cycle. Thread-safe (one mutex); set_int is called with that mutex held,
 * so its receiver must not call back into the PIC synchronously (the lock
 * order is PIC, then IOAPIC, then LAPIC).
 */
#ifndef VIREO_HW_I8259_H
#define VIREO_HW_I8259_H

#include <stdbool.h>
#include <stdint.h>

#include "mem/bus.h"

#define PIC_MASTER_PORT 0x20
#define PIC_SLAVE_PORT  0xA0
#define PIC_ELCR_PORT   0x4D0

struct pic;

/* set_int(opaque, level): the master's INT line changed. May be NULL. */
struct pic *pic_create(void (*set_int)(void *opaque, int level), void *opaque);
void pic_destroy(struct pic *p);
/* Claim the master, slave and ELCR ports on the port-I/O bus. */
int pic_attach(struct pic *p, struct bus *pio);
void pic_detach(struct pic *p, struct bus *pio);

/* Drive input line irq (0-15; 2 is the cascade and is ignored). Any thread. */
void pic_set_irq(struct pic *p, unsigned irq, int level);
/* INTA: the vector of the highest-priority request, now in service
 * (or acknowledged, in auto-EOI); a spurious IRQ7 (master) or IRQ15
 * (slave) vector if the request went away. */
int pic_ack(struct pic *p);
/* Level of the master's INT output. */
bool pic_output(struct pic *p);

/* Power-on state: uninitialised, all inputs masked, ELCR 0. */
void pic_reset(struct pic *p);

/* Port access, as the bus calls it (port is absolute: 0x20, 0xA1, 0x4D0...). */
uint8_t pic_port_read(struct pic *p, uint16_t port);
void pic_port_write(struct pic *p, uint16_t port, uint8_t val);

#endif
