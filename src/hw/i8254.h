/*
 * i8254 programmable interval timer: channels 0-2 at ports 0x40-0x42, the
 * control word at 0x43, and port 0x61 (system control port B: channel 2
 * gate in bit 0, speaker data in bit 1, refresh toggle in bit 4, channel 2
 * output in bit 5), which Linux uses to calibrate the TSC.
 *
 * Counts at 1.193182 MHz of the host monotonic clock (or the clock given
 * at creation). Modes 0-5, binary and BCD, lobyte/hibyte/word access, the
 * counter-latch and read-back commands (count and status). The gate of
 * channels 0 and 1 is tied high; channel 2's comes from port 0x61.
 *
 * Channel 0's output drives ISA IRQ0 through set_irq0 (a level; periodic
 * modes pulse it). There is no thread: whoever runs the guest asks
 * i8254_next_deadline_ns() how long it may sleep and calls i8254_poll(now)
 * to raise what expired; any thread may poll (one mutex). Missed periods
 * coalesce into one interrupt. set_irq0 is called with the PIT's mutex
 * held (lock order: PIT, i8259, IOAPIC, LAPIC).
 */
#ifndef VIREO_HW_I8254_H
#define VIREO_HW_I8254_H

#include <stdint.h>

#include "mem/bus.h"

#define PIT_FREQ_HZ      1193182u
#define PIT_PORT_BASE    0x40
#define PIT_PORT_CONTROL 0x43
#define PIT_PORT_61      0x61
#define PIT_NO_DEADLINE  UINT64_MAX

struct i8254;

/* clock: NULL for CLOCK_MONOTONIC, else returns "now" in ns. */
struct i8254 *i8254_create(void (*set_irq0)(void *opaque, int level), void *opaque,
			   uint64_t (*clock)(void));
void i8254_destroy(struct i8254 *pit);
/* Claim 0x40-0x43 and 0x61 on the port-I/O bus. */
int i8254_attach(struct i8254 *pit, struct bus *pio);
void i8254_detach(struct i8254 *pit, struct bus *pio);

/* When channel 0's output next rises (ns), PIT_NO_DEADLINE if never. */
uint64_t i8254_next_deadline_ns(struct i8254 *pit);
/* Deliver channel 0's expired edges as of now_ns. Any thread. */
void i8254_poll(struct i8254 *pit, uint64_t now_ns);

/* Port access (absolute port numbers 0x40-0x43, 0x61). */
uint8_t i8254_port_read(struct i8254 *pit, uint16_t port);
void i8254_port_write(struct i8254 *pit, uint16_t port, uint8_t val);

void i8254_reset(struct i8254 *pit);

#endif
