/*
 * PCI host bridge: config space access (mechanism 1 and ECAM), BAR
 * mapping and INTx routing for the devices on bus 0.
 *
 * Config writes go through per-byte masks: wmask says which bits the guest
 * may change, w1cmask which bits it clears by writing 1. BAR sizing falls
 * out of the masks: a BAR's wmask covers only its address bits, so writing
 * all-ones reads back ~(size-1) with the type bits. After any write that
 * touches the command register or a BAR the host re-derives every BAR's
 * decoded address and moves its range on the bus accordingly.
 *
 * Locking: h->lock serialises config cycles, slot changes and BAR
 * (un)mapping; bus callbacks run outside the bus's own lock, so taking
 * bus_add/bus_remove's write lock under h->lock is safe. h->intx_lock
 * (taken after h->lock when both are needed) protects the INTx state so
 * that devices may raise INTx from any thread, including from their
 * config_write hook.
 */
#include "hw/pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"
#include "mem/layout.h"

#define CONF_ADDR_ENABLE 0x80000000u
#define CONF_ADDR_MASK   0x80FFFFFCu

#define PCI_COMMAND_WMASK (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | \
			   PCI_COMMAND_MASTER | PCI_COMMAND_PARITY | \
			   PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE)
#define PCI_STATUS_W1C    0xF900   /* error bits */
#define PCI_CAP_START     0x40
#define PCI_STD_SIZE      256

uint16_t pci_get16(const struct pci_device *d, unsigned off)
{
	return pci_get8(d, off) | pci_get8(d, off + 1) << 8;
}

uint32_t pci_get32(const struct pci_device *d, unsigned off)
{
	return pci_get16(d, off) | (uint32_t)pci_get16(d, off + 2) << 16;
}

void pci_set8(uint8_t *space, unsigned off, uint8_t val)
{
	if (off < PCI_CONFIG_SIZE)
		space[off] = val;
}

void pci_set16(uint8_t *space, unsigned off, uint16_t val)
{
	pci_set8(space, off, val);
	pci_set8(space, off + 1, val >> 8);
}

void pci_set32(uint8_t *space, unsigned off, uint32_t val)
{
	pci_set16(space, off, val);
	pci_set16(space, off + 2, val >> 16);
}

void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor,
		     uint16_t device, uint32_t class_code, uint8_t revision)
{
	memset(d, 0, sizeof(*d));
	d->name = name;
	pci_set16(d->config, PCI_VENDOR_ID, vendor);
	pci_set16(d->config, PCI_DEVICE_ID, device);
	pci_set8(d->config, PCI_REVISION_ID, revision);
	pci_set8(d->config, PCI_CLASS_PROG, class_code);
	pci_set16(d->config, PCI_CLASS_PROG + 1, class_code >> 8);
	pci_set16(d->wmask, PCI_COMMAND, PCI_COMMAND_WMASK);
	pci_set16(d->w1cmask, PCI_STATUS, PCI_STATUS_W1C);
	pci_set8(d->wmask, PCI_CACHE_LINE_SIZE, 0xFF);
	pci_set8(d->wmask, PCI_LATENCY_TIMER, 0xFF);
	pci_set8(d->wmask, PCI_INTERRUPT_LINE, 0xFF);
	d->cap_end = PCI_CAP_START;
}

void pci_set_subsystem(struct pci_device *d, uint16_t vendor, uint16_t id)
{
	pci_set16(d->config, PCI_SUBSYSTEM_VENDOR_ID, vendor);
	pci_set16(d->config, PCI_SUBSYSTEM_ID, id);
}

void pci_set_intx_pin(struct pci_device *d, unsigned pin)
{
	pci_set8(d->config, PCI_INTERRUPT_PIN, pin <= 4 ? pin : 0);
}

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

