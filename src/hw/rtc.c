/*
 * MC146818 RTC. The clock is the host's UTC clock plus an offset the guest
 * changes by writing the time registers; time registers are encoded on
 * every read in the format register B asks for (BCD or binary, 12 or 24
 * hours), so a format change takes effect at once.
 *
 * While register B's SET bit is 1 the clock is frozen: the time registers
 * read and write raw CMOS bytes, and clearing SET converts them back into
 * the offset. This lets a guest write the fields one by one without
 * intermediate dates (31 February) being normalised under it.
 *
 * Interrupts are not generated: register C's flags (update-ended,
 * periodic, alarm) are computed when C is read, so a polling guest sees
 * them, and IRQ 8 is never raised.
 */
#include "hw/rtc.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "lib/log.h"
#include "lib/util.h"
#include "mem/layout.h"

enum {
	REG_SEC = 0x00,
	REG_SEC_ALARM = 0x01,
	REG_MIN = 0x02,
	REG_MIN_ALARM = 0x03,
	REG_HOUR = 0x04,
	REG_HOUR_ALARM = 0x05,
	REG_WDAY = 0x06,
	REG_MDAY = 0x07,
	REG_MON = 0x08,
	REG_YEAR = 0x09,
	REG_A = 0x0A,
	REG_B = 0x0B,
	REG_C = 0x0C,
	REG_D = 0x0D,
	REG_SHUTDOWN = 0x0F,
};

#define A_UIP      0x80
#define A_DV_MASK  0x70
#define A_DV_32K   0x20    /* 32.768 kHz time base: the clock runs */
#define A_RS_MASK  0x0F

#define B_SET      0x80
#define B_PIE      0x40
#define B_AIE      0x20
#define B_UIE      0x10
#define B_DM_BIN   0x04
#define B_24H      0x02

#define C_IRQF     0x80
#define C_PF       0x40
#define C_AF       0x20
#define C_UF       0x10

#define D_VRT      0x80

/* UIP is high for this long before each second's update. */
#define UIP_NS     244000ULL
#define NS_PER_S   1000000000ULL

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static bool is_time_reg(unsigned reg)
{
	switch (reg) {
	case REG_SEC: case REG_MIN: case REG_HOUR: case REG_WDAY:
	case REG_MDAY: case REG_MON: case REG_YEAR: case RTC_REG_CENTURY:
		return true;
	}
	return false;
}

static uint8_t to_reg(const struct rtc *r, unsigned v)
{
	v %= 100;
	if (r->cmos[REG_B] & B_DM_BIN)
		return v;
	return ((v / 10) << 4) | (v % 10);
}

/* Garbage in (a non-BCD byte) gives a wrong number, never a crash. */
static unsigned from_reg(const struct rtc *r, uint8_t x)
{
	if (r->cmos[REG_B] & B_DM_BIN)
		return x;
	return (x >> 4) * 10 + (x & 0x0F);
}

static uint8_t hour_to_reg(const struct rtc *r, unsigned h)
{
	unsigned h12;

	if (r->cmos[REG_B] & B_24H)
		return to_reg(r, h);
	h12 = h % 12 ? h % 12 : 12;
	return to_reg(r, h12) | (h >= 12 ? 0x80 : 0);
}

static unsigned hour_from_reg(const struct rtc *r, uint8_t x)
{
	unsigned h;

	if (r->cmos[REG_B] & B_24H)
		return from_reg(r, x);
	h = from_reg(r, x & 0x7F) % 12;
	return (x & 0x80) ? h + 12 : h;
}

static time_t guest_time(const struct rtc *r, uint64_t now_ns)
{
	return (time_t)(now_ns / NS_PER_S) + r->offset_s;
}

/* Write the guest's current time into the time registers of cmos[]. */
static void snapshot_time(struct rtc *r, uint64_t now_ns)
{
	time_t t = guest_time(r, now_ns);
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		return;
	r->cmos[REG_SEC] = to_reg(r, tm.tm_sec);
	r->cmos[REG_MIN] = to_reg(r, tm.tm_min);
	r->cmos[REG_HOUR] = hour_to_reg(r, tm.tm_hour);
	r->cmos[REG_WDAY] = to_reg(r, tm.tm_wday + 1);
	r->cmos[REG_MDAY] = to_reg(r, tm.tm_mday);
	r->cmos[REG_MON] = to_reg(r, tm.tm_mon + 1);
	r->cmos[REG_YEAR] = to_reg(r, (tm.tm_year + 1900) % 100);
	r->cmos[RTC_REG_CENTURY] = to_reg(r, (tm.tm_year + 1900) / 100);
}

