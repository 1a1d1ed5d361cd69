/* The glue: GSI routing (ISA to PIC and IOAPIC, IRQ0 on pin 2, PCI to the
 * IOAPIC), the 8259 through LINT0 (ExtINT), the PIT through the IOAPIC on
 * a fake clock, MSIs, the shared LAPIC page, EOI broadcast, deadlines, and
 * a two-thread IPI storm for locking. */
#include <pthread.h>

#include "fake_cpu.h"
#include "hw/irqchip_emu.h"
#include "mem/layout.h"
#include "tap.h"

static struct bus pio, mmio;

static void io_wr(unsigned reg, uint32_t v)
{
	bus_write(&mmio, IOAPIC_BASE, 4, reg);
	bus_write(&mmio, IOAPIC_BASE + 0x10, 4, v);
}

static uint32_t io_rd(unsigned reg)
{
	bus_write(&mmio, IOAPIC_BASE, 4, reg);
	return (uint32_t)bus_read(&mmio, IOAPIC_BASE + 0x10, 4);
}

static void rte(unsigned pin, uint32_t lo, uint8_t dest)
{
	io_wr(0x11 + 2 * pin, (uint32_t)dest << 24);
	io_wr(0x10 + 2 * pin, lo);
}

static void lapic_wr(unsigned reg, uint32_t v) { bus_write(&mmio, LAPIC_BASE + reg, 4, v); }
static uint32_t lapic_rd(unsigned reg) { return (uint32_t)bus_read(&mmio, LAPIC_BASE + reg, 4); }

static struct irqchip_emu *setup(unsigned ncpus)
{
	struct irqchip_emu *ic;

	fake_reset();
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	ic = irqchip_emu_create_clock(&pio, &mmio, ncpus, 25000000, &fake_ops,
				      fake_cpu_ptrs, fake_clock);
	for (unsigned i = 0; i < ncpus; i++) {
		irqchip_emu_vcpu_start(ic, i);
		lapic_wr(0xF0, 0x1FF);
	}
	irqchip_emu_vcpu_start(ic, 0);
	return ic;
}

static void teardown(struct irqchip_emu *ic)
{
	irqchip_emu_destroy(ic);
	CHECK_EQ(pio.nr, 0);                    /* every range released */
	CHECK_EQ(mmio.nr, 0);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}

static void test_routing(void)
{
	struct irqchip_emu *ic = setup(2);
	struct irq_chip *chip = irqchip_emu_irq_chip(ic);

	CHECK(irqchip_emu_create(&pio, &mmio, 2, 25000000, &fake_ops, fake_cpu_ptrs) == NULL);
	CHECK_EQ(io_rd(0), 2u << 24);           /* IOAPIC id after the LAPICs */

	/* ISA IRQ4 on IOAPIC pin 4 -> CPU 1. */
	rte(4, 0x34, 1);
	irq_pulse(chip, 4);
	CHECK_EQ(irqchip_emu_pending(ic, 1), 0x34);
	CHECK_EQ(irqchip_emu_ack(ic, 1), 0x34);
	CHECK_EQ(irqchip_emu_pending(ic, 0), -1); /* PIC: masked at power-on */

	/* GSI 0 arrives on pin 2; pin 0 is the 8259. */
	rte(2, 0x30, 0);
	irq_pulse(chip, 0);
	CHECK_EQ(irqchip_emu_pending(ic, 0), 0x30);
	CHECK_EQ(irqchip_emu_ack(ic, 0), 0x30);
	lapic_wr(0xB0, 0);

	/* PCI INTx, level, with the EOI broadcast from the LAPIC. */
	rte(17, 0x8061, 0);
	irq_set(chip, 17, 1);
	CHECK_EQ(irqchip_emu_ack(ic, 0), 0x61);
	lapic_wr(0xB0, 0);                      /* still asserted: again */
	CHECK_EQ(irqchip_emu_ack(ic, 0), 0x61);
	irq_set(chip, 17, 0);
	lapic_wr(0xB0, 0);
	CHECK_EQ(irqchip_emu_pending(ic, 0), -1);
	CHECK_EQ(io_rd(0x10 + 34) & 0x4000, 0);

	/* Not device lines: dropped, counted. */
	irq_set(chip, 2, 1);
	irq_set(chip, 24, 1);
	CHECK_EQ(ic->dropped, 2);

	/* MSI to CPU 1. */
	chip->msi(chip, 0xFEE01000, 0x4071);
	CHECK_EQ(irqchip_emu_ack(ic, 1), 0x71);
	chip->msi(chip, 0x12345678, 0x71);
	CHECK_EQ(ic->dropped, 3);

	/* The LAPIC page answers for the calling thread's vCPU. */
	irqchip_emu_vcpu_start(ic, 1);
	CHECK_EQ(lapic_rd(0x20), 1u << 24);
	irqchip_emu_vcpu_start(ic, 0);
	CHECK_EQ(lapic_rd(0x20), 0);
	CHECK(irqchip_emu_lapic(ic, 1) != NULL);
	CHECK(irqchip_emu_lapic(ic, 2) == NULL);
	CHECK_EQ(irqchip_emu_pending(ic, 2), -1);
	CHECK_EQ(irqchip_emu_ack(ic, 2), -1);
	irqchip_emu_poll(ic, 2, fake_now);
	teardown(ic);
}

