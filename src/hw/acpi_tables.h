/*
 * ACPI tables for vireo's PC machine: RSDP, RSDT, XSDT, FADT, FACS, DSDT,
 * MADT and MCFG, built into guest RAM in the BIOS area. They describe the
 * devices of src/hw at the addresses of mem/layout.h.
 */
#ifndef VIREO_HW_ACPI_TABLES_H
#define VIREO_HW_ACPI_TABLES_H

#include <stdint.h>

#include "mem/guest_mem.h"

#define ACPI_MAX_CPUS 64

struct acpi_config {
	unsigned ncpus;   /* 1..ACPI_MAX_CPUS; LAPIC ids 0..ncpus-1 */
};

/*
 * Write the tables into [BIOS_AREA_BASE, BIOS_AREA_END) of m (which must
 * be RAM there; the e820 map should mark it reserved) and return the
 * RSDP's address, for boot_params.acpi_rsdp_addr. 0, -EINVAL (config),
 * -EFAULT (not RAM), -ENOSPC, -ENOMEM.
 */
int acpi_build_tables(struct guest_mem *m, const struct acpi_config *cfg,
		      uint64_t *rsdp_gpa);

#endif
