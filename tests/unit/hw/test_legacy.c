/* i8042 (probing, reset) and the CMOS RTC (time, registers A-D, RAM). */
#include <errno.h>
#include <time.h>

#include "hw/i8042.h"
#include "hw/rtc.h"
#include "lib/util.h"
#include "mem/bus.h"
#include "mem/guest_mem.h"
#include "mem/layout.h"
#include "fakes.h"
#include "tap.h"

static struct bus pio;
static struct fake_ctl ctl;

/* --- i8042 --- */

static uint8_t kbd_status(void)
{
	return bus_read(&pio, PORT_I8042_CMD, 1);
}

static void kbd_cmd(uint8_t cmd)
{
	bus_write(&pio, PORT_I8042_CMD, 1, cmd);
}

static uint8_t kbd_reply(void)
{
	CHECK(kbd_status() & 0x01);
	return bus_read(&pio, PORT_I8042_DATA, 1);
}

static void test_i8042(void)
{
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	struct i8042 *k = NULL, *dup = NULL;
	uint64_t s = 42;

	fake_ctl_init(&ctl);
	CHECK_EQ(i8042_create(&k, &pio, &ctl.ctl), 0);
	CHECK_EQ(i8042_create(&dup, &pio, &ctl.ctl), -EEXIST);
	CHECK_EQ(kbd_status() & 0x01, 0);
	CHECK_EQ(kbd_status() & 0x04, 0x04);              /* SYS */
	kbd_cmd(0xAA);
	CHECK_EQ(kbd_status() & 0x08, 0x08);              /* last write: command */
	CHECK_EQ(kbd_reply(), 0x55);
	CHECK_EQ(kbd_status() & 0x01, 0);
	kbd_cmd(0xAB);
	CHECK_EQ(kbd_reply(), 0x00);
	kbd_cmd(0xA9);
	CHECK_EQ(kbd_reply(), 0x00);
	kbd_cmd(0x20);
	CHECK_EQ(kbd_reply(), 0x47);
	kbd_cmd(0x60);
	bus_write(&pio, PORT_I8042_DATA, 1, 0x65);
	CHECK_EQ(kbd_status() & 0x08, 0);
	kbd_cmd(0x20);
	CHECK_EQ(kbd_reply(), 0x65);
	kbd_cmd(0xAD);
	kbd_cmd(0xA7);
	kbd_cmd(0x20);
	CHECK_EQ(kbd_reply(), 0x75);
	kbd_cmd(0xAE);
	kbd_cmd(0xA8);
	kbd_cmd(0x20);
	CHECK_EQ(kbd_reply(), 0x45);
	kbd_cmd(0xD0);
	CHECK_EQ(kbd_reply(), 0x03);
	/* Linux's AUX loopback probe. */
	kbd_cmd(0xD3);
	bus_write(&pio, PORT_I8042_DATA, 1, 0x5A);
	CHECK_EQ(kbd_status() & 0x21, 0x21);
	CHECK_EQ(kbd_reply(), 0x5A);
	/* Bytes for the (absent) keyboard get no answer. */
	bus_write(&pio, PORT_I8042_DATA, 1, 0xF2);
	CHECK_EQ(kbd_status() & 0x01, 0);
	CHECK_EQ(ctl.reset, 0);

	kbd_cmd(0xFF);                                    /* pulse nothing */
	CHECK_EQ(ctl.reset, 0);
	kbd_cmd(0xFE);
	CHECK_EQ(ctl.reset, 1);
	kbd_cmd(0xD1);
	bus_write(&pio, PORT_I8042_DATA, 1, 0x03);
	CHECK_EQ(ctl.reset, 1);
	kbd_cmd(0xD1);
	bus_write(&pio, PORT_I8042_DATA, 1, 0x02);        /* reset line low */
	CHECK_EQ(ctl.reset, 2);

	/* Wider accesses do not fit the one-byte ports. */
	CHECK_EQ(bus_read(&pio, PORT_I8042_DATA, 2), 0xFFFF);
	for (unsigned i = 0; i < 5000; i++) {
		uint64_t r = fake_rand(&s);
		uint16_t port = r & 1 ? PORT_I8042_CMD : PORT_I8042_DATA;
		unsigned size = sizes[(r >> 1) & 3];

		if (r & 8)
			bus_write(&pio, port, size, fake_rand(&s));
		else
			(void)bus_read(&pio, port, size);
	}
	i8042_destroy(k);
	CHECK_EQ(pio.nr, 0);
}

/* --- RTC --- */

static uint8_t cmos_read(uint8_t reg)
{
	bus_write(&pio, PORT_RTC, 1, reg);
	return bus_read(&pio, PORT_RTC + 1, 1);
}

static void cmos_write(uint8_t reg, uint8_t val)
{
	bus_write(&pio, PORT_RTC, 1, reg);
	bus_write(&pio, PORT_RTC + 1, 1, val);
}

static bool valid_bcd(uint8_t v, unsigned max)
{
	return (v & 0x0F) <= 9 && (v >> 4) <= 9 && (unsigned)((v >> 4) * 10 + (v & 0x0F)) <= max;
}