int pci_set_bar(struct pci_device *d, unsigned idx, enum pci_bar_type type,
		uint64_t size, bool prefetchable, const struct bus_ops *ops,
		void *opaque)
{
	unsigned off = PCI_BAR0 + 4 * idx;
	uint64_t addr_mask;

	if (idx >= PCI_NR_BARS || !is_pow2(size) || !ops)
		return -EINVAL;
	addr_mask = ~(size - 1);
	switch (type) {
	case PCI_BAR_IO:
		if (size < 4 || size > 64 * KiB)
			return -EINVAL;
		pci_set32(d->config, off, 0x1);
		pci_set32(d->wmask, off, addr_mask & ~3u);
		prefetchable = false;
		break;
	case PCI_BAR_MEM32:
		if (size < 16 || size > 2 * GiB)
			return -EINVAL;
		pci_set32(d->config, off, prefetchable ? 0x8 : 0);
		pci_set32(d->wmask, off, addr_mask & ~0xFu);
		break;
	case PCI_BAR_MEM64:
		if (idx + 1 >= PCI_NR_BARS || size < 16 || size > (1ULL << 62))
			return -EINVAL;
		pci_set32(d->config, off, 0x4 | (prefetchable ? 0x8 : 0));
		pci_set32(d->wmask, off, addr_mask & ~0xFu);
		pci_set32(d->config, off + 4, 0);
		pci_set32(d->wmask, off + 4, addr_mask >> 32);
		d->bar[idx + 1].type = PCI_BAR_NONE;
		break;
	default:
		return -EINVAL;
	}
	d->bar[idx] = (struct pci_bar){
		.type = type, .prefetchable = prefetchable, .size = size,
		.ops = ops, .opaque = opaque,
	};
	return 0;
}

int pci_add_capability(struct pci_device *d, uint8_t cap_id, unsigned len)
{
	unsigned off = ALIGN_UP(d->cap_end, 4u), prev, hops = 0;

	if (len < 2 || len > PCI_STD_SIZE || off + len > PCI_STD_SIZE)
		return -ENOSPC;
	d->config[off] = cap_id;
	d->config[off + 1] = 0;
	if (!d->config[PCI_CAPABILITY_LIST]) {
		d->config[PCI_CAPABILITY_LIST] = off;
	} else {
		/* The list is ours (built here), but stay bounded anyway. */
		prev = d->config[PCI_CAPABILITY_LIST];
		while (d->config[prev + 1] && hops++ < 64)
			prev = d->config[prev + 1];
		d->config[prev + 1] = off;
	}
	d->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	d->cap_end = off + len;
	return off;
}

/* INTx: recompute the device's output and the GSI's wired-OR. */
static void intx_update(struct pci_device *d)
{
	struct pci_host *h = d->host;
	bool out = d->intx_level && !d->intx_disabled && d->gsi >= PCI_INTX_GSI_BASE;
	unsigned i;

	if (!h || out == d->intx_out)
		return;
	d->intx_out = out;
	i = (d->gsi - PCI_INTX_GSI_BASE) & 3;
	if (out) {
		if (h->intx_count[i]++ == 0)
			irq_set(h->irq, d->gsi, 1);
	} else {
		if (--h->intx_count[i] == 0)
			irq_set(h->irq, d->gsi, 0);
	}
}

void pci_set_irq(struct pci_device *d, int level)
{
	struct pci_host *h = d->host;

	if (!h) {
		d->intx_level = level;
		return;
	}
	pthread_mutex_lock(&h->intx_lock);
	d->intx_level = level;
	intx_update(d);
	pthread_mutex_unlock(&h->intx_lock);
}

/*
 * The address a BAR decodes, or false if it decodes nothing: decoding off
 * in the command register, unprogrammed (0), or an address that would run
 * past the end of its space (e.g. still holding the sizing pattern).
 */
static bool bar_address(const struct pci_device *d, unsigned i, uint64_t *base)
{
	const struct pci_bar *b = &d->bar[i];
	uint16_t cmd = pci_get16(d, PCI_COMMAND);
	unsigned off = PCI_BAR0 + 4 * i;
	uint64_t addr, last;

	switch (b->type) {
	case PCI_BAR_IO:
		if (!(cmd & PCI_COMMAND_IO))
			return false;
		addr = pci_get32(d, off) & ~3u & ~(b->size - 1);
		last = addr + b->size - 1;
		if (addr == 0 || last > 0xFFFF)
			return false;
		break;
	case PCI_BAR_MEM32:
		if (!(cmd & PCI_COMMAND_MEMORY))
			return false;
		addr = pci_get32(d, off) & ~0xFu;
		last = addr + b->size - 1;
		if (addr == 0 || last >= 0xFFFFFFFFu)
			return false;
		break;
	case PCI_BAR_MEM64:
		if (!(cmd & PCI_COMMAND_MEMORY))
			return false;
		addr = (pci_get32(d, off) & ~0xFu) | (uint64_t)pci_get32(d, off + 4) << 32;
		last = addr + b->size - 1;
		if (addr == 0 || last < addr || last == UINT64_MAX)
			return false;
		break;
	default:
		return false;
	}
	*base = addr;
	return true;
}

