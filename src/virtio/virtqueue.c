/*
 * Split virtqueue: ring mapping, the validated chain walker, the used ring
 * and notification suppression. See virtqueue.h for the rules enforced.
 *
 * Memory ordering: the driver runs on other CPUs. We read avail->idx with
 * acquire semantics before the ring entries and descriptors it publishes,
 * and publish used->idx with release semantics after the used entries.
 * Every descriptor is copied out of guest memory once, then checked and
 * used from the copy, so the driver cannot change it between the check and
 * the use.
 */
#include "virtio/virtqueue.h"

#include <errno.h>
#include <string.h>

#include "lib/util.h"

/* Sizes of the three ring areas (virtio 1.x 2.7.10-2.7.13). */
static uint64_t desc_bytes(uint16_t size)
{
	return 16ULL * size;
}

static uint64_t avail_bytes(uint16_t size)
{
	return 6 + 2ULL * size;	/* flags, idx, ring, used_event */
}

static uint64_t used_bytes(uint16_t size)
{
	return 6 + 8ULL * size;	/* flags, idx, ring, avail_event */
}

void vq_init(struct virtqueue *vq, const struct guest_mem *mem)
{
	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
}

static int fail(struct virtqueue *vq, const char *why)
{
	vq->error = why;
	return -EINVAL;
}

int vq_enable(struct virtqueue *vq)
{
	uint16_t size = vq->size;

	vq->ready = false;
	if (size == 0 || size > VQ_MAX_SIZE || (size & (size - 1)))
		return fail(vq, "queue size is not a power of two up to 256");
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
		return fail(vq, "ring address misaligned");
	vq->desc = gmem_ptr(vq->mem, vq->desc_gpa, desc_bytes(size));
	vq->avail = gmem_ptr(vq->mem, vq->avail_gpa, avail_bytes(size));
	vq->used_hdr = gmem_ptr(vq->mem, vq->used_gpa, used_bytes(size));
	if (!vq->desc)
		return fail(vq, "descriptor table outside guest RAM");
	if (!vq->avail)
		return fail(vq, "available ring outside guest RAM");
	if (!vq->used_hdr)
		return fail(vq, "used ring outside guest RAM");
	vq->used_ring = (struct vring_used_elem *)(vq->used_hdr + 2);
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled_valid = false;
	vq->error = NULL;
	vq->ready = true;
	return 0;
}

static uint16_t avail_idx(const struct virtqueue *vq)
{
	return __atomic_load_n(&vq->avail[1], __ATOMIC_ACQUIRE);
}

/* EVENT_IDX: tell the driver which avail index we want a kick for. */
static void set_avail_event(struct virtqueue *vq, uint16_t idx)
{
	uint16_t *ev = (uint16_t *)&vq->used_ring[vq->size];

	__atomic_store_n(ev, idx, __ATOMIC_RELAXED);
}

static struct vring_desc load_desc(const struct vring_desc *p)
{
	struct vring_desc d;

	/* One copy: the driver may rewrite the table while we look. */
	memcpy(&d, (const void *)p, sizeof(d));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return d;
}

/* Check one data descriptor and append it to the chain. */
static int add_buf(struct virtqueue *vq, struct vq_chain *c, const struct vring_desc *d,
		   unsigned *count, unsigned limit)
{
	bool write = d->flags & VRING_DESC_F_WRITE;
	uint8_t *p;

	if (++*count > limit)
		return fail(vq, "descriptor chain longer than the queue (loop?)");
	if (!write && c->n_in)
		return fail(vq, "device-readable descriptor after a device-writable one");
	p = gmem_ptr(vq->mem, d->addr, d->len);
	if (!p)
		return fail(vq, "buffer not wholly inside guest RAM");
	c->buf[c->n_out + c->n_in] = (struct vq_buf){ p, d->len };
	if (write) {
		/*
		 * The device writes here next. Telling the engine now (not at
		 * vq_push) keeps this in one place; a guest that executes a page
		 * it is DMA-ing into gets what real hardware gives: no promise.
		 */
		gmem_dma_write_notice(vq->mem, d->addr, d->len);
		c->n_in++;
		c->in_len += d->len;
	} else {
		c->n_out++;
		c->out_len += d->len;
	}
	return 0;
}

/*
 * Walk an indirect table (virtio 1.x 2.7.5.3): it replaces the rest of
 * the chain, holds len/16 descriptors chained from entry 0, and may not
 * itself point to another table.
 */
static int walk_indirect(struct virtqueue *vq, struct vq_chain *c, const struct vring_desc *d,
			 unsigned *count)
{
	const struct vring_desc *table;
	unsigned n, i, steps = 0;
	struct vring_desc e;
	int r;

	if (!vq->indirect)
		return fail(vq, "indirect descriptor without VIRTIO_F_RING_INDIRECT_DESC");
	if (d->flags & VRING_DESC_F_NEXT)
		return fail(vq, "indirect descriptor with NEXT set");
	if (d->len == 0 || d->len % 16)
		return fail(vq, "indirect table length not a multiple of 16");
	n = d->len / 16;
	if (n > VQ_MAX_SIZE)
		return fail(vq, "indirect table larger than the queue limit");
	if (d->addr & 15)
		return fail(vq, "indirect table misaligned");
	table = gmem_ptr(vq->mem, d->addr, d->len);
	if (!table)
		return fail(vq, "indirect table not wholly inside guest RAM");
	i = 0;
	for (;;) {
		e = load_desc(&table[i]);
		if (++steps > n)
			return fail(vq, "indirect chain longer than its table (loop?)");
		if (e.flags & VRING_DESC_F_INDIRECT)
			return fail(vq, "nested indirect descriptor");
		r = add_buf(vq, c, &e, count, VQ_MAX_SIZE);
		if (r < 0)
			return r;
		if (!(e.flags & VRING_DESC_F_NEXT))
			return 0;
		if (e.next >= n)
			return fail(vq, "indirect next index outside its table");
		i = e.next;
	}
}

