/*
 * 16550A UART (8250 family) on the port-I/O bus: the guest's serial
 * console. Transmitted bytes go straight out (to a file descriptor and an
 * optional hook); received bytes are fed by the VMM's main loop.
 */
#ifndef VIREO_HW_UART_H
#define VIREO_HW_UART_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/platform.h"
#include "mem/bus.h"

#define UART_FIFO_SIZE 16

struct uart {
	pthread_mutex_t lock;
	struct bus *pio;
	uint16_t port;
	struct irq_chip *irq;
	unsigned gsi;
	int irq_level;          /* last level given to irq_set */

	int out_fd;             /* -1: discard */
	void (*tx_hook)(void *opaque, uint8_t byte);
	void *tx_opaque;
	bool tx_error_logged;   /* one log line per UART, not per byte */

	/* Registers. */
	uint8_t ier, lcr, mcr, lsr, msr, scr, fcr;
	uint8_t dll, dlm;
	bool thr_ipending;      /* THRE interrupt latched (cleared by IIR read) */

	/* Receive FIFO: one entry deep when the FIFOs are disabled (16450). */
	uint8_t rx[UART_FIFO_SIZE];
	unsigned rx_head, rx_count;

	uint64_t tx_bytes, rx_bytes, rx_overruns;
};

/*
 * Create a UART at ports [port, port+8) raising GSI gsi, sending what the
 * guest transmits to out_fd (-1 = nowhere). Returns 0 and *out, or -errno
 * (-EEXIST if the ports are taken).
 */
int uart_create(struct uart **out, struct bus *pio, uint16_t port,
		struct irq_chip *irq, unsigned gsi, int out_fd);
/* Remove the ports from the bus and free. NULL is fine. */
void uart_destroy(struct uart *u);

/*
 * Tee transmitted bytes to hook (NULL to stop). The hook runs on a vCPU
 * thread with the UART's lock held: it must not call back into the UART.
 */
void uart_set_tx_hook(struct uart *u, void (*hook)(void *opaque, uint8_t byte),
		      void *opaque);

/* True if the receive FIFO has room (and the UART is not in loopback). */
bool uart_can_receive(struct uart *u);
/* Queue up to len bytes of input; returns how many were accepted. */
size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len);

#endif
