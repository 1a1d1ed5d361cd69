/* LAPIC: registers, TPR/PPR, EOI and ISR nesting, IPIs (fixed, NMI, INIT,
 * SIPI, shorthands, logical flat/cluster), timer one-shot/periodic/TSC-
 * deadline on a fake clock, LINT0 ExtINT/LINT1 NMI, odd MMIO accesses. */
#include "fake_cpu.h"
#include "hw/lapic.h"
#include "mem/layout.h"
#include "tap.h"

#define HZ 25000000ull                  /* 25 MHz crystal: 40 ns a tick */

static struct lapic_set *make(unsigned n)
{
	struct lapic_set *s;

	fake_reset();
	s = lapic_set_create(n, HZ, &fake_ops, fake_cpu_ptrs, fake_clock);
	for (unsigned i = 0; i < n; i++)
		apic_wr(lapic_get(s, i), 0xF0, 0x1FF);   /* software enable */
	return s;
}

static void send_fixed(struct lapic_set *s, unsigned dest, unsigned vector)
{
	struct apic_irq irq = { .vector = vector, .delivery = APIC_DM_FIXED,
				.dest = dest, .assert = true };

	lapic_deliver(s, &irq, NULL);
}

static void test_registers(void)
{
	struct lapic_set *s;
	struct lapic *a;

	fake_reset();
	s = lapic_set_create(2, HZ, &fake_ops, fake_cpu_ptrs, fake_clock);
	CHECK(lapic_set_create(0, HZ, &fake_ops, fake_cpu_ptrs, NULL) == NULL);
	a = lapic_get(s, 1);
	CHECK(lapic_get(s, 2) == NULL);
	CHECK_EQ(lapic_set_count(s), 2);
	CHECK_EQ(apic_rd(a, 0x20), 1u << 24);
	CHECK_EQ(apic_rd(a, 0x30), 0x00050014);
	CHECK_EQ(apic_rd(a, 0xE0), 0xFFFFFFFF);
	CHECK_EQ(apic_rd(a, 0xF0), 0xFF);
	for (unsigned r = 0x320; r <= 0x370; r += 0x10)
		CHECK_EQ(apic_rd(a, r), 0x10000);
	/* The BSP comes up in virtual-wire mode. */
	CHECK_EQ(apic_rd(lapic_get(s, 0), 0x350), 0x700);
	CHECK_EQ(apic_rd(lapic_get(s, 0), 0x360), 0x400);

	/* Software-disabled: LVT writes stay masked. */
	apic_wr(a, 0x350, 0x700);
	CHECK_EQ(apic_rd(a, 0x350), 0x10700);
	apic_wr(a, 0xF0, 0x1FF);
	apic_wr(a, 0x350, 0x8700 | 0x4000);     /* remote IRR is read-only */
	CHECK_EQ(apic_rd(a, 0x350), 0x8700);
	apic_wr(a, 0xF0, 0xFF);                 /* disabling masks the LVT */
	CHECK_EQ(apic_rd(a, 0x350), 0x18700);
	apic_wr(a, 0xF0, 0x1FF);

	apic_wr(a, 0xD0, 0x12345678);
	CHECK_EQ(apic_rd(a, 0xD0), 0x12000000);
	apic_wr(a, 0xE0, 0x0);
	CHECK_EQ(apic_rd(a, 0xE0), 0x0FFFFFFF);
	apic_wr(a, 0x80, 0x1F5);
	CHECK_EQ(apic_rd(a, 0x80), 0xF5);
	apic_wr(a, 0x3E0, 0xFF);
	CHECK_EQ(apic_rd(a, 0x3E0), 0xB);
	apic_wr(a, 0x30, 0);                    /* read-only */
	CHECK_EQ(apic_rd(a, 0x30), 0x00050014);

	/* Sub-register reads return the right bytes. */
	CHECK_EQ(lapic_mmio_read(a, 0x33, 1), 0x00);
	CHECK_EQ(lapic_mmio_read(a, 0x32, 1), 0x05);
	CHECK_EQ(lapic_mmio_read(a, 0x30, 2), 0x0014);
	CHECK_EQ(lapic_mmio_read(a, 0x30, 8), 0x00050014);
	CHECK_EQ(lapic_mmio_read(a, 0x34, 4), 0);
	lapic_set_destroy(s);
}

