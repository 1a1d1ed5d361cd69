/* 16550A UART: registers, FIFO, interrupt priorities and line levels. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "hw/uart.h"
#include "mem/bus.h"
#include "mem/layout.h"
#include "fakes.h"
#include "tap.h"

enum { RBR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

static struct bus pio;
static struct fake_irq irq;

static uint8_t in(unsigned reg)
{
	return bus_read(&pio, PORT_COM1 + reg, 1);
}

static void out(unsigned reg, uint8_t val)
{
	bus_write(&pio, PORT_COM1 + reg, 1, val);
}

static int line(void)
{
	return irq.level[IRQ_COM1];
}

static struct uart *make(int fd)
{
	struct uart *u = NULL;

	fake_irq_init(&irq);
	CHECK_EQ(uart_create(&u, &pio, PORT_COM1, &irq.chip, IRQ_COM1, fd), 0);
	return u;
}

static void test_registers(void)
{
	struct uart *u = make(-1), *dup = NULL;

	CHECK_EQ(uart_create(&dup, &pio, PORT_COM1, &irq.chip, IRQ_COM1, -1), -EEXIST);
	CHECK_EQ(in(LSR), 0x60);                 /* THRE | TEMT */
	CHECK_EQ(in(IIR), 0x01);                 /* no interrupt, no FIFO */
	CHECK_EQ(in(MSR) & 0xF0, 0xB0);          /* DCD, DSR, CTS */
	/* DLAB switches offsets 0 and 1 to the divisor latch. */
	out(LCR, 0x83);
	out(RBR, 0x01);
	out(IER, 0x02);
	CHECK_EQ(in(RBR), 0x01);
	CHECK_EQ(in(IER), 0x02);
	out(LCR, 0x03);
	CHECK_EQ(in(LCR), 0x03);
	CHECK_EQ(in(IER), 0x00);                 /* IER untouched by DLM write */
	out(IER, 0xFF);
	CHECK_EQ(in(IER), 0x0F);                 /* upper bits don't stick */
	out(IER, 0);
	out(LCR, 0x80);
	CHECK_EQ(in(RBR), 0x01);
	CHECK_EQ(in(IER), 0x02);
	out(LCR, 0x03);
	out(SCR, 0xA5);
	CHECK_EQ(in(SCR), 0xA5);
	out(MCR, 0xFF);
	CHECK_EQ(in(MCR), 0x1F);
	out(MCR, 0);
	/* FIFO enable shows in IIR bits 7:6. */
	out(FCR, 0x01);
	CHECK_EQ(in(IIR), 0xC1);
	out(FCR, 0x00);
	CHECK_EQ(in(IIR), 0x01);
	CHECK_EQ(line(), 0);
	uart_destroy(u);
	CHECK_EQ(bus_read(&pio, PORT_COM1 + LSR, 1), 0xFF);   /* gone */
}

static uint8_t hooked[8];
static unsigned nhooked;

static void hook(void *opaque, uint8_t byte)
{
	if (nhooked < sizeof(hooked))
		hooked[nhooked++] = byte;
	*(int *)opaque += 1;
}

static void test_transmit(void)
{
	int fds[2], calls = 0;
	char buf[8] = { 0 };
	struct uart *u;

	CHECK_EQ(pipe2(fds, O_NONBLOCK), 0);
	u = make(fds[1]);
	uart_set_tx_hook(u, hook, &calls);
	out(RBR, 'h');
	out(RBR, 'i');
	CHECK_EQ(in(LSR) & 0x60, 0x60);          /* empty again at once */
	CHECK_EQ(read(fds[0], buf, sizeof(buf)), 2);
	CHECK(memcmp(buf, "hi", 2) == 0);
	CHECK_EQ(calls, 2);
	CHECK(nhooked == 2 && hooked[0] == 'h' && hooked[1] == 'i');
	/* A word write to THR is THR then IER, as two byte cycles would be. */
	bus_write(&pio, PORT_COM1, 2, 0x0000 | '!');
	CHECK_EQ(read(fds[0], buf, sizeof(buf)), 1);
	CHECK_EQ(buf[0], '!');
	uart_set_tx_hook(u, NULL, NULL);
	uart_destroy(u);
	close(fds[0]);
	close(fds[1]);
}

