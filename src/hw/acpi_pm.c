/*
 * ACPI PM registers. The machine is always in ACPI mode (the FADT's
 * SMI_CMD is 0), so SCI_EN reads 1 and cannot be cleared.
 *
 * Every register is handled as bytes: a write merges the bytes it covers
 * into the register and then applies the register's semantics, so a guest
 * that writes PM1_CNT's high byte on its own still sleeps, and a dword
 * write to the event block updates PM1_STS and PM1_EN together.
 *
 * The PM timer is derived from the host's monotonic clock (the same clock
 * the CPU engines derive the TSC from), so it ticks in step with the TSC
 * as Linux's clocksource watchdog expects. TMR_STS (bit 23 of the timer
 * toggled) is computed when PM1_STS is read; there is no timer thread, so
 * an enabled TMR_STS reaches the SCI only on the next access.
 */
#include "hw/acpi_pm.h"

#include <errno.h>
#include <stdlib.h>

#include "hw/pci.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mem/layout.h"

#define PM1_EN_MASK  0x4721
#define PM1_CNT_KEEP (ACPI_PM1_SCI_EN | 0x0002 | ACPI_PM1_SLP_TYP_MASK)

#define RESET_CTL_RST_CPU 0x04
#define RESET_CTL_KEEP    0x0A   /* SYS_RST, FULL_RST */

#define TIMER_MASK 0xFFFFFFu

static uint64_t timer_ticks(const struct acpi_pm *pm)
{
	uint64_t ns = now_ns() - pm->timer_base_ns;

	return (uint64_t)((unsigned __int128)ns * ACPI_PM_TIMER_HZ / 1000000000u);
}

/* Set TMR_STS if bit 23 of the timer toggled since we last looked. */
static void sample_timer_status(struct acpi_pm *pm)
{
	uint64_t period = timer_ticks(pm) >> 23;

	if (period != pm->tmr_seen_period) {
		pm->tmr_seen_period = period;
		pm->pm1_sts |= ACPI_PM1_TMR_STS;
	}
}

/* The SCI is level-triggered: high while an enabled event is pending. */
static void update_sci(struct acpi_pm *pm)
{
	int level = (pm->pm1_cnt & ACPI_PM1_SCI_EN) &&
		    ((pm->pm1_sts & pm->pm1_en) || (pm->gpe0_sts & pm->gpe0_en));

	if (level != pm->sci_level) {
		pm->sci_level = level;
		irq_set(pm->irq, IRQ_ACPI_SCI, level);
	}
}

/*
 * Merge the bytes of an (off, size) access that fall on the 16-bit register
 * at reg_off into old; *written gets the mask of the bytes it covered.
 */
static uint16_t merge16(uint16_t old, unsigned reg_off, uint64_t off,
			unsigned size, uint64_t val, uint16_t *written)
{
	uint16_t out = old;

	*written = 0;
	for (unsigned i = 0; i < size && i < 8; i++) {
		uint64_t at = off + i;
		if (at < reg_off || at >= reg_off + 2)
			continue;
		unsigned shift = 8 * (at - reg_off);
		out = (out & ~(0xFF << shift)) | ((val >> (8 * i)) & 0xFF) << shift;
		*written |= 0xFF << shift;
	}
	return out;
}

static uint64_t regs_read(const uint16_t *regs, unsigned nregs, uint64_t off,
			  unsigned size)
{
	uint64_t val = 0;

	for (unsigned i = 0; i < size && i < 8; i++) {
		uint64_t at = off + i;
		uint8_t b = 0xFF;
		if (at < 2 * nregs)
			b = regs[at / 2] >> (8 * (at % 2));
		val |= (uint64_t)b << (8 * i);
	}
	return val;
}

/* A status/enable pair: W1C status at +0, enable at +2. */
static void sts_en_write(uint16_t *sts, uint16_t *en, uint16_t en_mask,
			 uint64_t off, unsigned size, uint64_t val)
{
	uint16_t wr, v;

	v = merge16(0, 0, off, size, val, &wr);
	*sts &= ~(v & wr);
	v = merge16(*en, 2, off, size, val, &wr);
	*en = v & en_mask;
}