static void test_priority_eoi(void)
{
	struct lapic_set *s = make(2);
	struct lapic *a = lapic_get(s, 1);

	/* Software-disabled: accepted, not delivered. */
	apic_wr(a, 0xF0, 0xFF);
	send_fixed(s, 1, 0x51);
	CHECK_EQ(lapic_pending(a), -1);
	CHECK_EQ(IRR(a, 0x51), 1);
	apic_wr(a, 0xF0, 0x1FF);
	CHECK_EQ(lapic_pending(a), 0x51);

	apic_wr(a, 0x80, 0x60);                 /* TPR above the class: held */
	CHECK_EQ(lapic_pending(a), -1);
	CHECK_EQ(apic_rd(a, 0xA0), 0x60);
	apic_wr(a, 0x80, 0x50);                 /* same class: held */
	CHECK_EQ(lapic_pending(a), -1);
	unsigned k = fake_cpus[1].kicks;
	apic_wr(a, 0x80, 0x4F);
	CHECK_EQ(lapic_pending(a), 0x51);
	CHECK_EQ(fake_cpus[1].kicks, k + 1);    /* unblocked by the TPR: kicked */
	send_fixed(s, 1, 0x50);                 /* already pending: no kick */
	CHECK_EQ(fake_cpus[1].kicks, k + 1);
	apic_wr(a, 0x80, 0);
	CHECK_EQ(lapic_ack(a), 0x51);
	CHECK_EQ(apic_rd(a, 0xA0), 0x50);       /* PPR = ISR class */
	CHECK_EQ(ISR(a, 0x51), 1);
	CHECK_EQ(IRR(a, 0x51), 0);

	/* Same class waits; a higher class nests. */
	send_fixed(s, 1, 0x55);
	CHECK_EQ(lapic_pending(a), -1);
	send_fixed(s, 1, 0x61);
	CHECK_EQ(lapic_pending(a), 0x61);
	CHECK_EQ(take_irq(a), 0x61);
	CHECK_EQ(lapic_pending(a), -1);
	apic_wr(a, 0xB0, 0);                    /* EOI 0x61 */
	CHECK_EQ(lapic_pending(a), -1);         /* 0x51 still in service */
	CHECK_EQ(apic_rd(a, 0xA0), 0x50);
	apic_wr(a, 0xB0, 0);                    /* EOI 0x51 */
	CHECK_EQ(lapic_pending(a), 0x55);
	CHECK_EQ(take_irq(a), 0x55);
	apic_wr(a, 0xB0, 0);
	CHECK_EQ(take_irq(a), 0x50);
	apic_wr(a, 0xB0, 0);
	CHECK_EQ(apic_rd(a, 0xA0), 0);
	CHECK_EQ(lapic_ack(a), -1);

	/* Illegal vectors: dropped, ESR bits after an ESR write. */
	send_fixed(s, 1, 7);
	CHECK_EQ(lapic_pending(a), -1);
	apic_wr(a, 0x280, 0);
	CHECK_EQ(apic_rd(a, 0x280), 0x40);
	apic_wr(a, 0x310, 0);
	apic_wr(a, 0x300, 0x4005);              /* fixed IPI, vector 5 */
	apic_wr(a, 0x280, 0);
	CHECK_EQ(apic_rd(a, 0x280), 0x20);
	apic_wr(a, 0x280, 0);
	CHECK_EQ(apic_rd(a, 0x280), 0);
	lapic_set_destroy(s);
}

static void icr(struct lapic *a, uint8_t dest, uint32_t lo)
{
	apic_wr(a, 0x310, (uint32_t)dest << 24);
	apic_wr(a, 0x300, lo);
	CHECK_EQ(apic_rd(a, 0x300) & 0x1000, 0);        /* never busy */
}

