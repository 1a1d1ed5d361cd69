/*
 * virtio-pci, modern (virtio 1.x, 4.1): a PCI device whose one 64-bit
 * memory BAR holds the common configuration, the ISR, the device
 * configuration, the notification area and the MSI-X table and PBA, each
 * announced by a vendor-specific capability; MSI-X with INTx (INTA) as the
 * fallback when the driver leaves MSI-X off.
 *
 * Threads. Register accesses arrive on vCPU threads (either engine). A
 * write to the notification area only sets a bit and signals an eventfd;
 * the device's own I/O thread wakes up and calls ops->queue_notify, so
 * device work (disk I/O included) never runs on a vCPU thread. Two locks:
 * vd->lock guards registers and queue state and is only held briefly;
 * vd->io_lock is held by the I/O thread while it serves the device, and a
 * driver reset takes it first, so the reset waits for requests in flight
 * and no buffer is used after the reset completes. Order: io_lock, lock.
 *
 * A driver that breaks the rules (a bad chain, rings outside RAM) puts the
 * device in NEEDS_RESET (virtio_device_error): one log line, a config
 * interrupt, no further queue processing until the driver resets it.
 */
#ifndef VIREO_VIRTIO_VIRTIO_PCI_H
#define VIREO_VIRTIO_VIRTIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/pci.h"
#include "hw/platform.h"
#include "mem/guest_mem.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

#define VIRTIO_MAX_QUEUES	8
#define VIRTIO_MAX_VECTORS	(VIRTIO_MAX_QUEUES + 1)

/* Layout of the BAR (BAR 4, 64-bit memory), fixed for every device. */
#define VIRTIO_PCI_BAR		4
#define VIRTIO_PCI_BAR_SIZE	0x8000
#define VIRTIO_PCI_COMMON_OFF	0x0000
#define VIRTIO_PCI_COMMON_LEN	0x0038
#define VIRTIO_PCI_ISR_OFF	0x1000
#define VIRTIO_PCI_DEVICE_OFF	0x2000
#define VIRTIO_PCI_NOTIFY_OFF	0x3000
#define VIRTIO_PCI_NOTIFY_MULT	4
#define VIRTIO_PCI_MSIX_OFF	0x4000
#define VIRTIO_PCI_PBA_OFF	0x5000

/* Capability cfg_type values (4.1.4). */
#define VIRTIO_PCI_CAP_COMMON_CFG	1
#define VIRTIO_PCI_CAP_NOTIFY_CFG	2
#define VIRTIO_PCI_CAP_ISR_CFG		3
#define VIRTIO_PCI_CAP_DEVICE_CFG	4

struct virtio_dev;

/* What a device type supplies. All callbacks are optional but queue_notify. */
struct virtio_dev_ops {
	const char *name;		/* "virtio-blk": log lines */
	unsigned device_id;		/* VIRTIO_ID_* */
	uint32_t class_code;		/* PCI class (base<<16 | sub<<8 | prog) */
	unsigned num_queues;
	uint16_t queue_max;		/* queue_size offered, power of two */
	/* A queue was kicked (or DRIVER_OK was set): I/O thread, io_lock held. */
	void (*queue_notify)(struct virtio_dev *vd, unsigned q);
	/* The driver wrote the device configuration: vd->lock held. */
	void (*config_write)(struct virtio_dev *vd, unsigned off, unsigned size,
			     uint64_t val);
	/* The driver reset the device: both locks held. */
	void (*reset)(struct virtio_dev *vd);
	/* vd->extra_fd is readable: I/O thread, io_lock held. */
	void (*fd_ready)(struct virtio_dev *vd);
	/* vd->timer_ns has passed (it is 0 again): I/O thread, io_lock held. */
	void (*timer)(struct virtio_dev *vd);
};

