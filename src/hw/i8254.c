/*
 * i8254 PIT; see i8254.h. A channel's count is not stored: it is derived
 * from the time it started counting, so an idle PIT costs nothing. Gate
 * pauses (channel 2, modes 0/4) fold the ticks counted so far into
 * base_ticks.
 */
#include "hw/i8254.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"

enum { RW_LATCH = 0, RW_LSB = 1, RW_MSB = 2, RW_WORD = 3 };

struct pit_channel {
	uint8_t mode;                /* 0-5 (6, 7 folded into 2, 3) */
	uint8_t rw;                  /* RW_LSB, RW_MSB, RW_WORD */
	bool bcd;
	uint32_t reload;             /* 1..65536 */
	bool loaded;                 /* a count was written after the control word */
	bool running;                /* counting now */
	bool gate;
	bool null_count;
	uint64_t start_ns;           /* when the current run began */
	uint64_t base_ticks;         /* ticks counted before start_ns */
	uint8_t write_lsb;
	bool write_msb_next, read_msb_next;
	bool count_latched, latch_msb_next;
	uint16_t latch;
	bool status_latched;
	uint8_t status;
	/* Channel 0 only: output edges already delivered. */
	bool fired;                  /* modes 0/1/4/5: the terminal count */
	uint64_t periods;            /* modes 2/3: periods completed */
};

struct i8254 {
	pthread_mutex_t lock;
	struct pit_channel ch[3];
	uint8_t port61;              /* bits 0-3 as written */
	uint64_t deadline;           /* atomic */
	void (*set_irq0)(void *opaque, int level);
	void *opaque;
	uint64_t (*clock)(void);
};