static void test_pic_extint(void)
{
	struct irqchip_emu *ic = setup(1);
	struct irq_chip *chip = irqchip_emu_irq_chip(ic);
	static const uint8_t init[][2] = {
		{ 0x20, 0x11 }, { 0x21, 0x30 }, { 0x21, 0x04 }, { 0x21, 0x01 },
		{ 0xA0, 0x11 }, { 0xA1, 0x38 }, { 0xA1, 0x02 }, { 0xA1, 0x01 },
		{ 0x21, 0xF8 }, { 0xA1, 0xFF },
	};

	for (unsigned i = 0; i < sizeof(init) / sizeof(init[0]); i++)
		bus_write(&pio, init[i][0], 1, init[i][1]);
	irq_pulse(chip, 1);
	CHECK_EQ(irqchip_emu_pending(ic, 0), LAPIC_PENDING_EXTINT);
	CHECK_EQ(irqchip_emu_ack(ic, 0), 0x31);
	CHECK_EQ(irqchip_emu_pending(ic, 0), -1);
	bus_write(&pio, 0x20, 1, 0x20);
	/* IRQ0 from the PIT through the 8259 as well. */
	bus_write(&pio, 0x43, 1, 0x34);
	bus_write(&pio, 0x40, 1, 0xA9);
	bus_write(&pio, 0x40, 1, 0x04);
	CHECK(irqchip_emu_next_deadline_ns(ic, 0) < fake_now + 1000000);
	irqchip_emu_poll(ic, 0, fake_now + 1000000);
	CHECK_EQ(irqchip_emu_ack(ic, 0), 0x30);
	bus_write(&pio, 0x20, 1, 0x20);
	teardown(ic);
}

static void test_timers(void)
{
	struct irqchip_emu *ic = setup(2);
	uint64_t t0 = fake_now;

	CHECK_EQ(irqchip_emu_next_deadline_ns(ic, 0), IRQCHIP_NO_DEADLINE);
	/* PIT 1 kHz via IOAPIC pin 2 to CPU 1, polled by CPU 0's thread. */
	rte(2, 0x30, 1);
	bus_write(&pio, 0x43, 1, 0x34);
	bus_write(&pio, 0x40, 1, 0xA9);
	bus_write(&pio, 0x40, 1, 0x04);
	CHECK_EQ(irqchip_emu_next_deadline_ns(ic, 0), t0 + 999848);
	irqchip_emu_poll(ic, 0, t0 + 999848);
	CHECK_EQ(irqchip_emu_pending(ic, 1), 0x30);
	CHECK(fake_cpus[1].kicks >= 1);
	/* The LAPIC timer of CPU 0 comes first: the minimum is returned. */
	lapic_wr(0x3E0, 0xB);
	lapic_wr(0x320, 0xEF);
	lapic_wr(0x380, 250);                   /* 10 us */
	CHECK_EQ(irqchip_emu_next_deadline_ns(ic, 0), t0 + 10000);
	CHECK_EQ(irqchip_emu_next_deadline_ns(ic, 1),
		 t0 + (2386 * 1000000000ull + PIT_FREQ_HZ - 1) / PIT_FREQ_HZ);
	irqchip_emu_poll(ic, 0, t0 + 10000);
	CHECK_EQ(irqchip_emu_ack(ic, 0), 0xEF);
	teardown(ic);
}

/* Two vCPU threads IPI each other; each acks and EOIs its own. IRR holds
 * one bit per vector, so IPIs merge: count that nothing deadlocks and
 * that both received some. */
#define STORM 20000

struct storm {
	struct irqchip_emu *ic;
	unsigned me, got;
	int done;
	struct storm *peer;
};

static void drain(struct storm *st, struct lapic *a)
{
	if (lapic_pending(a) >= 0 && lapic_ack(a) >= 0) {
		st->got++;
		lapic_wr(0xB0, 0);
	}
}

static void *storm_thread(void *arg)
{
	struct storm *st = arg;
	struct lapic *a = irqchip_emu_lapic(st->ic, st->me);

	irqchip_emu_vcpu_start(st->ic, st->me);
	for (unsigned sent = 0; sent < STORM; sent++) {
		lapic_wr(0x310, (uint32_t)(1 - st->me) << 24);
		lapic_wr(0x300, 0x4040 + st->me);
		drain(st, a);
	}
	__atomic_store_n(&st->done, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&st->peer->done, __ATOMIC_ACQUIRE))
		drain(st, a);
	while (lapic_pending(a) >= 0)
		drain(st, a);
	return NULL;
}

static void test_storm(void)
{
	struct irqchip_emu *ic = setup(2);
	struct storm st[2] = { { ic, 0, 0, 0, &st[1] }, { ic, 1, 0, 0, &st[0] } };
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, storm_thread, &st[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CHECK(st[0].got >= 1 && st[0].got <= STORM);
	CHECK(st[1].got >= 1 && st[1].got <= STORM);
	CHECK_EQ(IRR(irqchip_emu_lapic(ic, 0), 0x41), 0);
	CHECK_EQ(ISR(irqchip_emu_lapic(ic, 0), 0x41), 0);
	teardown(ic);
}

int main(void)
{
	test_routing();
	test_pic_extint();
	test_timers();
	test_storm();
	return test_done();
}
