/* The kernel loaders: zero page, e820 map, initrd placement, PVH start_info. */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "lib/util.h"
#include "mem/layout.h"
#include "tap.h"

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* A fake bzImage: 1 setup sector + header, then a protected-mode part. */
static uint8_t *fake_bzimage(size_t *len)
{
	size_t n = 2 * 512 + 8192;
	uint8_t *k = calloc(1, n);

	k[0x1f1] = 1;                          /* setup_sects */
	put16(k + 0x1fe, 0xaa55);
	k[0x200] = 0xeb;
	k[0x201] = 0x66;                        /* header ends at 0x268 */
	memcpy(k + 0x202, "HdrS", 4);
	put16(k + 0x206, 0x020f);
	put32(k + 0x22c, 0x37ffffff);          /* initrd_addr_max */
	k[0x236] = 0x1;                         /* XLF_KERNEL_64 */
	put32(k + 0x238, 2047);                /* cmdline_size */
	put64(k + 0x258, 0x1000000);           /* pref_address */
	put32(k + 0x260, 0x100000);            /* init_size */
	memset(k + 1024, 0xcc, 8192);
	*len = n;
	return k;
}

static void test_e820(void)
{
	struct guest_mem m;
	struct e820_entry e[E820_MAX];
	uint64_t ram = 0;
	unsigned n;

	CHECK_EQ(gmem_init(&m, 512 * MiB, 0), 0);
	n = e820_build(&m, e, E820_MAX);
	CHECK(n >= 3);
	for (unsigned i = 0; i < n; i++) {
		if (e[i].type == E820_RAM)
			ram += e[i].size;
		if (i)
			CHECK(e[i].addr >= e[i - 1].addr + e[i - 1].size);   /* sorted, disjoint */
	}
	CHECK_EQ(ram, 512 * MiB - (BIOS_AREA_END - REALMODE_RAM_END));
	CHECK_EQ(e[0].addr, 0);
	CHECK(e[0].size >= 0x9f000);           /* the AP trampoline needs it */
	gmem_destroy(&m);

	CHECK_EQ(gmem_init(&m, LOW_RAM_END + GiB, 0), 0);
	n = e820_build(&m, e, E820_MAX);
	CHECK_EQ(e[n - 1].addr, HIGH_RAM_BASE);
	CHECK_EQ(e[n - 1].size, GiB);
	gmem_destroy(&m);
}

static void test_bzimage(void)
{
	struct guest_mem m;
	struct cpu_boot_state st;
	enum boot_format fmt;
	char err[256];
	size_t klen;
	uint8_t *k = fake_bzimage(&klen), *zp, initrd[5000];
	struct boot_config cfg = {
		.kernel = k, .kernel_len = klen, .initrd = initrd, .initrd_len = sizeof(initrd),
		.cmdline = "console=ttyS0", .rsdp_gpa = 0xe0000,
	};

	memset(initrd, 0x5a, sizeof(initrd));
	CHECK_EQ(gmem_init(&m, 256 * MiB, 0), 0);
	CHECK_EQ(boot_load(&m, &cfg, &st, &fmt, err, sizeof(err)), 0);
	CHECK_EQ(fmt, BOOT_BZIMAGE);
	CHECK_EQ(st.rip, 0x1000200);
	CHECK_EQ(st.rsi, BOOT_PARAMS_ADDR);
	CHECK_EQ(st.cs.selector, 0x10);
	CHECK(st.cs.l);
	CHECK_EQ(st.efer & 0x500, 0x500);
	zp = gmem_ptr(&m, BOOT_PARAMS_ADDR, 4096);
	CHECK_EQ(zp[0x210], 0xff);                      /* type_of_loader */
	CHECK(zp[0x211] & 1);                           /* LOADED_HIGH */
	CHECK_EQ(get64(zp + 0x70), 0xe0000);            /* acpi_rsdp_addr */
	CHECK(!memcmp(gmem_ptr(&m, get32(zp + 0x228), 14), "console=ttyS0", 14));
	CHECK_EQ(get32(zp + 0x21c), sizeof(initrd));
	{
		uint32_t at = get32(zp + 0x218);
		CHECK(at % 4096 == 0);
		CHECK(at >= 0x1100000);                  /* above the kernel's init_size */
		CHECK(at + sizeof(initrd) <= 256 * MiB);
		CHECK(!memcmp(gmem_ptr(&m, at, sizeof(initrd)), initrd, sizeof(initrd)));
	}
	CHECK(zp[0x1e8] >= 3);
	CHECK_EQ(*(uint8_t *)gmem_ptr(&m, 0x1000000, 1), 0xcc);  /* protected-mode part */
	/* The identity map covers the LAPIC. */
	CHECK_EQ(*(uint64_t *)gmem_ptr(&m, BOOT_PD_ADDR + 8 * (LAPIC_BASE >> 21), 8),
		 LAPIC_BASE | 0x83);

	/* Rejections. */
	cfg.kernel_len = 600;
	CHECK(boot_load(&m, &cfg, &st, &fmt, err, sizeof(err)) < 0);
	cfg.kernel_len = 1024;
	CHECK_EQ(boot_load(&m, &cfg, &st, &fmt, err, sizeof(err)), -ENOEXEC);
	CHECK(strstr(err, "truncated") != NULL);
	cfg.kernel_len = klen;
	k[0x236] = 0;
	CHECK_EQ(boot_load(&m, &cfg, &st, &fmt, err, sizeof(err)), -ENOEXEC);
	CHECK(strstr(err, "64-bit") != NULL);
	k[0x236] = 1;
	memcpy(k + 0x202, "Nope", 4);
	CHECK_EQ(boot_load(&m, &cfg, &st, &fmt, err, sizeof(err)), -ENOEXEC);
	memcpy(k + 0x202, "HdrS", 4);
	{
		static uint8_t huge[250 * 1024 * 1024];
		cfg.initrd = huge;
		cfg.initrd_len = sizeof(huge);
		CHECK_EQ(boot_load(&m, &cfg, &st, &fmt, err, sizeof(err)), -ENOSPC);
		CHECK(strstr(err, "initrd") != NULL);
	}
	gmem_destroy(&m);

	/* The kernel does not fit in 16 MiB of RAM at 16 MiB. */
	CHECK_EQ(gmem_init(&m, 16 * MiB, 0), 0);
	cfg.initrd = NULL;
	CHECK_EQ(boot_load(&m, &cfg, &st, &fmt, err, sizeof(err)), -ENOSPC);
	CHECK(strstr(err, "RAM") != NULL);
	gmem_destroy(&m);
	free(k);
}