static uint64_t pit_now(const struct i8254 *pit)
{
	struct timespec ts;

	if (pit->clock)
		return pit->clock();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t ns_to_ticks(uint64_t ns)
{
	return (uint64_t)((unsigned __int128)ns * PIT_FREQ_HZ / 1000000000u);
}

/* The first ns at which ticks have elapsed (rounded up). */
static uint64_t ticks_to_ns(uint64_t ticks)
{
	unsigned __int128 n = (unsigned __int128)ticks * 1000000000u + PIT_FREQ_HZ - 1;

	return (uint64_t)(n / PIT_FREQ_HZ);
}

static uint64_t ticks_at(const struct pit_channel *c, uint64_t now)
{
	if (!c->running)
		return c->base_ticks;
	return c->base_ticks + (now > c->start_ns ? ns_to_ticks(now - c->start_ns) : 0);
}

static uint16_t to_bcd(uint32_t v)
{
	v %= 10000;
	return (v / 1000) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10;
}

static uint32_t from_bcd(uint16_t v)
{
	return (v >> 12 & 0xF) * 1000 + (v >> 8 & 0xF) * 100 + (v >> 4 & 0xF) * 10 + (v & 0xF);
}

/* The counting element's value at now. */
static uint16_t channel_count(const struct pit_channel *c, uint64_t now)
{
	uint64_t t = ticks_at(c, now), n = c->reload;
	uint32_t v;

	if (!c->loaded)
		return 0;
	switch (c->mode) {
	case 2:
		v = n - t % n;
		break;
	case 3:
		v = n - (2 * t) % n;            /* counts down by two, twice a period */
		break;
	default:                                /* 0, 1, 4, 5: wrap after zero */
		v = (uint32_t)((n - t % 65536 + 65536) % 65536);
		break;
	}
	if (c->bcd)
		return to_bcd(v);
	return v;
}

static bool channel_out(const struct pit_channel *c, uint64_t now)
{
	uint64_t t = ticks_at(c, now), n = c->reload;

	if (!c->loaded)
		return c->mode != 0;
	switch (c->mode) {
	case 0:
	case 1:
		return c->running || c->base_ticks ? t >= n : c->mode != 0;
	case 2:
		return !c->running || t % n != n - 1;
	case 3:
		return !c->running || t % n < (n + 1) / 2;
	default:                                /* 4, 5: low for one clock at TC */
		return !c->running || t != n;
	}
}

/* Channel 0: when does its output next rise? Lock held. */
static void update_deadline_locked(struct i8254 *pit)
{
	const struct pit_channel *c = &pit->ch[0];
	uint64_t d = PIT_NO_DEADLINE, ticks;

	if (c->running) {
		if (c->mode == 2 || c->mode == 3)
			ticks = (c->periods + 1) * c->reload;
		else
			ticks = c->fired ? UINT64_MAX : c->reload;
		if (ticks != UINT64_MAX)
			d = c->start_ns + ticks_to_ns(ticks - c->base_ticks);
	}
	__atomic_store_n(&pit->deadline, d, __ATOMIC_RELEASE);
}

static void irq0(struct i8254 *pit, int level)
{
	if (pit->set_irq0)
		pit->set_irq0(pit->opaque, level);
}

void i8254_poll(struct i8254 *pit, uint64_t now)
{
	struct pit_channel *c = &pit->ch[0];

	if (now < __atomic_load_n(&pit->deadline, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&pit->lock);
	if (c->running) {
		uint64_t t = ticks_at(c, now);

		if (c->mode == 2 || c->mode == 3) {
			if (t / c->reload > c->periods) {
				c->periods = t / c->reload;
				irq0(pit, 1);
				irq0(pit, 0);
			}
		} else if (!c->fired && t >= c->reload) {
			c->fired = true;
			irq0(pit, 1);                   /* modes 0/1 stay high */
			if (c->mode >= 4)
				irq0(pit, 0);
		}
	}
	update_deadline_locked(pit);
	pthread_mutex_unlock(&pit->lock);
}

uint64_t i8254_next_deadline_ns(struct i8254 *pit)
{
	return __atomic_load_n(&pit->deadline, __ATOMIC_ACQUIRE);
}

/* Start a run from zero at now (new count, or a gate trigger). */
static void channel_start(struct i8254 *pit, int i, uint64_t now)
{
	struct pit_channel *c = &pit->ch[i];

	c->running = c->gate;
	c->start_ns = now;
	c->base_ticks = 0;
	c->fired = false;
	c->periods = 0;
	if (i == 0 && (c->mode == 0 || c->mode == 1))
		irq0(pit, 0);
}

static void channel_load(struct i8254 *pit, int i, uint16_t raw, uint64_t now)
{
	struct pit_channel *c = &pit->ch[i];
	uint32_t n = c->bcd ? from_bcd(raw) : raw;

	if (n == 0)
		n = c->bcd ? 10000 : 65536;
	/* Mode 3 with an odd count behaves close enough to the even one. */
	c->reload = n;
	c->loaded = true;
	c->null_count = false;
	/* Modes 1 and 5 wait for a gate edge; channels 0/1 never get one. */
	if (c->mode == 1 || c->mode == 5) {
		c->running = false;
		c->base_ticks = 0;
		return;
	}
	channel_start(pit, i, now);
}

static void control_word(struct i8254 *pit, uint8_t val, uint64_t now)
{
	unsigned sc = val >> 6, rw = (val >> 4) & 3;
	struct pit_channel *c;

	if (sc == 3) {                                  /* read-back */
		for (int i = 0; i < 3; i++) {
			if (!(val & (2u << i)))
				continue;
			c = &pit->ch[i];
			if (!(val & 0x20) && !c->count_latched) {
				c->latch = channel_count(c, now);
				c->count_latched = true;
				c->latch_msb_next = false;
			}
			if (!(val & 0x10) && !c->status_latched) {
				c->status = channel_out(c, now) << 7 | c->null_count << 6 |
					    c->rw << 4 | c->mode << 1 | c->bcd;
				c->status_latched = true;
			}
		}
		return;
	}
	c = &pit->ch[sc];
	if (rw == RW_LATCH) {
		if (!c->count_latched) {
			c->latch = channel_count(c, now);
			c->count_latched = true;
			c->latch_msb_next = false;
		}
		return;
	}
	c->rw = rw;
	c->mode = (val >> 1) & 7;
	if (c->mode > 5)
		c->mode -= 4;
	c->bcd = val & 1;
	c->loaded = false;
	c->running = false;
	c->null_count = true;
	c->write_msb_next = c->read_msb_next = false;
	c->count_latched = c->status_latched = false;
	c->base_ticks = 0;
	/* Mode 0's output goes low on the control word; the others go high. */
	if (sc == 0)
		irq0(pit, 0);
}

static void counter_write(struct i8254 *pit, int i, uint8_t val, uint64_t now)
{
	struct pit_channel *c = &pit->ch[i];

	switch (c->rw) {
	case RW_LSB:
		channel_load(pit, i, val, now);
		break;
	case RW_MSB:
		channel_load(pit, i, (uint16_t)val << 8, now);
		break;
	default:
		if (!c->write_msb_next) {
			c->write_lsb = val;
			c->write_msb_next = true;
			/* Mode 0: the first byte stops the count. */
			if (c->mode == 0 && c->running) {
				c->base_ticks = ticks_at(c, now);
				c->running = false;
			}
		} else {
			c->write_msb_next = false;
			channel_load(pit, i, c->write_lsb | (uint16_t)val << 8, now);
		}
		break;
	}
}

static uint8_t counter_read(struct i8254 *pit, int i, uint64_t now)
{
	struct pit_channel *c = &pit->ch[i];
	uint16_t v;
	uint8_t r;

	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	if (c->count_latched) {
		v = c->latch;
		switch (c->rw) {
		case RW_LSB:
			c->count_latched = false;
			return v & 0xFF;
		case RW_MSB:
			c->count_latched = false;
			return v >> 8;
		default:
			if (!c->latch_msb_next) {
				c->latch_msb_next = true;
				return v & 0xFF;
			}
			c->count_latched = false;
			return v >> 8;
		}
	}
	v = channel_count(c, now);
	switch (c->rw) {
	case RW_LSB:
		return v & 0xFF;
	case RW_MSB:
		return v >> 8;
	default:
		r = c->read_msb_next ? v >> 8 : v & 0xFF;
		c->read_msb_next = !c->read_msb_next;
		return r;
	}
}

/* Channel 2's gate from port 0x61 bit 0. */
static void gate2(struct i8254 *pit, bool gate, uint64_t now)
{
	struct pit_channel *c = &pit->ch[2];

	if (gate == c->gate)
		return;
	c->gate = gate;
	if (!c->loaded)
		return;
	if (gate) {
		switch (c->mode) {
		case 0:
		case 4:                         /* resume */
			c->start_ns = now;
			c->running = true;
			break;
		default:                        /* 1, 2, 3, 5: (re)trigger */
			c->running = true;
			c->start_ns = now;
			c->base_ticks = 0;
			break;
		}
	} else if (c->running) {
		if (c->mode == 0 || c->mode == 4)
			c->base_ticks = ticks_at(c, now);
		if (c->mode != 1 && c->mode != 5)
			c->running = false;
	}
}

uint8_t i8254_port_read(struct i8254 *pit, uint16_t port)
{
	uint64_t now = pit_now(pit);
	uint8_t v = 0xFF;

	pthread_mutex_lock(&pit->lock);
	if (port >= PIT_PORT_BASE && port < PIT_PORT_BASE + 3) {
		v = counter_read(pit, port - PIT_PORT_BASE, now);
	} else if (port == PIT_PORT_61) {
		/* Refresh toggles every 15.085 us; some delay loops watch it. */
		v = (pit->port61 & 0x0F) | ((now / 15085) & 1) << 4 |
		    channel_out(&pit->ch[2], now) << 5;
	}
	pthread_mutex_unlock(&pit->lock);
	return v;
}

void i8254_port_write(struct i8254 *pit, uint16_t port, uint8_t val)
{
	uint64_t now = pit_now(pit);

	pthread_mutex_lock(&pit->lock);
	if (port >= PIT_PORT_BASE && port < PIT_PORT_BASE + 3) {
		counter_write(pit, port - PIT_PORT_BASE, val, now);
	} else if (port == PIT_PORT_CONTROL) {
		control_word(pit, val, now);
	} else if (port == PIT_PORT_61) {
		pit->port61 = val & 0x0F;
		gate2(pit, val & 1, now);
	}
	update_deadline_locked(pit);
	pthread_mutex_unlock(&pit->lock);
}

void i8254_reset(struct i8254 *pit)
{
	pthread_mutex_lock(&pit->lock);
	memset(pit->ch, 0, sizeof(pit->ch));
	for (int i = 0; i < 3; i++) {
		pit->ch[i].gate = i != 2;
		pit->ch[i].rw = RW_WORD;
		pit->ch[i].reload = 65536;
	}
	pit->port61 = 0;
	update_deadline_locked(pit);
	pthread_mutex_unlock(&pit->lock);
}

struct i8254 *i8254_create(void (*set_irq0)(void *opaque, int level), void *opaque,
			   uint64_t (*clock)(void))
{
	struct i8254 *pit = calloc(1, sizeof(*pit));

	if (!pit)
		return NULL;
	pthread_mutex_init(&pit->lock, NULL);
	pit->set_irq0 = set_irq0;
	pit->opaque = opaque;
	pit->clock = clock;
	i8254_reset(pit);
	return pit;
}

void i8254_destroy(struct i8254 *pit)
{
	if (!pit)
		return;
	pthread_mutex_destroy(&pit->lock);
	free(pit);
}

static uint64_t bus_rd(void *o, uint64_t off, unsigned size, uint16_t base)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)i8254_port_read(o, base + off + i) << (8 * i);
	return v;
}

