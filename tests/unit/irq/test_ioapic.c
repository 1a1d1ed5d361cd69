/* IOAPIC: registers, routing to LAPICs (physical, logical flat, lowest
 * priority), masked pins, level-triggered remote IRR and EOI broadcast,
 * Linux's edge/level flip, ExtINT and NMI pins, odd MMIO accesses. */
#include "fake_cpu.h"
#include "hw/ioapic.h"
#include "mem/layout.h"
#include "tap.h"

static struct ioapic *io;

static void eoi_hook(void *opaque, uint8_t vector)
{
	ioapic_eoi(io, vector);
}

static uint32_t io_rd(unsigned reg)
{
	ioapic_mmio_write(io, 0x00, 4, reg);
	return (uint32_t)ioapic_mmio_read(io, 0x10, 4);
}

static void io_wr(unsigned reg, uint32_t v)
{
	ioapic_mmio_write(io, 0x00, 4, reg);
	ioapic_mmio_write(io, 0x10, 4, v);
}

static void rte(unsigned pin, uint32_t lo, uint8_t dest)
{
	io_wr(0x11 + 2 * pin, (uint32_t)dest << 24);
	io_wr(0x10 + 2 * pin, lo);
}

static struct lapic_set *setup(void)
{
	struct lapic_set *s;

	fake_reset();
	s = lapic_set_create(4, 25000000, &fake_ops, fake_cpu_ptrs, fake_clock);
	for (unsigned i = 0; i < 4; i++) {
		struct lapic *a = lapic_get(s, i);

		apic_wr(a, 0xF0, 0x1FF);
		apic_wr(a, 0xE0, 0xFFFFFFFF);
		apic_wr(a, 0xD0, 1u << (24 + i));
	}
	io = ioapic_create(s, 4);
	lapic_set_hooks(s, eoi_hook, NULL, NULL);
	return s;
}

static void test_registers(void)
{
	struct lapic_set *s = setup();

	CHECK_EQ(io_rd(0), 4u << 24);
	CHECK_EQ(io_rd(1), 0x00170011);
	CHECK_EQ(io_rd(2), 4u << 24);
	io_wr(1, 0);                            /* read-only */
	CHECK_EQ(io_rd(1), 0x00170011);
	io_wr(0, 7u << 24);
	CHECK_EQ(io_rd(0), 7u << 24);
	for (unsigned pin = 0; pin < 24; pin++)
		CHECK_EQ(io_rd(0x10 + 2 * pin), 0x10000);   /* masked at reset */
	rte(3, 0xFFFFFFFF, 0xAB);
	CHECK_EQ(io_rd(0x16), 0x0001AFFF);      /* no delivery status, no remote IRR */
	CHECK_EQ(io_rd(0x17), 0xAB000000);
	CHECK_EQ(io_rd(0x40), 0);               /* beyond the table */
	ioapic_mmio_write(io, 0x00, 1, 0x01);   /* byte write to IOREGSEL */
	CHECK_EQ(ioapic_mmio_read(io, 0x00, 4), 1);
	CHECK_EQ(ioapic_mmio_read(io, 0x12, 1), 0x17);
	CHECK_EQ(ioapic_mmio_read(io, 0x10, 2), 0x0011);
	ioapic_destroy(io);
	lapic_set_destroy(s);
}

static void test_edge_routing(void)
{
	struct lapic_set *s = setup();
	struct lapic *a2 = lapic_get(s, 2);

	rte(4, 0x41, 2);                        /* edge, fixed, physical 2 */
	ioapic_set_irq(io, 4, 1);
	CHECK_EQ(lapic_pending(a2), 0x41);
	CHECK_EQ(fake_cpus[2].kicks, 1);
	CHECK_EQ(lapic_pending(lapic_get(s, 0)), -1);
	CHECK_EQ(take_irq(a2), 0x41);
	apic_wr(a2, 0xB0, 0);
	ioapic_set_irq(io, 4, 1);               /* no new edge */
	CHECK_EQ(lapic_pending(a2), -1);
	ioapic_set_irq(io, 4, 0);
	ioapic_set_irq(io, 4, 1);
	CHECK_EQ(take_irq(a2), 0x41);
	apic_wr(a2, 0xB0, 0);
	ioapic_set_irq(io, 4, 0);

	/* Masked edge pins lose the edge. */
	rte(5, 0x10042, 1);
	ioapic_set_irq(io, 5, 1);
	CHECK_EQ(lapic_pending(lapic_get(s, 1)), -1);
	rte(5, 0x42, 1);
	CHECK_EQ(lapic_pending(lapic_get(s, 1)), -1);
	ioapic_set_irq(io, 5, 0);

	/* Logical flat: CPUs 0 and 3. */
	rte(6, 0x843, 0x09);
	ioapic_set_irq(io, 6, 1);
	CHECK_EQ(lapic_pending(lapic_get(s, 0)), 0x43);
	CHECK_EQ(lapic_pending(lapic_get(s, 3)), 0x43);
	CHECK_EQ(lapic_pending(lapic_get(s, 1)), -1);
	CHECK_EQ(lapic_pending(lapic_get(s, 2)), -1);
	ioapic_set_irq(io, 6, 0);

	/* Lowest priority among all four: only one gets it. */
	rte(7, 0x944, 0x0F);
	ioapic_set_irq(io, 7, 1);
	CHECK_EQ(IRR(lapic_get(s, 0), 0x44) + IRR(lapic_get(s, 1), 0x44) +
		 IRR(lapic_get(s, 2), 0x44) + IRR(lapic_get(s, 3), 0x44), 1);
	ioapic_set_irq(io, 7, 0);

	/* NMI pin, ExtINT pin. */
	rte(8, 0x400, 1);
	ioapic_set_irq(io, 8, 1);
	CHECK_EQ(fake_cpus[1].nmis, 1);
	rte(0, 0x700, 2);
	ioapic_set_irq(io, 0, 1);
	CHECK_EQ(lapic_pending(a2), LAPIC_PENDING_EXTINT);
	CHECK_EQ(lapic_ack(a2), 0xFF);          /* no 8259: spurious vector */
	ioapic_destroy(io);
	lapic_set_destroy(s);
}