struct virtio_queue {
	struct virtqueue vq;
	uint16_t msix_vector;
	bool enabled;
};

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	void *priv;			/* the device type's state */
	struct pci_device pci;
	const struct guest_mem *mem;
	struct irq_chip *irq;
	char label[48];			/* "virtio-blk 00:03.0" */

	pthread_mutex_t lock;
	pthread_mutex_t io_lock;

	/* Device configuration bytes (owned by the device type), under lock. */
	uint8_t *config;
	unsigned config_len;
	uint8_t config_generation;

	/* Common configuration, under lock. */
	uint64_t host_features;		/* offered: device bits | transport bits */
	uint64_t guest_features;	/* as the driver wrote them */
	uint32_t device_feature_select, driver_feature_select;
	uint16_t config_msix_vector;
	uint16_t queue_select;
	uint8_t status;
	uint8_t isr;
	struct virtio_queue queues[VIRTIO_MAX_QUEUES];

	/* MSI-X, under lock. */
	unsigned nr_vectors;
	struct msix_entry msix[VIRTIO_MAX_VECTORS];
	uint32_t pba;
	bool msix_enabled, msix_masked;
	unsigned msix_cap;		/* config offset of the capability */

	/* I/O thread. */
	int kick_fd;			/* eventfd: notifications and stop */
	int extra_fd;			/* device's own fd (TAP, console), or -1 */
	uint64_t timer_ns;		/* ops->timer's monotonic deadline, 0: none
					 * (atomic; set under io_lock) */
	uint32_t pending;		/* queues kicked (atomic) */
	bool polling;			/* the thread spins on pending: a kick
					 * needs no eventfd write (atomic) */
	uint64_t poll_ns;		/* its present spin, adaptive (virtio_io.c) */
	bool stopping;			/* (atomic) */
	bool thread_started;
	pthread_t thread;

	/* Scratch chain for the I/O thread (one at a time). */
	struct vq_chain chain;

	/* Counters. */
	uint64_t errors;		/* times the device entered NEEDS_RESET */
};

/*
 * Build the PCI device for ops, offering the device-specific feature bits
 * features (the transport adds VERSION_1, INDIRECT_DESC and EVENT_IDX),
 * with config_len bytes of device configuration at config, and put it in
 * slot of h. Starts the I/O thread. 0 and *out, or -errno.
 */
int virtio_pci_create(struct virtio_dev **out, const struct virtio_dev_ops *ops,
		      void *priv, uint64_t features, uint8_t *config,
		      unsigned config_len, struct pci_host *h, unsigned slot,
		      const struct guest_mem *mem, struct irq_chip *irq);
/* Stop the I/O thread, leave the PCI bus, free. NULL is fine. */
void virtio_pci_destroy(struct virtio_dev *vd);

/* Have the I/O thread also poll fd for input (before or after create). */
void virtio_set_extra_fd(struct virtio_dev *vd, int fd);
/* Wake the I/O thread as if queue q had been kicked (any thread). */
void virtio_kick(struct virtio_dev *vd, unsigned q);

/*
 * For the device types, on the I/O thread. virtio_pop: 1 with the next
 * validated chain in *c, 0 when there is none (or the device is not
 * running), or -EINVAL after putting the device into NEEDS_RESET.
 * virtio_push returns a chain and interrupts the driver if it wants it.
 */
int virtio_pop(struct virtio_dev *vd, unsigned q, struct vq_chain *c);
void virtio_push(struct virtio_dev *vd, unsigned q, uint16_t head, uint32_t len);
/* Undo the last successful virtio_pop on q (the chain stays available). */
void virtio_unpop(struct virtio_dev *vd, unsigned q);
/* DRIVER_OK set and no NEEDS_RESET? */
bool virtio_is_running(struct virtio_dev *vd);
/* Did the driver negotiate feature bit? */
bool virtio_has_feature(struct virtio_dev *vd, unsigned bit);

/* The driver broke the protocol: NEEDS_RESET, config interrupt, one log line. */
void virtio_device_error(struct virtio_dev *vd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The device configuration changed: new generation, config interrupt. */
void virtio_config_changed(struct virtio_dev *vd);

/* Register access as the BAR sees it (exposed for the unit tests). */
uint64_t virtio_pci_bar_read(void *opaque, uint64_t off, unsigned size);
void virtio_pci_bar_write(void *opaque, uint64_t off, unsigned size, uint64_t val);

#endif
