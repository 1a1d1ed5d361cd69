/*
 * 16550A UART. Transmission is instantaneous: a byte written to THR goes
 * out at once and THR/TSR are empty again before the next guest access.
 * The receive FIFO is filled by uart_receive() from the VMM's main loop.
 *
 * Interrupts follow the 16550A priority scheme (line status, received
 * data / character timeout, THR empty, modem status). The IRQ line is ISA
 * edge-triggered: it is high while an enabled condition holds and low
 * otherwise, so every new condition after the guest has drained the
 * previous one is a fresh rising edge. As on a real part and in QEMU,
 * reading IIR while it reports THRE clears that interrupt, and enabling
 * ETBEI while THR is empty raises it again (Linux's 8250 driver tests
 * this at startup and otherwise falls back to polling with a timer).
 *
 * Simplification: there is no character-timeout timer; when the FIFO
 * holds fewer bytes than the trigger level the timeout indication (IIR
 * 0x0C) is reported immediately, which drivers treat as "data ready".
 */
#include "hw/uart.h"

#include <errno.h>
#include <stdlib.h>

#include "lib/log.h"
#include "lib/util.h"

/* Register offsets. */
enum {
	REG_RBR_THR = 0,   /* DLL when LCR.DLAB */
	REG_IER = 1,       /* DLM when LCR.DLAB */
	REG_IIR_FCR = 2,
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
	UART_NR_PORTS = 8,
};

#define IER_ERBFI 0x01     /* received data available */
#define IER_ETBEI 0x02     /* transmitter holding register empty */
#define IER_ELSI  0x04     /* receiver line status */
#define IER_EDSSI 0x08     /* modem status */

#define IIR_NO_INT 0x01
#define IIR_MSI    0x00
#define IIR_THRI   0x02
#define IIR_RDI    0x04
#define IIR_RLSI   0x06
#define IIR_CTI    0x0C
#define IIR_FIFO   0xC0

#define FCR_ENABLE    0x01
#define FCR_CLEAR_RX  0x02
#define FCR_CLEAR_TX  0x04
#define FCR_STORED    0xC9 /* enable, DMA mode, trigger level */

#define LCR_DLAB 0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1F

#define LSR_DR     0x01
#define LSR_OE     0x02
#define LSR_PE     0x04
#define LSR_FE     0x08
#define LSR_BI     0x10
#define LSR_THRE   0x20
#define LSR_TEMT   0x40
#define LSR_FIFOE  0x80
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI | LSR_FIFOE)

#define MSR_DCTS  0x01
#define MSR_DDSR  0x02
#define MSR_TERI  0x04
#define MSR_DDCD  0x08
#define MSR_CTS   0x10
#define MSR_DSR   0x20
#define MSR_RI    0x40
#define MSR_DCD   0x80
#define MSR_DELTA 0x0F

/* Outside loopback the "modem" is always there and ready. */
#define MSR_IDLE (MSR_DCD | MSR_DSR | MSR_CTS)

static bool fifo_enabled(const struct uart *u)
{
	return u->fcr & FCR_ENABLE;
}

static unsigned rx_capacity(const struct uart *u)
{
	return fifo_enabled(u) ? UART_FIFO_SIZE : 1;
}

static unsigned rx_trigger(const struct uart *u)
{
	static const unsigned level[4] = { 1, 4, 8, 14 };

	return level[u->fcr >> 6];
}

/* The highest-priority pending interrupt, as IIR bits 3:0. */
static uint8_t pending_iir(const struct uart *u)
{
	if ((u->ier & IER_ELSI) && (u->lsr & (LSR_OE | LSR_PE | LSR_FE | LSR_BI)))
		return IIR_RLSI;
	if ((u->ier & IER_ERBFI) && (u->lsr & LSR_DR)) {
		if (fifo_enabled(u) && u->rx_count < rx_trigger(u))
			return IIR_CTI;
		return IIR_RDI;
	}
	if ((u->ier & IER_ETBEI) && u->thr_ipending)
		return IIR_THRI;
	if ((u->ier & IER_EDSSI) && (u->msr & MSR_DELTA))
		return IIR_MSI;
	return IIR_NO_INT;
}

