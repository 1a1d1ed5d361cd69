/*
 * virtio-pci modern transport: the PCI function, its capabilities, and the
 * registers of the common configuration, ISR, device configuration and
 * notification areas (virtio 1.x 4.1.4).
 *
 * Registers are handled as a byte image: a read assembles the image of
 * the area and returns the bytes asked for, a write merges its bytes into
 * the image and then applies every field it touched. So any access size
 * and alignment behaves, and a 64-bit queue address written as two
 * 32-bit halves works as the specification allows.
 */
#include "virtio/virtio_pci_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

/* Field offsets in struct virtio_pci_common_cfg. */
enum {
	CC_DFSELECT = 0x00, CC_DF = 0x04, CC_GFSELECT = 0x08, CC_GF = 0x0C,
	CC_MSIX = 0x10, CC_NUMQ = 0x12, CC_STATUS = 0x14, CC_CFGGEN = 0x15,
	CC_Q_SELECT = 0x16, CC_Q_SIZE = 0x18, CC_Q_MSIX = 0x1A,
	CC_Q_ENABLE = 0x1C, CC_Q_NOFF = 0x1E, CC_Q_DESC = 0x20,
	CC_Q_AVAIL = 0x28, CC_Q_USED = 0x30,
};

#define TRANSPORT_FEATURES (VIRTIO_BIT(VIRTIO_F_VERSION_1) | \
			    VIRTIO_BIT(VIRTIO_F_RING_INDIRECT_DESC) | \
			    VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX))

static void put(uint8_t *img, unsigned off, uint64_t val, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		img[off + i] = val >> (8 * i);
}

static uint64_t get(const uint8_t *img, unsigned off, unsigned len)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)img[off + i] << (8 * i);
	return v;
}

static struct virtio_queue *selected(struct virtio_dev *vd)
{
	return vd->queue_select < vd->ops->num_queues ? &vd->queues[vd->queue_select] : NULL;
}

static void common_image(struct virtio_dev *vd, uint8_t *img)
{
	struct virtio_queue *q = selected(vd);
	uint64_t feat = 0;

	memset(img, 0, VIRTIO_PCI_COMMON_LEN);
	if (vd->device_feature_select < 2)
		feat = vd->host_features >> (32 * vd->device_feature_select);
	put(img, CC_DFSELECT, vd->device_feature_select, 4);
	put(img, CC_DF, (uint32_t)feat, 4);
	put(img, CC_GFSELECT, vd->driver_feature_select, 4);
	if (vd->driver_feature_select < 2)
		put(img, CC_GF, (uint32_t)(vd->guest_features >> (32 * vd->driver_feature_select)), 4);
	put(img, CC_MSIX, vd->config_msix_vector, 2);
	put(img, CC_NUMQ, vd->ops->num_queues, 2);
	put(img, CC_STATUS, vd->status, 1);
	put(img, CC_CFGGEN, vd->config_generation, 1);
	put(img, CC_Q_SELECT, vd->queue_select, 2);
	if (!q)
		return;		/* queue_size 0: no such queue */
	put(img, CC_Q_SIZE, q->vq.size, 2);
	put(img, CC_Q_MSIX, q->msix_vector, 2);
	put(img, CC_Q_ENABLE, q->enabled, 2);
	put(img, CC_Q_NOFF, vd->queue_select, 2);
	put(img, CC_Q_DESC, q->vq.desc_gpa, 8);
	put(img, CC_Q_AVAIL, q->vq.avail_gpa, 8);
	put(img, CC_Q_USED, q->vq.used_gpa, 8);
}

/* A vector the table has, or NO_VECTOR (read back so the driver notices). */
static uint16_t checked_vector(struct virtio_dev *vd, uint16_t v)
{
	return v < vd->nr_vectors ? v : VIRTIO_MSI_NO_VECTOR;
}

/* Back to the state after power-on (both locks held). */
static void device_reset(struct virtio_dev *vd)
{
	vd->status = 0;
	vd->guest_features = 0;
	vd->device_feature_select = vd->driver_feature_select = 0;
	vd->queue_select = 0;
	vd->config_msix_vector = VIRTIO_MSI_NO_VECTOR;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		struct virtio_queue *q = &vd->queues[i];

		vq_init(&q->vq, vd->mem);
		q->vq.size = vd->ops->queue_max;
		q->msix_vector = VIRTIO_MSI_NO_VECTOR;
		q->enabled = false;
	}
	__atomic_store_n(&vd->pending, 0, __ATOMIC_SEQ_CST);
	vp_irq_reset(vd);
	if (vd->ops->reset)
		vd->ops->reset(vd);
}

