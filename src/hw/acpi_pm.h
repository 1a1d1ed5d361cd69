/*
 * ACPI fixed hardware: the PM1a event and control blocks, the PM timer,
 * GPE0 and the reset register, at the ports of mem/layout.h that the FADT
 * built by acpi_tables.c advertises. The SCI is level-triggered on
 * IRQ_ACPI_SCI.
 */
#ifndef VIREO_HW_ACPI_PM_H
#define VIREO_HW_ACPI_PM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/platform.h"
#include "mem/bus.h"

struct pci_host;

/* PM1 status / enable bits. */
#define ACPI_PM1_TMR_STS     0x0001
#define ACPI_PM1_BM_STS      0x0010
#define ACPI_PM1_GBL_STS     0x0020
#define ACPI_PM1_PWRBTN_STS  0x0100
#define ACPI_PM1_SLPBTN_STS  0x0200
#define ACPI_PM1_RTC_STS     0x0400
#define ACPI_PM1_WAK_STS     0x8000
/* PM1 control bits. */
#define ACPI_PM1_SCI_EN      0x0001
#define ACPI_PM1_SLP_TYP_SHIFT 10
#define ACPI_PM1_SLP_TYP_MASK  0x1C00
#define ACPI_PM1_SLP_EN      0x2000

#define ACPI_PM_TIMER_HZ     3579545ULL

struct acpi_pm {
	pthread_mutex_t lock;
	struct bus *pio;
	struct irq_chip *irq;
	struct machine_ctl *ctl;
	struct pci_host *pci;      /* owns 0xCF9 through its passthrough */
	uint16_t pm1_sts, pm1_en, pm1_cnt;
	uint16_t gpe0_sts, gpe0_en;
	uint8_t reset_ctl;         /* 0xCF9 */
	uint64_t timer_base_ns;    /* host time at timer value 0 */
	uint64_t tmr_seen_period;  /* half-period count behind TMR_STS */
	int sci_level;
};

/*
 * Claim the PM1a event/control, PM timer and GPE0 ports on pio, and the
 * reset register at 0xCF9: through pci's CF8 passthrough when pci is not
 * NULL (create the PCI host first), else directly on pio. 0 and *out,
 * or -errno.
 */
int acpi_pm_create(struct acpi_pm **out, struct bus *pio, struct irq_chip *irq,
		   struct machine_ctl *ctl, struct pci_host *pci);
void acpi_pm_destroy(struct acpi_pm *pm);

/* Press the power button: PWRBTN_STS, and the SCI if PWRBTN_EN. */
void acpi_pm_power_button(struct acpi_pm *pm);
/* Raise GPE0 status bit (0..15), e.g. for hotplug; SCI if enabled. */
void acpi_pm_set_gpe(struct acpi_pm *pm, unsigned bit);

/* The 24-bit PM timer value now. */
uint32_t acpi_pm_timer_now(struct acpi_pm *pm);

#endif
