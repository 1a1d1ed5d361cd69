/*
 * ELF kernels with a Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): loaded at
 * their physical addresses and entered in 32-bit protected mode with paging
 * off and EBX pointing at an hvm_start_info (xen/include/public/arch-x86/
 * hvm/start_info.h). QEMU boots the same files with -kernel.
 */
#include "boot/boot.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"
#include "mem/layout.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries, reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr, size, cmdline_paddr, reserved;
};

struct hvm_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

/* One program header, whatever the ELF class. */
struct phdr {
	uint32_t type;
	uint64_t offset, paddr, filesz, memsz;
};

static bool elf_phdr(const uint8_t *k, size_t len, unsigned i, struct phdr *out)
{
	if (k[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr eh;
		Elf64_Phdr ph;
		uint64_t off;

		memcpy(&eh, k, sizeof(eh));
		off = eh.e_phoff + (uint64_t)i * eh.e_phentsize;
		if (eh.e_phentsize < sizeof(ph) || !range_within(off, sizeof(ph), len))
			return false;
		memcpy(&ph, k + off, sizeof(ph));
		*out = (struct phdr){ ph.p_type, ph.p_offset, ph.p_paddr, ph.p_filesz, ph.p_memsz };
	} else {
		Elf32_Ehdr eh;
		Elf32_Phdr ph;
		uint64_t off;

		memcpy(&eh, k, sizeof(eh));
		off = eh.e_phoff + (uint64_t)i * eh.e_phentsize;
		if (eh.e_phentsize < sizeof(ph) || !range_within(off, sizeof(ph), len))
			return false;
		memcpy(&ph, k + off, sizeof(ph));
		*out = (struct phdr){ ph.p_type, ph.p_offset, ph.p_paddr, ph.p_filesz, ph.p_memsz };
	}
	return true;
}

static unsigned elf_phnum(const uint8_t *k)
{
	if (k[EI_CLASS] == ELFCLASS64)
		return ((const Elf64_Ehdr *)(const void *)k)->e_phnum;
	return ((const Elf32_Ehdr *)(const void *)k)->e_phnum;
}

static bool elf_header_ok(const uint8_t *k, size_t len)
{
	if (len < sizeof(Elf64_Ehdr) || memcmp(k, ELFMAG, SELFMAG) != 0)
		return false;
	return (k[EI_CLASS] == ELFCLASS64 || k[EI_CLASS] == ELFCLASS32) &&
	       k[EI_DATA] == ELFDATA2LSB;
}

/* Find the PVH entry in the PT_NOTE segments; 0 if there is none. */
static uint64_t pvh_entry(const uint8_t *k, size_t len)
{
	unsigned n = elf_phnum(k);
	struct phdr ph;

	for (unsigned i = 0; i < n && elf_phdr(k, len, i, &ph); i++) {
		uint64_t off, end;

		if (ph.type != PT_NOTE || !range_within(ph.offset, ph.filesz, len))
			continue;
		off = ph.offset;
		end = ph.offset + ph.filesz;
		while (end - off >= 12) {
			uint32_t namesz, descsz, type;
			uint64_t name, desc;

			memcpy(&namesz, k + off, 4);
			memcpy(&descsz, k + off + 4, 4);
			memcpy(&type, k + off + 8, 4);
			name = off + 12;
			desc = name + ALIGN_UP((uint64_t)namesz, 4);
			if (desc > end || !range_within(desc, ALIGN_UP((uint64_t)descsz, 4), end))
				break;
			if (namesz == 4 && memcmp(k + name, "Xen", 4) == 0 &&
			    type == XEN_ELFNOTE_PHYS32_ENTRY && (descsz == 4 || descsz == 8)) {
				uint64_t entry = 0;
				memcpy(&entry, k + desc, descsz);
				return entry;
			}
			off = desc + ALIGN_UP((uint64_t)descsz, 4);
		}
	}
	return 0;
}

bool pvh_detect(const uint8_t *k, size_t len)
{
	return elf_header_ok(k, len);
}

int pvh_load(struct guest_mem *m, const struct boot_config *cfg,
	     struct cpu_boot_state *st, char *err, size_t errlen)
{
	const uint8_t *k = cfg->kernel;
	size_t len = cfg->kernel_len;
	uint64_t entry = pvh_entry(k, len), kernel_end = 0;
	unsigned n = elf_phnum(k), nmap;
	struct hvm_start_info si = { .magic = HVM_START_MAGIC, .version = 1 };
	struct e820_entry e820[E820_MAX];
	uint64_t info_end = BOOT_PARAMS_ADDR + sizeof(si);
	struct phdr ph;

	if (!entry || entry > 0xffffffff) {
		snprintf(err, errlen, "ELF kernel has no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)");
		return -ENOEXEC;
	}
	for (unsigned i = 0; i < n; i++) {
		uint8_t *dst;

		if (!elf_phdr(k, len, i, &ph)) {
			snprintf(err, errlen, "ELF kernel is truncated (program header %u)", i);
			return -ENOEXEC;
		}
		if (ph.type != PT_LOAD)
			continue;
		if (ph.filesz > ph.memsz || !range_within(ph.offset, ph.filesz, len)) {
			snprintf(err, errlen, "ELF kernel segment %u lies outside the file", i);
			return -ENOEXEC;
		}
		dst = ph.paddr >= BIOS_AREA_END ? gmem_ptr(m, ph.paddr, ph.memsz) : NULL;
		if (!dst) {
			snprintf(err, errlen, "ELF kernel segment at 0x%llx (%llu bytes) is not in guest RAM",
				 (unsigned long long)ph.paddr, (unsigned long long)ph.memsz);
			return -ENOSPC;
		}
		memcpy(dst, k + ph.offset, ph.filesz);
		memset(dst + ph.filesz, 0, ph.memsz - ph.filesz);
		kernel_end = MAX(kernel_end, ph.paddr + ph.memsz);
	}

	gmem_write(m, BOOT_CMDLINE_ADDR, cfg->cmdline ? cfg->cmdline : "",
		   (cfg->cmdline ? strlen(cfg->cmdline) : 0) + 1);
	si.cmdline_paddr = BOOT_CMDLINE_ADDR;
	si.rsdp_paddr = cfg->rsdp_gpa;

	nmap = e820_build(m, e820, E820_MAX);
	si.memmap_paddr = ALIGN_UP(info_end, 16);
	si.memmap_entries = nmap;
	for (unsigned i = 0; i < nmap; i++) {
		struct hvm_memmap_entry me = { e820[i].addr, e820[i].size, e820[i].type, 0 };
		gmem_write(m, si.memmap_paddr + i * sizeof(me), &me, sizeof(me));
	}
	info_end = si.memmap_paddr + nmap * sizeof(struct hvm_memmap_entry);

	if (cfg->initrd) {
		struct hvm_modlist_entry mod = { .size = cfg->initrd_len };

		if (boot_place_initrd(m, ALIGN_UP(kernel_end, 4096), 0xffffffff,
				      cfg->initrd_len, &mod.paddr) < 0) {
			snprintf(err, errlen, "initrd of %zu KiB does not fit in guest RAM",
				 cfg->initrd_len >> 10);
			return -ENOSPC;
		}
		gmem_write(m, mod.paddr, cfg->initrd, cfg->initrd_len);
		si.modlist_paddr = ALIGN_UP(info_end, 16);
		si.nr_modules = 1;
		gmem_write(m, si.modlist_paddr, &mod, sizeof(mod));
	}
	gmem_write(m, BOOT_PARAMS_ADDR, &si, sizeof(si));

	boot_write_gdt(m);
	boot_state_prot32(st);
	st->rip = entry;
	st->rbx = BOOT_PARAMS_ADDR;
	return 0;
}