static unsigned bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0x0F);
}

static void test_rtc_time(void)
{
	time_t before, after;
	struct tm tm;
	uint8_t sec, min, hour, mday, mon, year, cent, wday;
	unsigned tries = 0;

	CHECK_EQ(cmos_read(0x0B), 0x02);                  /* BCD, 24h */
	do {
		before = time(NULL);
		sec = cmos_read(0x00);
		min = cmos_read(0x02);
		hour = cmos_read(0x04);
		wday = cmos_read(0x06);
		mday = cmos_read(0x07);
		mon = cmos_read(0x08);
		year = cmos_read(0x09);
		cent = cmos_read(0x32);
		after = time(NULL);
	} while (before != after && ++tries < 5);
	gmtime_r(&before, &tm);
	CHECK(valid_bcd(sec, 59) && valid_bcd(min, 59) && valid_bcd(hour, 23));
	CHECK(valid_bcd(mday, 31) && valid_bcd(mon, 12) && valid_bcd(year, 99));
	CHECK_EQ(bcd(sec), tm.tm_sec);
	CHECK_EQ(bcd(min), tm.tm_min);
	CHECK_EQ(bcd(hour), tm.tm_hour);
	CHECK_EQ(bcd(wday), tm.tm_wday + 1);
	CHECK_EQ(bcd(mday), tm.tm_mday);
	CHECK_EQ(bcd(mon), tm.tm_mon + 1);
	CHECK_EQ(bcd(year), tm.tm_year % 100);
	CHECK_EQ(bcd(cent), (tm.tm_year + 1900) / 100);

	/* Binary, then 12-hour BCD with the PM bit. */
	cmos_write(0x0B, 0x06);
	CHECK(cmos_read(0x02) < 60 && cmos_read(0x04) < 24);
	CHECK_EQ(cmos_read(0x09), tm.tm_year % 100);
	cmos_write(0x0B, 0x00);
	hour = cmos_read(0x04);
	CHECK(valid_bcd(hour & 0x7F, 12) && (hour & 0x7F) != 0);
	{
		time_t now = time(NULL);
		struct tm t2;
		gmtime_r(&now, &t2);
		CHECK_EQ(!!(hour & 0x80), t2.tm_hour >= 12);
		CHECK_EQ(bcd(hour & 0x7F) % 12, t2.tm_hour % 12);
	}

	/* Set the clock with SET held: fields one by one, then release. */
	cmos_write(0x0B, 0x82);
	cmos_write(0x00, 0x30);
	cmos_write(0x02, 0x15);
	cmos_write(0x04, 0x10);
	cmos_write(0x07, 0x31);                           /* 31 ... */
	cmos_write(0x08, 0x01);                           /* ... January */
	cmos_write(0x09, 0x24);
	cmos_write(0x32, 0x20);
	CHECK_EQ(cmos_read(0x07), 0x31);                  /* frozen, raw */
	CHECK_EQ(cmos_read(0x0A) & 0x80, 0);              /* no UIP while SET */
	cmos_write(0x0B, 0x02);
	CHECK_EQ(cmos_read(0x09), 0x24);
	CHECK_EQ(cmos_read(0x08), 0x01);
	CHECK_EQ(cmos_read(0x07), 0x31);
	CHECK_EQ(cmos_read(0x06), 0x04);                  /* a Wednesday */
	CHECK_EQ(cmos_read(0x04), 0x10);
	CHECK_EQ(cmos_read(0x02), 0x15);
	CHECK(cmos_read(0x00) == 0x30 || cmos_read(0x00) == 0x31);
	/* A single field while running. */
	cmos_write(0x09, 0x25);
	CHECK_EQ(cmos_read(0x09), 0x25);
	CHECK_EQ(cmos_read(0x08), 0x01);
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static void sleep_until(uint64_t ns)
{
	struct timespec ts = { ns / 1000000000u, ns % 1000000000u };

	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Sleep past the next second boundary: one clock update has happened. */
static void wait_update(void)
{
	sleep_until((real_ns() / 1000000000u + 1) * 1000000000u + 2000000);
}

#define UIP_WINDOW_NS 244000u

static bool in_uip_window(uint64_t ns)
{
	return ns % 1000000000u >= 1000000000u - UIP_WINDOW_NS;
}

/*
 * UIP is high in the last 244 us of each second. Sleep to 2 ms before a
 * second ends, then read register A over and over across the boundary: a
 * read that provably happened inside (or outside) the window must show UIP
 * set (or clear). Spinning, not sleeping into the window, so that a
 * loaded machine's late wake-up costs at most that second's try.
 */
static void test_uip(void)
{
	bool seen = false, wrong = false;

	for (unsigned tries = 0; tries < 10 && !seen; tries++) {
		uint64_t next = (real_ns() / 1000000000u + 1) * 1000000000u;

		sleep_until(next - 2000000);
		for (uint64_t t0 = real_ns(), t1; t0 < next + 100000; t0 = t1) {
			uint8_t a = cmos_read(0x0A);

			t1 = real_ns();
			if (t0 / 1000000000u != t1 / 1000000000u)
				continue;
			if (in_uip_window(t0) && in_uip_window(t1)) {
				seen |= (a & 0x80) != 0;
				wrong |= !(a & 0x80);
			} else if (!in_uip_window(t0) && !in_uip_window(t1)) {
				wrong |= (a & 0x80) != 0;
			}
		}
	}
	CHECK(seen);
	CHECK(!wrong);
}

static void test_rtc_registers(void)
{
	uint8_t c;

	CHECK_EQ(cmos_read(0x0A) & 0x7F, 0x26);
	CHECK_EQ(cmos_read(0x0D), 0x80);
	cmos_write(0x0D, 0x00);
	CHECK_EQ(cmos_read(0x0D), 0x80);                  /* read-only */
	cmos_write(0x0A, 0xA6);
	CHECK_EQ(cmos_read(0x0A) & 0x7F, 0x26);           /* UIP not writable */

	/* Register C: flags since the last read, IRQF only when enabled. */
	cmos_write(0x0A, 0x20);                           /* no periodic rate */
	cmos_write(0x0B, 0x02);
	(void)cmos_read(0x0C);
	c = cmos_read(0x0C);
	CHECK_EQ(c & ~0x10, 0);
	test_uip();
	wait_update();
	c = cmos_read(0x0C);
	CHECK_EQ(c & 0x10, 0x10);                         /* update ended */
	CHECK_EQ(c & 0x80, 0);                            /* UIE off */
	cmos_write(0x0B, 0x12);                           /* UIE */
	wait_update();
	c = cmos_read(0x0C);
	CHECK_EQ(c & 0x90, 0x90);
	/* Periodic: 1024 Hz, PIE. */
	cmos_write(0x0A, 0x26);
	cmos_write(0x0B, 0x42);
	(void)cmos_read(0x0C);
	{
		struct timespec ts = { 0, 3000000 };
		nanosleep(&ts, NULL);
	}
	c = cmos_read(0x0C);
	CHECK_EQ(c & 0xC0, 0xC0);
	cmos_write(0x0B, 0x02);
	cmos_write(0x0C, 0xFF);                           /* read-only */
}

static void test_rtc_ram(struct rtc *r)
{
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	uint64_t s = 99;

	cmos_write(0x0F, 0x0A);
	CHECK_EQ(cmos_read(0x0F), 0x0A);
	cmos_write(0x50, 0x5A);
	CHECK_EQ(cmos_read(0x50), 0x5A);
	CHECK_EQ(cmos_read(0x7F), 0x00);
	/* NMI-disable bit in the index; the index itself is bits 6:0. */
	CHECK(!rtc_nmi_disabled(r));
	bus_write(&pio, PORT_RTC, 1, 0x80 | 0x0F);
	CHECK(rtc_nmi_disabled(r));
	CHECK_EQ(bus_read(&pio, PORT_RTC + 1, 1), 0x0A);
	bus_write(&pio, PORT_RTC, 1, 0x0F);
	CHECK(!rtc_nmi_disabled(r));
	CHECK_EQ(bus_read(&pio, PORT_RTC, 1), 0xFF);      /* index is write-only */
	/* A word write: index then data. */
	bus_write(&pio, PORT_RTC, 2, 0x7733);
	CHECK_EQ(cmos_read(0x33), 0x77);
	/* 64 MiB: 48 MiB above 16 MiB = 768 64K units; 63 MiB extended. */
	CHECK_EQ(cmos_read(0x34) | cmos_read(0x35) << 8, 768);
	CHECK_EQ(cmos_read(0x30) | cmos_read(0x31) << 8, 63 * 1024);
	CHECK_EQ(cmos_read(0x15) | cmos_read(0x16) << 8, 640);
	CHECK_EQ(cmos_read(0x5b) | cmos_read(0x5c) << 8 | cmos_read(0x5d) << 16, 0);

	/* Garbage everywhere, including non-BCD time fields. */
	for (unsigned i = 0; i < 20000; i++) {
		uint64_t v = fake_rand(&s);
		unsigned size = sizes[v & 3];

		if (v & 4)
			bus_write(&pio, PORT_RTC + ((v >> 3) & 1), size, fake_rand(&s));
		else
			(void)bus_read(&pio, PORT_RTC + ((v >> 3) & 1), size);
	}
	for (unsigned reg = 0; reg < 0x80; reg++)
		cmos_write(reg, 0xFF);
	cmos_write(0x0B, 0x02);
	for (unsigned reg = 0; reg < 0x80; reg++)
		(void)cmos_read(reg);
	CHECK_EQ(cmos_read(0x0D), 0x80);
}

int main(void)
{
	struct guest_mem mem;
	struct rtc *r = NULL;

	bus_init(&pio, "pio");
	test_i8042();

	CHECK_EQ(gmem_init(&mem, 64 * MiB, 0), 0);
	CHECK_EQ(rtc_create(&r, &pio, &mem), 0);
	test_rtc_time();
	test_rtc_registers();
	test_rtc_ram(r);
	rtc_destroy(r);
	CHECK_EQ(pio.nr, 0);
	gmem_destroy(&mem);
	bus_destroy(&pio);
	return test_done();
}
