/*
 * Split virtqueues (virtio 1.x, 2.7): the descriptor table, the available
 * ring the driver fills and the used ring the device fills, all in guest
 * RAM, with VIRTIO_F_RING_INDIRECT_DESC and VIRTIO_F_RING_EVENT_IDX.
 *
 * The driver is hostile. vq_enable() translates the three ring areas once
 * (gmem_ptr with their full lengths and alignments) and keeps the host
 * pointers; vq_pop() validates a whole descriptor chain before handing any
 * of it to a device: indices below the queue size, at most as many
 * descriptors as the queue (or indirect table) holds so a loop cannot spin,
 * every buffer wholly inside guest RAM, device-readable buffers before
 * device-writable ones, indirect tables well formed and only when
 * negotiated. A chain that fails is reported with -EINVAL and a reason in
 * vq->error; the device then marks itself NEEDS_RESET.
 *
 * Not thread-safe: the transport serialises calls on one queue.
 */
#ifndef VIREO_VIRTIO_VIRTQUEUE_H
#define VIREO_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/guest_mem.h"

#define VQ_MAX_SIZE	256	/* largest queue_size we offer */

/* Descriptor flags. */
#define VRING_DESC_F_NEXT	1
#define VRING_DESC_F_WRITE	2
#define VRING_DESC_F_INDIRECT	4

#define VRING_AVAIL_F_NO_INTERRUPT 1

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

/* One buffer of a validated chain: host memory the device may use. */
struct vq_buf {
	uint8_t *ptr;
	uint32_t len;
};

/*
 * A validated chain: buf[0..n_out) are device-readable (the driver's
 * request), buf[n_out..n_out+n_in) device-writable (the reply).
 */
struct vq_chain {
	uint16_t head;
	unsigned n_out, n_in;
	uint64_t out_len, in_len;
	struct vq_buf buf[VQ_MAX_SIZE];
};

struct virtqueue {
	const struct guest_mem *mem;
	uint16_t size;			/* power of two, 1..VQ_MAX_SIZE */
	bool indirect;			/* VIRTIO_F_RING_INDIRECT_DESC negotiated */
	bool event_idx;			/* VIRTIO_F_RING_EVENT_IDX negotiated */
	bool ready;			/* vq_enable succeeded */
	uint64_t desc_gpa, avail_gpa, used_gpa;

	/* Host views of the rings, checked once by vq_enable. */
	struct vring_desc *desc;
	uint16_t *avail;		/* flags, idx, ring[size], used_event */
	uint16_t *used_hdr;		/* flags, idx */
	struct vring_used_elem *used_ring;	/* ring[size], then avail_event */

	uint16_t last_avail;		/* next avail entry to take */
	uint16_t used_idx;		/* our copy of used->idx */
	uint16_t signalled_used;	/* used_idx when we last decided to notify */
	bool signalled_valid;
	const char *error;		/* why the last vq_pop/vq_enable failed */
};

/* Reset to "not configured" for mem (size 0, not ready). */
void vq_init(struct virtqueue *vq, const struct guest_mem *mem);

/*
 * Check and map the rings at desc_gpa/avail_gpa/used_gpa for vq->size
 * entries: 0, or -EINVAL (vq->error says why: size, alignment, or an area
 * not wholly in RAM). Starts the queue at index 0.
 */
int vq_enable(struct virtqueue *vq);

/*
 * Take the next available chain and validate it. 1: *c holds it; 0: the
 * ring is empty; -EINVAL: the driver broke the rules (vq->error), the queue
 * must not be used again until the device is reset.
 */
int vq_pop(struct virtqueue *vq, struct vq_chain *c);

/*
 * Give back the chain the last vq_pop returned, unused, so the next
 * vq_pop returns it again (a device that found nothing to put in it).
 */
void vq_unpop(struct virtqueue *vq);

/* Return chain head to the driver with len bytes written into its buffers. */
void vq_push(struct virtqueue *vq, uint16_t head, uint32_t len);

/*
 * After one or more vq_push: does the driver want an interrupt now
 * (used_event with EVENT_IDX, else the NO_INTERRUPT flag)?
 */
bool vq_should_notify(struct virtqueue *vq);

/* Copy up to len device-readable bytes of c starting at off; bytes copied. */
size_t vq_chain_read(const struct vq_chain *c, uint64_t off, void *dst, size_t len);
/* Copy up to len bytes into the device-writable part at off; bytes copied. */
size_t vq_chain_write(const struct vq_chain *c, uint64_t off, const void *src, size_t len);

#endif