static void set_status(struct virtio_dev *vd, uint8_t status)
{
	uint8_t old = vd->status;

	if ((status & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		/* Refuse bits we did not offer, and legacy drivers (2.2.2). */
		if ((vd->guest_features & ~vd->host_features) ||
		    !(vd->guest_features & VIRTIO_BIT(VIRTIO_F_VERSION_1)))
			status &= ~VIRTIO_STATUS_FEATURES_OK;
		for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
			struct virtqueue *vq = &vd->queues[i].vq;

			vq->indirect = vd->guest_features & VIRTIO_BIT(VIRTIO_F_RING_INDIRECT_DESC);
			vq->event_idx = vd->guest_features & VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX);
		}
	}
	/* NEEDS_RESET is ours to set; the driver cannot clear it either. */
	vd->status = (status & ~VIRTIO_STATUS_NEEDS_RESET) | (old & VIRTIO_STATUS_NEEDS_RESET);
	if ((status & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
		/* Buffers may have been made available before DRIVER_OK. */
		for (unsigned i = 0; i < vd->ops->num_queues; i++)
			__atomic_fetch_or(&vd->pending, 1u << i, __ATOMIC_SEQ_CST);
		virtio_kick(vd, VIRTIO_MAX_QUEUES);
	}
}

static void enable_queue(struct virtio_dev *vd, struct virtio_queue *q)
{
	if (q->enabled)
		return;		/* writing 0 to disable is not allowed (4.1.4.3.2) */
	if (vq_enable(&q->vq) < 0) {
		char why[128];

		snprintf(why, sizeof(why), "queue %u: %s", vd->queue_select, q->vq.error);
		vp_device_error_locked(vd, why);
		return;
	}
	q->enabled = true;
}

static bool touches(unsigned off, unsigned size, unsigned field, unsigned len)
{
	return off < field + len && off + size > field;
}

static void common_write(struct virtio_dev *vd, unsigned off, unsigned size, uint64_t val)
{
	uint8_t img[VIRTIO_PCI_COMMON_LEN];
	struct virtio_queue *q;
	unsigned sel;

	common_image(vd, img);
	for (unsigned i = 0; i < size && off + i < VIRTIO_PCI_COMMON_LEN; i++)
		img[off + i] = val >> (8 * i);
	q = selected(vd);

	if (touches(off, size, CC_DFSELECT, 4))
		vd->device_feature_select = get(img, CC_DFSELECT, 4);
	if (touches(off, size, CC_GFSELECT, 4))
		vd->driver_feature_select = get(img, CC_GFSELECT, 4);
	if (touches(off, size, CC_GF, 4) && vd->driver_feature_select < 2 &&
	    !(vd->status & VIRTIO_STATUS_FEATURES_OK)) {
		sel = vd->driver_feature_select * 32;
		vd->guest_features &= ~(0xFFFFFFFFULL << sel);
		vd->guest_features |= get(img, CC_GF, 4) << sel;
	}
	if (touches(off, size, CC_MSIX, 2))
		vd->config_msix_vector = checked_vector(vd, get(img, CC_MSIX, 2));
	if (touches(off, size, CC_Q_SELECT, 2)) {
		vd->queue_select = get(img, CC_Q_SELECT, 2);
		q = NULL;	/* the rest of the image was the old queue's */
	}
	if (q && !q->enabled) {
		if (touches(off, size, CC_Q_SIZE, 2))
			q->vq.size = get(img, CC_Q_SIZE, 2);	/* checked at enable */
		if (touches(off, size, CC_Q_DESC, 8))
			q->vq.desc_gpa = get(img, CC_Q_DESC, 8);
		if (touches(off, size, CC_Q_AVAIL, 8))
			q->vq.avail_gpa = get(img, CC_Q_AVAIL, 8);
		if (touches(off, size, CC_Q_USED, 8))
			q->vq.used_gpa = get(img, CC_Q_USED, 8);
	}
	if (q && touches(off, size, CC_Q_MSIX, 2))
		q->msix_vector = checked_vector(vd, get(img, CC_Q_MSIX, 2));
	if (q && touches(off, size, CC_Q_ENABLE, 2) && get(img, CC_Q_ENABLE, 2) == 1)
		enable_queue(vd, q);
	if (touches(off, size, CC_STATUS, 1))
		set_status(vd, img[CC_STATUS]);
}

