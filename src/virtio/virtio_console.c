/*
 * virtio-console (virtio 1.x 5.3), one port without MULTIPORT: the guest's
 * hvc0. Queue 0 (receiveq) holds device-writable buffers for input, queue
 * 1 (transmitq) device-readable output.
 *
 * Input arrives on the VMM's main loop (virtio_console_input) and waits
 * in a small byte ring until the I/O thread can place it into receive
 * buffers; a full ring pushes back on the character device instead of
 * dropping. Output is handed to the VMM's callback from the I/O thread.
 */
#include "virtio/virtio_devices.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

#define CONSOLE_QUEUE_SIZE	64
#define RX_QUEUE		0
#define TX_QUEUE		1
#define INPUT_RING		4096

struct virtio_console {
	struct virtio_dev *vd;
	void (*output)(void *opaque, const uint8_t *buf, size_t len);
	void *opaque;
	/* cols, rows, max_nr_ports, emerg_wr: present, no features offered. */
	uint8_t config[12];

	pthread_mutex_t in_lock;
	uint8_t in[INPUT_RING];
	size_t in_head, in_len;
};

static size_t take_input(struct virtio_console *con, uint8_t *dst, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&con->in_lock);
	while (n < max && con->in_len) {
		size_t chunk = MIN(MIN(max - n, con->in_len), INPUT_RING - con->in_head);

		memcpy(dst + n, con->in + con->in_head, chunk);
		con->in_head = (con->in_head + chunk) % INPUT_RING;
		con->in_len -= chunk;
		n += chunk;
	}
	pthread_mutex_unlock(&con->in_lock);
	return n;
}

static bool input_pending(struct virtio_console *con)
{
	bool any;

	pthread_mutex_lock(&con->in_lock);
	any = con->in_len != 0;
	pthread_mutex_unlock(&con->in_lock);
	return any;
}

/* Fill receive buffers while there is input; the rest waits in the ring. */
static void serve_rx(struct virtio_console *con)
{
	struct virtio_dev *vd = con->vd;
	struct vq_chain *c = &vd->chain;

	while (input_pending(con) && virtio_pop(vd, RX_QUEUE, c) > 0) {
		uint32_t written = 0;

		if (c->n_out) {
			virtio_device_error(vd, "receive buffer is device-readable");
			return;
		}
		for (unsigned i = 0; i < c->n_in; i++)
			written += take_input(con, c->buf[i].ptr, c->buf[i].len);
		virtio_push(vd, RX_QUEUE, c->head, written);
	}
}

static void serve_tx(struct virtio_console *con)
{
	struct virtio_dev *vd = con->vd;
	struct vq_chain *c = &vd->chain;

	while (virtio_pop(vd, TX_QUEUE, c) > 0) {
		if (c->n_in) {
			virtio_device_error(vd, "transmit buffer is device-writable");
			return;
		}
		for (unsigned i = 0; i < c->n_out; i++)
			if (con->output && c->buf[i].len)
				con->output(con->opaque, c->buf[i].ptr, c->buf[i].len);
		virtio_push(vd, TX_QUEUE, c->head, 0);
	}
}

static void console_notify(struct virtio_dev *vd, unsigned q)
{
	struct virtio_console *con = vd->priv;

	if (q == RX_QUEUE)
		serve_rx(con);
	else
		serve_tx(con);
}

static const struct virtio_dev_ops console_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.class_code = 0x078000,
	.num_queues = 2,
	.queue_max = CONSOLE_QUEUE_SIZE,
	.queue_notify = console_notify,
};

size_t virtio_console_input(struct virtio_console *con, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&con->in_lock);
	while (n < len && con->in_len < INPUT_RING) {
		con->in[(con->in_head + con->in_len) % INPUT_RING] = buf[n++];
		con->in_len++;
	}
	pthread_mutex_unlock(&con->in_lock);
	if (n)
		virtio_kick(con->vd, RX_QUEUE);
	return n;
}

int virtio_console_create(struct virtio_console **out, const struct virtio_attach *at,
			  void (*output)(void *opaque, const uint8_t *buf, size_t len),
			  void *opaque)
{
	struct virtio_console *con = calloc(1, sizeof(*con));
	int r;

	if (!con)
		return -ENOMEM;
	con->output = output;
	con->opaque = opaque;
	pthread_mutex_init(&con->in_lock, NULL);
	r = virtio_pci_create(&con->vd, &console_ops, con, 0, con->config,
			      sizeof(con->config), at->pci, at->slot, at->mem, at->irq);
	if (r < 0) {
		pthread_mutex_destroy(&con->in_lock);
		free(con);
		return r;
	}
	*out = con;
	return 0;
}

void virtio_console_destroy(struct virtio_console *con)
{
	if (!con)
		return;
	virtio_pci_destroy(con->vd);
	pthread_mutex_destroy(&con->in_lock);
	free(con);
}