/* Move every BAR to where config space says it is (h->lock held). */
static void update_mappings(struct pci_host *h, struct pci_device *d)
{
	for (unsigned i = 0; i < PCI_NR_BARS; i++) {
		struct pci_bar *b = &d->bar[i];
		struct bus *bus = b->type == PCI_BAR_IO ? h->pio : h->mmio;
		uint64_t base = 0;
		bool want = bar_address(d, i, &base);
		int err;

		if (b->type == PCI_BAR_NONE)
			continue;
		if (b->mapped && (!want || base != b->mapped_base)) {
			bus_remove(bus, b->mapped_base, b->opaque);
			b->mapped = false;
		}
		if (want && !b->mapped) {
			err = bus_add(bus, base, b->size, b->ops, b->opaque, d->name);
			if (err) {
				/* The guest placed it over something else. */
				log_debug("pci %02x: BAR%u at 0x%llx: %d", d->slot, i,
					  (unsigned long long)base, err);
				continue;
			}
			b->mapped = true;
			b->mapped_base = base;
		}
	}
}

static void unmap_all(struct pci_host *h, struct pci_device *d)
{
	for (unsigned i = 0; i < PCI_NR_BARS; i++) {
		struct pci_bar *b = &d->bar[i];

		if (b->mapped) {
			bus_remove(b->type == PCI_BAR_IO ? h->pio : h->mmio,
				   b->mapped_base, b->opaque);
			b->mapped = false;
		}
	}
}

static struct pci_device *lookup(struct pci_host *h, unsigned bus, unsigned devfn)
{
	if (bus != 0 || (devfn & 7) != 0)
		return NULL;
	return h->slots[devfn >> 3];
}

static uint32_t ones(unsigned size)
{
	return size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
}

uint32_t pci_config_read(struct pci_host *h, unsigned bus, unsigned devfn,
			 unsigned off, unsigned size)
{
	struct pci_device *d;
	uint32_t val = 0;

	size = MIN(size, 4u);
	pthread_mutex_lock(&h->lock);
	d = lookup(h, bus, devfn);
	if (!d) {
		pthread_mutex_unlock(&h->lock);
		return ones(size);
	}
	if (d->config_read)
		d->config_read(d, off, size);
	for (unsigned i = 0; i < size; i++) {
		unsigned o = off + i;
		uint8_t byte = o < PCI_CONFIG_SIZE ? d->config[o] : 0xFF;

		if (o == PCI_STATUS) {
			/* Interrupt Status mirrors the INTx the device asserts. */
			pthread_mutex_lock(&h->intx_lock);
			byte &= ~PCI_STATUS_INTERRUPT;
			if (d->intx_level)
				byte |= PCI_STATUS_INTERRUPT;
			pthread_mutex_unlock(&h->intx_lock);
		}
		val |= (uint32_t)byte << (8 * i);
	}
	pthread_mutex_unlock(&h->lock);
	return val;
}

static bool overlaps(unsigned off, unsigned size, unsigned start, unsigned end)
{
	return off < end && off + size > start;
}

void pci_config_write(struct pci_host *h, unsigned bus, unsigned devfn,
		      unsigned off, unsigned size, uint32_t val)
{
	struct pci_device *d;

	size = MIN(size, 4u);
	pthread_mutex_lock(&h->lock);
	d = lookup(h, bus, devfn);
	if (!d) {
		pthread_mutex_unlock(&h->lock);
		return;
	}
	for (unsigned i = 0; i < size; i++) {
		unsigned o = off + i;
		uint8_t byte = val >> (8 * i);

		if (o >= PCI_CONFIG_SIZE)
			break;
		d->config[o] = (d->config[o] & ~d->wmask[o]) | (byte & d->wmask[o]);
		d->config[o] &= ~(byte & d->w1cmask[o]);
	}
	if (overlaps(off, size, PCI_COMMAND, PCI_COMMAND + 2) ||
	    overlaps(off, size, PCI_BAR0, PCI_BAR0 + 4 * PCI_NR_BARS))
		update_mappings(h, d);
	if (overlaps(off, size, PCI_COMMAND, PCI_COMMAND + 2)) {
		pthread_mutex_lock(&h->intx_lock);
		d->intx_disabled = pci_get16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
		intx_update(d);
		pthread_mutex_unlock(&h->intx_lock);
	}
	if (d->config_write)
		d->config_write(d, off, size, val);
	pthread_mutex_unlock(&h->lock);
}

