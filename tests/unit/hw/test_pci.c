/* PCI host: mechanism 1, ECAM, BAR sizing and mapping, INTx, odd accesses. */
#include <errno.h>
#include <pthread.h>

#include "hw/pci.h"
#include "mem/bus.h"
#include "mem/layout.h"
#include "fakes.h"
#include "tap.h"

static struct bus pio, mmio;
static struct fake_irq irq;

static uint32_t cf8(unsigned bus, unsigned slot, unsigned fn, unsigned reg)
{
	return 0x80000000u | bus << 16 | slot << 11 | fn << 8 | (reg & 0xFC);
}

static uint32_t mech1_read(unsigned slot, unsigned reg, unsigned size)
{
	bus_write(&pio, PORT_PCI_CONF_ADDR, 4, cf8(0, slot, 0, reg));
	return bus_read(&pio, PORT_PCI_CONF_DATA + (reg & 3), size);
}

static void mech1_write(unsigned slot, unsigned reg, unsigned size, uint32_t val)
{
	bus_write(&pio, PORT_PCI_CONF_ADDR, 4, cf8(0, slot, 0, reg));
	bus_write(&pio, PORT_PCI_CONF_DATA + (reg & 3), size, val);
}

static uint64_t ecam(unsigned bus, unsigned slot, unsigned fn, unsigned reg)
{
	return PCI_ECAM_BASE + ((uint64_t)bus << 20 | slot << 15 | fn << 12 | reg);
}

/* A fake device: BAR0 I/O (32 ports), BAR1 MMIO32 (4 KiB), BAR2/3 MMIO64. */
struct fake_dev {
	struct pci_device pci;
	unsigned reads, writes;
	uint64_t last_off, last_val;
	unsigned hook_writes;
};

static uint64_t dev_read(void *opaque, uint64_t off, unsigned size)
{
	struct fake_dev *f = opaque;

	uint64_t v = 0xAB00 | off;

	f->reads++;
	f->last_off = off;
	return size < 8 ? v & ((1ULL << (8 * size)) - 1) : v;
}

static void dev_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct fake_dev *f = opaque;

	f->writes++;
	f->last_off = off;
	f->last_val = val;
}

static const struct bus_ops dev_ops = { .read = dev_read, .write = dev_write };

static void dev_config_write(struct pci_device *d, unsigned off, unsigned size,
			     uint32_t val)
{
	((struct fake_dev *)d->opaque)->hook_writes++;
	if (off == PCI_INTERRUPT_LINE)
		pci_set_irq(d, 0);   /* allowed from the hook */
}

static void fake_dev_init(struct fake_dev *f)
{
	pci_device_init(&f->pci, "fake", 0x1AF4, 0x1041, 0x020000, 1);
	f->pci.opaque = f;
	f->pci.config_write = dev_config_write;
	pci_set_subsystem(&f->pci, 0x1AF4, 0x0001);
	pci_set_intx_pin(&f->pci, 1);
	CHECK_EQ(pci_set_bar(&f->pci, 0, PCI_BAR_IO, 32, false, &dev_ops, f), 0);
	CHECK_EQ(pci_set_bar(&f->pci, 1, PCI_BAR_MEM32, 4096, false, &dev_ops, f), 0);
	CHECK_EQ(pci_set_bar(&f->pci, 2, PCI_BAR_MEM64, 0x4000, true, &dev_ops, f), 0);
	CHECK_EQ(pci_set_bar(&f->pci, 5, PCI_BAR_MEM64, 0x4000, true, &dev_ops, f), -EINVAL);
	CHECK_EQ(pci_set_bar(&f->pci, 4, PCI_BAR_MEM32, 100, false, &dev_ops, f), -EINVAL);
}

