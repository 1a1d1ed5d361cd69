/*
 * The virtio device types vireo offers, each a PCI function on the
 * virtio-pci transport. The VMM opens the backends (disk images, TAP
 * devices) before the guest starts, so an option that cannot be honoured
 * fails early; the devices only borrow them, and are created and destroyed
 * with the machine (on every boot and reset).
 */
#ifndef VIREO_VIRTIO_VIRTIO_DEVICES_H
#define VIREO_VIRTIO_VIRTIO_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/pci.h"
#include "hw/platform.h"
#include "mem/guest_mem.h"
#include "virtio/virtio_pci.h"

/* Where a device goes: the PCI host and slot, guest RAM, interrupts. */
struct virtio_attach {
	struct pci_host *pci;
	unsigned slot;
	const struct guest_mem *mem;
	struct irq_chip *irq;
};

struct blk;
struct virtio_blk;
struct virtio_rng;
struct virtio_console;
struct virtio_net;
struct virtio_balloon;

#define VIRTIO_BLK_ID_BYTES 20

struct virtio_blk_opts {
	struct blk *blk;		/* opened by the VMM, borrowed */
	const char *serial;		/* GET_ID; NULL: empty */
	bool read_only;			/* offer VIRTIO_BLK_F_RO, refuse writes */
};

int virtio_blk_create(struct virtio_blk **out, const struct virtio_attach *at,
		      const struct virtio_blk_opts *o);
void virtio_blk_destroy(struct virtio_blk *b);
struct virtio_dev *virtio_blk_dev(struct virtio_blk *b);

/*
 * hvc0. output gets what the guest writes (I/O thread); feed input with
 * virtio_console_input (any thread), which returns the bytes it took.
 */
int virtio_console_create(struct virtio_console **out, const struct virtio_attach *at,
			  void (*output)(void *opaque, const uint8_t *buf, size_t len),
			  void *opaque);
void virtio_console_destroy(struct virtio_console *con);
size_t virtio_console_input(struct virtio_console *con, const uint8_t *buf, size_t len);

/*
 * A NIC on an open TAP fd (tap_open; borrowed) with the given MAC; the
 * link is up. virtio_net_set_link changes the status and tells the driver.
 */
int virtio_net_create(struct virtio_net **out, const struct virtio_attach *at, int tap_fd,
		      const uint8_t mac[6]);
void virtio_net_destroy(struct virtio_net *n);
void virtio_net_set_link(struct virtio_net *n, bool up);

/* Memory statistics tags (VIRTIO_BALLOON_S_*): swap in/out, faults, free... */
#define VIRTIO_BALLOON_NR_STATS 16

struct virtio_balloon_info {
	uint32_t target_pages;		/* num_pages: what we ask the guest to give */
	uint32_t actual_pages;		/* what the driver says it gave */
	uint64_t stats[VIRTIO_BALLOON_NR_STATS];
	uint32_t stats_valid;		/* bit per tag the driver reported */
	uint64_t stats_updates;
};

int virtio_balloon_create(struct virtio_balloon **out, const struct virtio_attach *at);
void virtio_balloon_destroy(struct virtio_balloon *b);
/* Ask the guest to hold pages 4 KiB pages (config change interrupt). */
void virtio_balloon_set_target(struct virtio_balloon *b, uint32_t pages);
/* Return the held statistics buffer so the driver sends fresh numbers. */
void virtio_balloon_request_stats(struct virtio_balloon *b);
void virtio_balloon_info(struct virtio_balloon *b, struct virtio_balloon_info *info);

int virtio_rng_create(struct virtio_rng **out, const struct virtio_attach *at);
void virtio_rng_destroy(struct virtio_rng *rng);

#endif