static void test_ipis(void)
{
	struct lapic_set *s = make(4);
	struct lapic *a0 = lapic_get(s, 0), *a2 = lapic_get(s, 2);

	icr(a0, 2, 0x4031);                     /* fixed, physical */
	CHECK_EQ(lapic_pending(a2), 0x31);
	CHECK_EQ(fake_cpus[2].kicks, 1);
	CHECK_EQ(lapic_pending(lapic_get(s, 1)), -1);
	CHECK_EQ(take_irq(a2), 0x31);
	apic_wr(a2, 0xB0, 0);

	icr(a0, 0, 0x44032);                    /* self */
	CHECK_EQ(take_irq(a0), 0x32);
	apic_wr(a0, 0xB0, 0);
	CHECK_EQ(lapic_pending(a2), -1);

	icr(a0, 0, 0xC4033);                    /* all but self */
	CHECK_EQ(lapic_pending(a0), -1);
	for (unsigned i = 1; i < 4; i++) {
		CHECK_EQ(take_irq(lapic_get(s, i)), 0x33);
		apic_wr(lapic_get(s, i), 0xB0, 0);
	}
	icr(a0, 0, 0x84034);                    /* all including self */
	for (unsigned i = 0; i < 4; i++) {
		CHECK_EQ(take_irq(lapic_get(s, i)), 0x34);
		apic_wr(lapic_get(s, i), 0xB0, 0);
	}
	icr(a2, 0xFF, 0x4035);                  /* physical broadcast */
	for (unsigned i = 0; i < 4; i++) {
		CHECK_EQ(take_irq(lapic_get(s, i)), 0x35);
		apic_wr(lapic_get(s, i), 0xB0, 0);
	}

	icr(a0, 3, 0x4400);                     /* NMI */
	CHECK_EQ(fake_cpus[3].nmis, 1);
	CHECK_EQ(fake_cpus[0].nmis, 0);

	/* Linux's wakeup_secondary_cpu_via_init: INIT assert, de-assert, 2 SIPI. */
	apic_wr(lapic_get(s, 1), 0x80, 0x20);
	icr(a0, 1, 0xC500);                     /* INIT, level, assert */
	CHECK_EQ(fake_cpus[1].inits, 1);
	CHECK_EQ(apic_rd(lapic_get(s, 1), 0xF0), 0xFF);  /* reset by INIT */
	CHECK_EQ(apic_rd(lapic_get(s, 1), 0x80), 0);
	CHECK_EQ(apic_rd(lapic_get(s, 1), 0x20), 1u << 24);  /* ID kept */
	icr(a0, 1, 0x8500);                     /* INIT de-assert */
	CHECK_EQ(fake_cpus[1].inits, 1);
	icr(a0, 1, 0x4609);                     /* STARTUP 0x9000 */
	icr(a0, 1, 0x4609);
	CHECK_EQ(fake_cpus[1].sipis, 2);
	CHECK_EQ(fake_cpus[1].sipi_vector, 9);
	CHECK_EQ(fake_cpus[2].sipis, 0);
	CHECK(fake_cpus[1].kicks >= 3);

	/* INIT to all but self leaves the sender alone. */
	icr(a0, 0, 0xC4500);
	CHECK_EQ(fake_cpus[0].inits, 0);
	CHECK_EQ(fake_cpus[3].inits, 1);
	lapic_set_destroy(s);
}

static void test_logical(void)
{
	struct lapic_set *s = make(4);
	struct lapic *a0 = lapic_get(s, 0);
	unsigned got;

	/* Flat: LDR bit i for CPU i, as Linux's flat_init_apic_ldr. */
	for (unsigned i = 0; i < 4; i++) {
		apic_wr(lapic_get(s, i), 0xE0, 0xFFFFFFFF);
		apic_wr(lapic_get(s, i), 0xD0, 1u << (24 + i));
	}
	icr(a0, 0x0A, 0x4841);                  /* logical, CPUs 1 and 3 */
	CHECK_EQ(lapic_pending(lapic_get(s, 0)), -1);
	CHECK_EQ(take_irq(lapic_get(s, 1)), 0x41);
	CHECK_EQ(lapic_pending(lapic_get(s, 2)), -1);
	CHECK_EQ(take_irq(lapic_get(s, 3)), 0x41);

	/* Lowest priority: exactly one, the one with the lowest PPR. */
	apic_wr(lapic_get(s, 0), 0x80, 0x90);
	apic_wr(lapic_get(s, 2), 0x80, 0x80);
	icr(a0, 0x05, 0x4942);                  /* lowest, CPUs 0 and 2 */
	CHECK_EQ(lapic_pending(lapic_get(s, 0)), -1);
	CHECK_EQ(IRR(lapic_get(s, 0), 0x42), 0);
	CHECK_EQ(IRR(lapic_get(s, 2), 0x42), 1);
	got = 0;
	icr(a0, 0x0F, 0x4943);                  /* lowest of 4: PPRs 90 40 80 40 */
	for (unsigned i = 0; i < 4; i++)
		got += IRR(lapic_get(s, i), 0x43);
	CHECK_EQ(got, 1);
	CHECK_EQ(IRR(lapic_get(s, 1), 0x43), 1);

	/* Cluster: LDR = cluster << 4 | member bit. */
	for (unsigned i = 0; i < 4; i++) {
		apic_wr(lapic_get(s, i), 0xE0, 0x0FFFFFFF);
		apic_wr(lapic_get(s, i), 0xD0, ((i / 2) << 28) | (1u << (24 + i % 2)));
	}
	icr(a0, 0x12, 0x4850);                  /* cluster 1, member 1 -> CPU 3 */
	CHECK_EQ(IRR(lapic_get(s, 3), 0x50), 1);
	CHECK_EQ(IRR(lapic_get(s, 2), 0x50), 0);
	CHECK_EQ(IRR(lapic_get(s, 1), 0x50), 0);
	icr(a0, 0xF1, 0x4851);                  /* all clusters, member 0 */
	CHECK_EQ(IRR(lapic_get(s, 0), 0x51), 1);
	CHECK_EQ(IRR(lapic_get(s, 2), 0x51), 1);
	CHECK_EQ(IRR(lapic_get(s, 1), 0x51), 0);
	CHECK_EQ(IRR(lapic_get(s, 3), 0x51), 0);
	lapic_set_destroy(s);
}