/* 0xCF8-0xCFB: CONFIG_ADDRESS for dword accesses, passthrough otherwise. */
static uint64_t cf8_read(void *opaque, uint64_t off, unsigned size)
{
	struct pci_host *h = opaque;
	const struct bus_ops *ops;
	void *pt_opaque;
	uint32_t val;

	pthread_mutex_lock(&h->lock);
	val = h->conf_addr;
	ops = h->cf8_passthrough;
	pt_opaque = h->cf8_opaque;
	pthread_mutex_unlock(&h->lock);
	if (off == 0 && size == 4)
		return val;
	if (ops && ops->read)
		return ops->read(pt_opaque, off, size);
	return size >= 8 ? ~0ULL : ones(size);
}

static void cf8_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct pci_host *h = opaque;
	const struct bus_ops *ops;
	void *pt_opaque;

	pthread_mutex_lock(&h->lock);
	if (off == 0 && size == 4) {
		h->conf_addr = val & CONF_ADDR_MASK;
		pthread_mutex_unlock(&h->lock);
		return;
	}
	ops = h->cf8_passthrough;
	pt_opaque = h->cf8_opaque;
	pthread_mutex_unlock(&h->lock);
	if (ops && ops->write)
		ops->write(pt_opaque, off, size, val);
}

/* 0xCFC-0xCFF: the register CONFIG_ADDRESS selects, plus the byte offset. */
static uint64_t cfc_read(void *opaque, uint64_t off, unsigned size)
{
	struct pci_host *h = opaque;
	uint32_t addr;

	pthread_mutex_lock(&h->lock);
	addr = h->conf_addr;
	pthread_mutex_unlock(&h->lock);
	if (!(addr & CONF_ADDR_ENABLE) || size > 4)
		return size >= 8 ? ~0ULL : ones(size);
	return pci_config_read(h, (addr >> 16) & 0xFF, (addr >> 8) & 0xFF,
			       (addr & 0xFC) + off, size);
}

static void cfc_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct pci_host *h = opaque;
	uint32_t addr;

	pthread_mutex_lock(&h->lock);
	addr = h->conf_addr;
	pthread_mutex_unlock(&h->lock);
	if (!(addr & CONF_ADDR_ENABLE) || size > 4)
		return;
	pci_config_write(h, (addr >> 16) & 0xFF, (addr >> 8) & 0xFF,
			 (addr & 0xFC) + off, size, val);
}

/*
 * ECAM: bus in bits 27:20, devfn in 19:12, register in 11:0. An 8-byte
 * access is two dword cycles; one that crosses a function's 4 KiB is
 * split into bytes, each decoded on its own.
 */
static uint64_t ecam_read(void *opaque, uint64_t off, unsigned size)
{
	struct pci_host *h = opaque;
	uint64_t val = 0;

	if (size <= 4 && (off & 0xFFF) + size <= PCI_CONFIG_SIZE)
		return pci_config_read(h, (off >> 20) & 0xFF, (off >> 12) & 0xFF,
				       off & 0xFFF, size);
	if (size == 8 && !(off & 7))
		return ecam_read(h, off, 4) | ecam_read(h, off + 4, 4) << 32;
	for (unsigned i = 0; i < size && i < 8; i++)
		val |= ecam_read(h, off + i, 1) << (8 * i);
	return val;
}

static void ecam_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct pci_host *h = opaque;

	if (size <= 4 && (off & 0xFFF) + size <= PCI_CONFIG_SIZE) {
		pci_config_write(h, (off >> 20) & 0xFF, (off >> 12) & 0xFF,
				 off & 0xFFF, size, val);
		return;
	}
	if (size == 8 && !(off & 7)) {
		ecam_write(h, off, 4, val & 0xFFFFFFFFu);
		ecam_write(h, off + 4, 4, val >> 32);
		return;
	}
	for (unsigned i = 0; i < size && i < 8; i++)
		ecam_write(h, off + i, 1, (val >> (8 * i)) & 0xFF);
}

