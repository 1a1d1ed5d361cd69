/* ACPI PM block: S5, reset register, PM timer, power button / SCI, W1C. */
#include <errno.h>
#include <time.h>

#include "hw/acpi_pm.h"
#include "hw/pci.h"
#include "mem/bus.h"
#include "mem/layout.h"
#include "fakes.h"
#include "tap.h"

#define PM1_STS  (PORT_ACPI_PM1_EVT + 0)
#define PM1_EN   (PORT_ACPI_PM1_EVT + 2)
#define PM1_CNT  PORT_ACPI_PM1_CNT
#define GPE0_STS (PORT_ACPI_GPE0 + 0)
#define GPE0_EN  (PORT_ACPI_GPE0 + 2)

static struct bus pio, mmio;
static struct fake_irq irq;
static struct fake_ctl ctl;

static int sci(void)
{
	return irq.level[IRQ_ACPI_SCI];
}

static void test_sleep(void)
{
	/* acpica/hwsleep.c: SLP_TYP first, then SLP_TYP | SLP_EN. */
	uint16_t typ5 = ACPI_S5_SLP_TYP << 10, typ3 = 3 << 10;

	CHECK_EQ(bus_read(&pio, PM1_CNT, 2) & 1, 1);          /* SCI_EN */
	bus_write(&pio, PM1_CNT, 2, 0);
	CHECK_EQ(bus_read(&pio, PM1_CNT, 2) & 1, 1);          /* stays set */
	bus_write(&pio, PM1_CNT, 2, typ3 | 1);
	bus_write(&pio, PM1_CNT, 2, typ3 | 1 | 0x2000);       /* S3: ignored */
	CHECK_EQ(ctl.poweroff, 0);
	bus_write(&pio, PM1_CNT, 2, typ5 | 1);
	CHECK_EQ(ctl.poweroff, 0);
	CHECK_EQ(bus_read(&pio, PM1_CNT, 2), typ5 | 1);
	bus_write(&pio, PM1_CNT, 2, typ5 | 1 | 0x2000);
	CHECK_EQ(ctl.poweroff, 1);
	CHECK_EQ(bus_read(&pio, PM1_CNT, 2) & 0x2000, 0);     /* SLP_EN write-only */
	/* The high byte on its own, as a byte-wide register access. */
	bus_write(&pio, PM1_CNT + 1, 1, (typ5 | 0x2000) >> 8);
	CHECK_EQ(ctl.poweroff, 2);
	/* The low byte never sleeps. */
	bus_write(&pio, PM1_CNT, 1, 0xFF);
	CHECK_EQ(ctl.poweroff, 2);
	CHECK_EQ(ctl.reset, 0);
}

static void test_reset(struct pci_host *h)
{
	/* Through the PCI host's 0xCF8-0xCFB passthrough. */
	bus_write(&pio, PORT_RESET, 1, 0x02);
	CHECK_EQ(ctl.reset, 0);
	CHECK_EQ(bus_read(&pio, PORT_RESET, 1), 0x02);
	bus_write(&pio, PORT_RESET, 1, 0x06);
	CHECK_EQ(ctl.reset, 1);
	bus_write(&pio, PORT_RESET, 1, 0x0E);
	CHECK_EQ(ctl.reset, 2);
	/* A dword at 0xCF8 is CONFIG_ADDRESS, not a reset. */
	bus_write(&pio, PORT_PCI_CONF_ADDR, 4, 0x80000004);
	CHECK_EQ(ctl.reset, 2);
	CHECK_EQ(bus_read(&pio, PORT_PCI_CONF_ADDR, 4), 0x80000004);
	/* A word over 0xCF8/0xCF9 reaches the reset register's byte. */
	bus_write(&pio, PORT_PCI_CONF_ADDR, 2, 0x0400);
	CHECK_EQ(ctl.reset, 3);
	CHECK_EQ(bus_read(&pio, PORT_PCI_CONF_ADDR + 2, 1), 0xFF);
	(void)h;
}

static void test_timer(struct acpi_pm *pm)
{
	uint32_t prev = bus_read(&pio, PORT_ACPI_PM_TMR, 4), t;
	struct timespec ts = { 0, 2000000 };
	bool monotonic = true;
	uint64_t t0, t1, ticks;

	CHECK(prev <= 0xFFFFFF);
	for (unsigned i = 0; i < 1000; i++) {
		t = bus_read(&pio, PORT_ACPI_PM_TMR, 4);
		if (t > 0xFFFFFF || (t < prev && prev - t < 0x800000))
			monotonic = false;   /* allow the 24-bit wrap only */
		prev = t;
	}
	CHECK(monotonic);
	/* About 3.58 ticks per microsecond over a 2 ms sleep. */
	t0 = acpi_pm_timer_now(pm);
	nanosleep(&ts, NULL);
	t1 = acpi_pm_timer_now(pm);
	ticks = (t1 - t0) & 0xFFFFFF;
	CHECK(ticks >= 7000 && ticks < 3579545 / 2);
	/* Byte reads assemble the same 24-bit value's bytes; writes ignored. */
	CHECK_EQ(bus_read(&pio, PORT_ACPI_PM_TMR + 3, 1), 0);
	bus_write(&pio, PORT_ACPI_PM_TMR, 4, 0);
	CHECK(bus_read(&pio, PORT_ACPI_PM_TMR, 4) <= 0xFFFFFF);
}