static void test_host_bridge(struct pci_host *h)
{
	CHECK_EQ(mech1_read(0, 0, 4), 0x29C08086);
	CHECK_EQ(mech1_read(0, 0, 2), 0x8086);
	CHECK_EQ(mech1_read(0, 2, 2), 0x29C0);
	CHECK_EQ(mech1_read(0, 3, 1), 0x29);
	CHECK_EQ(mech1_read(0, 8, 4) >> 8, 0x060000);
	CHECK_EQ(mech1_read(0, 0x0E, 1), 0x00);
	CHECK_EQ(bus_read(&mmio, ecam(0, 0, 0, 0), 4), 0x29C08086);
	CHECK_EQ(bus_read(&mmio, ecam(0, 0, 0, 0x0A), 2), 0x0600);
	CHECK_EQ(bus_read(&mmio, ecam(0, 0, 0, 0), 8), 0x29C08086ULL | (uint64_t)mech1_read(0, 4, 4) << 32);
	/* CONFIG_ADDRESS reads back; bit 31 off disables the data port. */
	bus_write(&pio, PORT_PCI_CONF_ADDR, 4, 0x80000000);
	CHECK_EQ(bus_read(&pio, PORT_PCI_CONF_ADDR, 4), 0x80000000);
	bus_write(&pio, PORT_PCI_CONF_ADDR, 4, 0x7F000003);
	CHECK_EQ(bus_read(&pio, PORT_PCI_CONF_ADDR, 4), 0);
	CHECK_EQ(bus_read(&pio, PORT_PCI_CONF_DATA, 4), 0xFFFFFFFF);
	/* Byte accesses to 0xCF8-0xCFB are not CONFIG_ADDRESS. */
	bus_write(&pio, PORT_PCI_CONF_ADDR, 4, cf8(0, 0, 0, 0));
	bus_write(&pio, PORT_PCI_CONF_ADDR + 3, 1, 0x00);
	CHECK_EQ(bus_read(&pio, PORT_PCI_CONF_ADDR, 4), 0x80000000);
	CHECK_EQ(bus_read(&pio, PORT_PCI_CONF_ADDR + 1, 1), 0xFF);
	/* Read-only IDs stay put. */
	mech1_write(0, 0, 4, 0x12345678);
	CHECK_EQ(mech1_read(0, 0, 4), 0x29C08086);
	(void)h;
}

static void test_absent(void)
{
	CHECK_EQ(mech1_read(5, 0, 4), 0xFFFFFFFF);
	CHECK_EQ(mech1_read(5, 2, 2), 0xFFFF);
	CHECK_EQ(mech1_read(5, 3, 1), 0xFF);
	bus_write(&pio, PORT_PCI_CONF_ADDR, 4, cf8(1, 0, 0, 0));    /* bus 1 */
	CHECK_EQ(bus_read(&pio, PORT_PCI_CONF_DATA, 4), 0xFFFFFFFF);
	bus_write(&pio, PORT_PCI_CONF_ADDR, 4, cf8(0, 0, 3, 0));    /* fn 3 */
	CHECK_EQ(bus_read(&pio, PORT_PCI_CONF_DATA, 4), 0xFFFFFFFF);
	CHECK_EQ(bus_read(&mmio, ecam(0, 31, 0, 0), 4), 0xFFFFFFFF);
	CHECK_EQ(bus_read(&mmio, ecam(255, 31, 7, 0xFFC), 4), 0xFFFFFFFF);
	CHECK_EQ(bus_read(&mmio, ecam(0, 7, 0, 0), 8), ~0ULL);
	bus_write(&mmio, ecam(0, 7, 0, 4), 4, 0x7);                 /* dropped */
}