static void test_level(void)
{
	struct lapic_set *s = setup();
	struct lapic *a1 = lapic_get(s, 1);

	rte(9, 0x8050, 1);                      /* level, vector 0x50, CPU 1 */
	ioapic_set_irq(io, 9, 1);
	CHECK_EQ(lapic_pending(a1), 0x50);
	CHECK_EQ(TMR(a1, 0x50), 1);
	CHECK_EQ(io_rd(0x22) & 0x4000, 0x4000); /* remote IRR */
	CHECK_EQ(take_irq(a1), 0x50);
	ioapic_set_irq(io, 9, 1);               /* still held: not re-sent */
	CHECK_EQ(IRR(a1, 0x50), 0);
	apic_wr(a1, 0xB0, 0);                   /* EOI broadcast: line still high */
	CHECK_EQ(IRR(a1, 0x50), 1);
	CHECK_EQ(io_rd(0x22) & 0x4000, 0x4000);
	CHECK_EQ(take_irq(a1), 0x50);
	ioapic_set_irq(io, 9, 0);               /* device satisfied */
	apic_wr(a1, 0xB0, 0);
	CHECK_EQ(io_rd(0x22) & 0x4000, 0);
	CHECK_EQ(lapic_pending(a1), -1);

	/* A level line asserted while masked is delivered on unmask. */
	rte(10, 0x18051, 1);
	ioapic_set_irq(io, 10, 1);
	CHECK_EQ(lapic_pending(a1), -1);
	rte(10, 0x8051, 1);
	CHECK_EQ(lapic_pending(a1), 0x51);
	CHECK_EQ(take_irq(a1), 0x51);

	/* Linux's EOI for version 0x11 without the broadcast: flip to edge. */
	CHECK_EQ(io_rd(0x24) & 0x4000, 0x4000);
	rte(10, 0x10051, 1);                    /* masked edge: remote IRR gone */
	CHECK_EQ(io_rd(0x24) & 0x4000, 0);
	ioapic_set_irq(io, 10, 0);
	rte(10, 0x8051, 1);
	CHECK_EQ(io_rd(0x24) & 0x4000, 0);

	/* The v0x20 EOI register works too. */
	ioapic_set_irq(io, 10, 1);
	CHECK_EQ(io_rd(0x24) & 0x4000, 0x4000);
	ioapic_set_irq(io, 10, 0);
	ioapic_mmio_write(io, 0x40, 4, 0x51);
	CHECK_EQ(io_rd(0x24) & 0x4000, 0);
	ioapic_destroy(io);
	lapic_set_destroy(s);
}

static void test_odd_mmio(void)
{
	struct lapic_set *s = setup();
	struct bus mmio;
	static const unsigned sizes[] = { 1, 2, 4, 8 };

	bus_init(&mmio, "mmio");
	CHECK_EQ(ioapic_attach(io, &mmio), 0);
	bus_write(&mmio, IOAPIC_BASE, 4, 1);
	CHECK_EQ(bus_read(&mmio, IOAPIC_BASE + 0x10, 4), 0x00170011);
	for (uint64_t off = 0; off < IOAPIC_MMIO_SIZE; off++)
		for (unsigned z = 0; z < 4; z++) {
			if (off + sizes[z] > IOAPIC_MMIO_SIZE)
				continue;
			(void)bus_read(&mmio, IOAPIC_BASE + off, sizes[z]);
			bus_write(&mmio, IOAPIC_BASE + off, sizes[z], off * 0x01010101u);
		}
	for (unsigned pin = 0; pin < 24; pin++)
		ioapic_set_irq(io, pin, 1);
	ioapic_set_irq(io, 24, 1);
	ioapic_set_irq(io, 1000, 1);
	CHECK(1);
	ioapic_detach(io, &mmio);
	bus_destroy(&mmio);
	ioapic_destroy(io);
	lapic_set_destroy(s);
}

int main(void)
{
	test_registers();
	test_edge_routing();
	test_level();
	test_odd_mmio();
	return test_done();
}
