/*
 * virtio-net (virtio 1.x 5.1) over a TAP device: queue 0 receives, queue
 * 1 transmits, no control queue, no mergeable receive buffers.
 *
 * Frames move between guest buffers and the TAP fd with readv/writev
 * straight on the validated chain, 12-byte virtio_net_hdr included: the
 * TAP speaks the same header (IFF_VNET_HDR), so checksum offload and TSO
 * cost nothing here, and the host kernel checks the header's GSO fields.
 * What the host may send us is set with TUNSETOFFLOAD from the features
 * the driver accepted.
 *
 * The I/O thread polls the TAP only while the driver has given receive
 * buffers; when they run out it stops, and the driver's next kick on the
 * receive queue resumes it.
 *
 * Transmit completions are held back for up to TX_HOLD_NS (TX_HOLD_MAX
 * frames), as a NIC moderates its interrupts; the frames themselves leave
 * at once. A guest whose completions come back at once frees each skb
 * before it writes the next, so TCP never coalesces its writes
 * (autocorking needs a send in flight) and every write became its own
 * frame and interrupt: 46,000 of them for 64 MiB. QEMU's tx timer waits
 * 150 us likewise.
 */
#include "virtio/virtio_devices.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "virtio/tap.h"

#define NET_QUEUE_SIZE	256
#define RX_QUEUE	0
#define TX_QUEUE	1
#define RX_BATCH	64	/* frames per wake-up before serving kicks */
#define MAX_FRAME	(TAP_VNET_HDR_LEN + 65536 + 14 + 4)
#define TX_HOLD_NS	150000
#define TX_HOLD_MAX	64

/* Feature bits. */
#define VIRTIO_NET_F_CSUM	0
#define VIRTIO_NET_F_GUEST_CSUM	1
#define VIRTIO_NET_F_MAC	5
#define VIRTIO_NET_F_GUEST_TSO4	7
#define VIRTIO_NET_F_GUEST_TSO6	8
#define VIRTIO_NET_F_GUEST_ECN	9
#define VIRTIO_NET_F_HOST_TSO4	11
#define VIRTIO_NET_F_HOST_TSO6	12
#define VIRTIO_NET_F_HOST_ECN	13
#define VIRTIO_NET_F_STATUS	16

#define VIRTIO_NET_S_LINK_UP	1

struct virtio_net {
	struct virtio_dev *vd;
	int tap;
	bool offloads_set;		/* since the last reset */
	bool tap_error_logged;
	uint8_t config[12];		/* mac[6], status, max_vq_pairs, mtu */
	struct iovec iov[VQ_MAX_SIZE];
	uint64_t rx_frames, tx_frames, tx_dropped;
	/* Transmitted, their completion held back (I/O thread only). */
	uint16_t tx_held[NET_QUEUE_SIZE];
	unsigned tx_nheld;
};

static unsigned chain_iov(struct virtio_net *n, const struct vq_chain *c, unsigned first,
			  unsigned count)
{
	for (unsigned i = 0; i < count; i++)
		n->iov[i] = (struct iovec){ c->buf[first + i].ptr, c->buf[first + i].len };
	return count;
}

/* What the guest negotiated decides what the host may send (once per reset). */
static void apply_offloads(struct virtio_net *n)
{
	struct virtio_dev *vd = n->vd;

	if (n->offloads_set || !virtio_is_running(vd))
		return;
	n->offloads_set = true;
	if (tap_set_offloads(n->tap, virtio_has_feature(vd, VIRTIO_NET_F_GUEST_CSUM),
			     virtio_has_feature(vd, VIRTIO_NET_F_GUEST_TSO4),
			     virtio_has_feature(vd, VIRTIO_NET_F_GUEST_TSO6),
			     virtio_has_feature(vd, VIRTIO_NET_F_GUEST_ECN)) < 0)
		log_warn("%s: TUNSETOFFLOAD failed", vd->label);
}

static void tap_failed(struct virtio_net *n, const char *what)
{
	if (!n->tap_error_logged)
		log_warn("%s: TAP %s: %s", n->vd->label, what, strerror(errno));
	n->tap_error_logged = true;
}

/* Give the driver the transmit buffers held back. */
static void tx_complete(struct virtio_net *n)
{
	for (unsigned i = 0; i < n->tx_nheld; i++)
		virtio_push(n->vd, TX_QUEUE, n->tx_held[i], 0);
	n->tx_nheld = 0;
	__atomic_store_n(&n->vd->timer_ns, 0, __ATOMIC_RELAXED);
}

static void net_timer(struct virtio_dev *vd)
{
	tx_complete(vd->priv);
}

