/*
 * The guest-physical address map of vireo's PC machine. One place, so the
 * ACPI tables, the e820 map, the devices and the engines agree.
 */
#ifndef VIREO_MEM_LAYOUT_H
#define VIREO_MEM_LAYOUT_H

/* Low RAM: 0 .. min(ram, LOW_RAM_END). The rest of RAM goes above 4 GiB. */
#define LOW_RAM_END        0xB0000000ULL
#define HIGH_RAM_BASE      0x100000000ULL

/* Below 1 MiB: RAM to 0x9FC00 (AP trampoline, boot data), then reserved. */
#define REALMODE_RAM_END   0x0009FC00ULL
#define BIOS_AREA_BASE     0x000E0000ULL   /* ACPI RSDP and tables live here */
#define BIOS_AREA_END      0x00100000ULL

/* Boot data written by the loader (all below 1 MiB, inside RAM). */
#define BOOT_GDT_ADDR      0x00000500ULL
#define BOOT_PARAMS_ADDR   0x00007000ULL   /* zero page, or PVH start_info */
#define BOOT_CMDLINE_ADDR  0x00020000ULL   /* up to 4 KiB */
#define BOOT_PML4_ADDR     0x00009000ULL   /* identity map 0-4 GiB, 2 MiB pages */
#define BOOT_PDPT_ADDR     0x0000A000ULL
#define BOOT_PD_ADDR       0x0000B000ULL   /* 4 pages: 0xB000-0xEFFF */
#define BOOT_STACK_TOP     0x0008F000ULL

/* PCI: ECAM (MCFG) window for buses 0-255, then the 32-bit BAR window. */
#define PCI_ECAM_BASE      0xB0000000ULL
#define PCI_ECAM_SIZE      0x10000000ULL
#define PCI_MMIO32_BASE    0xC0000000ULL
#define PCI_MMIO32_END     0xFEC00000ULL
#define PCI_IO_BASE        0x1000
#define PCI_IO_END         0x10000

#define IOAPIC_BASE        0xFEC00000ULL
#define LAPIC_BASE         0xFEE00000ULL

/* Legacy and ACPI ports. */
#define PORT_COM1          0x3F8
#define IRQ_COM1           4
#define PORT_RTC           0x70
#define IRQ_RTC            8
#define PORT_I8042_DATA    0x60
#define PORT_I8042_CMD     0x64
#define PORT_PCI_CONF_ADDR 0xCF8
#define PORT_PCI_CONF_DATA 0xCFC
#define PORT_RESET         0xCF9           /* FADT RESET_REG, value 0x06 */
#define PORT_ACPI_PM1_EVT  0x600           /* 4 bytes: PM1_STS, PM1_EN */
#define PORT_ACPI_PM1_CNT  0x604           /* 2 bytes */
#define PORT_ACPI_PM_TMR   0x608           /* 4 bytes, 3.579545 MHz */
#define PORT_ACPI_GPE0     0x620           /* 4 bytes: GPE0_STS, GPE0_EN */
#define IRQ_ACPI_SCI       9               /* level, active high */
#define ACPI_S5_SLP_TYP    5

/* PCI INTx: device slot s, pin p (0=INTA) -> GSI 16 + ((s + p) & 3). */
#define PCI_INTX_GSI_BASE  16

#endif