static void test_timer(void)
{
	struct lapic_set *s = make(1);
	struct lapic *a = lapic_get(s, 0);
	uint64_t t0 = fake_now;

	CHECK_EQ(lapic_next_deadline_ns(a), LAPIC_NO_DEADLINE);
	/* One-shot, divide by 1: 25000 ticks = 1 ms. */
	apic_wr(a, 0x3E0, 0xB);
	apic_wr(a, 0x320, 0xEF);
	apic_wr(a, 0x380, 25000);
	CHECK_EQ(lapic_next_deadline_ns(a), t0 + 1000000);
	fake_now = t0 + 500000;
	CHECK_EQ(apic_rd(a, 0x390), 12500);
	lapic_poll(a, t0 + 999999);
	CHECK_EQ(lapic_pending(a), -1);
	lapic_poll(a, t0 + 1000000);
	CHECK_EQ(lapic_pending(a), 0xEF);
	CHECK_EQ(lapic_next_deadline_ns(a), LAPIC_NO_DEADLINE);
	CHECK_EQ(apic_rd(a, 0x390), 0);
	CHECK_EQ(take_irq(a), 0xEF);
	apic_wr(a, 0xB0, 0);

	/* Divide by 16 (TDCR 3): 1000 counts = 640 us. */
	fake_now = t0 = 2000000000ull;
	apic_wr(a, 0x3E0, 0x3);
	apic_wr(a, 0x380, 1000);
	CHECK_EQ(lapic_next_deadline_ns(a), t0 + 640000);
	fake_now = t0 + 320000;
	CHECK_EQ(apic_rd(a, 0x390), 500);
	apic_wr(a, 0x3E0, 0xB);                 /* now divide by 1: 500 left */
	CHECK_EQ(apic_rd(a, 0x390), 500);
	CHECK_EQ(lapic_next_deadline_ns(a), t0 + 320000 + 20000);
	apic_wr(a, 0x380, 0);                   /* stop */
	CHECK_EQ(lapic_next_deadline_ns(a), LAPIC_NO_DEADLINE);

	/* Periodic 1 ms; missed periods coalesce. */
	fake_now = t0 = 3000000000ull;
	apic_wr(a, 0x320, 0x200EE);
	apic_wr(a, 0x380, 25000);
	lapic_poll(a, t0 + 1000000);
	CHECK_EQ(take_irq(a), 0xEE);
	apic_wr(a, 0xB0, 0);
	CHECK_EQ(lapic_next_deadline_ns(a), t0 + 2000000);
	lapic_poll(a, t0 + 5500000);
	CHECK_EQ(take_irq(a), 0xEE);
	CHECK_EQ(take_irq(a), -1);
	apic_wr(a, 0xB0, 0);
	CHECK_EQ(lapic_next_deadline_ns(a), t0 + 6000000);
	fake_now = t0 + 5500000;
	CHECK_EQ(apic_rd(a, 0x390), 12500);
	/* Masked: keeps counting, no interrupt. */
	apic_wr(a, 0x320, 0x300EE);
	lapic_poll(a, t0 + 6000000);
	CHECK_EQ(lapic_pending(a), -1);
	CHECK_EQ(lapic_next_deadline_ns(a), t0 + 7000000);

	/* TSC-deadline (TSC = clock ns without tsc_to_ns). */
	fake_now = t0 = 4000000000ull;
	lapic_set_tsc_deadline(a, t0 + 100);    /* ignored: not in TSC mode */
	CHECK_EQ(lapic_get_tsc_deadline(a), 0);
	apic_wr(a, 0x320, 0x400ED);
	CHECK_EQ(lapic_next_deadline_ns(a), LAPIC_NO_DEADLINE);   /* disarmed */
	apic_wr(a, 0x380, 5);                   /* TMICT ignored */
	CHECK_EQ(apic_rd(a, 0x380), 0);
	lapic_set_tsc_deadline(a, t0 + 500);
	CHECK_EQ(lapic_get_tsc_deadline(a), t0 + 500);
	CHECK_EQ(lapic_next_deadline_ns(a), t0 + 500);
	lapic_poll(a, t0 + 499);
	CHECK_EQ(lapic_pending(a), -1);
	lapic_poll(a, t0 + 501);
	CHECK_EQ(take_irq(a), 0xED);
	apic_wr(a, 0xB0, 0);
	CHECK_EQ(lapic_get_tsc_deadline(a), 0);
	CHECK_EQ(lapic_next_deadline_ns(a), LAPIC_NO_DEADLINE);
	lapic_set_tsc_deadline(a, t0 + 900);
	lapic_set_tsc_deadline(a, 0);           /* disarm */
	CHECK_EQ(lapic_next_deadline_ns(a), LAPIC_NO_DEADLINE);
	lapic_set_tsc_deadline(a, t0 + 900);
	apic_wr(a, 0x320, 0x000ED);             /* leaving TSC mode disarms */
	CHECK_EQ(lapic_next_deadline_ns(a), LAPIC_NO_DEADLINE);
	lapic_set_destroy(s);
}

