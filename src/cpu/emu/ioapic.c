/*
 * An 82093AA-style IOAPIC for the emu engine: 24 pins, edge and level
 * triggering with remote IRR, masking, physical/logical destinations,
 * delivered to the local APICs (lapic.c). Registered on the MMIO bus at
 * IOAPIC_BASE (IOREGSEL at +0x00, IOWIN at +0x10).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "cpu/emu/ioapic.h"
#include "cpu/emu/lapic.h"
#include "mem/bus.h"

#define PINS 24
#define R_MASK   (1ULL << 16)
#define R_LEVEL  (1ULL << 15)
#define R_RIRR   (1ULL << 14)
#define R_LOWACT (1ULL << 13)
#define R_LOGIC  (1ULL << 11)

struct emu_ioapic {
	pthread_mutex_t lock;
	struct emu_apic_sys *sys;
	uint32_t sel, id;
	uint64_t redir[PINS];
	uint32_t line;            /* input levels (after polarity: 1 = asserted) */
};

/* Send pin's message if it should fire now; lock held, sends after unlock. */
static bool fire(struct emu_ioapic *io, unsigned pin, uint64_t *msg)
{
	uint64_t r = io->redir[pin];
	if (r & R_MASK)
		return false;
	if (r & R_LEVEL) {
		if (r & R_RIRR)
			return false;
		io->redir[pin] |= R_RIRR;
	}
	*msg = r;
	return true;
}

static void send(struct emu_ioapic *io, uint64_t r)
{
	emu_apic_deliver(io->sys, -1, (uint32_t)(r >> 56), r & R_LOGIC, (r >> 8) & 7,
			 r & 0xFF, r & R_LEVEL, 0, true);
}

void emu_ioapic_set_level(struct emu_ioapic *io, unsigned pin, int level)
{
	uint64_t msg;
	bool go = false;

	if (pin >= PINS)
		return;
	pthread_mutex_lock(&io->lock);
	bool was = io->line & (1u << pin);
	if (level)
		io->line |= 1u << pin;
	else
		io->line &= ~(1u << pin);
	bool is = level != 0;
	if (io->redir[pin] & R_LEVEL) {
		if (is)
			go = fire(io, pin, &msg);
	} else if (is && !was) {
		go = fire(io, pin, &msg);
	}
	pthread_mutex_unlock(&io->lock);
	if (go)
		send(io, msg);
}

void emu_ioapic_eoi(struct emu_ioapic *io, unsigned vec)
{
	uint64_t msgs[PINS];
	unsigned n = 0;

	pthread_mutex_lock(&io->lock);
	for (unsigned p = 0; p < PINS; p++) {
		uint64_t r = io->redir[p];
		if ((r & R_LEVEL) && (r & R_RIRR) && (r & 0xFF) == vec) {
			io->redir[p] &= ~R_RIRR;
			if ((io->line & (1u << p)) && fire(io, p, &msgs[n]))
				n++;
		}
	}
	pthread_mutex_unlock(&io->lock);
	for (unsigned i = 0; i < n; i++)
		send(io, msgs[i]);
}

static uint64_t io_read(void *opaque, uint64_t off, unsigned size)
{
	struct emu_ioapic *io = opaque;
	uint32_t v = 0;

	pthread_mutex_lock(&io->lock);
	if (off == 0) {
		v = io->sel;
	} else if (off == 0x10) {
		uint32_t s = io->sel;
		if (s == 0)
			v = io->id << 24;
		else if (s == 1)
			v = 0x11 | ((PINS - 1) << 16);
		else if (s == 2)
			v = io->id << 24;
		else if (s >= 0x10 && s < 0x10 + 2 * PINS) {
			uint64_t r = io->redir[(s - 0x10) / 2];
			v = (s & 1) ? (uint32_t)(r >> 32) : (uint32_t)r;
		}
	}
	pthread_mutex_unlock(&io->lock);
	return v;
}

static void io_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct emu_ioapic *io = opaque;
	uint64_t msg;
	bool go = false;

	pthread_mutex_lock(&io->lock);
	if (off == 0) {
		io->sel = (uint32_t)val & 0xFF;
	} else if (off == 0x10) {
		uint32_t s = io->sel;
		if (s == 0) {
			io->id = ((uint32_t)val >> 24) & 0xF;
		} else if (s >= 0x10 && s < 0x10 + 2 * PINS) {
			unsigned p = (s - 0x10) / 2;
			uint64_t r = io->redir[p];
			if (s & 1)
				r = (r & 0xFFFFFFFFULL) | ((uint64_t)(uint32_t)val << 32);
			else    /* remote IRR and delivery status are read-only */
				r = (r & (0xFFFFFFFF00000000ULL | R_RIRR)) |
				    ((uint32_t)val & ~(uint32_t)(R_RIRR | (1u << 12)));
			io->redir[p] = r;
			/* Unmasking a still-asserted level line delivers it. */
			if ((r & R_LEVEL) && (io->line & (1u << p)))
				go = fire(io, p, &msg);
		}
	}
	pthread_mutex_unlock(&io->lock);
	if (go)
		send(io, msg);
}

static const struct bus_ops io_ops = { io_read, io_write };

struct emu_ioapic *emu_ioapic_create(struct emu_apic_sys *sys, struct bus *mmio,
				     uint64_t base)
{
	struct emu_ioapic *io = calloc(1, sizeof(*io));
	if (!io)
		return NULL;
	pthread_mutex_init(&io->lock, NULL);
	io->sys = sys;
	for (unsigned p = 0; p < PINS; p++)
		io->redir[p] = R_MASK;
	if (mmio && bus_add(mmio, base, 0x20, &io_ops, io, "ioapic") < 0) {
		pthread_mutex_destroy(&io->lock);
		free(io);
		return NULL;
	}
	return io;
}

void emu_ioapic_destroy(struct emu_ioapic *io, struct bus *mmio, uint64_t base)
{
	if (!io)
		return;
	if (mmio)
		bus_remove(mmio, base, io);
	pthread_mutex_destroy(&io->lock);
	free(io);
}