/* Drive the line from the current state (caller holds the lock). */
static void update_irq(struct uart *u)
{
	int level = pending_iir(u) != IIR_NO_INT;

	if (level != u->irq_level) {
		u->irq_level = level;
		irq_set(u->irq, u->gsi, level);
	}
}

static void rx_clear(struct uart *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
	u->lsr &= ~LSR_DR;
}

/* Append one byte to the receive FIFO; false (and OE) if it is full. */
static bool rx_push(struct uart *u, uint8_t byte)
{
	if (u->rx_count >= rx_capacity(u)) {
		u->lsr |= LSR_OE;
		u->rx_overruns++;
		return false;
	}
	u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = byte;
	u->rx_count++;
	u->rx_bytes++;
	u->lsr |= LSR_DR;
	return true;
}

static uint8_t rx_pop(struct uart *u)
{
	uint8_t byte;

	if (!u->rx_count)
		return 0;
	byte = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
	if (--u->rx_count == 0)
		u->lsr &= ~LSR_DR;
	return byte;
}

/* Loopback wires MCR outputs to MSR inputs; recompute MSR and its deltas. */
static void update_msr(struct uart *u)
{
	uint8_t now, old = u->msr & ~MSR_DELTA, delta = 0;

	if (u->mcr & MCR_LOOP) {
		now = 0;
		if (u->mcr & MCR_RTS)
			now |= MSR_CTS;
		if (u->mcr & MCR_DTR)
			now |= MSR_DSR;
		if (u->mcr & MCR_OUT1)
			now |= MSR_RI;
		if (u->mcr & MCR_OUT2)
			now |= MSR_DCD;
	} else {
		now = MSR_IDLE;
	}
	if ((now ^ old) & MSR_CTS)
		delta |= MSR_DCTS;
	if ((now ^ old) & MSR_DSR)
		delta |= MSR_DDSR;
	if ((old & MSR_RI) && !(now & MSR_RI))
		delta |= MSR_TERI;
	if ((now ^ old) & MSR_DCD)
		delta |= MSR_DDCD;
	u->msr = now | (u->msr & MSR_DELTA) | delta;
}

static void transmit(struct uart *u, uint8_t byte)
{
	u->tx_bytes++;
	if (u->mcr & MCR_LOOP) {
		rx_push(u, byte);
		return;
	}
	if (u->out_fd >= 0) {
		int err = write_all(u->out_fd, &byte, 1);
		if (err && !u->tx_error_logged) {
			u->tx_error_logged = true;
			log_warn("uart 0x%x: output: %d; dropping bytes", u->port, err);
		}
	}
	if (u->tx_hook)
		u->tx_hook(u->tx_opaque, byte);
}

static void write_thr(struct uart *u, uint8_t byte)
{
	/*
	 * THR fills, then empties at once. Updating the line in between
	 * lowers it when THRE was the only condition, so the interrupt
	 * for the emptied THR is a new edge.
	 */
	u->thr_ipending = false;
	u->lsr &= ~(LSR_THRE | LSR_TEMT);
	update_irq(u);
	transmit(u, byte);
	u->lsr |= LSR_THRE | LSR_TEMT;
	u->thr_ipending = true;
}

static void write_ier(struct uart *u, uint8_t val)
{
	uint8_t changed = (u->ier ^ val) & 0x0F;

	u->ier = val & 0x0F;
	/* Setting ETBEI while THR is empty (re)asserts the THRE interrupt. */
	if (changed & IER_ETBEI)
		u->thr_ipending = (u->ier & IER_ETBEI) && (u->lsr & LSR_THRE);
}

static void write_fcr(struct uart *u, uint8_t val)
{
	if ((val ^ u->fcr) & FCR_ENABLE)
		rx_clear(u);   /* switching FIFO mode empties both FIFOs */
	if (val & FCR_CLEAR_RX)
		rx_clear(u);
	if (val & FCR_CLEAR_TX) {
		/* Nothing is ever queued for transmission; THR is empty. */
		u->lsr |= LSR_THRE | LSR_TEMT;
		u->thr_ipending = true;
	}
	u->fcr = (val & FCR_ENABLE) ? (val & FCR_STORED) : 0;
}