static int pic_vector = 0x30, pic_acks;
static uint8_t eoi_seen = 0;

static int fake_pic_ack(void *opaque)
{
	pic_acks++;
	return pic_vector;
}

static void fake_eoi(void *opaque, uint8_t vector)
{
	eoi_seen = vector;
}

static void test_lint_extint(void)
{
	struct lapic_set *s = make(2);
	struct lapic *a0 = lapic_get(s, 0), *a1 = lapic_get(s, 1);
	struct apic_irq irq = { .vector = 0x70, .delivery = APIC_DM_FIXED, .dest = 1,
				.level_trigger = true, .assert = true };

	lapic_set_hooks(s, fake_eoi, fake_pic_ack, NULL);
	lapic_set_lint(a0, 0, 1);               /* 8259 INT via virtual wire */
	CHECK_EQ(lapic_pending(a0), LAPIC_PENDING_EXTINT);
	apic_wr(a0, 0x80, 0xF0);                /* ExtINT ignores the TPR */
	CHECK_EQ(lapic_ack(a0), 0x30);
	CHECK_EQ(pic_acks, 1);
	lapic_set_lint(a0, 0, 0);
	CHECK_EQ(lapic_pending(a0), -1);
	apic_wr(a0, 0x350, 0x10700);            /* masked LINT0 */
	lapic_set_lint(a0, 0, 1);
	CHECK_EQ(lapic_pending(a0), -1);
	lapic_set_lint(a0, 0, 0);

	lapic_set_lint(a0, 1, 1);               /* LINT1 = NMI */
	lapic_set_lint(a0, 1, 1);               /* edge only */
	CHECK_EQ(fake_cpus[0].nmis, 1);
	lapic_set_lint(a0, 1, 0);

	/* An IOAPIC ExtINT message. */
	irq.delivery = APIC_DM_EXTINT;
	lapic_deliver(s, &irq, NULL);
	CHECK_EQ(lapic_pending(a1), LAPIC_PENDING_EXTINT);
	CHECK_EQ(lapic_ack(a1), 0x30);
	CHECK_EQ(lapic_pending(a1), -1);

	/* Level-triggered vector: EOI is broadcast with its vector. */
	irq.delivery = APIC_DM_FIXED;
	lapic_deliver(s, &irq, NULL);
	CHECK_EQ(TMR(a1, 0x70), 1);
	CHECK_EQ(take_irq(a1), 0x70);
	apic_wr(a1, 0xB0, 0);
	CHECK_EQ(eoi_seen, 0x70);

	/* Hardware-disabled: messages dropped, MMIO reads 0, INTR direct. */
	lapic_set_hw_enabled(a1, false);
	lapic_deliver(s, &irq, NULL);
	CHECK_EQ(lapic_pending(a1), -1);
	CHECK_EQ(apic_rd(a1, 0x30), 0);
	lapic_set_lint(a1, 0, 1);
	CHECK_EQ(lapic_pending(a1), LAPIC_PENDING_EXTINT);
	lapic_set_lint(a1, 0, 0);
	lapic_set_hw_enabled(a1, true);
	CHECK_EQ(apic_rd(a1, 0x30), 0x00050014);
	lapic_set_destroy(s);
}

