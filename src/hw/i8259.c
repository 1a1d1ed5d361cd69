/*
 * 8259A pair; see i8259.h. Priorities are kept as in the datasheet: a
 * rotating "lowest priority" base (prio_add) from which IR levels count
 * up, so level prio_add is the highest priority.
 */
#include "hw/i8259.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

struct pic_chip {
	uint8_t irr, isr, imr;
	uint8_t lines;               /* current input levels */
	uint8_t elcr, elcr_mask;
	uint8_t prio_add;            /* IR level with the highest priority */
	uint8_t irq_base;            /* ICW2 & 0xF8 */
	uint8_t init_state;          /* 0 ready, 1-3 expecting ICW2-ICW4 */
	bool init4, single, auto_eoi, rotate_on_aeoi, sfnm;
	bool read_isr, poll, special_mask;
};

struct pic {
	pthread_mutex_t lock;
	struct pic_chip chip[2];     /* 0 master, 1 slave */
	bool output;
	void (*set_int)(void *opaque, int level);
	void *opaque;
};

/* 0 = highest; 8 if mask is empty. */
static unsigned priority(const struct pic_chip *c, uint8_t mask)
{
	unsigned p = 0;

	if (!mask)
		return 8;
	while (!(mask & (1u << ((p + c->prio_add) & 7))))
		p++;
	return p;
}

/* The IR level the chip would raise INT for, or -1. */
static int chip_request(const struct pic_chip *c, bool master)
{
	unsigned prio = priority(c, c->irr & ~c->imr), cur;
	uint8_t in_service = c->isr;

	if (prio == 8)
		return -1;
	if (c->special_mask)
		in_service &= ~c->imr;
	/* Fully nested: the slave's own priorities decide among its IRQs. */
	if (master && c->sfnm)
		in_service &= ~(1u << 2);
	cur = priority(c, in_service);
	return prio < cur ? (int)((prio + c->prio_add) & 7) : -1;
}

static void chip_input(struct pic_chip *c, unsigned irq, bool level)
{
	uint8_t m = 1u << irq;

	if (c->elcr & m) {
		if (level)
			c->irr |= m;
		else
			c->irr &= ~m;
	} else if (level && !(c->lines & m)) {
		c->irr |= m;                /* rising edge latched */
	}
	if (level)
		c->lines |= m;
	else
		c->lines &= ~m;
}

/* Propagate the slave's INT to master IR2 and the master's INT outward. */
static void update_locked(struct pic *p)
{
	bool out;

	chip_input(&p->chip[0], 2, chip_request(&p->chip[1], false) >= 0);
	out = chip_request(&p->chip[0], true) >= 0;
	if (out != p->output) {
		p->output = out;
		if (p->set_int)
			p->set_int(p->opaque, out);
	}
}

static void chip_intack(struct pic_chip *c, unsigned irq)
{
	uint8_t m = 1u << irq;

	if (c->auto_eoi) {
		if (c->rotate_on_aeoi)
			c->prio_add = (irq + 1) & 7;
	} else {
		c->isr |= m;
	}
	/* A level request stays in IRR while its line is high. */
	if (!(c->elcr & m))
		c->irr &= ~m;
}

static void chip_reset(struct pic_chip *c)
{
	uint8_t elcr = c->elcr, elcr_mask = c->elcr_mask;

	memset(c, 0, sizeof(*c));
	c->elcr = elcr;
	c->elcr_mask = elcr_mask;
}

void pic_reset(struct pic *p)
{
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < 2; i++) {
		uint8_t lines = p->chip[i].lines;

		chip_reset(&p->chip[i]);
		p->chip[i].elcr = 0;
		p->chip[i].imr = 0xFF;
		p->chip[i].lines = lines;
	}
	/* IRQ0-2 (timer, keyboard, cascade) and IRQ8/13 can't be level. */
	p->chip[0].elcr_mask = 0xF8;
	p->chip[1].elcr_mask = 0xDE;
	update_locked(p);
	pthread_mutex_unlock(&p->lock);
}