static uint64_t evt_read(void *opaque, uint64_t off, unsigned size)
{
	struct acpi_pm *pm = opaque;
	uint16_t regs[2];
	uint64_t val;

	pthread_mutex_lock(&pm->lock);
	sample_timer_status(pm);
	update_sci(pm);
	regs[0] = pm->pm1_sts;
	regs[1] = pm->pm1_en;
	val = regs_read(regs, 2, off, size);
	pthread_mutex_unlock(&pm->lock);
	return val;
}

static void evt_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct acpi_pm *pm = opaque;

	pthread_mutex_lock(&pm->lock);
	sample_timer_status(pm);
	sts_en_write(&pm->pm1_sts, &pm->pm1_en, PM1_EN_MASK, off, size, val);
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

static uint64_t cnt_read(void *opaque, uint64_t off, unsigned size)
{
	struct acpi_pm *pm = opaque;
	uint64_t val;

	pthread_mutex_lock(&pm->lock);
	val = regs_read(&pm->pm1_cnt, 1, off, size);
	pthread_mutex_unlock(&pm->lock);
	return val;
}

static void cnt_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct acpi_pm *pm = opaque;
	bool poweroff = false;
	unsigned typ = 0;
	uint16_t wr, v;

	pthread_mutex_lock(&pm->lock);
	v = merge16(pm->pm1_cnt, 0, off, size, val, &wr);
	if ((wr & ACPI_PM1_SLP_EN) && (v & ACPI_PM1_SLP_EN)) {
		typ = (v & ACPI_PM1_SLP_TYP_MASK) >> ACPI_PM1_SLP_TYP_SHIFT;
		poweroff = typ == ACPI_S5_SLP_TYP;
		if (!poweroff)
			log_info("acpi: guest asked for sleep type %u; ignored", typ);
	}
	/* SLP_EN and GBL_RLS are write-only; SCI_EN is fixed at 1. */
	pm->pm1_cnt = (v & PM1_CNT_KEEP) | ACPI_PM1_SCI_EN;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	if (poweroff) {
		log_info("acpi: guest entered S5: power off");
		if (pm->ctl)
			pm->ctl->request(pm->ctl, MACHINE_POWEROFF);
	}
}

uint32_t acpi_pm_timer_now(struct acpi_pm *pm)
{
	return timer_ticks(pm) & TIMER_MASK;
}

static uint64_t tmr_read(void *opaque, uint64_t off, unsigned size)
{
	struct acpi_pm *pm = opaque;
	uint32_t t = acpi_pm_timer_now(pm);
	uint64_t val = 0;

	/* Bytes past the 4-byte register read as zero: the timer is 32 bits. */
	for (unsigned i = 0; i < size && i < 8; i++)
		if (off + i < 4)
			val |= (uint64_t)((t >> (8 * (off + i))) & 0xFF) << (8 * i);
	return val;
}

static void ignore_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
}

static uint64_t gpe_read(void *opaque, uint64_t off, unsigned size)
{
	struct acpi_pm *pm = opaque;
	uint16_t regs[2];
	uint64_t val;

	pthread_mutex_lock(&pm->lock);
	regs[0] = pm->gpe0_sts;
	regs[1] = pm->gpe0_en;
	val = regs_read(regs, 2, off, size);
	pthread_mutex_unlock(&pm->lock);
	return val;
}

static void gpe_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct acpi_pm *pm = opaque;

	pthread_mutex_lock(&pm->lock);
	sts_en_write(&pm->gpe0_sts, &pm->gpe0_en, 0xFFFF, off, size, val);
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

/*
 * Reset control register. RST_CPU (bit 2) written as 1 resets the machine;
 * Linux writes 0x02 then 0x06, and the FADT's RESET_VALUE is 0x06.
 * port_base is the port that offset 0 of the access stands for.
 */
static uint64_t reset_read_at(struct acpi_pm *pm, uint64_t port_base,
			      uint64_t off, unsigned size)
{
	uint64_t val = 0;

	pthread_mutex_lock(&pm->lock);
	for (unsigned i = 0; i < size && i < 8; i++) {
		uint8_t b = port_base + off + i == PORT_RESET ? pm->reset_ctl : 0xFF;
		val |= (uint64_t)b << (8 * i);
	}
	pthread_mutex_unlock(&pm->lock);
	return val;
}

