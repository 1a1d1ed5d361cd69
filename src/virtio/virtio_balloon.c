/*
 * virtio-balloon (virtio 1.x 5.5): the driver hands pages back (inflate)
 * and the host returns their memory with madvise(MADV_DONTNEED), so they
 * read as zero when the guest touches them again (deflate needs nothing
 * more); memory statistics on the stats queue; free page reporting, where
 * the driver lists free ranges it will not touch until it reuses them.
 *
 * Queue numbers follow the features the driver accepted, as Linux's
 * virtio-pci driver numbers only the queues it uses: 0 inflate, 1 deflate,
 * then stats (STATS_VQ), then reporting (PAGE_REPORTING).
 *
 * Every page or range the driver names goes through gmem_ptr; one outside
 * RAM is skipped and counted (the driver's loss, not ours).
 */
#include "virtio/virtio_devices.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lib/log.h"
#include "lib/util.h"

#define BALLOON_QUEUE_SIZE	128
#define BALLOON_PAGE		4096ULL

#define VIRTIO_BALLOON_F_STATS_VQ	1
#define VIRTIO_BALLOON_F_PAGE_REPORTING	5

enum { Q_INFLATE, Q_DEFLATE, Q_STATS, Q_REPORTING };

struct virtio_balloon {
	struct virtio_dev *vd;
	uint8_t config[8];		/* num_pages, actual (le32) */
	/* Under vd->lock: */
	uint64_t stats[VIRTIO_BALLOON_NR_STATS];
	uint32_t stats_valid;		/* bit per tag seen */
	uint64_t stats_updates;
	/* I/O thread only: */
	bool want_stats;		/* (atomic) the VMM asked for fresh statistics */
	bool stats_held;		/* a stats buffer we may return to ask for more */
	uint16_t stats_head;
	uint64_t inflated, deflated, reported_bytes, bad_pages;
};

/* Give a page-aligned part of [p, p+len) back to the host. */
static void discard(struct virtio_balloon *b, uint8_t *p, uint64_t len)
{
	uintptr_t start = ALIGN_UP((uintptr_t)p, (uintptr_t)BALLOON_PAGE);
	uintptr_t end = ALIGN_DOWN((uintptr_t)p + len, (uintptr_t)BALLOON_PAGE);

	if (end > start && madvise((void *)start, end - start, MADV_DONTNEED) < 0)
		log_debug("%s: madvise: %s", b->vd->label, strerror(errno));
}

/* Which logical queue (Q_*) is queue index q, given the features. */
static int logical_queue(struct virtio_balloon *b, unsigned q)
{
	bool stats = virtio_has_feature(b->vd, VIRTIO_BALLOON_F_STATS_VQ);
	bool report = virtio_has_feature(b->vd, VIRTIO_BALLOON_F_PAGE_REPORTING);

	if (q <= Q_DEFLATE)
		return q;
	if (q == 2 && stats)
		return Q_STATS;
	if ((q == 2 && !stats && report) || (q == 3 && stats && report))
		return Q_REPORTING;
	return -1;
}

/* Inflate or deflate: device-readable arrays of 32-bit page frame numbers. */
static void serve_pfns(struct virtio_balloon *b, unsigned q, bool inflate)
{
	struct virtio_dev *vd = b->vd;
	struct vq_chain *c = &vd->chain;

	while (virtio_pop(vd, q, c) > 0) {
		if (c->n_in) {
			virtio_device_error(vd, "page list has device-writable buffers");
			return;
		}
		for (uint64_t off = 0; off + 4 <= c->out_len; off += 4) {
			uint32_t pfn;
			uint8_t *page;

			vq_chain_read(c, off, &pfn, sizeof(pfn));
			page = gmem_ptr(vd->mem, (uint64_t)pfn * BALLOON_PAGE, BALLOON_PAGE);
			if (!page) {
				b->bad_pages++;
				continue;
			}
			if (inflate) {
				/* The page reads as zeros from now on. */
				gmem_dma_write_notice(vd->mem, (uint64_t)pfn * BALLOON_PAGE, BALLOON_PAGE);
				discard(b, page, BALLOON_PAGE);
				b->inflated++;
			} else {
				b->deflated++;
			}
		}
		virtio_push(vd, q, c->head, 0);
	}
}