/* Is this a write of 0 to device_status, i.e. a reset? */
static bool is_reset_write(uint64_t off, unsigned size, uint64_t val)
{
	return off <= CC_STATUS && off + size > CC_STATUS &&
	       ((val >> (8 * (CC_STATUS - off))) & 0xFF) == 0;
}

uint64_t virtio_pci_bar_read(void *opaque, uint64_t off, unsigned size)
{
	struct virtio_dev *vd = opaque;
	uint8_t img[VIRTIO_PCI_COMMON_LEN];
	uint64_t val = 0;

	if (size > 8)
		return 0;
	pthread_mutex_lock(&vd->lock);
	if (off + size <= VIRTIO_PCI_COMMON_LEN) {
		common_image(vd, img);
		val = get(img, off, size);
	} else if (off == VIRTIO_PCI_ISR_OFF) {
		val = vp_isr_read(vd);
	} else if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_NOTIFY_OFF) {
		for (unsigned i = 0; i < size; i++) {
			uint64_t o = off - VIRTIO_PCI_DEVICE_OFF + i;

			if (o < vd->config_len)
				val |= (uint64_t)vd->config[o] << (8 * i);
		}
	} else if (off >= VIRTIO_PCI_MSIX_OFF && off < VIRTIO_PCI_MSIX_OFF + 0x2000) {
		val = vp_msix_read(vd, off - VIRTIO_PCI_MSIX_OFF, size);
	}
	pthread_mutex_unlock(&vd->lock);
	return val;
}

void virtio_pci_bar_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct virtio_dev *vd = opaque;
	bool reset;

	if (size > 8)
		return;
	if (off >= VIRTIO_PCI_NOTIFY_OFF && off < VIRTIO_PCI_MSIX_OFF) {
		/* The hot path: no lock, just wake the I/O thread. */
		uint64_t q = (off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT;

		if (q < vd->ops->num_queues)
			virtio_kick(vd, q);
		return;
	}
	reset = off + size <= VIRTIO_PCI_COMMON_LEN && is_reset_write(off, size, val);
	if (reset)
		pthread_mutex_lock(&vd->io_lock);	/* wait for requests in flight */
	pthread_mutex_lock(&vd->lock);
	if (reset) {
		device_reset(vd);
	} else if (off + size <= VIRTIO_PCI_COMMON_LEN) {
		common_write(vd, off, size, val);
	} else if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_NOTIFY_OFF) {
		off -= VIRTIO_PCI_DEVICE_OFF;
		if (off < vd->config_len && vd->ops->config_write)
			vd->ops->config_write(vd, off, size, val);
	} else if (off >= VIRTIO_PCI_MSIX_OFF && off < VIRTIO_PCI_MSIX_OFF + 0x2000) {
		vp_msix_write(vd, off - VIRTIO_PCI_MSIX_OFF, size, val);
	}
	pthread_mutex_unlock(&vd->lock);
	if (reset)
		pthread_mutex_unlock(&vd->io_lock);
}

static const struct bus_ops bar_ops = {
	.read = virtio_pci_bar_read,
	.write = virtio_pci_bar_write,
};

/* Config-space hook (host lock held): follow the MSI-X control bits. */
static void config_written(struct pci_device *d, unsigned off, unsigned size, uint32_t val)
{
	struct virtio_dev *vd = d->opaque;

	if (off >= vd->msix_cap + 4 || off + size <= vd->msix_cap + 2)
		return;
	pthread_mutex_lock(&vd->lock);
	vp_msix_control(vd, pci_get16(d, vd->msix_cap + 2));
	pthread_mutex_unlock(&vd->lock);
}

