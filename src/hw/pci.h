/*
 * PCI host: configuration mechanism 1 (ports 0xCF8/0xCFC) and ECAM (MCFG)
 * for bus 0, a host bridge at 00:00.0, and the API the PCI devices of
 * later work (virtio-pci) build on: config space with writable-bit masks,
 * BARs that appear on and disappear from the port or MMIO bus as the
 * guest programs them, a capability list, and INTx.
 *
 * Only function 0 of each slot exists; other functions and other buses
 * read all-ones like absent devices.
 */
#ifndef VIREO_HW_PCI_H
#define VIREO_HW_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/platform.h"
#include "mem/bus.h"

#define PCI_CONFIG_SIZE   4096   /* ECAM size; mechanism 1 sees 256 bytes */
#define PCI_NR_SLOTS      32
#define PCI_NR_BARS       6

/* Standard header offsets. */
#define PCI_VENDOR_ID       0x00
#define PCI_DEVICE_ID       0x02
#define PCI_COMMAND         0x04
#define PCI_STATUS          0x06
#define PCI_REVISION_ID     0x08
#define PCI_CLASS_PROG      0x09
#define PCI_CACHE_LINE_SIZE 0x0C
#define PCI_LATENCY_TIMER   0x0D
#define PCI_HEADER_TYPE     0x0E
#define PCI_BAR0            0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2C
#define PCI_SUBSYSTEM_ID    0x2E
#define PCI_ROM_ADDRESS     0x30
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE  0x3C
#define PCI_INTERRUPT_PIN   0x3D

#define PCI_COMMAND_IO      0x0001
#define PCI_COMMAND_MEMORY  0x0002
#define PCI_COMMAND_MASTER  0x0004
#define PCI_COMMAND_PARITY  0x0040
#define PCI_COMMAND_SERR    0x0100
#define PCI_COMMAND_INTX_DISABLE 0x0400

#define PCI_STATUS_INTERRUPT 0x0008
#define PCI_STATUS_CAP_LIST  0x0010

#define PCI_CAP_ID_MSI      0x05
#define PCI_CAP_ID_VNDR     0x09
#define PCI_CAP_ID_EXP      0x10
#define PCI_CAP_ID_MSIX     0x11

enum pci_bar_type {
	PCI_BAR_NONE = 0,
	PCI_BAR_IO,        /* I/O ports, on the port bus */
	PCI_BAR_MEM32,     /* 32-bit memory, on the MMIO bus */
	PCI_BAR_MEM64,     /* 64-bit memory: also uses the next BAR slot */
};

struct pci_bar {
	enum pci_bar_type type;
	bool prefetchable;
	uint64_t size;             /* power of two; 0 = unused */
	const struct bus_ops *ops; /* offsets relative to the BAR's base */
	void *opaque;
	/* Managed by the host: */
	bool mapped;
	uint64_t mapped_base;
};

struct pci_host;

struct pci_device {
	const char *name;
	void *opaque;              /* for the device's own use */
	uint8_t config[PCI_CONFIG_SIZE];
	uint8_t wmask[PCI_CONFIG_SIZE];    /* bits the guest may write */
	uint8_t w1cmask[PCI_CONFIG_SIZE];  /* bits the guest clears by writing 1 */
	struct pci_bar bar[PCI_NR_BARS];

	/*
	 * Optional hooks, called with the host's config lock held (so they
	 * must not call pci_config_* of the host; pci_set_irq is fine).
	 * config_read runs before the bytes are returned and may refresh
	 * config[]; config_write runs after config[] was updated through the
	 * masks and the BARs were remapped; val is the value as written.
	 */
	void (*config_read)(struct pci_device *d, unsigned off, unsigned size);
	void (*config_write)(struct pci_device *d, unsigned off, unsigned size,
			     uint32_t val);

	/* Set by pci_register: */
	struct pci_host *host;
	unsigned slot;
	unsigned gsi;              /* INTx GSI, valid if a pin is set */
	/* INTx state, under the host's intx_lock: */
	bool intx_level;           /* what the device asserts */
	bool intx_disabled;        /* command register's INTx Disable */
	bool intx_out;             /* counted in the host's wired-OR */
	unsigned cap_end;          /* next free byte for capabilities */
};

