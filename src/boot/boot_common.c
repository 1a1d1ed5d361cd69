/* What the bzImage and PVH loaders share: e820, GDT, page tables, CPU state. */
#include "boot/boot.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"
#include "mem/layout.h"

unsigned e820_build(const struct guest_mem *m, struct e820_entry *out, unsigned max)
{
	unsigned n = 0;

#define ADD(a, s, t) do { if (n < max) out[n++] = (struct e820_entry){ (a), (s), (t) }; } while (0)
	/* Low memory, then the EBDA/BIOS hole, where the ACPI tables live. */
	ADD(0, REALMODE_RAM_END, E820_RAM);
	ADD(REALMODE_RAM_END, BIOS_AREA_END - REALMODE_RAM_END, E820_RESERVED);
	if (m->region[0].size > BIOS_AREA_END)
		ADD(BIOS_AREA_END, m->region[0].size - BIOS_AREA_END, E820_RAM);
	/* Linux uses ECAM only where the firmware reserves it. */
	ADD(PCI_ECAM_BASE, PCI_ECAM_SIZE, E820_RESERVED);
	if (m->nr_regions > 1)
		ADD(m->region[1].gpa, m->region[1].size, E820_RAM);
#undef ADD
	return n;
}

/*
 * GDT: 0x08 flat 32-bit code (PVH entry), 0x10 64-bit code and 0x18 flat
 * data (the Linux 64-bit boot protocol's selectors), 0x20 a TSS placeholder.
 */
void boot_write_gdt(struct guest_mem *m)
{
	static const uint64_t gdt[] = {
		0,
		0x00cf9b000000ffffULL,  /* 0x08: code32, accessed */
		0x00af9b000000ffffULL,  /* 0x10: code64, accessed */
		0x00cf93000000ffffULL,  /* 0x18: data, accessed */
		0x00008b0000000067ULL,  /* 0x20: busy TSS at 0 */
	};
	gmem_write(m, BOOT_GDT_ADDR, gdt, sizeof(gdt));
}

/* Identity-map 0-4 GiB with 2 MiB pages: 1 PML4, 1 PDPT, 4 PDs. */
void boot_write_identity_map(struct guest_mem *m)
{
	uint64_t *pml4 = gmem_ptr(m, BOOT_PML4_ADDR, 4096);
	uint64_t *pdpt = gmem_ptr(m, BOOT_PDPT_ADDR, 4096);
	uint64_t *pd = gmem_ptr(m, BOOT_PD_ADDR, 4 * 4096);

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT_ADDR | 0x3;                       /* P | RW */
	for (unsigned i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_ADDR + i * 4096) | 0x3;
	for (unsigned i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83;           /* P | RW | PS */
}

static struct seg_state flat_seg(uint16_t sel, uint8_t type, uint8_t l, uint8_t db)
{
	return (struct seg_state){
		.selector = sel, .base = 0, .limit = 0xffffffff, .type = type,
		.s = 1, .dpl = 0, .present = 1, .l = l, .db = db, .g = 1,
	};
}

static void common_state(struct cpu_boot_state *st)
{
	st->rflags = 0x2;
	st->gdt_base = BOOT_GDT_ADDR;
	st->gdt_limit = 5 * 8 - 1;
	st->idt_base = 0;
	st->idt_limit = 0;
	st->tr = (struct seg_state){ .selector = 0x20, .limit = 0x67, .type = 11, .present = 1 };
	st->ldt = (struct seg_state){ .selector = 0, .limit = 0xffff, .type = 2, .present = 1 };
	st->rsp = BOOT_STACK_TOP;
}

/* Linux 64-bit boot protocol: long mode, paging on, CS 0x10, data 0x18. */
void boot_state_long64(struct cpu_boot_state *st)
{
	common_state(st);
	st->cr0 = 0x80000033;   /* PG | NE | ET | MP | PE */
	st->cr3 = BOOT_PML4_ADDR;
	st->cr4 = 0x20;         /* PAE */
	st->efer = 0x500;       /* LMA | LME */
	st->cs = flat_seg(0x10, 0xb, 1, 0);
	st->ds = st->es = st->fs = st->gs = st->ss = flat_seg(0x18, 0x3, 0, 1);
}

/* PVH: 32-bit protected mode, paging off, flat segments. */
void boot_state_prot32(struct cpu_boot_state *st)
{
	common_state(st);
	st->cr0 = 0x00000031;   /* NE | ET | PE */
	st->cr3 = 0;
	st->cr4 = 0;
	st->efer = 0;
	st->cs = flat_seg(0x08, 0xb, 0, 1);
	st->ds = st->es = st->fs = st->gs = st->ss = flat_seg(0x18, 0x3, 0, 1);
}

/*
 * Put the initrd as high as possible below max_addr in low RAM, page
 * aligned, above the kernel (as QEMU and the boot protocol suggest).
 */
int boot_place_initrd(struct guest_mem *m, uint64_t kernel_end, uint64_t max_addr,
		      size_t len, uint64_t *gpa)
{
	uint64_t top = MIN(m->region[0].size, max_addr + 1);
	uint64_t addr;

	if (len > top)
		return -ENOSPC;
	addr = ALIGN_DOWN(top - len, 4096);
	if (addr < kernel_end || !gmem_ptr(m, addr, len))
		return -ENOSPC;
	*gpa = addr;
	return 0;
}

int boot_load(struct guest_mem *m, const struct boot_config *cfg,
	      struct cpu_boot_state *st, enum boot_format *fmt,
	      char *err, size_t errlen)
{
	memset(st, 0, sizeof(*st));
	if (cfg->cmdline && strlen(cfg->cmdline) >= 4096) {
		snprintf(err, errlen, "kernel command line is longer than 4095 bytes");
		return -E2BIG;
	}
	if (pvh_detect(cfg->kernel, cfg->kernel_len)) {
		*fmt = BOOT_PVH;
		return pvh_load(m, cfg, st, err, errlen);
	}
	*fmt = BOOT_BZIMAGE;
	return bzimage_load(m, cfg, st, err, errlen);
}