static void reset_write_at(struct acpi_pm *pm, uint64_t port_base,
			   uint64_t off, unsigned size, uint64_t val)
{
	bool reset = false;

	pthread_mutex_lock(&pm->lock);
	for (unsigned i = 0; i < size && i < 8; i++) {
		uint8_t b = val >> (8 * i);
		if (port_base + off + i != PORT_RESET)
			continue;
		pm->reset_ctl = b & RESET_CTL_KEEP;
		if (b & RESET_CTL_RST_CPU)
			reset = true;
	}
	pthread_mutex_unlock(&pm->lock);
	if (reset) {
		log_info("acpi: guest wrote the reset register: reset");
		if (pm->ctl)
			pm->ctl->request(pm->ctl, MACHINE_RESET);
	}
}

static uint64_t reset_read(void *opaque, uint64_t off, unsigned size)
{
	return reset_read_at(opaque, PORT_RESET, off, size);
}

static void reset_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	reset_write_at(opaque, PORT_RESET, off, size, val);
}

static uint64_t cf8_reset_read(void *opaque, uint64_t off, unsigned size)
{
	return reset_read_at(opaque, PORT_PCI_CONF_ADDR, off, size);
}

static void cf8_reset_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	reset_write_at(opaque, PORT_PCI_CONF_ADDR, off, size, val);
}

static const struct bus_ops evt_ops = { .read = evt_read, .write = evt_write };
static const struct bus_ops cnt_ops = { .read = cnt_read, .write = cnt_write };
static const struct bus_ops tmr_ops = { .read = tmr_read, .write = ignore_write };
static const struct bus_ops gpe_ops = { .read = gpe_read, .write = gpe_write };
static const struct bus_ops reset_ops = { .read = reset_read, .write = reset_write };
static const struct bus_ops cf8_reset_ops = {
	.read = cf8_reset_read, .write = cf8_reset_write,
};

static const struct {
	uint16_t port, len;
	const struct bus_ops *ops;
	const char *name;
} pm_ranges[] = {
	{ PORT_ACPI_PM1_EVT, 4, &evt_ops, "acpi-pm1-evt" },
	{ PORT_ACPI_PM1_CNT, 2, &cnt_ops, "acpi-pm1-cnt" },
	{ PORT_ACPI_PM_TMR, 4, &tmr_ops, "acpi-pm-tmr" },
	{ PORT_ACPI_GPE0, 4, &gpe_ops, "acpi-gpe0" },
};

int acpi_pm_create(struct acpi_pm **out, struct bus *pio, struct irq_chip *irq,
		   struct machine_ctl *ctl, struct pci_host *pci)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));
	unsigned i;
	int err = 0;

	if (!pm)
		return -ENOMEM;
	pthread_mutex_init(&pm->lock, NULL);
	pm->pio = pio;
	pm->irq = irq;
	pm->ctl = ctl;
	pm->pci = pci;
	pm->pm1_cnt = ACPI_PM1_SCI_EN;
	pm->timer_base_ns = now_ns();
	for (i = 0; i < ARRAY_SIZE(pm_ranges); i++) {
		err = bus_add(pio, pm_ranges[i].port, pm_ranges[i].len,
			      pm_ranges[i].ops, pm, pm_ranges[i].name);
		if (err)
			goto fail;
	}
	if (pci) {
		pci_host_set_cf8_passthrough(pci, &cf8_reset_ops, pm);
	} else {
		err = bus_add(pio, PORT_RESET, 1, &reset_ops, pm, "reset");
		if (err)
			goto fail;
	}
	*out = pm;
	return 0;
fail:
	log_err("acpi-pm: port 0x%x: %d", i < ARRAY_SIZE(pm_ranges) ?
		pm_ranges[i].port : PORT_RESET, err);
	while (i--)
		bus_remove(pio, pm_ranges[i].port, pm);
	pthread_mutex_destroy(&pm->lock);
	free(pm);
	return err;
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	if (!pm)
		return;
	for (unsigned i = 0; i < ARRAY_SIZE(pm_ranges); i++)
		bus_remove(pm->pio, pm_ranges[i].port, pm);
	if (pm->pci)
		pci_host_set_cf8_passthrough(pm->pci, NULL, NULL);
	else
		bus_remove(pm->pio, PORT_RESET, pm);
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}

void acpi_pm_power_button(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->pm1_sts |= ACPI_PM1_PWRBTN_STS;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_set_gpe(struct acpi_pm *pm, unsigned bit)
{
	if (bit >= 16)
		return;
	pthread_mutex_lock(&pm->lock);
	pm->gpe0_sts |= 1u << bit;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}