static void serve_tx(struct virtio_net *n)
{
	struct virtio_dev *vd = n->vd;
	struct vq_chain *c = &vd->chain;

	while (virtio_pop(vd, TX_QUEUE, c) > 0) {
		if (c->n_in) {
			virtio_device_error(vd, "transmit chain has device-writable buffers");
			return;
		}
		if (c->out_len < TAP_VNET_HDR_LEN || c->out_len > MAX_FRAME) {
			n->tx_dropped++;	/* malformed frame: the guest's loss */
		} else if (writev(n->tap, n->iov, chain_iov(n, c, 0, c->n_out)) < 0) {
			n->tx_dropped++;
			if (errno != EAGAIN)
				tap_failed(n, "write");
		} else {
			n->tx_frames++;
		}
		n->tx_held[n->tx_nheld++] = c->head;
		if (n->tx_nheld >= TX_HOLD_MAX)
			tx_complete(n);
	}
	if (n->tx_nheld && !__atomic_load_n(&vd->timer_ns, __ATOMIC_RELAXED))
		__atomic_store_n(&vd->timer_ns, now_ns() + TX_HOLD_NS, __ATOMIC_RELAXED);
}

/* Move frames from the TAP into receive buffers while both exist. */
static void serve_rx(struct virtio_net *n)
{
	struct virtio_dev *vd = n->vd;
	struct vq_chain *c = &vd->chain;
	uint16_t one = 1;

	apply_offloads(n);
	for (unsigned i = 0; i < RX_BATCH; i++) {
		ssize_t got;
		int r = virtio_pop(vd, RX_QUEUE, c);

		if (r <= 0) {
			/* No buffers: stop polling the TAP until the next kick. */
			virtio_set_extra_fd(vd, -1);
			return;
		}
		if (c->n_out) {
			virtio_device_error(vd, "receive chain has device-readable buffers");
			return;
		}
		if (c->in_len < TAP_VNET_HDR_LEN) {
			virtio_device_error(vd, "receive buffer smaller than the header");
			return;
		}
		got = readv(n->tap, n->iov, chain_iov(n, c, c->n_out, c->n_in));
		if (got < 0) {
			virtio_unpop(vd, RX_QUEUE);
			if (errno != EAGAIN && errno != EINTR)
				tap_failed(n, "read");
			return;
		}
		/* num_buffers: always one buffer without MRG_RXBUF. */
		vq_chain_write(c, 10, &one, sizeof(one));
		n->rx_frames++;
		virtio_push(vd, RX_QUEUE, c->head, got);
	}
}

static void net_notify(struct virtio_dev *vd, unsigned q)
{
	struct virtio_net *n = vd->priv;

	apply_offloads(n);
	if (q == TX_QUEUE) {
		serve_tx(n);
	} else {
		/* New receive buffers: listen to the TAP again. */
		virtio_set_extra_fd(vd, n->tap);
	}
}

static void net_fd_ready(struct virtio_dev *vd)
{
	serve_rx(vd->priv);
}

static void net_reset(struct virtio_dev *vd)
{
	struct virtio_net *n = vd->priv;

	n->offloads_set = false;
	n->tx_nheld = 0;                /* the rings are the driver's again */
	__atomic_store_n(&vd->timer_ns, 0, __ATOMIC_RELAXED);
	/* Not through virtio_set_extra_fd: both locks are held here. */
	vd->extra_fd = -1;
	if (n->tap >= 0)
		tap_set_offloads(n->tap, false, false, false, false);
}

static const struct virtio_dev_ops net_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.class_code = 0x020000,
	.num_queues = 2,
	.queue_max = NET_QUEUE_SIZE,
	.queue_notify = net_notify,
	.reset = net_reset,
	.fd_ready = net_fd_ready,
	.timer = net_timer,
};

int virtio_net_create(struct virtio_net **out, const struct virtio_attach *at, int tap_fd,
		      const uint8_t mac[6])
{
	struct virtio_net *n = calloc(1, sizeof(*n));
	uint64_t features = VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) |
			    VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |
			    VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN) |
			    VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) |
			    VIRTIO_BIT(VIRTIO_NET_F_HOST_ECN) | VIRTIO_BIT(VIRTIO_NET_F_STATUS);
	int r;

	if (!n)
		return -ENOMEM;
	n->tap = -1;
	memcpy(n->config, mac, 6);
	n->config[6] = VIRTIO_NET_S_LINK_UP;
	r = virtio_pci_create(&n->vd, &net_ops, n, features, n->config, sizeof(n->config),
			      at->pci, at->slot, at->mem, at->irq);
	if (r < 0) {
		free(n);
		return r;
	}
	n->tap = tap_fd;
	*out = n;
	return 0;
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n)
		return;
	virtio_pci_destroy(n->vd);
	free(n);
}

void virtio_net_set_link(struct virtio_net *n, bool up)
{
	struct virtio_dev *vd = n->vd;

	pthread_mutex_lock(&vd->lock);
	n->config[6] = up ? VIRTIO_NET_S_LINK_UP : 0;
	pthread_mutex_unlock(&vd->lock);
	virtio_config_changed(vd);
}
