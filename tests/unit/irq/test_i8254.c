/* i8254 PIT on a fake clock: mode 2 and 3 periodic IRQ0 via poll, mode 0
 * one-shot, latch and read-back, BCD, channel 2 gate/output via port 0x61
 * the way Linux calibrates the TSC, odd port accesses. */
#include "fake_cpu.h"
#include "hw/i8254.h"
#include "tap.h"

static unsigned rises;
static int level;

static void irq0(void *opaque, int l)
{
	if (l && !level)
		rises++;
	level = l;
}

static void out(struct i8254 *p, uint16_t port, uint8_t v) { i8254_port_write(p, port, v); }
static uint8_t in(struct i8254 *p, uint16_t port) { return i8254_port_read(p, port); }

static uint16_t read_word(struct i8254 *p, uint16_t port)
{
	uint16_t lo = in(p, port);

	return lo | (uint16_t)in(p, port) << 8;
}

/* ns at which tick n has elapsed: ceil(n * 1e9 / 1193182). */
static uint64_t tick_ns(uint64_t n)
{
	return (n * 1000000000ull + PIT_FREQ_HZ - 1) / PIT_FREQ_HZ;
}

static void test_mode2_periodic(void)
{
	struct i8254 *p;
	uint64_t t0;

	fake_reset();
	t0 = fake_now;
	rises = 0;
	level = 0;
	p = i8254_create(irq0, NULL, fake_clock);
	CHECK_EQ(i8254_next_deadline_ns(p), PIT_NO_DEADLINE);   /* idle */
	out(p, 0x43, 0x34);                     /* ch0, lo/hi, mode 2, binary */
	CHECK_EQ(i8254_next_deadline_ns(p), PIT_NO_DEADLINE);
	out(p, 0x40, 1193 & 0xFF);
	out(p, 0x40, 1193 >> 8);                /* ~1 kHz, as Linux's HZ=1000 */
	CHECK_EQ(i8254_next_deadline_ns(p), t0 + tick_ns(1193));
	i8254_poll(p, t0 + tick_ns(1193) - 1);
	CHECK_EQ(rises, 0);
	i8254_poll(p, t0 + tick_ns(1193));
	CHECK_EQ(rises, 1);
	CHECK_EQ(level, 0);                     /* a pulse */
	CHECK_EQ(i8254_next_deadline_ns(p), t0 + tick_ns(2 * 1193));
	i8254_poll(p, t0 + tick_ns(1193) + 10);  /* nothing new */
	CHECK_EQ(rises, 1);
	i8254_poll(p, t0 + tick_ns(10 * 1193) + 5);
	CHECK_EQ(rises, 2);                     /* coalesced */
	CHECK_EQ(i8254_next_deadline_ns(p), t0 + tick_ns(11 * 1193));

	/* Counter reads: live, then latched while time moves on. */
	fake_now = t0 + tick_ns(100);
	CHECK_EQ(read_word(p, 0x40), 1193 - 100);
	out(p, 0x43, 0x00);                     /* latch ch0 */
	fake_now = t0 + tick_ns(300);
	CHECK_EQ(read_word(p, 0x40), 1193 - 100);
	CHECK_EQ(read_word(p, 0x40), 1193 - 300);

	/* Read-back: status then count of channel 0. */
	out(p, 0x43, 0xC2);
	fake_now = t0 + tick_ns(500);
	CHECK_EQ(in(p, 0x40), 0x80 | 0x34);     /* OUT high, lo/hi, mode 2 */
	CHECK_EQ(read_word(p, 0x40), 1193 - 300);
	out(p, 0x43, 0xE2);                     /* status only */
	CHECK_EQ(in(p, 0x40), 0x80 | 0x34);
	CHECK_EQ(read_word(p, 0x40), 1193 - 500);

	/* A new control word stops it; null count until a count is written. */
	out(p, 0x43, 0x34);
	CHECK_EQ(i8254_next_deadline_ns(p), PIT_NO_DEADLINE);
	out(p, 0x43, 0xE2);
	CHECK_EQ(in(p, 0x40) & 0x40, 0x40);
	i8254_destroy(p);
}

