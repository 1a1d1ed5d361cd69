/*
 * PCI enumeration through configuration mechanism 1 (0xCF8/0xCFC): bus 0,
 * slots 0-31, functions 1-7 only behind a multi-function header, and the
 * secondary bus of every PCI-PCI bridge, depth first.
 */
#include "tk.h"

#define PCI_CONF_ADDR	0xCF8
#define PCI_CONF_DATA	0xCFC
#define PCI_MAX_DEPTH	8

static u32 devices_found;
static u32 buses_seen[256 / 32];

static u32 conf_read32(u32 bus, u32 dev, u32 fn, u32 off)
{
	outl(PCI_CONF_ADDR, 0x80000000u | bus << 16 | dev << 11 | fn << 8 |
				    (off & 0xFC));
	return inl(PCI_CONF_DATA);
}

static void scan_bus(u32 bus, unsigned int depth);

static void scan_function(u32 bus, u32 dev, u32 fn, u32 id, u32 hdr,
			  unsigned int depth)
{
	u32 class = conf_read32(bus, dev, fn, 0x08) >> 16;

	kprintf("pci %02x:%02x.%u %04x:%04x class %04x\n", bus, dev, fn,
		id & 0xFFFF, id >> 16, class);
	devices_found++;
	if ((hdr & 0x7F) == 1) {	/* PCI-PCI bridge */
		u32 secondary = (conf_read32(bus, dev, fn, 0x18) >> 8) & 0xFF;

		if (secondary > bus)
			scan_bus(secondary, depth + 1);
	}
}

static void scan_bus(u32 bus, unsigned int depth)
{
	u32 dev, fn;

	if (depth > PCI_MAX_DEPTH || (buses_seen[bus / 32] & 1u << bus % 32))
		return;
	buses_seen[bus / 32] |= 1u << bus % 32;
	for (dev = 0; dev < 32; dev++) {
		u32 id = conf_read32(bus, dev, 0, 0), hdr;

		if ((id & 0xFFFF) == 0xFFFF)
			continue;
		hdr = (conf_read32(bus, dev, 0, 0x0C) >> 16) & 0xFF;
		scan_function(bus, dev, 0, id, hdr, depth);
		if (!(hdr & 0x80))
			continue;
		for (fn = 1; fn < 8; fn++) {
			id = conf_read32(bus, dev, fn, 0);
			if ((id & 0xFFFF) == 0xFFFF)
				continue;
			scan_function(bus, dev, fn, id,
				      (conf_read32(bus, dev, fn, 0x0C) >> 16) &
					      0xFF,
				      depth);
		}
	}
}

void pci_scan(void)
{
	scan_bus(0, 0);
	kprintf("pci: %u devices\n", devices_found);
}