/* struct virtio_balloon_stat: le16 tag, le64 val, packed (10 bytes). */
static void serve_stats(struct virtio_balloon *b, unsigned q)
{
	struct virtio_dev *vd = b->vd;
	struct vq_chain *c = &vd->chain;

	if (__atomic_exchange_n(&b->want_stats, false, __ATOMIC_SEQ_CST) && b->stats_held) {
		virtio_push(vd, q, b->stats_head, 0);	/* "send me new ones" */
		b->stats_held = false;
	}
	while (virtio_pop(vd, q, c) > 0) {
		if (c->n_in) {
			virtio_device_error(vd, "statistics buffer is device-writable");
			return;
		}
		if (b->stats_held)	/* the driver gave a new one: return the old */
			virtio_push(vd, q, b->stats_head, 0);
		pthread_mutex_lock(&vd->lock);
		for (uint64_t off = 0; off + 10 <= c->out_len; off += 10) {
			uint8_t s[10];
			uint16_t tag;
			uint64_t val;

			vq_chain_read(c, off, s, sizeof(s));
			memcpy(&tag, s, 2);
			memcpy(&val, s + 2, 8);
			if (tag < VIRTIO_BALLOON_NR_STATS) {
				b->stats[tag] = val;
				b->stats_valid |= 1u << tag;
			}
		}
		b->stats_updates++;
		pthread_mutex_unlock(&vd->lock);
		/* Keep it: returning it is how we ask for the next update. */
		b->stats_held = true;
		b->stats_head = c->head;
	}
}

/* Free page reporting: device-writable ranges the driver will not use. */
static void serve_reporting(struct virtio_balloon *b, unsigned q)
{
	struct virtio_dev *vd = b->vd;
	struct vq_chain *c = &vd->chain;

	while (virtio_pop(vd, q, c) > 0) {
		if (c->n_out) {
			virtio_device_error(vd, "reported range is device-readable");
			return;
		}
		for (unsigned i = 0; i < c->n_in; i++) {
			/* Device-writable: vq_pop already told the engine. */
			discard(b, c->buf[i].ptr, c->buf[i].len);
			b->reported_bytes += c->buf[i].len;
		}
		virtio_push(vd, q, c->head, 0);
	}
}

static void balloon_notify(struct virtio_dev *vd, unsigned q)
{
	struct virtio_balloon *b = vd->priv;

	switch (logical_queue(b, q)) {
	case Q_INFLATE: serve_pfns(b, q, true); break;
	case Q_DEFLATE: serve_pfns(b, q, false); break;
	case Q_STATS: serve_stats(b, q); break;
	case Q_REPORTING: serve_reporting(b, q); break;
	default: break;
	}
}

static void balloon_config_write(struct virtio_dev *vd, unsigned off, unsigned size,
				 uint64_t val)
{
	struct virtio_balloon *b = vd->priv;

	/* Only "actual" (bytes 4-7) belongs to the driver. */
	for (unsigned i = 0; i < size; i++)
		if (off + i >= 4 && off + i < 8)
			b->config[off + i] = val >> (8 * i);
}

static void balloon_reset(struct virtio_dev *vd)
{
	struct virtio_balloon *b = vd->priv;

	b->stats_held = false;
	memset(b->config + 4, 0, 4);
}

static const struct virtio_dev_ops balloon_ops = {
	.name = "virtio-balloon",
	.device_id = VIRTIO_ID_BALLOON,
	.class_code = 0x00FF00,
	.num_queues = 4,
	.queue_max = BALLOON_QUEUE_SIZE,
	.queue_notify = balloon_notify,
	.config_write = balloon_config_write,
	.reset = balloon_reset,
};

int virtio_balloon_create(struct virtio_balloon **out, const struct virtio_attach *at)
{
	struct virtio_balloon *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return -ENOMEM;
	r = virtio_pci_create(&b->vd, &balloon_ops, b,
			      VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ) |
			      VIRTIO_BIT(VIRTIO_BALLOON_F_PAGE_REPORTING),
			      b->config, sizeof(b->config), at->pci, at->slot, at->mem, at->irq);
	if (r < 0) {
		free(b);
		return r;
	}
	*out = b;
	return 0;
}

void virtio_balloon_destroy(struct virtio_balloon *b)
{
	if (!b)
		return;
	virtio_pci_destroy(b->vd);
	free(b);
}

void virtio_balloon_set_target(struct virtio_balloon *b, uint32_t pages)
{
	pthread_mutex_lock(&b->vd->lock);
	memcpy(b->config, &pages, 4);
	pthread_mutex_unlock(&b->vd->lock);
	virtio_config_changed(b->vd);
}

void virtio_balloon_request_stats(struct virtio_balloon *b)
{
	__atomic_store_n(&b->want_stats, true, __ATOMIC_SEQ_CST);
	if (virtio_has_feature(b->vd, VIRTIO_BALLOON_F_STATS_VQ))
		virtio_kick(b->vd, 2);
}

void virtio_balloon_info(struct virtio_balloon *b, struct virtio_balloon_info *info)
{
	struct virtio_dev *vd = b->vd;

	pthread_mutex_lock(&vd->lock);
	memcpy(&info->target_pages, b->config, 4);
	memcpy(&info->actual_pages, b->config + 4, 4);
	memcpy(info->stats, b->stats, sizeof(info->stats));
	info->stats_valid = b->stats_valid;
	info->stats_updates = b->stats_updates;
	pthread_mutex_unlock(&vd->lock);
}