/*
 * The chain starting at head: every direct descriptor index is below the
 * queue size and the walk stops after size steps, which a loop needs to
 * exceed; the whole chain, indirect buffers included, fits in c->buf.
 */
static int walk_chain(struct virtqueue *vq, uint16_t head, struct vq_chain *c)
{
	unsigned count = 0, steps = 0, i = head;
	struct vring_desc d;
	int r;

	c->head = head;
	c->n_out = c->n_in = 0;
	c->out_len = c->in_len = 0;
	if (head >= vq->size)
		return fail(vq, "chain head index outside the queue");
	for (;;) {
		if (++steps > vq->size)
			return fail(vq, "descriptor chain longer than the queue (loop?)");
		d = load_desc(&vq->desc[i]);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			/* Only the whole chain may be indirect (2.7.5.3.1). */
			if (steps != 1)
				return fail(vq, "indirect descriptor inside a chain");
			return walk_indirect(vq, c, &d, &count);
		}
		r = add_buf(vq, c, &d, &count, vq->size);
		if (r < 0)
			return r;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= vq->size)
			return fail(vq, "next index outside the queue");
		i = d.next;
	}
}

int vq_pop(struct virtqueue *vq, struct vq_chain *c)
{
	uint16_t idx, pending, head;
	int r;

	if (!vq->ready)
		return 0;
	idx = avail_idx(vq);
	pending = idx - vq->last_avail;
	if (pending > vq->size)
		return fail(vq, "available index ran more than a queue ahead");
	if (pending == 0) {
		if (!vq->event_idx)
			return 0;
		/* Ask for a kick at the next entry, then look once more. */
		set_avail_event(vq, vq->last_avail);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		idx = avail_idx(vq);
		pending = idx - vq->last_avail;
		if (pending == 0)
			return 0;
		if (pending > vq->size)
			return fail(vq, "available index ran more than a queue ahead");
	}
	head = __atomic_load_n(&vq->avail[2 + (vq->last_avail & (vq->size - 1))],
			       __ATOMIC_RELAXED);
	r = walk_chain(vq, head, c);
	if (r < 0)
		return r;
	vq->last_avail++;
	if (vq->event_idx)
		set_avail_event(vq, vq->last_avail);
	return 1;
}

void vq_unpop(struct virtqueue *vq)
{
	vq->last_avail--;
	if (vq->event_idx)
		set_avail_event(vq, vq->last_avail);
}

void vq_push(struct virtqueue *vq, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e;

	if (!vq->ready)
		return;
	e = &vq->used_ring[vq->used_idx & (vq->size - 1)];
	__atomic_store_n(&e->id, head, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, len, __ATOMIC_RELAXED);
	vq->used_idx++;
	__atomic_store_n(&vq->used_hdr[1], vq->used_idx, __ATOMIC_RELEASE);
}

bool vq_should_notify(struct virtqueue *vq)
{
	uint16_t old, new, event;
	bool valid;

	if (!vq->ready)
		return false;
	/* The driver's used_event/flags must be read after our used->idx. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(__atomic_load_n(&vq->avail[0], __ATOMIC_RELAXED) &
			 VRING_AVAIL_F_NO_INTERRUPT);
	old = vq->signalled_used;
	valid = vq->signalled_valid;
	new = vq->signalled_used = vq->used_idx;
	vq->signalled_valid = true;
	if (!valid)
		return true;
	event = __atomic_load_n(&vq->avail[2 + vq->size], __ATOMIC_RELAXED);
	/* vring_need_event: did used->idx pass used_event since last time? */
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

size_t vq_chain_read(const struct vq_chain *c, uint64_t off, void *dst, size_t len)
{
	uint8_t *out = dst;
	size_t done = 0;

	for (unsigned i = 0; i < c->n_out && done < len; i++) {
		const struct vq_buf *b = &c->buf[i];
		size_t n;

		if (off >= b->len) {
			off -= b->len;
			continue;
		}
		n = MIN((uint64_t)b->len - off, (uint64_t)(len - done));
		memcpy(out + done, b->ptr + off, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t vq_chain_write(const struct vq_chain *c, uint64_t off, const void *src, size_t len)
{
	const uint8_t *in = src;
	size_t done = 0;

	for (unsigned i = c->n_out; i < c->n_out + c->n_in && done < len; i++) {
		const struct vq_buf *b = &c->buf[i];
		size_t n;

		if (off >= b->len) {
			off -= b->len;
			continue;
		}
		n = MIN((uint64_t)b->len - off, (uint64_t)(len - done));
		memcpy(b->ptr + off, in + done, n);
		done += n;
		off = 0;
	}
	return done;
}