struct pic *pic_create(void (*set_int)(void *opaque, int level), void *opaque)
{
	struct pic *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	p->set_int = set_int;
	p->opaque = opaque;
	pic_reset(p);
	return p;
}

void pic_destroy(struct pic *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void pic_set_irq(struct pic *p, unsigned irq, int level)
{
	if (irq >= 16 || irq == 2)
		return;
	pthread_mutex_lock(&p->lock);
	chip_input(&p->chip[irq >> 3], irq & 7, level != 0);
	update_locked(p);
	pthread_mutex_unlock(&p->lock);
}

bool pic_output(struct pic *p)
{
	bool out;

	pthread_mutex_lock(&p->lock);
	out = p->output;
	pthread_mutex_unlock(&p->lock);
	return out;
}

int pic_ack(struct pic *p)
{
	struct pic_chip *m = &p->chip[0], *s = &p->chip[1];
	int irq, irq2, vector;

	pthread_mutex_lock(&p->lock);
	irq = chip_request(m, true);
	if (irq < 0) {
		vector = m->irq_base + 7;           /* spurious IRQ7 */
	} else if (irq == 2) {
		irq2 = chip_request(s, false);
		if (irq2 >= 0)
			chip_intack(s, irq2);
		else
			irq2 = 7;                   /* spurious IRQ15 */
		vector = s->irq_base + irq2;
		chip_intack(m, 2);
	} else {
		chip_intack(m, irq);
		vector = m->irq_base + irq;
	}
	update_locked(p);
	pthread_mutex_unlock(&p->lock);
	return vector;
}

/* ---- ports ---- */

static void ocw2(struct pic_chip *c, uint8_t val)
{
	unsigned cmd = val >> 5, irq;

	switch (cmd) {
	case 0:                                 /* clear rotate in AEOI */
	case 4:                                 /* set rotate in AEOI */
		c->rotate_on_aeoi = cmd == 4;
		break;
	case 1:                                 /* non-specific EOI */
	case 5:                                 /* ... and rotate */
		irq = priority(c, c->isr);
		if (irq == 8)
			break;
		irq = (irq + c->prio_add) & 7;
		c->isr &= ~(1u << irq);
		if (cmd == 5)
			c->prio_add = (irq + 1) & 7;
		break;
	case 3:                                 /* specific EOI */
	case 7:                                 /* ... and rotate */
		irq = val & 7;
		c->isr &= ~(1u << irq);
		if (cmd == 7)
			c->prio_add = (irq + 1) & 7;
		break;
	case 6:                                 /* set priority: IR(val) lowest */
		c->prio_add = (val + 1) & 7;
		break;
	default:                                /* 2: no operation */
		break;
	}
}

static void chip_write(struct pic_chip *c, bool a0, uint8_t val)
{
	if (!a0) {
		if (val & 0x10) {                       /* ICW1 */
			uint8_t lines = c->lines;

			chip_reset(c);
			c->lines = lines;
			c->irr = lines & c->elcr;       /* held level lines request again */
			c->init_state = 1;
			c->init4 = val & 1;
			c->single = val & 2;
			if (val & 0x08)
				log_debug("i8259: ICW1 LTIM ignored, the ELCR decides");
		} else if (val & 0x08) {                /* OCW3 */
			if (val & 0x04)
				c->poll = true;
			if (val & 0x02)
				c->read_isr = val & 1;
			if (val & 0x40)
				c->special_mask = (val >> 5) & 1;
		} else {
			ocw2(c, val);
		}
		return;
	}
	switch (c->init_state) {
	case 0:                                         /* OCW1 */
		c->imr = val;
		break;
	case 1:                                         /* ICW2 */
		c->irq_base = val & 0xF8;
		c->init_state = c->single ? (c->init4 ? 3 : 0) : 2;
		break;
	case 2:                                         /* ICW3: wiring is fixed */
		c->init_state = c->init4 ? 3 : 0;
		break;
	default:                                        /* ICW4 */
		c->auto_eoi = val & 2;
		c->sfnm = val & 0x10;
		c->init_state = 0;
		break;
	}
}

/* OCW3 poll command: the next read is an INTA of this chip alone. */
static uint8_t poll_read_locked(struct pic *p, int which)
{
	struct pic_chip *c = &p->chip[which];
	int irq = chip_request(c, which == 0);

	c->poll = false;
	if (irq < 0)
		return 0;
	chip_intack(c, irq);
	return 0x80 | irq;
}

uint8_t pic_port_read(struct pic *p, uint16_t port)
{
	uint8_t v = 0xFF;

	pthread_mutex_lock(&p->lock);
	if (port == PIC_ELCR_PORT || port == PIC_ELCR_PORT + 1) {
		v = p->chip[port - PIC_ELCR_PORT].elcr;
	} else if ((port & ~1) == PIC_MASTER_PORT || (port & ~1) == PIC_SLAVE_PORT) {
		int which = (port & ~1) == PIC_SLAVE_PORT;
		struct pic_chip *c = &p->chip[which];

		if (port & 1)
			v = c->imr;
		else if (c->poll)
			v = poll_read_locked(p, which);
		else
			v = c->read_isr ? c->isr : c->irr;
		update_locked(p);
	}
	pthread_mutex_unlock(&p->lock);
	return v;
}

void pic_port_write(struct pic *p, uint16_t port, uint8_t val)
{
	pthread_mutex_lock(&p->lock);
	if (port == PIC_ELCR_PORT || port == PIC_ELCR_PORT + 1) {
		struct pic_chip *c = &p->chip[port - PIC_ELCR_PORT];

		c->elcr = val & c->elcr_mask;
	} else if ((port & ~1) == PIC_MASTER_PORT || (port & ~1) == PIC_SLAVE_PORT) {
		chip_write(&p->chip[(port & ~1) == PIC_SLAVE_PORT], port & 1, val);
	}
	update_locked(p);
	pthread_mutex_unlock(&p->lock);
}

/* Bus glue: every range is two ports; wider accesses go byte by byte. */
static uint64_t bus_read_bytes(void *opaque, uint16_t base, uint64_t off, unsigned size)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)pic_port_read(opaque, base + off + i) << (8 * i);
	return v;
}

