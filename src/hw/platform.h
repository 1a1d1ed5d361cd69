/*
 * What devices see of the machine around them, independent of the CPU
 * engine: an interrupt controller to raise lines and send MSIs on, and a
 * way to ask for power-off or reset.
 */
#ifndef VIREO_HW_PLATFORM_H
#define VIREO_HW_PLATFORM_H

#include <stdint.h>

/*
 * Interrupt delivery. kvm implements it with KVM_IRQ_LINE / KVM_SIGNAL_MSI
 * (in-kernel PIC + IOAPIC); emu with its own PIC/IOAPIC/LAPIC models.
 * GSIs 0-15 are ISA IRQs (PIC and IOAPIC), 16-23 IOAPIC only.
 */
struct irq_chip {
	void (*set_level)(struct irq_chip *chip, unsigned gsi, int level);
	void (*msi)(struct irq_chip *chip, uint64_t addr, uint32_t data);
};

static inline void irq_set(struct irq_chip *chip, unsigned gsi, int level)
{
	chip->set_level(chip, gsi, level);
}

/* Edge-triggered ISA devices: raise then lower. */
static inline void irq_pulse(struct irq_chip *chip, unsigned gsi)
{
	chip->set_level(chip, gsi, 1);
	chip->set_level(chip, gsi, 0);
}

enum machine_request {
	MACHINE_POWEROFF,   /* ACPI S5, guest asked */
	MACHINE_RESET,      /* 0xCF9, i8042 0xFE, ACPI reset register */
};

/* Thread-safe: may be called from any vCPU thread. */
struct machine_ctl {
	void (*request)(struct machine_ctl *ctl, enum machine_request req);
};

#endif
