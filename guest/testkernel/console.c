/*
 * Serial console on COM1 (0x3F8), 115200 8N1, polled.
 *
 * Port I/O is the expensive part when the guest's kernel code is emulated,
 * so a line is formatted in memory first and written in one go: when the
 * UART has a working 16550 FIFO, one poll of LSR.THRE (transmitter empty)
 * is followed by up to 16 bytes; otherwise one poll per byte.
 *
 * Lines from several CPUs must not interleave: the whole write runs under a
 * spinlock taken with xchg (implicitly locked).
 */
#include "tk.h"

#define COM1		0x3F8
#define UART_THR	0	/* transmit holding register (DLAB=0) */
#define UART_DLL	0	/* divisor latch low (DLAB=1) */
#define UART_IER	1
#define UART_DLM	1
#define UART_FCR	2	/* write */
#define UART_IIR	2	/* read */
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define LSR_THRE	0x20
#define UART_FIFO_LEN	16
#define UART_POLL_LIMIT	100000	/* a missing UART must not hang us */

static volatile u32 console_lock;
static unsigned int uart_burst = 1;

void console_init(void)
{
	outb(COM1 + UART_IER, 0x00);
	outb(COM1 + UART_LCR, 0x80);	/* DLAB */
	outb(COM1 + UART_DLL, 0x01);	/* 115200 = 1843200 / 16 / 1 */
	outb(COM1 + UART_DLM, 0x00);
	outb(COM1 + UART_LCR, 0x03);	/* 8N1 */
	outb(COM1 + UART_FCR, 0x07);	/* enable and clear FIFOs */
	if ((inb(COM1 + UART_IIR) & 0xC0) == 0xC0)
		uart_burst = UART_FIFO_LEN;
	outb(COM1 + UART_MCR, 0x03);	/* DTR, RTS */
}

static void uart_write(const char *s, size_t n)
{
	while (n) {
		unsigned int spins = 0;
		unsigned int burst;

		while (!(inb(COM1 + UART_LSR) & LSR_THRE) &&
		       ++spins < UART_POLL_LIMIT)
			cpu_pause();
		for (burst = uart_burst; burst && n; burst--, n--)
			outb(COM1 + UART_THR, (u8)*s++);
	}
}

static bool lock_try(void)
{
	return __atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE) == 0;
}

static void lock_release(void)
{
	__atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE);
}

/* ---- a minimal vsnprintf: %s %c %d %u %x with l/ll, width, '0' ---- */

struct outbuf {
	char *buf;
	size_t len, cap;
};

static void put(struct outbuf *o, char c)
{
	if (o->len + 1 < o->cap)
		o->buf[o->len++] = c;
}

static void put_num(struct outbuf *o, u64 v, unsigned int base, bool neg,
		    unsigned int width, char pad)
{
	char tmp[24];
	unsigned int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	while (width > n) {
		put(o, pad);
		width--;
	}
	while (n)
		put(o, tmp[--n]);
}

static size_t format(char *buf, size_t cap, const char *fmt, va_list ap)
{
	struct outbuf o = { buf, 0, cap };

	for (; *fmt; fmt++) {
		unsigned int width = 0, lng = 0;
		char pad = ' ';

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (unsigned int)(*fmt++ - '0');
		while (*fmt == 'l') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);

			while (*s)
				put(&o, *s++);
			break;
		}
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case 'd': {
			long long v = lng ? va_arg(ap, long long)
					  : va_arg(ap, int);

			put_num(&o, v < 0 ? -(u64)v : (u64)v, 10, v < 0,
				width, pad);
			break;
		}
		case 'u':
		case 'x': {
			u64 v = lng ? va_arg(ap, unsigned long long)
				    : va_arg(ap, unsigned int);

			put_num(&o, v, *fmt == 'x' ? 16 : 10, false, width,
				pad);
			break;
		}
		case '%':
			put(&o, '%');
			break;
		default:
			return o.len;
		}
	}
	return o.len;
}

void kprintf(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = format(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	while (!lock_try())
		cpu_pause();
	uart_write(buf, n);
	lock_release();
}

void kprintf_panic(const char *fmt, ...)
{
	char buf[256];
	unsigned int spins;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = format(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* The faulting code may hold the lock: take it over after a while. */
	for (spins = 0; spins < 100000 && !lock_try(); spins++)
		cpu_pause();
	uart_write(buf, n);
	lock_release();
}
