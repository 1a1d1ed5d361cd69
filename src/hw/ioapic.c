/*
 * I/O APIC model; see ioapic.h. Delivery happens under the IOAPIC lock
 * (lock order: i8259, IOAPIC, LAPIC), so remote IRR and delivery cannot
 * race with an EOI.
 */
#include "hw/ioapic.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "lib/log.h"
#include "mem/layout.h"

#define IOAPIC_VERSION  (0x11u | ((IOAPIC_PINS - 1u) << 16))

enum { REG_ID = 0, REG_VER = 1, REG_ARB = 2, REG_REDIR = 0x10 };
enum { OFF_REGSEL = 0x00, OFF_WIN = 0x10, OFF_EOI = 0x40 };

#define RTE_VECTOR       0xFFull
#define RTE_DELIV_SHIFT  8
#define RTE_DEST_LOGICAL (1ull << 11)
#define RTE_DELIV_STATUS (1ull << 12)
#define RTE_POLARITY     (1ull << 13)
#define RTE_REMOTE_IRR   (1ull << 14)
#define RTE_LEVEL        (1ull << 15)
#define RTE_MASKED       (1ull << 16)
#define RTE_DEST_SHIFT   56
/* Bits software can write: everything but delivery status and remote IRR. */
#define RTE_WRITABLE     (0xFF00000000000000ull | 0x7FFull | RTE_DEST_LOGICAL | \
			  RTE_POLARITY | RTE_LEVEL | RTE_MASKED)

struct ioapic {
	pthread_mutex_t lock;
	struct lapic_set *lapics;
	uint8_t id;
	uint32_t regsel;
	uint32_t lines;              /* pin levels */
	uint64_t rte[IOAPIC_PINS];
};

/* Send pin's message if the entry allows it now. */
static void service_locked(struct ioapic *io, unsigned pin)
{
	uint64_t e = io->rte[pin];
	struct apic_irq irq;

	if (!(io->lines & (1u << pin)) || (e & RTE_MASKED))
		return;
	if (e & RTE_LEVEL) {
		if (e & RTE_REMOTE_IRR)
			return;
		io->rte[pin] |= RTE_REMOTE_IRR;
	}
	irq = (struct apic_irq){
		.vector = e & RTE_VECTOR,
		.delivery = (e >> RTE_DELIV_SHIFT) & 7,
		.dest = e >> RTE_DEST_SHIFT,
		.shorthand = APIC_DEST_NONE,
		.dest_logical = e & RTE_DEST_LOGICAL,
		.level_trigger = e & RTE_LEVEL,
		.assert = true,
	};
	/* NMI, INIT and ExtINT are edge messages by definition. */
	if (irq.delivery != APIC_DM_FIXED && irq.delivery != APIC_DM_LOWEST) {
		irq.level_trigger = false;
		io->rte[pin] &= ~RTE_REMOTE_IRR;
	}
	lapic_deliver(io->lapics, &irq, NULL);
}

void ioapic_set_irq(struct ioapic *io, unsigned pin, int level)
{
	uint32_t m;
	bool rising;

	if (pin >= IOAPIC_PINS)
		return;
	m = 1u << pin;
	pthread_mutex_lock(&io->lock);
	rising = level && !(io->lines & m);
	if (level)
		io->lines |= m;
	else
		io->lines &= ~m;
	if ((io->rte[pin] & RTE_LEVEL) ? level : rising)
		service_locked(io, pin);
	pthread_mutex_unlock(&io->lock);
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	pthread_mutex_lock(&io->lock);
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t e = io->rte[pin];

		if (!(e & RTE_LEVEL) || !(e & RTE_REMOTE_IRR) || (e & RTE_VECTOR) != vector)
			continue;
		io->rte[pin] &= ~RTE_REMOTE_IRR;
		/* Still asserted: the device wants service again. */
		service_locked(io, pin);
	}
	pthread_mutex_unlock(&io->lock);
}

