/*
 * Linux bzImage through the 64-bit boot protocol (Documentation/x86/boot.rst):
 * the protected-mode part goes to pref_address, a zeroed zero page gets the
 * setup header and our e820 map, command line, initrd and RSDP, and the boot
 * CPU starts in long mode at load + 0x200 with RSI = zero page.
 */
#include "boot/boot.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"
#include "mem/layout.h"

/* Offsets in the zero page / the file's setup header. */
#define ZP_ACPI_RSDP      0x070
#define ZP_EXT_RAMDISK    0x0c0
#define ZP_EXT_RAMDISK_SZ 0x0c4
#define ZP_E820_ENTRIES   0x1e8
#define ZP_SENTINEL       0x1ef
#define HDR_START         0x1f1
#define HDR_SETUP_SECTS   0x1f1
#define HDR_BOOT_FLAG     0x1fe
#define HDR_JUMP          0x200
#define HDR_MAGIC         0x202
#define HDR_VERSION       0x206
#define HDR_LOADER_TYPE   0x210
#define HDR_LOADFLAGS     0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE  0x21c
#define HDR_CMDLINE_PTR   0x228
#define HDR_INITRD_MAX    0x22c
#define HDR_XLOADFLAGS    0x236
#define HDR_CMDLINE_SIZE  0x238
#define HDR_PREF_ADDRESS  0x258
#define HDR_INIT_SIZE     0x260
#define ZP_E820_TABLE     0x2d0

#define LOADED_HIGH       0x01
#define XLF_KERNEL_64     0x01

static uint16_t get16(const uint8_t *p) { return p[0] | p[1] << 8; }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

int bzimage_load(struct guest_mem *m, const struct boot_config *cfg,
		 struct cpu_boot_state *st, char *err, size_t errlen)
{
	const uint8_t *k = cfg->kernel;
	size_t klen = cfg->kernel_len;
	uint8_t *zp;
	unsigned setup_sects, hdr_end, n;
	uint64_t load, init_size, pm_off, pm_len, kernel_end, initrd_max;
	uint32_t cmdline_size;
	uint16_t version;
	struct e820_entry e820[E820_MAX];

	if (klen < 0x270 || get16(k + HDR_BOOT_FLAG) != 0xaa55 ||
	    memcmp(k + HDR_MAGIC, "HdrS", 4) != 0) {
		snprintf(err, errlen, "kernel is not a bzImage or PVH ELF (no boot header)");
		return -ENOEXEC;
	}
	version = get16(k + HDR_VERSION);
	if (version < 0x020c || !(k[HDR_XLOADFLAGS] & XLF_KERNEL_64)) {
		snprintf(err, errlen, "bzImage boot protocol %u.%02u has no 64-bit entry (need >= 2.12)",
			 version >> 8, version & 0xff);
		return -ENOEXEC;
	}
	setup_sects = k[HDR_SETUP_SECTS] ? k[HDR_SETUP_SECTS] : 4;
	pm_off = (uint64_t)(setup_sects + 1) * 512;
	if (pm_off >= klen) {
		snprintf(err, errlen, "bzImage is truncated (setup of %u sectors, file of %zu bytes)",
			 setup_sects, klen);
		return -ENOEXEC;
	}
	pm_len = klen - pm_off;
	load = get64(k + HDR_PREF_ADDRESS);
	init_size = MAX((uint64_t)get32(k + HDR_INIT_SIZE), pm_len);
	if (load < BIOS_AREA_END || !gmem_ptr(m, load, init_size)) {
		snprintf(err, errlen, "kernel needs RAM at 0x%llx-0x%llx: give the guest more memory",
			 (unsigned long long)load, (unsigned long long)(load + init_size));
		return -ENOSPC;
	}
	gmem_write(m, load, k + pm_off, pm_len);
	kernel_end = load + init_size;

	/* Zero page: zeroed, then the setup header copied from the file. */
	zp = gmem_ptr(m, BOOT_PARAMS_ADDR, 4096);
	memset(zp, 0, 4096);
	hdr_end = MIN(0x202u + k[HDR_JUMP + 1], 0x290u);
	memcpy(zp + HDR_START, k + HDR_START, hdr_end - HDR_START);
	zp[ZP_SENTINEL] = 0;
	zp[HDR_LOADER_TYPE] = 0xff;
	zp[HDR_LOADFLAGS] |= LOADED_HIGH;

	cmdline_size = get32(k + HDR_CMDLINE_SIZE);
	if (cfg->cmdline && cmdline_size && strlen(cfg->cmdline) > cmdline_size) {
		snprintf(err, errlen, "kernel command line is longer than the kernel's limit of %u bytes",
			 cmdline_size);
		return -E2BIG;
	}
	gmem_write(m, BOOT_CMDLINE_ADDR, cfg->cmdline ? cfg->cmdline : "",
		   (cfg->cmdline ? strlen(cfg->cmdline) : 0) + 1);
	put32(zp + HDR_CMDLINE_PTR, BOOT_CMDLINE_ADDR);

	if (cfg->initrd) {
		uint64_t at;

		initrd_max = get32(k + HDR_INITRD_MAX);
		if (!initrd_max)
			initrd_max = 0x37ffffff;
		if (boot_place_initrd(m, kernel_end, initrd_max, cfg->initrd_len, &at) < 0) {
			snprintf(err, errlen, "initrd of %zu KiB does not fit in guest RAM below 0x%llx",
				 cfg->initrd_len >> 10, (unsigned long long)initrd_max);
			return -ENOSPC;
		}
		gmem_write(m, at, cfg->initrd, cfg->initrd_len);
		put32(zp + HDR_RAMDISK_IMAGE, (uint32_t)at);
		put32(zp + HDR_RAMDISK_SIZE, (uint32_t)cfg->initrd_len);
		put32(zp + ZP_EXT_RAMDISK, (uint32_t)(at >> 32));
		put32(zp + ZP_EXT_RAMDISK_SZ, (uint32_t)((uint64_t)cfg->initrd_len >> 32));
	}

	n = e820_build(m, e820, E820_MAX);
	zp[ZP_E820_ENTRIES] = n;
	memcpy(zp + ZP_E820_TABLE, e820, n * sizeof(e820[0]));
	memcpy(zp + ZP_ACPI_RSDP, &cfg->rsdp_gpa, 8);
	/* No BIOS data area: EBDA pointer and base memory size read as 0. */
	memset(gmem_ptr(m, 0x40e, 2), 0, 2);
	memset(gmem_ptr(m, 0x413, 2), 0, 2);

	boot_write_gdt(m);
	boot_write_identity_map(m);
	boot_state_long64(st);
	st->rip = load + 0x200;
	st->rsi = BOOT_PARAMS_ADDR;
	return 0;
}