static void test_bars(struct pci_host *h)
{
	static struct fake_dev f;
	const unsigned slot = 3;
	uint32_t gsi;

	fake_dev_init(&f);
	CHECK_EQ(pci_register(h, &f.pci, 0), -EINVAL);
	CHECK_EQ(pci_register(h, &f.pci, 32), -EINVAL);
	CHECK_EQ(pci_register(h, &f.pci, slot), 0);
	CHECK_EQ(pci_register(h, &f.pci, slot), -EEXIST);
	CHECK_EQ(mech1_read(slot, 0, 4), 0x10411AF4);
	CHECK_EQ(mech1_read(slot, 0x2C, 4), 0x00011AF4);
	CHECK_EQ(mech1_read(slot, 0x3D, 1), 1);
	gsi = PCI_INTX_GSI_BASE + ((slot + 0) & 3);
	CHECK_EQ(mech1_read(slot, 0x3C, 1), gsi);

	/* Sizing: all-ones reads back the size mask with the type bits. */
	for (unsigned i = 0; i < 6; i++)
		mech1_write(slot, 0x10 + 4 * i, 4, 0xFFFFFFFF);
	CHECK_EQ(mech1_read(slot, 0x10, 4), 0xFFFFFFE1);            /* I/O, 32 */
	CHECK_EQ(mech1_read(slot, 0x14, 4), 0xFFFFF000);            /* mem32, 4K */
	CHECK_EQ(mech1_read(slot, 0x18, 4), 0xFFFFC00C);            /* mem64 pf */
	CHECK_EQ(mech1_read(slot, 0x1C, 4), 0xFFFFFFFF);            /* upper half */
	CHECK_EQ(mech1_read(slot, 0x20, 4), 0);                     /* unused */
	CHECK_EQ(mech1_read(slot, 0x30, 4), 0);                     /* no ROM */
	CHECK_EQ(f.hook_writes, 6);

	/* Program addresses; nothing decodes until the command register says. */
	mech1_write(slot, 0x10, 4, 0xC000);
	mech1_write(slot, 0x14, 4, 0xC0001000);
	bus_write(&mmio, ecam(0, slot, 0, 0x18), 8, 0x0000000800000000ULL);
	CHECK_EQ(mech1_read(slot, 0x18, 4), 0x0000000C);
	CHECK_EQ(mech1_read(slot, 0x1C, 4), 0x8);
	CHECK_EQ(bus_read(&pio, 0xC004, 1), 0xFF);
	CHECK_EQ(bus_read(&mmio, 0xC0001000, 4), 0xFFFFFFFF);

	mech1_write(slot, 0x04, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	CHECK_EQ(mech1_read(slot, 0x04, 2), 3);
	CHECK_EQ(bus_read(&pio, 0xC004, 1), 0xAB04 & 0xFF);
	CHECK_EQ(bus_read(&mmio, 0xC0001010, 4), 0xAB10);
	CHECK_EQ(bus_read(&mmio, 0x800000000ULL + 0x3FF8, 8), 0xAB00 | 0x3FF8);
	bus_write(&mmio, 0xC0001FFC, 4, 0x5A5A);
	CHECK_EQ(f.last_off, 0xFFC);
	CHECK_EQ(f.last_val, 0x5A5A);

	/* Moving a BAR moves the range; disabling decode removes them all. */
	mech1_write(slot, 0x14, 4, 0xC0010000);
	CHECK_EQ(bus_read(&mmio, 0xC0001010, 4), 0xFFFFFFFF);
	CHECK_EQ(bus_read(&mmio, 0xC0010010, 4), 0xAB10);
	mech1_write(slot, 0x04, 2, 0);
	CHECK_EQ(bus_read(&mmio, 0xC0010010, 4), 0xFFFFFFFF);
	CHECK_EQ(bus_read(&pio, 0xC004, 1), 0xFF);
	/* The sizing pattern with decode on maps nothing. */
	mech1_write(slot, 0x14, 4, 0xFFFFFFFF);
	mech1_write(slot, 0x04, 2, PCI_COMMAND_MEMORY);
	CHECK_EQ(bus_read(&mmio, 0xFFFFF000, 4), 0xFFFFFFFF);
	CHECK_EQ(f.pci.bar[1].mapped, 0);
	CHECK_EQ(f.pci.bar[2].mapped, 1);
	/* Overlapping another device: refused quietly, mapped when moved. */
	mech1_write(slot, 0x14, 4, (uint32_t)PCI_ECAM_BASE);
	CHECK_EQ(f.pci.bar[1].mapped, 0);
	CHECK_EQ(bus_read(&mmio, PCI_ECAM_BASE, 4), 0x29C08086);
	mech1_write(slot, 0x14, 4, 0xC0002000);
	CHECK_EQ(f.pci.bar[1].mapped, 1);

	/* Status error bits are write-1-to-clear; the rest read-only. */
	f.pci.config[PCI_STATUS + 1] |= 0x20;                       /* master abort */
	mech1_write(slot, 0x06, 2, 0x0010);
	CHECK_EQ(mech1_read(slot, 0x07, 1) & 0x20, 0x20);
	mech1_write(slot, 0x06, 2, 0x2000);
	CHECK_EQ(mech1_read(slot, 0x07, 1) & 0x20, 0);

	/* INTx: wired-OR per GSI, masked by INTx Disable, mirrored in status. */
	pci_set_irq(&f.pci, 1);
	CHECK_EQ(irq.level[gsi], 1);
	CHECK_EQ(mech1_read(slot, 0x06, 1) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
	mech1_write(slot, 0x04, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
	CHECK_EQ(irq.level[gsi], 0);
	mech1_write(slot, 0x04, 2, PCI_COMMAND_MEMORY);
	CHECK_EQ(irq.level[gsi], 1);
	mech1_write(slot, 0x3C, 1, gsi);                  /* hook deasserts */
	CHECK_EQ(irq.level[gsi], 0);
	CHECK_EQ(mech1_read(slot, 0x06, 1) & PCI_STATUS_INTERRUPT, 0);

	pci_unregister(&f.pci);
	CHECK_EQ(mech1_read(slot, 0, 4), 0xFFFFFFFF);
	CHECK_EQ(bus_read(&mmio, 0xC0002000, 4), 0xFFFFFFFF);
	CHECK_EQ(bus_read(&mmio, 0x800000000ULL, 4), 0xFFFFFFFF);
}

static void test_shared_intx(struct pci_host *h)
{
	static struct fake_dev a, b;
	unsigned gsi;

	fake_dev_init(&a);
	fake_dev_init(&b);
	pci_set_intx_pin(&b.pci, 4);                  /* INTD */
	CHECK_EQ(pci_register(h, &a.pci, 1), 0);      /* 16 + (1+0)&3 = 17 */
	CHECK_EQ(pci_register(h, &b.pci, 2), 0);      /* 16 + (2+3)&3 = 17 */
	gsi = PCI_INTX_GSI_BASE + 1;
	CHECK_EQ(a.pci.gsi, gsi);
	CHECK_EQ(b.pci.gsi, gsi);
	pci_set_irq(&a.pci, 1);
	pci_set_irq(&b.pci, 1);
	CHECK_EQ(irq.level[gsi], 1);
	pci_set_irq(&a.pci, 0);
	CHECK_EQ(irq.level[gsi], 1);
	pci_set_irq(&b.pci, 0);
	CHECK_EQ(irq.level[gsi], 0);
	pci_set_irq(&b.pci, 1);
	pci_unregister(&b.pci);                       /* drops its assertion */
	CHECK_EQ(irq.level[gsi], 0);
	pci_unregister(&a.pci);
}

static void test_capabilities(struct pci_host *h)
{
	static struct fake_dev f;
	int c1, c2;

	fake_dev_init(&f);
	c1 = pci_add_capability(&f.pci, PCI_CAP_ID_VNDR, 16);
	c2 = pci_add_capability(&f.pci, PCI_CAP_ID_MSIX, 12);
	CHECK_EQ(c1, 0x40);
	CHECK_EQ(c2, 0x50);
	CHECK_EQ(pci_add_capability(&f.pci, PCI_CAP_ID_VNDR, 200), -ENOSPC);
	pci_set16(f.pci.wmask, c2 + 2, 0xC000);       /* MSI-X enable + mask */
	CHECK_EQ(pci_register(h, &f.pci, 9), 0);
	CHECK_EQ(mech1_read(9, 0x06, 2) & PCI_STATUS_CAP_LIST, PCI_STATUS_CAP_LIST);
	CHECK_EQ(mech1_read(9, 0x34, 1), 0x40);
	CHECK_EQ(mech1_read(9, 0x40, 2), 0x5009);
	CHECK_EQ(mech1_read(9, 0x50, 2), 0x0011);
	mech1_write(9, 0x52, 2, 0xFFFF);
	CHECK_EQ(mech1_read(9, 0x52, 2), 0xC000);
	pci_unregister(&f.pci);
}

static void test_odd_accesses(struct pci_host *h)
{
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	static struct fake_dev f;
	uint64_t s = 12345;

	fake_dev_init(&f);
	CHECK_EQ(pci_register(h, &f.pci, 4), 0);
	/* Unaligned: a dword at CFD is bytes 1-3 of the selected dword. */
	bus_write(&pio, PORT_PCI_CONF_ADDR, 4, cf8(0, 4, 0, 0));
	CHECK_EQ(bus_read(&pio, PORT_PCI_CONF_DATA + 1, 2), 0x411A);
	CHECK_EQ(bus_read(&pio, PORT_PCI_CONF_DATA + 1, 4), 0xFFFFFFFF); /* past 0xCFF */
	CHECK_EQ(bus_read(&mmio, ecam(0, 4, 0, 1), 4), 0x0010411A);
	CHECK_EQ(bus_read(&mmio, ecam(0, 4, 0, 0xFFE), 4) & 0xFFFF, 0);    /* crosses 4K */
	CHECK_EQ(bus_read(&mmio, ecam(0, 4, 0, 0xFFE), 4) >> 16, 0xFFFF);  /* slot 4 fn 1 */
	/* Random traffic on every config path and the BARs. */
	for (unsigned i = 0; i < 20000; i++) {
		uint64_t r = fake_rand(&s), v = fake_rand(&s);
		unsigned size = sizes[r & 3];

		switch ((r >> 2) & 3) {
		case 0:
			bus_write(&pio, PORT_PCI_CONF_ADDR, 4,
				  cf8(0, (r >> 8) & 7, 0, (r >> 16) & 0xFF));
			break;
		case 1:
			if (r & (1 << 30))
				bus_write(&pio, PORT_PCI_CONF_DATA + ((r >> 24) & 3), size, v);
			else
				(void)bus_read(&pio, PORT_PCI_CONF_DATA + ((r >> 24) & 3), size);
			break;
		case 2: {
			uint64_t a = ecam(0, (r >> 8) & 7, 0, (r >> 16) & 0xFFF);
			if (r & (1 << 30))
				bus_write(&mmio, a, size, v);
			else
				(void)bus_read(&mmio, a, size);
			break;
		}
		case 3:
			(void)bus_read(&mmio, 0xC0000000 + ((r >> 8) & 0xFFFFF), size);
			(void)bus_read(&pio, 0xC000 + ((r >> 8) & 0xFF), size);
			break;
		}
	}
	CHECK_EQ(mech1_read(0, 0, 4), 0x29C08086);
	CHECK_EQ(mech1_read(4, 0, 4), 0x10411AF4);
	CHECK_EQ(irq.bad_gsi, 0);
	pci_unregister(&f.pci);
}

/* Config cycles, INTx and BAR traffic from three threads at once. */
static struct fake_dev conc;
static int conc_stop;

static void *conc_config(void *arg)
{
	for (unsigned i = 0; i < 3000; i++) {
		mech1_write(6, 0x14, 4, 0xC0000000 + (i & 7) * 0x1000);
		bus_write(&mmio, ecam(0, 6, 0, 4), 2, i & 1 ? PCI_COMMAND_MEMORY |
			  PCI_COMMAND_INTX_DISABLE : PCI_COMMAND_MEMORY);
	}
	return arg;
}

static void *conc_intx(void *arg)
{
	for (unsigned i = 0; !__atomic_load_n(&conc_stop, __ATOMIC_RELAXED); i++)
		pci_set_irq(&conc.pci, i & 1);
	return arg;
}

static void *conc_bars(void *arg)
{
	while (!__atomic_load_n(&conc_stop, __ATOMIC_RELAXED))
		for (unsigned i = 0; i < 8; i++)
			(void)bus_read(&mmio, 0xC0000000 + i * 0x1000 + 8, 4);
	return arg;
}

static void test_concurrency(struct pci_host *h)
{
	pthread_t t[3];

	fake_dev_init(&conc);
	CHECK_EQ(pci_register(h, &conc.pci, 6), 0);
	CHECK_EQ(pthread_create(&t[1], NULL, conc_intx, NULL), 0);
	CHECK_EQ(pthread_create(&t[2], NULL, conc_bars, NULL), 0);
	CHECK_EQ(pthread_create(&t[0], NULL, conc_config, NULL), 0);
	pthread_join(t[0], NULL);
	__atomic_store_n(&conc_stop, 1, __ATOMIC_RELAXED);
	pthread_join(t[1], NULL);
	pthread_join(t[2], NULL);
	pci_set_irq(&conc.pci, 0);
	CHECK_EQ(irq.level[conc.pci.gsi], 0);
	CHECK_EQ(conc.pci.bar[1].mapped, 1);
	pci_unregister(&conc.pci);
}

int main(void)
{
	struct pci_host *h = NULL, *h2 = NULL;

	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	fake_irq_init(&irq);
	CHECK_EQ(pci_host_create(&h, &pio, &mmio, &irq.chip), 0);
	CHECK_EQ(pci_host_create(&h2, &pio, &mmio, &irq.chip), -EEXIST);
	test_host_bridge(h);
	test_absent();
	test_bars(h);
	test_shared_intx(h);
	test_capabilities(h);
	test_odd_accesses(h);
	test_concurrency(h);
	pci_host_destroy(h);
	CHECK_EQ(pio.nr, 0);
	CHECK_EQ(mmio.nr, 0);
	bus_destroy(&pio);
	bus_destroy(&mmio);
	return test_done();
}