static void test_power_button(struct acpi_pm *pm)
{
	/* Clear whatever TMR_STS may have latched meanwhile. */
	bus_write(&pio, PM1_STS, 2, 0xFFFF);
	CHECK_EQ(sci(), 0);
	acpi_pm_power_button(pm);
	CHECK_EQ(bus_read(&pio, PM1_STS, 2) & ACPI_PM1_PWRBTN_STS, ACPI_PM1_PWRBTN_STS);
	CHECK_EQ(sci(), 0);                                   /* not enabled */
	bus_write(&pio, PM1_EN, 2, ACPI_PM1_PWRBTN_STS);
	CHECK_EQ(sci(), 1);
	CHECK_EQ(bus_read(&pio, PM1_EN, 2), ACPI_PM1_PWRBTN_STS);
	/* W1C: writing 0 changes nothing; writing 1 clears just that bit. */
	bus_write(&pio, PM1_STS, 2, 0);
	CHECK_EQ(sci(), 1);
	bus_write(&pio, PM1_STS, 2, ACPI_PM1_WAK_STS);
	CHECK_EQ(sci(), 1);
	bus_write(&pio, PM1_STS + 1, 1, ACPI_PM1_PWRBTN_STS >> 8);
	CHECK_EQ(bus_read(&pio, PM1_STS, 2) & ACPI_PM1_PWRBTN_STS, 0);
	CHECK_EQ(sci(), 0);
	/* Pressed while enabled: level straight up; disabling drops it. */
	acpi_pm_power_button(pm);
	CHECK_EQ(sci(), 1);
	bus_write(&pio, PM1_EN, 2, 0);
	CHECK_EQ(sci(), 0);
	/* A dword write to the event block: clear STS and set EN together. */
	bus_write(&pio, PORT_ACPI_PM1_EVT, 4, (uint32_t)ACPI_PM1_PWRBTN_STS << 16 |
		  ACPI_PM1_PWRBTN_STS);
	CHECK_EQ(bus_read(&pio, PORT_ACPI_PM1_EVT, 4) >> 16, ACPI_PM1_PWRBTN_STS);
	CHECK_EQ(sci(), 0);
	bus_write(&pio, PM1_EN, 2, 0);

	/* GPE0: same rules. */
	acpi_pm_set_gpe(pm, 3);
	acpi_pm_set_gpe(pm, 99);                              /* ignored */
	CHECK_EQ(bus_read(&pio, GPE0_STS, 2), 0x8);
	CHECK_EQ(sci(), 0);
	bus_write(&pio, GPE0_EN, 1, 0x8);
	CHECK_EQ(sci(), 1);
	bus_write(&pio, GPE0_STS, 1, 0x8);
	CHECK_EQ(bus_read(&pio, GPE0_STS, 2), 0);
	CHECK_EQ(sci(), 0);
	bus_write(&pio, GPE0_EN, 2, 0);
	CHECK_EQ(irq.bad_gsi, 0);
}

static void test_odd_accesses(void)
{
	static const uint16_t ports[] = { PORT_ACPI_PM1_EVT, PORT_ACPI_PM1_CNT,
					  PORT_ACPI_PM_TMR, PORT_ACPI_GPE0 };
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	uint64_t s = 777;

	for (unsigned i = 0; i < 20000; i++) {
		uint64_t r = fake_rand(&s);
		uint16_t port = ports[r & 3] + ((r >> 2) & 3);
		unsigned size = sizes[(r >> 4) & 3];

		if (r & (1 << 8)) {
			uint64_t v = fake_rand(&s) & ~(uint64_t)0x20002000; /* no SLP_EN */
			bus_write(&pio, port, size, v);
		} else {
			(void)bus_read(&pio, port, size);
		}
	}
	CHECK_EQ(irq.bad_gsi, 0);
}

int main(void)
{
	struct acpi_pm *pm = NULL, *pm2 = NULL;
	struct pci_host *h = NULL;

	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	fake_irq_init(&irq);
	fake_ctl_init(&ctl);
	CHECK_EQ(pci_host_create(&h, &pio, &mmio, &irq.chip), 0);
	CHECK_EQ(acpi_pm_create(&pm, &pio, &irq.chip, &ctl.ctl, h), 0);
	CHECK_EQ(acpi_pm_create(&pm2, &pio, &irq.chip, &ctl.ctl, NULL), -EEXIST);
	test_sleep();
	test_reset(h);
	test_timer(pm);
	test_power_button(pm);
	test_odd_accesses();
	acpi_pm_destroy(pm);
	pci_host_destroy(h);
	CHECK_EQ(pio.nr, 0);

	/* Without a PCI host the reset register sits on the bus itself. */
	fake_ctl_init(&ctl);
	CHECK_EQ(acpi_pm_create(&pm, &pio, &irq.chip, &ctl.ctl, NULL), 0);
	bus_write(&pio, PORT_RESET, 1, 0x06);
	CHECK_EQ(ctl.reset, 1);
	acpi_pm_destroy(pm);
	CHECK_EQ(pio.nr, 0);
	bus_destroy(&pio);
	bus_destroy(&mmio);
	return test_done();
}