static void test_msi(void)
{
	struct lapic_set *s = make(4);

	for (unsigned i = 0; i < 4; i++)
		apic_wr(lapic_get(s, i), 0xD0, 1u << (24 + i));
	CHECK_EQ(lapic_msi(s, 0xFEE02000, 0x41), 0);                /* phys 2 */
	CHECK_EQ(lapic_pending(lapic_get(s, 2)), 0x41);
	CHECK_EQ(lapic_msi(s, 0xFEE0C00C, 0x0142), 0);              /* logical 0xC, lowest */
	CHECK_EQ(IRR(lapic_get(s, 2), 0x42) + IRR(lapic_get(s, 3), 0x42), 1);
	CHECK_EQ(lapic_msi(s, 0xFEE01000, 0x0400), 0);              /* NMI */
	CHECK_EQ(fake_cpus[1].nmis, 1);
	CHECK_EQ(lapic_msi(s, 0xFEE03000, 0x8043), 0);              /* level */
	CHECK_EQ(TMR(lapic_get(s, 3), 0x43), 1);
	CHECK_EQ(lapic_msi(s, 0xFEEFF000, 0x44), 0);                /* broadcast */
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(IRR(lapic_get(s, i), 0x44), 1);
	CHECK(lapic_msi(s, 0xFED00000, 0x45) < 0);
	CHECK(lapic_msi(s, 0x1FEE00000ull, 0x45) < 0);
	lapic_set_destroy(s);
}

/* No access may crash or corrupt: every offset, every size, via the bus. */
static void test_odd_mmio(void)
{
	struct lapic_set *s = make(2);
	struct bus mmio;
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	static const uint64_t vals[] = { 0, ~0ull, 0x12345678 };

	bus_init(&mmio, "mmio");
	CHECK_EQ(lapic_set_attach(s, &mmio), 0);
	lapic_set_current(s, 1);
	CHECK_EQ(bus_read(&mmio, LAPIC_BASE + 0x20, 4), 1u << 24);
	lapic_set_current(s, 7);                /* out of range: LAPIC 0 */
	CHECK_EQ(bus_read(&mmio, LAPIC_BASE + 0x20, 4), 0);
	lapic_set_current(s, 0);
	for (unsigned v = 0; v < 3; v++)
		for (uint64_t off = 0; off < LAPIC_MMIO_SIZE; off++)
			for (unsigned z = 0; z < 4; z++) {
				if (off + sizes[z] > LAPIC_MMIO_SIZE)
					continue;
				(void)bus_read(&mmio, LAPIC_BASE + off, sizes[z]);
				bus_write(&mmio, LAPIC_BASE + off, sizes[z], vals[v]);
			}
	(void)lapic_mmio_read(lapic_get(s, 0), 0x5000, 4);
	lapic_mmio_write(lapic_get(s, 0), 0x5000, 4, 1);
	(void)lapic_mmio_read(lapic_get(s, 0), 0x20, 3);
	CHECK(1);
	lapic_set_detach(s, &mmio);
	bus_destroy(&mmio);
	lapic_set_destroy(s);
}

int main(void)
{
	test_registers();
	test_priority_eoi();
	test_ipis();
	test_logical();
	test_timer();
	test_lint_extint();
	test_msi();
	test_odd_mmio();
	return test_done();
}