struct pci_host {
	pthread_mutex_t lock;      /* config cycles and BAR maps */
	pthread_mutex_t intx_lock; /* INTx wired-OR counts */
	struct bus *pio, *mmio;
	struct irq_chip *irq;
	uint32_t conf_addr;        /* 0xCF8 */
	struct pci_device *slots[PCI_NR_SLOTS];
	struct pci_device bridge;  /* 00:00.0 */
	unsigned intx_count[4];    /* asserted devices per GSI 16..19 */
	/* Byte/word accesses to 0xCF8-0xCFB that are not CONFIG_ADDRESS. */
	const struct bus_ops *cf8_passthrough;
	void *cf8_opaque;
};

/*
 * Create the host: ports 0xCF8-0xCFF on pio and the ECAM window on mmio,
 * the host bridge in slot 0. 0 and *out, or -errno.
 */
int pci_host_create(struct pci_host **out, struct bus *pio, struct bus *mmio,
		    struct irq_chip *irq);
/* Unmap every BAR and release the ports and ECAM. NULL is fine. */
void pci_host_destroy(struct pci_host *h);

/*
 * Port 0xCF9 (the reset control register) shares 0xCF8-0xCFB with
 * CONFIG_ADDRESS, which only dword accesses reach. Other accesses to those
 * four ports go to ops (offset relative to 0xCF8), e.g. the ACPI PM
 * block's reset register.
 */
void pci_host_set_cf8_passthrough(struct pci_host *h, const struct bus_ops *ops,
				  void *opaque);

/*
 * Fill in an empty type-0 header: IDs, class (base<<16 | sub<<8 | prog),
 * revision, the default writable bits (command, status W1C, cache line,
 * latency, interrupt line). Zeroes the rest of *d.
 */
void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor,
		     uint16_t device, uint32_t class_code, uint8_t revision);
void pci_set_subsystem(struct pci_device *d, uint16_t vendor, uint16_t id);
/* Interrupt pin: 1 = INTA .. 4 = INTD, 0 = none. Before pci_register. */
void pci_set_intx_pin(struct pci_device *d, unsigned pin);

/*
 * Declare BAR idx (a 64-bit BAR takes idx and idx+1) of size bytes (a power
 * of two, at least 16 for memory and 4 for I/O); accesses to it go to
 * ops/opaque. Before pci_register. 0 or -EINVAL.
 */
int pci_set_bar(struct pci_device *d, unsigned idx, enum pci_bar_type type,
		uint64_t size, bool prefetchable, const struct bus_ops *ops,
		void *opaque);

/*
 * Append a capability of len bytes (including the 2-byte header) to the
 * list; returns its config offset, or -ENOSPC. The device then fills
 * config[] and wmask[] for its fields. Before pci_register.
 */
int pci_add_capability(struct pci_device *d, uint8_t cap_id, unsigned len);

/*
 * Put the device in slot 1..31 of bus 0: 0, -EINVAL (slot), -EEXIST
 * (taken). The device must stay alive until pci_unregister or the host's
 * destruction.
 */
int pci_register(struct pci_host *h, struct pci_device *d, unsigned slot);
void pci_unregister(struct pci_device *d);

/* Assert (1) or deassert (0) the device's INTx line (wired-OR per GSI). */
void pci_set_irq(struct pci_device *d, int level);

/* Raw config accessors for the device model (no masks, no side effects). */
static inline uint8_t pci_get8(const struct pci_device *d, unsigned off)
{
	return off < PCI_CONFIG_SIZE ? d->config[off] : 0;
}
uint16_t pci_get16(const struct pci_device *d, unsigned off);
uint32_t pci_get32(const struct pci_device *d, unsigned off);
void pci_set8(uint8_t *space, unsigned off, uint8_t val);
void pci_set16(uint8_t *space, unsigned off, uint16_t val);
void pci_set32(uint8_t *space, unsigned off, uint32_t val);

/* Guest-visible config access, as mechanism 1 and ECAM perform it. */
uint32_t pci_config_read(struct pci_host *h, unsigned bus, unsigned devfn,
			 unsigned off, unsigned size);
void pci_config_write(struct pci_host *h, unsigned bus, unsigned devfn,
		      unsigned off, unsigned size, uint32_t val);

#endif