static void bus_write_bytes(void *opaque, uint16_t base, uint64_t off, unsigned size,
			    uint64_t val)
{
	for (unsigned i = 0; i < size; i++)
		pic_port_write(opaque, base + off + i, val >> (8 * i));
}

#define PIC_BUS_OPS(name, base)                                                        \
	static uint64_t name##_read(void *o, uint64_t off, unsigned size)              \
	{ return bus_read_bytes(o, base, off, size); }                                 \
	static void name##_write(void *o, uint64_t off, unsigned size, uint64_t val)   \
	{ bus_write_bytes(o, base, off, size, val); }                                  \
	static const struct bus_ops name##_ops = { name##_read, name##_write }

PIC_BUS_OPS(master, PIC_MASTER_PORT);
PIC_BUS_OPS(slave, PIC_SLAVE_PORT);
PIC_BUS_OPS(elcr, PIC_ELCR_PORT);

int pic_attach(struct pic *p, struct bus *pio)
{
	int err;

	err = bus_add(pio, PIC_MASTER_PORT, 2, &master_ops, p, "i8259-master");
	if (!err) {
		err = bus_add(pio, PIC_SLAVE_PORT, 2, &slave_ops, p, "i8259-slave");
		if (!err) {
			err = bus_add(pio, PIC_ELCR_PORT, 2, &elcr_ops, p, "i8259-elcr");
			if (!err)
				return 0;
			bus_remove(pio, PIC_SLAVE_PORT, p);
		}
		bus_remove(pio, PIC_MASTER_PORT, p);
	}
	log_err("i8259: cannot claim its ports: %d", err);
	return err;
}

void pic_detach(struct pic *p, struct bus *pio)
{
	bus_remove(pio, PIC_MASTER_PORT, p);
	bus_remove(pio, PIC_SLAVE_PORT, p);
	bus_remove(pio, PIC_ELCR_PORT, p);
}