static uint32_t reg_read_locked(struct ioapic *io)
{
	uint32_t r = io->regsel;

	if (r == REG_ID || r == REG_ARB)
		return (uint32_t)(io->id & 0xF) << 24;
	if (r == REG_VER)
		return IOAPIC_VERSION;
	if (r >= REG_REDIR && r < REG_REDIR + 2 * IOAPIC_PINS) {
		uint64_t e = io->rte[(r - REG_REDIR) / 2];

		return (r & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
	}
	return 0;
}

static void reg_write_locked(struct ioapic *io, uint32_t val)
{
	uint32_t r = io->regsel;
	unsigned pin;
	uint64_t old, e;

	if (r == REG_ID) {
		io->id = (val >> 24) & 0xF;
		return;
	}
	if (r < REG_REDIR || r >= REG_REDIR + 2 * IOAPIC_PINS)
		return;                                 /* version, arb: read-only */
	pin = (r - REG_REDIR) / 2;
	old = io->rte[pin];
	if (r & 1)
		e = (old & 0xFFFFFFFFull) | ((uint64_t)val << 32);
	else
		e = (old & ~0xFFFFFFFFull) | val;
	e = (e & RTE_WRITABLE) | (old & RTE_REMOTE_IRR);
	/* Switching to edge clears remote IRR (Linux's EOI trick on v0x11). */
	if (!(e & RTE_LEVEL))
		e &= ~RTE_REMOTE_IRR;
	io->rte[pin] = e;
	/* A level line held while masked is delivered once unmasked. */
	if ((e & RTE_LEVEL) && !(e & RTE_MASKED))
		service_locked(io, pin);
}

uint64_t ioapic_mmio_read(struct ioapic *io, uint64_t off, unsigned size)
{
	uint64_t base = off & ~0xFull, v = 0;
	unsigned byte = off & 0xF;

	if (size == 0 || size > 8)
		return 0;
	pthread_mutex_lock(&io->lock);
	if (base == OFF_REGSEL)
		v = io->regsel;
	else if (base == OFF_WIN)
		v = reg_read_locked(io);
	pthread_mutex_unlock(&io->lock);
	v = byte < 4 ? v >> (8 * byte) : 0;
	return size == 8 ? v : v & ((1ull << (8 * size)) - 1);
}

void ioapic_mmio_write(struct ioapic *io, uint64_t off, unsigned size, uint64_t val)
{
	if (off == OFF_EOI && size >= 1) {
		ioapic_eoi(io, val & 0xFF);
		return;
	}
	pthread_mutex_lock(&io->lock);
	if (off == OFF_REGSEL) {
		io->regsel = val & 0xFF;            /* byte writes are common */
	} else if (off == OFF_WIN && (size == 4 || size == 8)) {
		reg_write_locked(io, (uint32_t)val);
	}
	pthread_mutex_unlock(&io->lock);
}

void ioapic_reset(struct ioapic *io)
{
	pthread_mutex_lock(&io->lock);
	io->regsel = 0;
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		io->rte[i] = RTE_MASKED;
	pthread_mutex_unlock(&io->lock);
}

struct ioapic *ioapic_create(struct lapic_set *lapics, uint8_t id)
{
	struct ioapic *io = calloc(1, sizeof(*io));

	if (!io)
		return NULL;
	pthread_mutex_init(&io->lock, NULL);
	io->lapics = lapics;
	io->id = id & 0xF;
	ioapic_reset(io);
	return io;
}

void ioapic_destroy(struct ioapic *io)
{
	if (!io)
		return;
	pthread_mutex_destroy(&io->lock);
	free(io);
}

static uint64_t bus_rd(void *o, uint64_t off, unsigned size)
{
	return ioapic_mmio_read(o, off, size);
}

static void bus_wr(void *o, uint64_t off, unsigned size, uint64_t val)
{
	ioapic_mmio_write(o, off, size, val);
}

static const struct bus_ops ioapic_bus_ops = { bus_rd, bus_wr };

int ioapic_attach(struct ioapic *io, struct bus *mmio)
{
	int err = bus_add(mmio, IOAPIC_BASE, IOAPIC_MMIO_SIZE, &ioapic_bus_ops, io, "ioapic");

	if (err)
		log_err("ioapic: cannot claim MMIO at 0x%llx: %d", IOAPIC_BASE, err);
	return err;
}

void ioapic_detach(struct ioapic *io, struct bus *mmio)
{
	bus_remove(mmio, IOAPIC_BASE, io);
}