/* THRE interrupt semantics that Linux's 8250 driver depends on. */
static void test_thre_interrupt(void)
{
	struct uart *u = make(-1);
	uint8_t iir1, iir2;

	out(FCR, 0x07);
	CHECK_EQ(line(), 0);
	out(IER, 0x02);                          /* ETBEI with THR empty */
	CHECK_EQ(line(), 1);
	CHECK_EQ(irq.rises[IRQ_COM1], 1);
	CHECK_EQ(in(IIR), 0xC2);
	CHECK_EQ(line(), 0);                     /* reading IIR acked it */
	CHECK_EQ(in(IIR), 0xC1);
	/* Transmitting makes THR empty again: a new edge. */
	out(RBR, 'x');
	CHECK_EQ(line(), 1);
	CHECK_EQ(irq.rises[IRQ_COM1], 2);
	out(IER, 0x00);
	CHECK_EQ(line(), 0);
	CHECK_EQ(in(IIR), 0xC1);

	/* serial8250_startup's THRE re-assertion test. */
	out(IER, 0x02);
	iir1 = in(IIR);
	out(IER, 0x00);
	out(IER, 0x02);
	iir2 = in(IIR);
	out(IER, 0x00);
	CHECK(!(iir1 & 1));
	CHECK(!(iir2 & 1));
	CHECK_EQ(line(), 0);
	uart_destroy(u);
}

static void test_receive(void)
{
	struct uart *u = make(-1);
	uint8_t data[20];
	bool ordered = true;

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = 'a' + i;
	/* 16450 mode: one byte of holding register. */
	CHECK(uart_can_receive(u));
	CHECK_EQ(uart_receive(u, data, 2), 1);
	CHECK(!uart_can_receive(u));
	CHECK_EQ(in(LSR) & 0x01, 1);
	CHECK_EQ(line(), 0);                     /* ERBFI off */
	out(IER, 0x01);
	CHECK_EQ(line(), 1);
	CHECK_EQ(in(IIR), 0x04);
	CHECK_EQ(in(RBR), 'a');
	CHECK_EQ(in(LSR) & 0x01, 0);
	CHECK_EQ(line(), 0);
	CHECK_EQ(in(IIR), 0x01);

	/* FIFO mode, trigger level 14. */
	out(FCR, 0xC1);
	CHECK_EQ(uart_receive(u, data, 3), 3);
	CHECK_EQ(in(IIR), 0xCC);                 /* below trigger: timeout */
	CHECK_EQ(line(), 1);
	CHECK_EQ(uart_receive(u, data + 3, 17), 13);
	CHECK(!uart_can_receive(u));
	CHECK_EQ(in(IIR), 0xC4);                 /* at trigger: data available */
	for (unsigned i = 0; i < 16; i++)
		ordered &= in(RBR) == data[i];
	CHECK(ordered);
	CHECK_EQ(in(LSR) & 0x01, 0);
	CHECK_EQ(line(), 0);
	CHECK_EQ(in(RBR), 0);                    /* empty FIFO reads 0 */
	/* FCR clear-receiver empties it. */
	CHECK_EQ(uart_receive(u, data, 5), 5);
	CHECK_EQ(line(), 1);
	out(FCR, 0xC3);
	CHECK_EQ(in(LSR) & 0x01, 0);
	CHECK_EQ(line(), 0);
	uart_destroy(u);
}