static void bus_wr(void *o, uint64_t off, unsigned size, uint64_t val, uint16_t base)
{
	for (unsigned i = 0; i < size; i++)
		i8254_port_write(o, base + off + i, val >> (8 * i));
}

static uint64_t pit_rd(void *o, uint64_t off, unsigned size) { return bus_rd(o, off, size, PIT_PORT_BASE); }
static void pit_wr(void *o, uint64_t off, unsigned size, uint64_t val) { bus_wr(o, off, size, val, PIT_PORT_BASE); }
static uint64_t p61_rd(void *o, uint64_t off, unsigned size) { return bus_rd(o, off, size, PIT_PORT_61); }
static void p61_wr(void *o, uint64_t off, unsigned size, uint64_t val) { bus_wr(o, off, size, val, PIT_PORT_61); }

static const struct bus_ops pit_ops = { pit_rd, pit_wr };
static const struct bus_ops p61_ops = { p61_rd, p61_wr };

int i8254_attach(struct i8254 *pit, struct bus *pio)
{
	int err = bus_add(pio, PIT_PORT_BASE, 4, &pit_ops, pit, "i8254");

	if (!err) {
		err = bus_add(pio, PIT_PORT_61, 1, &p61_ops, pit, "port61");
		if (!err)
			return 0;
		bus_remove(pio, PIT_PORT_BASE, pit);
	}
	log_err("i8254: cannot claim its ports: %d", err);
	return err;
}

void i8254_detach(struct i8254 *pit, struct bus *pio)
{
	bus_remove(pio, PIT_PORT_BASE, pit);
	bus_remove(pio, PIT_PORT_61, pit);
}