static void test_mode3_mode0_bcd(void)
{
	struct i8254 *p;
	uint64_t t0;

	fake_reset();
	t0 = fake_now;
	rises = 0;
	level = 0;
	p = i8254_create(irq0, NULL, fake_clock);
	out(p, 0x43, 0x36);                     /* mode 3, count 0 = 65536 */
	out(p, 0x40, 0);
	out(p, 0x40, 0);
	CHECK_EQ(i8254_next_deadline_ns(p), t0 + tick_ns(65536));
	fake_now = t0 + tick_ns(1000);
	CHECK_EQ(read_word(p, 0x40), 65536 - 2000);     /* counts by two */
	i8254_poll(p, t0 + tick_ns(65536));
	CHECK_EQ(rises, 1);
	i8254_poll(p, t0 + tick_ns(2 * 65536));
	CHECK_EQ(rises, 2);

	/* Mode 0: one rising edge at terminal count; output stays high. */
	fake_now = t0 = 5000000000ull;
	out(p, 0x43, 0x30);
	CHECK_EQ(level, 0);
	out(p, 0x40, 100);
	out(p, 0x40, 0);
	i8254_poll(p, t0 + tick_ns(100));
	CHECK_EQ(rises, 3);
	CHECK_EQ(level, 1);
	CHECK_EQ(i8254_next_deadline_ns(p), PIT_NO_DEADLINE);
	i8254_poll(p, t0 + tick_ns(100000));
	CHECK_EQ(rises, 3);
	fake_now = t0 + tick_ns(101);
	CHECK_EQ(read_word(p, 0x40), 0xFFFF);   /* wraps on */
	/* Linux's pit_shutdown: mode 0, count 0. */
	out(p, 0x43, 0x30);
	CHECK_EQ(level, 0);
	out(p, 0x40, 0);
	out(p, 0x40, 0);

	/* BCD, lobyte only access. */
	fake_now = t0 = 6000000000ull;
	out(p, 0x43, 0x15);                     /* ch0, lsb only, mode 2, BCD */
	out(p, 0x40, 0x50);                     /* 50 */
	CHECK_EQ(i8254_next_deadline_ns(p), t0 + tick_ns(50));
	fake_now = t0 + tick_ns(8);
	CHECK_EQ(in(p, 0x40), 0x42);            /* 42 in BCD */
	out(p, 0x43, 0x25);                     /* msb only, BCD, count 0 = 10000 */
	out(p, 0x40, 0x00);
	CHECK_EQ(i8254_next_deadline_ns(p), fake_now + tick_ns(10000));
	i8254_destroy(p);
}

static void test_channel2_port61(void)
{
	struct i8254 *p;
	uint64_t t0;

	fake_reset();
	t0 = fake_now;
	p = i8254_create(NULL, NULL, fake_clock);
	/* arch/x86/kernel/tsc.c pit_calibrate_tsc / quick_pit_calibrate. */
	out(p, 0x61, (in(p, 0x61) & ~0x02) | 0x01);
	out(p, 0x43, 0xB0);                     /* ch2, lo/hi, mode 0 */
	out(p, 0x42, 0xFF);
	out(p, 0x42, 0xFF);
	CHECK_EQ(in(p, 0x61) & 0x21, 0x01);     /* gate on, OUT low */
	fake_now = t0 + tick_ns(0x100);
	in(p, 0x42);                            /* LSB */
	CHECK_EQ(in(p, 0x42), 0xFE);            /* MSB has moved */
	fake_now = t0 + tick_ns(0xFFFF);
	CHECK_EQ(in(p, 0x61) & 0x20, 0x20);     /* OUT high at TC */

	/* Gate low pauses mode 0. */
	fake_now = t0 = 7000000000ull;
	out(p, 0x43, 0xB0);
	out(p, 0x42, 0x10);
	out(p, 0x42, 0x00);
	fake_now = t0 + tick_ns(5);
	out(p, 0x61, 0x00);
	fake_now = t0 + tick_ns(500);
	CHECK_EQ(read_word(p, 0x42), 0x10 - 5);
	CHECK_EQ(in(p, 0x61) & 0x20, 0);
	out(p, 0x61, 0x01);
	fake_now += tick_ns(11);
	CHECK_EQ(in(p, 0x61) & 0x20, 0x20);
	/* The refresh bit toggles with time. */
	fake_now = 0;
	CHECK_EQ(in(p, 0x61) & 0x10, 0);
	fake_now = 15085;
	CHECK_EQ(in(p, 0x61) & 0x10, 0x10);
	/* Channel 2 never raises IRQ0. */
	CHECK_EQ(i8254_next_deadline_ns(p), PIT_NO_DEADLINE);
	i8254_destroy(p);
}

static void test_bus_odd(void)
{
	struct i8254 *p;
	struct bus pio;

	fake_reset();
	p = i8254_create(irq0, NULL, fake_clock);
	bus_init(&pio, "pio");
	CHECK_EQ(i8254_attach(p, &pio), 0);
	CHECK(i8254_attach(p, &pio) < 0);
	bus_write(&pio, 0x43, 1, 0x34);
	bus_write(&pio, 0x40, 1, 0x10);
	bus_write(&pio, 0x40, 1, 0x00);
	CHECK_EQ(i8254_next_deadline_ns(p), fake_now + tick_ns(0x10));
	CHECK_EQ(bus_read(&pio, 0x61, 1) & 0x0F, 0);
	/* Every value to every port, any size: no crash, no hang. */
	for (unsigned v = 0; v < 256; v++) {
		for (unsigned port = 0x40; port < 0x44; port++) {
			bus_write(&pio, port, 1, v);
			(void)bus_read(&pio, port, 1);
			fake_now += 997;
			i8254_poll(p, fake_now);
		}
		bus_write(&pio, 0x61, 1, v);
		(void)bus_read(&pio, 0x40, 4);
		(void)bus_read(&pio, 0x42, 2);
	}
	CHECK(1);
	i8254_detach(p, &pio);
	bus_destroy(&pio);
	i8254_destroy(p);
}

int main(void)
{
	test_mode2_periodic();
	test_mode3_mode0_bcd();
	test_channel2_port61();
	test_bus_odd();
	return test_done();
}