/* One struct virtio_pci_cap (plus notify_off_multiplier for notify). */
static int add_vendor_cap(struct virtio_dev *vd, uint8_t type, uint32_t off, uint32_t len)
{
	unsigned cap_len = type == VIRTIO_PCI_CAP_NOTIFY_CFG ? 20 : 16;
	int c = pci_add_capability(&vd->pci, PCI_CAP_ID_VNDR, cap_len);
	uint8_t *cfg = vd->pci.config;

	if (c < 0)
		return c;
	cfg[c + 2] = cap_len;
	cfg[c + 3] = type;
	cfg[c + 4] = VIRTIO_PCI_BAR;
	pci_set32(cfg, c + 8, off);
	pci_set32(cfg, c + 12, len);
	if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
		pci_set32(cfg, c + 16, VIRTIO_PCI_NOTIFY_MULT);
	return 0;
}

static int build_pci(struct virtio_dev *vd)
{
	const struct virtio_dev_ops *ops = vd->ops;
	struct pci_device *d = &vd->pci;
	int r;

	pci_device_init(d, ops->name, VIRTIO_PCI_VENDOR,
			VIRTIO_PCI_DEVICE_MODERN(ops->device_id), ops->class_code, 1);
	d->opaque = vd;
	d->config_write = config_written;
	pci_set_subsystem(d, VIRTIO_PCI_VENDOR, 0x1100);
	pci_set_intx_pin(d, 1);
	r = pci_set_bar(d, VIRTIO_PCI_BAR, PCI_BAR_MEM64, VIRTIO_PCI_BAR_SIZE, false,
			&bar_ops, vd);
	if (r < 0)
		return r;
	if ((r = add_vendor_cap(vd, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF,
				VIRTIO_PCI_COMMON_LEN)) < 0 ||
	    (r = add_vendor_cap(vd, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 1)) < 0 ||
	    (r = add_vendor_cap(vd, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
				ops->num_queues * VIRTIO_PCI_NOTIFY_MULT)) < 0 ||
	    (r = vp_msix_init(vd)) < 0)
		return r;
	if (vd->config_len)
		r = add_vendor_cap(vd, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF,
				   vd->config_len);
	return r;
}

int virtio_pci_create(struct virtio_dev **out, const struct virtio_dev_ops *ops,
		      void *priv, uint64_t features, uint8_t *config,
		      unsigned config_len, struct pci_host *h, unsigned slot,
		      const struct guest_mem *mem, struct irq_chip *irq)
{
	struct virtio_dev *vd;
	int r;

	if (!ops->queue_notify || ops->num_queues == 0 || ops->num_queues > VIRTIO_MAX_QUEUES ||
	    !ops->queue_max || ops->queue_max > VQ_MAX_SIZE ||
	    (ops->queue_max & (ops->queue_max - 1)) || config_len > 0x1000)
		return -EINVAL;
	vd = calloc(1, sizeof(*vd));
	if (!vd)
		return -ENOMEM;
	vd->ops = ops;
	vd->priv = priv;
	vd->mem = mem;
	vd->irq = irq;
	vd->config = config;
	vd->config_len = config_len;
	vd->host_features = features | TRANSPORT_FEATURES;
	vd->nr_vectors = ops->num_queues + 1;
	vd->extra_fd = -1;
	snprintf(vd->label, sizeof(vd->label), "%s 00:%02x.0", ops->name, slot);
	pthread_mutex_init(&vd->lock, NULL);
	pthread_mutex_init(&vd->io_lock, NULL);
	vd->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vd->kick_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = build_pci(vd);
	if (r < 0)
		goto fail;
	device_reset(vd);
	r = vp_io_start(vd);
	if (r < 0)
		goto fail;
	r = pci_register(h, &vd->pci, slot);
	if (r < 0)
		goto fail;
	*out = vd;
	return 0;
fail:
	log_err("%s: cannot create: %s", vd->label, strerror(-r));
	virtio_pci_destroy(vd);
	return r;
}

void virtio_pci_destroy(struct virtio_dev *vd)
{
	if (!vd)
		return;
	vp_io_stop(vd);
	pci_unregister(&vd->pci);
	if (vd->kick_fd >= 0)
		close(vd->kick_fd);
	pthread_mutex_destroy(&vd->io_lock);
	pthread_mutex_destroy(&vd->lock);
	free(vd);
}