/* Make the time registers of cmos[] the guest's current time. */
static void commit_time(struct rtc *r, uint64_t now_ns)
{
	struct tm tm = { 0 };
	time_t t;

	tm.tm_sec = from_reg(r, r->cmos[REG_SEC]);
	tm.tm_min = from_reg(r, r->cmos[REG_MIN]);
	tm.tm_hour = hour_from_reg(r, r->cmos[REG_HOUR]);
	tm.tm_mday = from_reg(r, r->cmos[REG_MDAY]);
	tm.tm_mon = (int)from_reg(r, r->cmos[REG_MON]) - 1;
	tm.tm_year = (int)(from_reg(r, r->cmos[RTC_REG_CENTURY]) * 100 +
			   from_reg(r, r->cmos[REG_YEAR])) - 1900;
	t = timegm(&tm);
	if (t == (time_t)-1) {
		log_warn("rtc: guest set an impossible time; ignored");
		return;
	}
	r->offset_s = (int64_t)t - (int64_t)(now_ns / NS_PER_S);
}

static bool clock_running(const struct rtc *r)
{
	return !(r->cmos[REG_B] & B_SET) &&
	       (r->cmos[REG_A] & A_DV_MASK) == A_DV_32K;
}

static uint64_t periodic_ns(const struct rtc *r)
{
	unsigned rs = r->cmos[REG_A] & A_RS_MASK;

	if (rs == 0)
		return 0;
	if (rs < 3)
		rs += 7;   /* rates 1 and 2 alias 8 and 9 on a 32 kHz base */
	return NS_PER_S * (1ULL << (rs - 1)) / 32768;
}

static bool alarm_matches(struct rtc *r, uint64_t now_ns)
{
	static const uint8_t pairs[3][2] = {
		{ REG_SEC_ALARM, REG_SEC }, { REG_MIN_ALARM, REG_MIN },
		{ REG_HOUR_ALARM, REG_HOUR },
	};
	uint8_t saved[RTC_CMOS_SIZE];
	bool match = true;

	/* Compare against a fresh encoding without disturbing cmos[]. */
	for (unsigned i = 0; i < RTC_CMOS_SIZE; i++)
		saved[i] = r->cmos[i];
	snapshot_time(r, now_ns);
	for (unsigned i = 0; i < 3; i++) {
		uint8_t alarm = saved[pairs[i][0]];
		if ((alarm & 0xC0) != 0xC0 && alarm != r->cmos[pairs[i][1]])
			match = false;
	}
	for (unsigned i = 0; i < RTC_CMOS_SIZE; i++)
		r->cmos[i] = saved[i];
	return match;
}

/* Register C: flags raised since it was last read; reading clears them. */
static uint8_t read_reg_c(struct rtc *r)
{
	uint64_t now = realtime_ns(), last = r->last_c_read_ns;
	uint64_t period = periodic_ns(r);
	uint8_t c = 0, b = r->cmos[REG_B];

	if (clock_running(r)) {
		if (now / NS_PER_S != last / NS_PER_S)
			c |= C_UF;
		if (alarm_matches(r, now))
			c |= C_AF;
	}
	if (period && now - last >= period)
		c |= C_PF;
	if (((c & C_PF) && (b & B_PIE)) || ((c & C_AF) && (b & B_AIE)) ||
	    ((c & C_UF) && (b & B_UIE)))
		c |= C_IRQF;
	r->last_c_read_ns = now;
	return c;
}

static uint8_t read_data(struct rtc *r)
{
	unsigned reg = r->index;
	uint64_t now;
	uint8_t a;

	if (is_time_reg(reg)) {
		if (!(r->cmos[REG_B] & B_SET))
			snapshot_time(r, realtime_ns());
		return r->cmos[reg];
	}
	switch (reg) {
	case REG_A:
		a = r->cmos[REG_A] & ~A_UIP;
		now = realtime_ns();
		if (clock_running(r) && now % NS_PER_S >= NS_PER_S - UIP_NS)
			a |= A_UIP;
		return a;
	case REG_C:
		return read_reg_c(r);
	case REG_D:
		return D_VRT;
	}
	return r->cmos[reg];
}

