/*
 * Wiring of the emu engine's interrupt controllers; see irqchip_emu.h.
 */
#include "hw/irqchip_emu.h"

#include <stdlib.h>

#include "lib/log.h"

#define ISA_IRQS 16

static struct irqchip_emu *of(struct irq_chip *chip)
{
	return (struct irqchip_emu *)chip;     /* chip is the first member */
}

/* ISA IRQ n arrives on IOAPIC pin n, but the PIT's IRQ0 on pin 2. */
static unsigned ioapic_pin(unsigned gsi)
{
	return gsi == 0 ? 2 : gsi;
}

static void emu_set_level(struct irq_chip *chip, unsigned gsi, int level)
{
	struct irqchip_emu *ic = of(chip);

	if (gsi == 2 || gsi >= IOAPIC_PINS) {
		if (__atomic_fetch_add(&ic->dropped, 1, __ATOMIC_RELAXED) == 0)
			log_warn("irqchip: GSI %u is not a device line", gsi);
		return;
	}
	if (gsi < ISA_IRQS)
		pic_set_irq(ic->pic, gsi, level);
	ioapic_set_irq(ic->ioapic, ioapic_pin(gsi), level);
}

static void emu_msi(struct irq_chip *chip, uint64_t addr, uint32_t data)
{
	struct irqchip_emu *ic = of(chip);

	if (lapic_msi(ic->lapics, addr, data) < 0 &&
	    __atomic_fetch_add(&ic->dropped, 1, __ATOMIC_RELAXED) == 0)
		log_warn("irqchip: MSI to 0x%llx dropped", (unsigned long long)addr);
}

/* The 8259's INT pin: LINT0 of the BSP, and IOAPIC pin 0. */
static void pic_int(void *opaque, int level)
{
	struct irqchip_emu *ic = opaque;

	lapic_set_lint(lapic_get(ic->lapics, 0), 0, level);
	if (ic->ioapic)
		ioapic_set_irq(ic->ioapic, 0, level);
}

static void pit_irq0(void *opaque, int level)
{
	emu_set_level(&((struct irqchip_emu *)opaque)->chip, 0, level);
}

static void lapic_eoi(void *opaque, uint8_t vector)
{
	ioapic_eoi(((struct irqchip_emu *)opaque)->ioapic, vector);
}

static int lapic_extint_ack(void *opaque)
{
	return pic_ack(((struct irqchip_emu *)opaque)->pic);
}

void irqchip_emu_destroy(struct irqchip_emu *ic)
{
	if (!ic)
		return;
	if (ic->pio) {
		if (ic->pic)
			pic_detach(ic->pic, ic->pio);
		if (ic->pit)
			i8254_detach(ic->pit, ic->pio);
	}
	if (ic->mmio) {
		if (ic->ioapic)
			ioapic_detach(ic->ioapic, ic->mmio);
		if (ic->lapics)
			lapic_set_detach(ic->lapics, ic->mmio);
	}
	i8254_destroy(ic->pit);
	pic_destroy(ic->pic);
	ioapic_destroy(ic->ioapic);
	lapic_set_destroy(ic->lapics);
	free(ic);
}

struct irqchip_emu *irqchip_emu_create_clock(struct bus *pio, struct bus *mmio,
					     unsigned ncpus, uint64_t lapic_hz,
					     const struct lapic_cpu_ops *ops, void *cpus[],
					     uint64_t (*clock)(void))
{
	struct irqchip_emu *ic = calloc(1, sizeof(*ic));

	if (!ic)
		return NULL;
	ic->chip.set_level = emu_set_level;
	ic->chip.msi = emu_msi;
	ic->lapics = lapic_set_create(ncpus, lapic_hz, ops, cpus, clock);
	if (!ic->lapics) {
		log_err("irqchip: cannot create %u LAPICs at %llu Hz", ncpus,
			(unsigned long long)lapic_hz);
		goto fail;
	}
	/* The IOAPIC's ID follows the LAPICs', as in the MADT. */
	ic->ioapic = ioapic_create(ic->lapics, ncpus & 0xF);
	ic->pic = pic_create(pic_int, ic);
	ic->pit = i8254_create(pit_irq0, ic, clock);
	if (!ic->ioapic || !ic->pic || !ic->pit) {
		log_err("irqchip: out of memory");
		goto fail;
	}
	lapic_set_hooks(ic->lapics, lapic_eoi, lapic_extint_ack, ic);
	if (pic_attach(ic->pic, pio) < 0)
		goto fail;
	if (i8254_attach(ic->pit, pio) < 0) {
		pic_detach(ic->pic, pio);
		goto fail;
	}
	ic->pio = pio;
	if (ioapic_attach(ic->ioapic, mmio) < 0)
		goto fail;
	if (lapic_set_attach(ic->lapics, mmio) < 0) {
		ioapic_detach(ic->ioapic, mmio);
		goto fail;
	}
	ic->mmio = mmio;
	return ic;
fail:
	irqchip_emu_destroy(ic);
	return NULL;
}

struct irqchip_emu *irqchip_emu_create(struct bus *pio, struct bus *mmio, unsigned ncpus,
				       uint64_t lapic_hz, const struct lapic_cpu_ops *ops,
				       void *cpus[])
{
	return irqchip_emu_create_clock(pio, mmio, ncpus, lapic_hz, ops, cpus, NULL);
}

struct irq_chip *irqchip_emu_irq_chip(struct irqchip_emu *ic)
{
	return &ic->chip;
}

struct lapic *irqchip_emu_lapic(struct irqchip_emu *ic, unsigned cpu)
{
	return lapic_get(ic->lapics, cpu);
}

void irqchip_emu_vcpu_start(struct irqchip_emu *ic, unsigned cpu)
{
	lapic_set_current(ic->lapics, cpu);
}

/* The per-vCPU calls tolerate a bad index (an engine bug) as "no LAPIC". */
int irqchip_emu_pending(struct irqchip_emu *ic, unsigned cpu)
{
	struct lapic *a = lapic_get(ic->lapics, cpu);

	return a ? lapic_pending(a) : -1;
}

int irqchip_emu_ack(struct irqchip_emu *ic, unsigned cpu)
{
	struct lapic *a = lapic_get(ic->lapics, cpu);

	return a ? lapic_ack(a) : -1;
}

uint64_t irqchip_emu_next_deadline_ns(struct irqchip_emu *ic, unsigned cpu)
{
	struct lapic *a = lapic_get(ic->lapics, cpu);
	uint64_t d = a ? lapic_next_deadline_ns(a) : IRQCHIP_NO_DEADLINE;
	uint64_t p = i8254_next_deadline_ns(ic->pit);

	return d < p ? d : p;
}

void irqchip_emu_poll(struct irqchip_emu *ic, unsigned cpu, uint64_t now_ns)
{
	struct lapic *a = lapic_get(ic->lapics, cpu);

	if (a)
		lapic_poll(a, now_ns);
	i8254_poll(ic->pit, now_ns);
}