static uint8_t read_reg(struct uart *u, unsigned reg)
{
	uint8_t val;

	switch (reg) {
	case REG_RBR_THR:
		if (u->lcr & LCR_DLAB)
			return u->dll;
		return rx_pop(u);
	case REG_IER:
		if (u->lcr & LCR_DLAB)
			return u->dlm;
		return u->ier;
	case REG_IIR_FCR:
		val = pending_iir(u);
		/* Reading IIR acknowledges a THRE interrupt it reports. */
		if (val == IIR_THRI)
			u->thr_ipending = false;
		return val | (fifo_enabled(u) ? IIR_FIFO : 0);
	case REG_LCR:
		return u->lcr;
	case REG_MCR:
		return u->mcr;
	case REG_LSR:
		val = u->lsr;
		u->lsr &= ~LSR_ERRORS;
		return val;
	case REG_MSR:
		val = u->msr;
		u->msr &= ~MSR_DELTA;
		return val;
	case REG_SCR:
		return u->scr;
	}
	return 0xFF;
}

static void write_reg(struct uart *u, unsigned reg, uint8_t val)
{
	switch (reg) {
	case REG_RBR_THR:
		if (u->lcr & LCR_DLAB)
			u->dll = val;
		else
			write_thr(u, val);
		break;
	case REG_IER:
		if (u->lcr & LCR_DLAB)
			u->dlm = val;
		else
			write_ier(u, val);
		break;
	case REG_IIR_FCR:
		write_fcr(u, val);
		break;
	case REG_LCR:
		u->lcr = val;
		break;
	case REG_MCR:
		u->mcr = val & MCR_MASK;
		update_msr(u);
		break;
	case REG_LSR:
	case REG_MSR:
		break;   /* read-only (factory test modes are not modelled) */
	case REG_SCR:
		u->scr = val;
		break;
	}
}

/* A wider access is a run of byte accesses to consecutive registers. */
static uint64_t uart_read(void *opaque, uint64_t off, unsigned size)
{
	struct uart *u = opaque;
	uint64_t val = 0;

	pthread_mutex_lock(&u->lock);
	for (unsigned i = 0; i < size && i < 8; i++)
		val |= (uint64_t)read_reg(u, (off + i) % UART_NR_PORTS) << (8 * i);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return val;
}

static void uart_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct uart *u = opaque;

	pthread_mutex_lock(&u->lock);
	for (unsigned i = 0; i < size && i < 8; i++)
		write_reg(u, (off + i) % UART_NR_PORTS, val >> (8 * i));
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

static const struct bus_ops uart_ops = {
	.read = uart_read,
	.write = uart_write,
};

int uart_create(struct uart **out, struct bus *pio, uint16_t port,
		struct irq_chip *irq, unsigned gsi, int out_fd)
{
	struct uart *u = calloc(1, sizeof(*u));
	int err;

	if (!u)
		return -ENOMEM;
	pthread_mutex_init(&u->lock, NULL);
	u->pio = pio;
	u->port = port;
	u->irq = irq;
	u->gsi = gsi;
	u->out_fd = out_fd;
	u->lsr = LSR_THRE | LSR_TEMT;
	u->msr = MSR_IDLE;
	u->dll = 0x0C;   /* 9600 baud, as a BIOS leaves it */
	err = bus_add(pio, port, UART_NR_PORTS, &uart_ops, u, "uart");
	if (err) {
		log_err("uart: ports 0x%x-0x%x: %d", port, port + UART_NR_PORTS - 1, err);
		pthread_mutex_destroy(&u->lock);
		free(u);
		return err;
	}
	*out = u;
	return 0;
}

void uart_destroy(struct uart *u)
{
	if (!u)
		return;
	bus_remove(u->pio, u->port, u);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

void uart_set_tx_hook(struct uart *u, void (*hook)(void *opaque, uint8_t byte),
		      void *opaque)
{
	pthread_mutex_lock(&u->lock);
	u->tx_hook = hook;
	u->tx_opaque = opaque;
	pthread_mutex_unlock(&u->lock);
}

bool uart_can_receive(struct uart *u)
{
	bool ok;

	pthread_mutex_lock(&u->lock);
	ok = !(u->mcr & MCR_LOOP) && u->rx_count < rx_capacity(u);
	pthread_mutex_unlock(&u->lock);
	return ok;
}

size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	if (!(u->mcr & MCR_LOOP)) {
		while (n < len && u->rx_count < rx_capacity(u))
			rx_push(u, buf[n++]);
	}
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}