static void test_priorities_and_loopback(void)
{
	int fds[2];
	char buf[4];
	struct uart *u;

	CHECK_EQ(pipe2(fds, O_NONBLOCK), 0);
	u = make(fds[1]);
	/* Linux's autoconfig loopback test: MSR follows RTS and OUT2. */
	out(MCR, 0x1A);
	CHECK_EQ(in(MSR) & 0xF0, 0x90);
	out(MCR, 0x1F);
	CHECK_EQ(in(MSR) & 0xF0, 0xF0);
	/* Looped-back bytes arrive in RBR and never leave the UART. */
	out(RBR, 'L');
	CHECK_EQ(in(LSR) & 0x01, 1);
	CHECK_EQ(in(RBR), 'L');
	CHECK_EQ(read(fds[0], buf, sizeof(buf)), -1);
	CHECK(!uart_can_receive(u));
	CHECK_EQ(uart_receive(u, (const uint8_t *)"x", 1), 0);

	/* Overrun in 16450 mode, with every interrupt enabled. */
	out(MCR, 0x10);                          /* modem lines drop: deltas */
	out(RBR, '1');
	out(RBR, '2');                           /* holding register full */
	out(IER, 0x0F);
	CHECK_EQ(line(), 1);
	CHECK_EQ(in(IIR), 0x06);                 /* line status first */
	CHECK_EQ(in(LSR) & 0x03, 0x03);          /* OE | DR; read clears OE */
	CHECK_EQ(in(IIR), 0x04);                 /* then received data */
	CHECK_EQ(in(RBR), '1');
	CHECK_EQ(in(IIR), 0x02);                 /* then THR empty */
	CHECK_EQ(in(IIR), 0x00);                 /* then modem status */
	CHECK(in(MSR) & 0x0F);                   /* read clears the deltas */
	CHECK_EQ(in(IIR), 0x01);
	CHECK_EQ(line(), 0);
	out(IER, 0);
	out(MCR, 0);
	uart_destroy(u);
	close(fds[0]);
	close(fds[1]);
}

/* Any access pattern is survivable and leaves the line consistent. */
static void test_random_access(void)
{
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	struct uart *u = make(-1);
	uint64_t s = 0x9E3779B97F4A7C15ULL;
	uint8_t in_bytes[7] = "random";

	for (unsigned i = 0; i < 20000; i++) {
		uint64_t r = fake_rand(&s);
		unsigned size = sizes[r & 3];
		uint64_t port = PORT_COM1 + ((r >> 2) & 7);

		if (r & (1 << 8))
			bus_write(&pio, port, size, fake_rand(&s));
		else
			(void)bus_read(&pio, port, size);
		if ((r & 0xF000) == 0)
			uart_receive(u, in_bytes, sizeof(in_bytes));
	}
	CHECK_EQ(irq.bad_gsi, 0);
	/* Reset the registers; the line must follow the state. */
	out(LCR, 0);
	out(MCR, 0);
	out(IER, 0);
	CHECK_EQ(line(), 0);
	out(IER, 0x02);
	CHECK_EQ(line(), 1);
	uart_destroy(u);
}

/* vCPU threads hammering the registers while the main loop feeds input. */
static int stop_threads;

static void *hammer(void *arg)
{
	uint64_t s = (uintptr_t)arg;

	while (!__atomic_load_n(&stop_threads, __ATOMIC_RELAXED)) {
		uint64_t r = fake_rand(&s);

		if (r & 1)
			bus_write(&pio, PORT_COM1 + ((r >> 1) & 7), 1, r >> 8);
		else
			(void)bus_read(&pio, PORT_COM1 + ((r >> 1) & 7), 1);
	}
	return NULL;
}

static void test_threads(void)
{
	struct uart *u = make(-1);
	pthread_t t[2];
	size_t got = 0;

	CHECK_EQ(pthread_create(&t[0], NULL, hammer, (void *)1), 0);
	CHECK_EQ(pthread_create(&t[1], NULL, hammer, (void *)2), 0);
	for (unsigned i = 0; i < 20000; i++)
		got += uart_receive(u, (const uint8_t *)"abcd", 4);
	__atomic_store_n(&stop_threads, 1, __ATOMIC_RELAXED);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	CHECK(got <= 80000);
	CHECK_EQ(irq.bad_gsi, 0);
	uart_destroy(u);
}

int main(void)
{
	bus_init(&pio, "pio");
	test_registers();
	test_transmit();
	test_thre_interrupt();
	test_receive();
	test_priorities_and_loopback();
	test_random_access();
	test_threads();
	bus_destroy(&pio);
	return test_done();
}