/* A minimal ELF64 with one PT_LOAD and one PT_NOTE carrying the PVH entry. */
static void test_pvh(void)
{
	struct {
		Elf64_Ehdr eh;
		Elf64_Phdr ph[2];
		uint32_t note[6];
		uint8_t code[16];
	} __attribute__((packed)) img;
	struct guest_mem m;
	struct cpu_boot_state st;
	enum boot_format fmt;
	char err[256];
	uint8_t initrd[100] = { 1, 2, 3 };
	struct boot_config cfg = { .kernel = (uint8_t *)&img, .kernel_len = sizeof(img),
				   .initrd = initrd, .initrd_len = sizeof(initrd),
				   .cmdline = "x", .rsdp_gpa = 0xe0000 };
	const uint8_t *si;

	memset(&img, 0, sizeof(img));
	memcpy(img.eh.e_ident, ELFMAG, SELFMAG);
	img.eh.e_ident[EI_CLASS] = ELFCLASS64;
	img.eh.e_ident[EI_DATA] = ELFDATA2LSB;
	img.eh.e_phoff = offsetof(__typeof__(img), ph);
	img.eh.e_phentsize = sizeof(Elf64_Phdr);
	img.eh.e_phnum = 2;
	img.ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = offsetof(__typeof__(img), code),
				  .p_paddr = 0x100000, .p_filesz = 16, .p_memsz = 4096 };
	img.ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = offsetof(__typeof__(img), note),
				  .p_filesz = sizeof(img.note) };
	img.note[0] = 4;            /* namesz */
	img.note[1] = 8;            /* descsz */
	img.note[2] = 18;           /* XEN_ELFNOTE_PHYS32_ENTRY */
	memcpy(&img.note[3], "Xen", 4);
	img.note[4] = 0x100004;
	memset(img.code, 0x90, sizeof(img.code));

	CHECK_EQ(gmem_init(&m, 64 * MiB, 0), 0);
	CHECK_EQ(boot_load(&m, &cfg, &st, &fmt, err, sizeof(err)), 0);
	CHECK_EQ(fmt, BOOT_PVH);
	CHECK_EQ(st.rip, 0x100004);
	CHECK_EQ(st.rbx, BOOT_PARAMS_ADDR);
	CHECK_EQ(st.cr0 & 0x80000001, 1);      /* PE, no PG */
	CHECK(st.cs.db && !st.cs.l);
	si = gmem_ptr(&m, BOOT_PARAMS_ADDR, 56);
	CHECK_EQ(get32(si), 0x336ec578);
	CHECK_EQ(get32(si + 12), 1);            /* one module */
	CHECK_EQ(get64(si + 32), 0xe0000);      /* rsdp */
	CHECK(get32(si + 48) >= 3);             /* memmap entries */
	CHECK_EQ(*(uint8_t *)gmem_ptr(&m, 0x100000, 1), 0x90);

	/* Without the note, an ELF is refused with a clear reason. */
	img.note[2] = 17;
	CHECK_EQ(boot_load(&m, &cfg, &st, &fmt, err, sizeof(err)), -ENOEXEC);
	CHECK(strstr(err, "PVH") != NULL);
	img.note[2] = 18;
	/* A segment pointing outside the file. */
	img.ph[0].p_offset = 1 << 20;
	CHECK_EQ(boot_load(&m, &cfg, &st, &fmt, err, sizeof(err)), -ENOEXEC);
	img.ph[0].p_offset = offsetof(__typeof__(img), code);
	/* A segment outside RAM. */
	img.ph[0].p_paddr = 0xfff00000;
	CHECK_EQ(boot_load(&m, &cfg, &st, &fmt, err, sizeof(err)), -ENOSPC);
	/* A lying phnum. */
	img.ph[0].p_paddr = 0x100000;
	img.eh.e_phnum = 1000;
	CHECK_EQ(boot_load(&m, &cfg, &st, &fmt, err, sizeof(err)), -ENOEXEC);
	gmem_destroy(&m);
}

int main(void)
{
	test_e820();
	test_bzimage();
	test_pvh();
	return test_done();
}
