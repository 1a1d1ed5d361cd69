/*
 * virtio-rng (virtio 1.x 5.4): one queue of device-writable buffers that
 * the device fills from the host's getrandom(2). A buffer the device could
 * only read is a driver bug: NEEDS_RESET.
 */
#include "virtio/virtio_devices.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "lib/log.h"
#include "lib/util.h"

#define RNG_QUEUE_SIZE	64
#define RNG_MAX_FILL	(64 * KiB)	/* per request; the driver asks again */

struct virtio_rng {
	struct virtio_dev *vd;
};

static void fill(struct vq_chain *c, uint32_t *written)
{
	uint64_t left = RNG_MAX_FILL;

	*written = 0;
	for (unsigned i = c->n_out; i < c->n_out + c->n_in && left; i++) {
		size_t want = MIN((uint64_t)c->buf[i].len, left), got = 0;

		while (got < want) {
			ssize_t n = getrandom(c->buf[i].ptr + got, want - got, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return;
			got += n;
		}
		*written += got;
		left -= got;
	}
}

static void rng_notify(struct virtio_dev *vd, unsigned q)
{
	struct vq_chain *c = &vd->chain;
	uint32_t written;

	while (virtio_pop(vd, q, c) > 0) {
		if (c->n_out) {
			virtio_device_error(vd, "request has device-readable buffers");
			return;
		}
		fill(c, &written);
		virtio_push(vd, q, c->head, written);
	}
}

static const struct virtio_dev_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.class_code = 0x00FF00,
	.num_queues = 1,
	.queue_max = RNG_QUEUE_SIZE,
	.queue_notify = rng_notify,
};

int virtio_rng_create(struct virtio_rng **out, const struct virtio_attach *at)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));
	int r;

	if (!rng)
		return -ENOMEM;
	r = virtio_pci_create(&rng->vd, &rng_ops, rng, 0, NULL, 0, at->pci, at->slot,
			      at->mem, at->irq);
	if (r < 0) {
		free(rng);
		return r;
	}
	*out = rng;
	return 0;
}

void virtio_rng_destroy(struct virtio_rng *rng)
{
	if (!rng)
		return;
	virtio_pci_destroy(rng->vd);
	free(rng);
}