static void write_data(struct rtc *r, uint8_t val)
{
	unsigned reg = r->index;
	uint64_t now = realtime_ns();
	uint8_t old;

	if (is_time_reg(reg)) {
		if (r->cmos[REG_B] & B_SET) {
			r->cmos[reg] = val;
		} else {
			snapshot_time(r, now);
			r->cmos[reg] = val;
			commit_time(r, now);
		}
		return;
	}
	switch (reg) {
	case REG_A:
		r->cmos[REG_A] = val & ~A_UIP;
		return;
	case REG_B:
		old = r->cmos[REG_B];
		if ((val & B_SET) && !(old & B_SET)) {
			snapshot_time(r, now);   /* freeze, in the old format */
			val &= ~B_UIE;           /* SET clears UIE */
		}
		r->cmos[REG_B] = val;
		if (!(val & B_SET) && (old & B_SET))
			commit_time(r, now);
		return;
	case REG_C:
	case REG_D:
		return;   /* read-only */
	}
	r->cmos[reg] = val;
}

static uint64_t rtc_read(void *opaque, uint64_t off, unsigned size)
{
	struct rtc *r = opaque;
	uint64_t val = 0;

	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < size && i < 8; i++) {
		/* The index register is write-only. */
		uint8_t b = ((off + i) & 1) ? read_data(r) : 0xFF;
		val |= (uint64_t)b << (8 * i);
	}
	pthread_mutex_unlock(&r->lock);
	return val;
}

static void rtc_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct rtc *r = opaque;

	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < size && i < 8; i++) {
		uint8_t b = val >> (8 * i);
		if ((off + i) & 1) {
			write_data(r, b);
		} else {
			r->index = b & 0x7F;
			r->nmi_disabled = b & 0x80;
		}
	}
	pthread_mutex_unlock(&r->lock);
}

static const struct bus_ops rtc_ops = {
	.read = rtc_read,
	.write = rtc_write,
};

static void put16(uint8_t *p, uint64_t v)
{
	v = MIN(v, 0xFFFF);
	p[0] = v;
	p[1] = v >> 8;
}

/* Memory size bytes as SeaBIOS and QEMU's PC machine leave them. */
static void fill_memory_size(struct rtc *r, const struct guest_mem *mem)
{
	uint64_t low = MIN(mem->ram_size, LOW_RAM_END);
	uint64_t high = mem->ram_size - low;
	uint64_t ext_kb = low > MiB ? (low - MiB) / KiB : 0;
	uint64_t above16 = low > 16 * MiB ? (low - 16 * MiB) / (64 * KiB) : 0;
	uint64_t above4g = MIN(high / (64 * KiB), 0xFFFFFF);

	put16(&r->cmos[0x15], 640);
	put16(&r->cmos[0x17], ext_kb);
	put16(&r->cmos[0x30], ext_kb);
	put16(&r->cmos[0x34], above16);
	r->cmos[0x5b] = above4g;
	r->cmos[0x5c] = above4g >> 8;
	r->cmos[0x5d] = above4g >> 16;
}

int rtc_create(struct rtc **out, struct bus *pio, const struct guest_mem *mem)
{
	struct rtc *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	r->pio = pio;
	r->cmos[REG_A] = A_DV_32K | 0x06;   /* 1024 Hz periodic rate */
	r->cmos[REG_B] = B_24H;             /* BCD, 24 hours, no interrupts */
	r->last_c_read_ns = realtime_ns();
	if (mem)
		fill_memory_size(r, mem);
	err = bus_add(pio, PORT_RTC, 2, &rtc_ops, r, "rtc");
	if (err) {
		log_err("rtc: ports 0x%x-0x%x: %d", PORT_RTC, PORT_RTC + 1, err);
		pthread_mutex_destroy(&r->lock);
		free(r);
		return err;
	}
	*out = r;
	return 0;
}

void rtc_destroy(struct rtc *r)
{
	if (!r)
		return;
	bus_remove(r->pio, PORT_RTC, r);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

bool rtc_nmi_disabled(struct rtc *r)
{
	bool v;

	pthread_mutex_lock(&r->lock);
	v = r->nmi_disabled;
	pthread_mutex_unlock(&r->lock);
	return v;
}
