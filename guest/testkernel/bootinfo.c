/*
 * The loader's hand-over, normalized: whichever protocol brought us here
 * (Linux zero page or PVH start_info), the rest of the kernel sees one
 * memory map, one RSDP address and one command line, copied into our own
 * memory before anything below 1 MiB is reused (the AP trampoline).
 */
#include "tk.h"

#define BOOT_PVH	1
#define BOOT_BZIMAGE	2

/* Set by head.S before .bss is cleared, hence not static .bss here. */
extern u64 boot_ptr;
extern u32 boot_kind;

/* Linux zero page (struct boot_params) offsets. */
#define BP_ACPI_RSDP_ADDR	0x070
#define BP_EXT_CMD_LINE_PTR	0x0C8
#define BP_E820_ENTRIES		0x1E8
#define BP_CMD_LINE_PTR		0x228
#define BP_E820_TABLE		0x2D0
#define BP_E820_MAX		128
#define E820_ENTRY_SIZE		20

/* struct hvm_start_info (Xen public arch-x86/hvm/start_info.h). */
#define PVH_MAGIC		0x336ec578
#define PVH_CMDLINE_PADDR	24
#define PVH_RSDP_PADDR		32
#define PVH_MEMMAP_PADDR	40
#define PVH_MEMMAP_ENTRIES	48
#define PVH_MEMMAP_ENTRY_SIZE	24

struct boot_info boot;

static void add_range(u64 start, u64 size, u32 type)
{
	unsigned int i;

	if (boot.nr_map >= TK_MAX_MEMMAP || !size)
		return;
	/* Insertion by start address: loaders usually hand it over sorted. */
	i = boot.nr_map++;
	while (i && boot.map[i - 1].start > start) {
		boot.map[i] = boot.map[i - 1];
		i--;
	}
	boot.map[i].start = start;
	boot.map[i].size = size;
	boot.map[i].type = type;
}

static void copy_cmdline(u64 paddr)
{
	const char *src = (const char *)(uintptr_t)paddr;
	unsigned int i;

	if (!paddr || paddr >= (1ULL << 32))
		return;
	for (i = 0; i + 1 < TK_CMDLINE_MAX && src[i]; i++)
		boot.cmdline[i] = src[i];
	boot.cmdline[i] = 0;
}

static void collect_bzimage(const u8 *bp)
{
	unsigned int n = bp[BP_E820_ENTRIES], i;
	u64 cmd;

	if (n > BP_E820_MAX)
		n = BP_E820_MAX;
	for (i = 0; i < n; i++) {
		const u8 *e = bp + BP_E820_TABLE + i * E820_ENTRY_SIZE;

		add_range(rd64(e), rd64(e + 8), rd32(e + 16));
	}
	boot.rsdp = rd64(bp + BP_ACPI_RSDP_ADDR);
	cmd = rd32(bp + BP_CMD_LINE_PTR) |
	      (u64)rd32(bp + BP_EXT_CMD_LINE_PTR) << 32;
	copy_cmdline(cmd);
}

static void collect_pvh(const u8 *si)
{
	u32 version = rd32(si + 4);
	unsigned int i;

	if (rd32(si) != PVH_MAGIC)
		return;
	copy_cmdline(rd64(si + PVH_CMDLINE_PADDR));
	boot.rsdp = rd64(si + PVH_RSDP_PADDR);
	if (version >= 1) {
		u64 map = rd64(si + PVH_MEMMAP_PADDR);
		u32 n = rd32(si + PVH_MEMMAP_ENTRIES);

		if (map && map < (1ULL << 32))
			for (i = 0; i < n && i < TK_MAX_MEMMAP; i++) {
				const u8 *e = (const u8 *)(uintptr_t)map +
					      i * PVH_MEMMAP_ENTRY_SIZE;

				add_range(rd64(e), rd64(e + 8), rd32(e + 16));
			}
	}
}

void bootinfo_collect(void)
{
	const u8 *p = (const u8 *)(uintptr_t)boot_ptr;

	if (boot_kind == BOOT_BZIMAGE) {
		boot.kind = "bzimage";
		if (p)
			collect_bzimage(p);
	} else {
		boot.kind = "pvh";
		if (p)
			collect_pvh(p);
	}
}

static const char *type_name(u32 type, char *buf)
{
	switch (type) {
	case E820_RAM:
		return "ram";
	case E820_RESERVED:
		return "reserved";
	case E820_ACPI:
		return "acpi";
	case E820_NVS:
		return "nvs";
	}
	/* Small numbers only: two digits are plenty for e820 types. */
	buf[0] = (char)('0' + type / 10 % 10);
	buf[1] = (char)('0' + type % 10);
	buf[2] = 0;
	return type < 10 ? buf + 1 : buf;
}

void bootinfo_print_memmap(void)
{
	u64 kib = 0;
	unsigned int i;
	char num[4];

	kprintf("e820: %u entries\n", boot.nr_map);
	for (i = 0; i < boot.nr_map; i++) {
		const struct mem_range *r = &boot.map[i];

		kprintf("e820: [0x%lx-0x%lx) %s\n", r->start,
			r->start + r->size, type_name(r->type, num));
		if (r->type == E820_RAM)
			kib += r->size >> 10;
	}
	kprintf("memory: %lu KiB (%lu MiB)\n", kib, (kib + 512) >> 10);
}

bool bootinfo_is_ram(u64 start, u64 len)
{
	unsigned int i;

	for (i = 0; i < boot.nr_map; i++) {
		const struct mem_range *r = &boot.map[i];

		if (r->type == E820_RAM && start >= r->start &&
		    start + len <= r->start + r->size)
			return true;
	}
	return false;
}

/* True if word appears as a whole space-separated word of the cmdline. */
bool cmdline_has(const char *word)
{
	size_t n = strlen(word);
	const char *p = boot.cmdline;

	while (*p) {
		const char *end;

		while (*p == ' ')
			p++;
		end = p;
		while (*end && *end != ' ')
			end++;
		if ((size_t)(end - p) == n && !memcmp(p, word, n))
			return true;
		p = end;
	}
	return false;
}
