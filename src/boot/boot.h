/*
 * Loading a guest kernel: a Linux bzImage through the 64-bit boot protocol,
 * or an ELF kernel with a Xen PVH entry note. The loader writes everything
 * the kernel needs into guest RAM (kernel, initrd, command line, zero page
 * or start_info, e820 map, GDT, identity page tables) and fills the boot
 * CPU's register state.
 */
#ifndef VIREO_BOOT_BOOT_H
#define VIREO_BOOT_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/engine.h"
#include "mem/guest_mem.h"

#define E820_RAM       1
#define E820_RESERVED  2
#define E820_ACPI      3
#define E820_NVS       4
#define E820_MAX       128

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/* The machine's memory map from guest_mem and layout.h; returns entries. */
unsigned e820_build(const struct guest_mem *m, struct e820_entry *out, unsigned max);

struct boot_config {
	const uint8_t *kernel;      /* the kernel file's bytes */
	size_t kernel_len;
	const uint8_t *initrd;      /* may be NULL */
	size_t initrd_len;
	const char *cmdline;        /* may be NULL */
	uint64_t rsdp_gpa;          /* 0: let the kernel scan the BIOS area */
};

enum boot_format { BOOT_BZIMAGE, BOOT_PVH };

/*
 * Load the kernel into guest memory. On failure returns -errno and writes a
 * one-line reason ("kernel is not a bzImage or PVH ELF", "initrd of N MiB
 * does not fit in guest RAM", ...) into err.
 */
int boot_load(struct guest_mem *m, const struct boot_config *cfg,
	      struct cpu_boot_state *st, enum boot_format *fmt,
	      char *err, size_t errlen);

/* The two formats; boot_load() picks one. Same contract. */
int bzimage_load(struct guest_mem *m, const struct boot_config *cfg,
		 struct cpu_boot_state *st, char *err, size_t errlen);
int pvh_load(struct guest_mem *m, const struct boot_config *cfg,
	     struct cpu_boot_state *st, char *err, size_t errlen);
bool pvh_detect(const uint8_t *k, size_t len);

/* Shared by both: GDT at BOOT_GDT_ADDR, identity map 0-4 GiB, segments. */
void boot_write_gdt(struct guest_mem *m);
void boot_write_identity_map(struct guest_mem *m);
void boot_state_long64(struct cpu_boot_state *st);
void boot_state_prot32(struct cpu_boot_state *st);

/* Find where the initrd goes: highest 2 MiB-aligned... see boot_common.c. */
int boot_place_initrd(struct guest_mem *m, uint64_t kernel_end, uint64_t max_addr,
		      size_t len, uint64_t *gpa);

#endif