static const struct bus_ops cf8_ops = { .read = cf8_read, .write = cf8_write };
static const struct bus_ops cfc_ops = { .read = cfc_read, .write = cfc_write };
static const struct bus_ops ecam_ops = { .read = ecam_read, .write = ecam_write };

int pci_register(struct pci_host *h, struct pci_device *d, unsigned slot)
{
	unsigned pin = pci_get8(d, PCI_INTERRUPT_PIN);
	int err = 0;

	if (slot == 0 || slot >= PCI_NR_SLOTS)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	if (h->slots[slot]) {
		err = -EEXIST;
		goto out;
	}
	d->host = h;
	d->slot = slot;
	d->gsi = 0;
	if (pin >= 1 && pin <= 4) {
		d->gsi = PCI_INTX_GSI_BASE + ((slot + pin - 1) & 3);
		/* What firmware would leave for a legacy OS; ACPI uses _PRT. */
		pci_set8(d->config, PCI_INTERRUPT_LINE, d->gsi);
	}
	h->slots[slot] = d;
	update_mappings(h, d);
	pthread_mutex_lock(&h->intx_lock);
	d->intx_out = false;
	d->intx_disabled = pci_get16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
	intx_update(d);
	pthread_mutex_unlock(&h->intx_lock);
out:
	pthread_mutex_unlock(&h->lock);
	return err;
}

void pci_unregister(struct pci_device *d)
{
	struct pci_host *h = d->host;

	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	unmap_all(h, d);
	pthread_mutex_lock(&h->intx_lock);
	d->intx_level = false;
	intx_update(d);
	pthread_mutex_unlock(&h->intx_lock);
	if (d->slot < PCI_NR_SLOTS && h->slots[d->slot] == d)
		h->slots[d->slot] = NULL;
	d->host = NULL;
	pthread_mutex_unlock(&h->lock);
}

void pci_host_set_cf8_passthrough(struct pci_host *h, const struct bus_ops *ops,
				  void *opaque)
{
	pthread_mutex_lock(&h->lock);
	h->cf8_passthrough = ops;
	h->cf8_opaque = opaque;
	pthread_mutex_unlock(&h->lock);
}

int pci_host_create(struct pci_host **out, struct bus *pio, struct bus *mmio,
		    struct irq_chip *irq)
{
	struct pci_host *h = calloc(1, sizeof(*h));
	int err;

	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->intx_lock, NULL);
	h->pio = pio;
	h->mmio = mmio;
	h->irq = irq;

	/* Q35's MCH: a host bridge every OS knows. */
	pci_device_init(&h->bridge, "host-bridge", 0x8086, 0x29c0, 0x060000, 0);
	h->bridge.host = h;
	h->slots[0] = &h->bridge;

	err = bus_add(pio, PORT_PCI_CONF_ADDR, 4, &cf8_ops, h, "pci-conf-addr");
	if (err)
		goto fail;
	err = bus_add(pio, PORT_PCI_CONF_DATA, 4, &cfc_ops, h, "pci-conf-data");
	if (err)
		goto fail_cf8;
	err = bus_add(mmio, PCI_ECAM_BASE, PCI_ECAM_SIZE, &ecam_ops, h, "pci-ecam");
	if (err)
		goto fail_cfc;
	*out = h;
	return 0;
fail_cfc:
	bus_remove(pio, PORT_PCI_CONF_DATA, h);
fail_cf8:
	bus_remove(pio, PORT_PCI_CONF_ADDR, h);
fail:
	log_err("pci: cannot claim config space: %d", err);
	pthread_mutex_destroy(&h->intx_lock);
	pthread_mutex_destroy(&h->lock);
	free(h);
	return err;
}

void pci_host_destroy(struct pci_host *h)
{
	if (!h)
		return;
	for (unsigned s = 1; s < PCI_NR_SLOTS; s++)
		if (h->slots[s])
			pci_unregister(h->slots[s]);
	bus_remove(h->mmio, PCI_ECAM_BASE, h);
	bus_remove(h->pio, PORT_PCI_CONF_DATA, h);
	bus_remove(h->pio, PORT_PCI_CONF_ADDR, h);
	pthread_mutex_destroy(&h->intx_lock);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
