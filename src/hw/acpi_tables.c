/*
 * ACPI table builder. The tables are laid out in a host buffer the size of
 * the BIOS area, then copied into guest RAM in one checked write:
 *
 *   RSDP (36 bytes, at BIOS_AREA_BASE so the legacy scan finds it too)
 *   FACS (64-byte aligned), DSDT, FADT, MADT, MCFG, RSDT, XSDT
 *
 * Every table is revision-current enough for Linux 6.1 and iasl: RSDP 2,
 * FADT 6, MADT 4 (xAPIC entries only: ncpus <= 64 keeps ids below 255).
 */
#include "hw/acpi_tables.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hw/aml.h"
#include "hw/rtc.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mem/layout.h"

#define OEM_ID        "VIREO "
#define OEM_TABLE_ID  "VIREOPC "
#define CREATOR_ID    "VIRO"
#define HEADER_SIZE   36

#define FADT_SIZE     276
#define FACS_SIZE     64

/* FADT flags. */
#define FADT_WBINVD        (1u << 0)
#define FADT_PROC_C1       (1u << 2)
#define FADT_SLP_BUTTON    (1u << 5)   /* no fixed sleep button */
#define FADT_RESET_REG_SUP (1u << 10)
/* IAPC_BOOT_ARCH. */
#define BOOT_ARCH_LEGACY_DEVICES 0x0001
/* MADT. */
#define MADT_PCAT_COMPAT   1u
#define MADT_LAPIC         0
#define MADT_IOAPIC        1
#define MADT_ISO           2
#define MADT_LAPIC_NMI     4
#define MPS_POL_HIGH       0x1
#define MPS_TRIG_EDGE      (0x1 << 2)
#define MPS_TRIG_LEVEL     (0x3 << 2)
/* Generic Address Structure. */
#define GAS_SYSTEM_IO      1
#define GAS_ACCESS_BYTE    1
#define GAS_ACCESS_WORD    2
#define GAS_ACCESS_DWORD   3

#define COM1_IRQ_LINE      4   /* == IRQ_COM1 */

struct layout {
	uint8_t *img;
	size_t size, used;
	int err;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, v);
	put32(p + 4, v >> 32);
}

static uint8_t sum8(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

static void set_checksum(uint8_t *p, size_t len, size_t csum_off)
{
	p[csum_off] = 0;
	p[csum_off] = -sum8(p, len);
}

/* Room for len bytes at the given alignment; offset into img, or -1. */
static long place(struct layout *l, size_t len, size_t align)
{
	size_t off = ALIGN_UP(l->used, align);

	if (l->err || off > l->size || len > l->size - off) {
		l->err = -ENOSPC;
		return -1;
	}
	l->used = off + len;
	return (long)off;
}

static uint64_t gpa_of(size_t off)
{
	return BIOS_AREA_BASE + off;
}

/* Standard header; the checksum is set once the body is complete. */
static void header(uint8_t *p, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(p, sig, 4);
	put32(p + 4, len);
	p[8] = rev;
	memcpy(p + 10, OEM_ID, 6);
	memcpy(p + 16, OEM_TABLE_ID, 8);
	put32(p + 24, 1);
	memcpy(p + 28, CREATOR_ID, 4);
	put32(p + 32, 1);
}

/* Copy a finished table into the image; its offset, or -1. */
static long emit(struct layout *l, const uint8_t *table, size_t len, size_t align)
{
	long off = place(l, len, align);

	if (off >= 0)
		memcpy(l->img + off, table, len);
	return off;
}

static void gas_io(uint8_t *p, uint8_t bits, uint8_t access, uint64_t port)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = bits;
	p[2] = 0;
	p[3] = access;
	put64(p + 4, port);
}

static long build_facs(struct layout *l)
{
	long off = place(l, FACS_SIZE, 64);
	uint8_t *p;

	if (off < 0)
		return -1;
	p = l->img + off;
	memcpy(p, "FACS", 4);
	put32(p + 4, FACS_SIZE);
	p[32] = 2;   /* version */
	return off;
}

static void dsdt_pci0(struct aml *a)
{
	struct aml crs;
	size_t dev, prt;

	dev = aml_device_begin(a, "PCI0");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0A08");
	aml_name(a, "_CID");
	aml_eisaid(a, "PNP0A03");
	aml_name_int(a, "_SEG", 0);
	aml_name_int(a, "_BBN", 0);
	aml_name_int(a, "_UID", 0);

	aml_init(&crs);
	aml_res_word_bus(&crs, 0x00, 0xFF);
	aml_res_io(&crs, PORT_PCI_CONF_ADDR, 8);
	aml_res_word_io(&crs, 0x0000, PORT_PCI_CONF_ADDR - 1);
	aml_res_word_io(&crs, 0x0D00, 0xFFFF);
	aml_res_dword_mem(&crs, PCI_MMIO32_BASE, PCI_MMIO32_END - 1);
	aml_res_end(&crs);
	aml_name(a, "_CRS");
	aml_buffer(a, crs.buf, crs.len);
	if (crs.err)
		a->err = crs.err;
	aml_free(&crs);

	/* INTx of slots 1..31: static GSIs, no link devices. */
	aml_name(a, "_PRT");
	prt = aml_package_begin(a, 31 * 4);
	for (unsigned slot = 1; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			size_t e = aml_package_begin(a, 4);
			aml_integer(a, (uint64_t)slot << 16 | 0xFFFF);
			aml_integer(a, pin);
			aml_integer(a, 0);   /* source: none, i.e. a GSI */
			aml_integer(a, PCI_INTX_GSI_BASE + ((slot + pin) & 3));
			aml_end(a, e);
		}
	}
	aml_end(a, prt);
	aml_end(a, dev);
}

/* A device with a _HID EISA id, optional _UID and an I/O + IRQ _CRS. */
static void dsdt_isa_device(struct aml *a, const char *name, const char *hid,
			    int uid, uint16_t port, uint8_t len, int irq)
{
	struct aml crs;
	size_t dev = aml_device_begin(a, name);

	aml_name(a, "_HID");
	aml_eisaid(a, hid);
	if (uid >= 0)
		aml_name_int(a, "_UID", uid);
	aml_init(&crs);
	aml_res_io(&crs, port, len);
	if (irq >= 0)
		aml_res_irq(&crs, irq);
	aml_res_end(&crs);
	aml_name(a, "_CRS");
	aml_buffer(a, crs.buf, crs.len);
	if (crs.err)
		a->err = crs.err;
	aml_free(&crs);
	aml_end(a, dev);
}

/* Motherboard resources: tells the OS the ECAM window is taken. */
static void dsdt_motherboard(struct aml *a)
{
	struct aml crs;
	size_t dev = aml_device_begin(a, "MRES");

	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0C02");
	aml_name_int(a, "_UID", 0);
	aml_init(&crs);
	aml_res_mem32_fixed(&crs, PCI_ECAM_BASE, PCI_ECAM_SIZE);
	aml_res_end(&crs);
	aml_name(a, "_CRS");
	aml_buffer(a, crs.buf, crs.len);
	if (crs.err)
		a->err = crs.err;
	aml_free(&crs);
	aml_end(a, dev);
}

static void dsdt_cpus(struct aml *a, unsigned ncpus)
{
	static const char hex[] = "0123456789ABCDEF";

	for (unsigned i = 0; i < ncpus; i++) {
		char name[5] = { 'C', hex[(i >> 8) & 15], hex[(i >> 4) & 15], hex[i & 15], 0 };
		size_t dev = aml_device_begin(a, name);

		aml_name_str(a, "_HID", "ACPI0007");
		aml_name_int(a, "_UID", i);
		aml_end(a, dev);
	}
}

static long build_dsdt(struct layout *l, const struct acpi_config *cfg)
{
	struct aml a;
	size_t pkg, sb;
	long off = -1;

	aml_init(&a);
	aml_bytes(&a, (uint8_t[HEADER_SIZE]){ 0 }, HEADER_SIZE);

	/* \_S5: SLP_TYPa, SLP_TYPb, reserved, reserved. */
	aml_name(&a, "\\_S5");
	pkg = aml_package_begin(&a, 4);
	aml_integer(&a, ACPI_S5_SLP_TYP);
	aml_integer(&a, ACPI_S5_SLP_TYP);
	aml_integer(&a, 0);
	aml_integer(&a, 0);
	aml_end(&a, pkg);

	sb = aml_scope_begin(&a, "\\_SB");
	dsdt_pci0(&a);
	dsdt_isa_device(&a, "COM1", "PNP0501", 1, PORT_COM1, 8, COM1_IRQ_LINE);
	dsdt_isa_device(&a, "RTC", "PNP0B00", -1, PORT_RTC, 2, IRQ_RTC);
	dsdt_motherboard(&a);
	dsdt_cpus(&a, cfg->ncpus);
	aml_end(&a, sb);

	if (a.err) {
		l->err = a.err;
	} else {
		header(a.buf, "DSDT", a.len, 2);   /* 2: 64-bit integers */
		set_checksum(a.buf, a.len, 9);
		off = emit(l, a.buf, a.len, 16);
	}
	aml_free(&a);
	return off;
}

static long build_fadt(struct layout *l, long facs, long dsdt)
{
	uint8_t t[FADT_SIZE] = { 0 };

	header(t, "FACP", FADT_SIZE, 6);
	put32(t + 36, gpa_of(facs));           /* FIRMWARE_CTRL */
	put32(t + 40, gpa_of(dsdt));           /* DSDT */
	put16(t + 46, IRQ_ACPI_SCI);           /* SCI_INT */
	put32(t + 48, 0);                      /* SMI_CMD: always in ACPI mode */
	put32(t + 56, PORT_ACPI_PM1_EVT);
	put32(t + 64, PORT_ACPI_PM1_CNT);
	put32(t + 76, PORT_ACPI_PM_TMR);
	put32(t + 80, PORT_ACPI_GPE0);
	t[88] = 4;                             /* PM1_EVT_LEN */
	t[89] = 2;                             /* PM1_CNT_LEN */
	t[91] = 4;                             /* PM_TMR_LEN */
	t[92] = 4;                             /* GPE0_BLK_LEN */
	put16(t + 96, 0x0FFF);                 /* P_LVL2_LAT: no C2 */
	put16(t + 98, 0x0FFF);                 /* P_LVL3_LAT: no C3 */
	t[108] = RTC_REG_CENTURY;
	/* No 8042, VGA present, MSI supported, CMOS RTC present. */
	put16(t + 109, BOOT_ARCH_LEGACY_DEVICES);
	put32(t + 112, FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON |
		       FADT_RESET_REG_SUP);
	gas_io(t + 116, 8, GAS_ACCESS_BYTE, PORT_RESET);
	t[128] = 0x06;                         /* RESET_VALUE */
	t[131] = 0;                            /* FADT minor version */
	put64(t + 140, gpa_of(dsdt));          /* X_DSDT */
	gas_io(t + 148, 32, GAS_ACCESS_WORD, PORT_ACPI_PM1_EVT);
	gas_io(t + 172, 16, GAS_ACCESS_WORD, PORT_ACPI_PM1_CNT);
	gas_io(t + 208, 32, GAS_ACCESS_DWORD, PORT_ACPI_PM_TMR);
	gas_io(t + 220, 32, GAS_ACCESS_BYTE, PORT_ACPI_GPE0);
	set_checksum(t, FADT_SIZE, 9);
	return emit(l, t, FADT_SIZE, 16);
}

static long build_madt(struct layout *l, const struct acpi_config *cfg)
{
	size_t len = 44 + 8 * cfg->ncpus + 12 + 2 * 10 + 6;
	uint8_t *t = calloc(1, len), *p;
	long off;

	if (!t) {
		l->err = -ENOMEM;
		return -1;
	}
	header(t, "APIC", len, 4);
	put32(t + 36, LAPIC_BASE);
	put32(t + 40, MADT_PCAT_COMPAT);
	p = t + 44;
	for (unsigned i = 0; i < cfg->ncpus; i++, p += 8) {
		p[0] = MADT_LAPIC;
		p[1] = 8;
		p[2] = i;            /* ACPI processor UID (= _UID of Cxxx) */
		p[3] = i;            /* APIC id */
		put32(p + 4, 1);     /* enabled */
	}
	p[0] = MADT_IOAPIC;
	p[1] = 12;
	p[2] = cfg->ncpus;       /* IOAPIC id after the LAPIC ids */
	put32(p + 4, IOAPIC_BASE);
	put32(p + 8, 0);         /* GSI base */
	p += 12;
	/* The PIT's IRQ0 is wired to IOAPIC pin 2. */
	p[0] = MADT_ISO;
	p[1] = 10;
	p[2] = 0;                /* ISA */
	p[3] = 0;
	put32(p + 4, 2);
	put16(p + 8, MPS_POL_HIGH | MPS_TRIG_EDGE);
	p += 10;
	/* The SCI is level-triggered, active high. */
	p[0] = MADT_ISO;
	p[1] = 10;
	p[2] = 0;
	p[3] = IRQ_ACPI_SCI;
	put32(p + 4, IRQ_ACPI_SCI);
	put16(p + 8, MPS_POL_HIGH | MPS_TRIG_LEVEL);
	p += 10;
	/* NMI on LINT1 of every processor. */
	p[0] = MADT_LAPIC_NMI;
	p[1] = 6;
	p[2] = 0xFF;
	put16(p + 3, 0);
	p[5] = 1;
	set_checksum(t, len, 9);
	off = emit(l, t, len, 16);
	free(t);
	return off;
}

static long build_mcfg(struct layout *l)
{
	uint8_t t[60] = { 0 };

	header(t, "MCFG", sizeof(t), 1);
	put64(t + 44, PCI_ECAM_BASE);
	put16(t + 52, 0);        /* segment */
	t[54] = 0;               /* first bus */
	t[55] = (PCI_ECAM_SIZE >> 20) - 1;
	set_checksum(t, sizeof(t), 9);
	return emit(l, t, sizeof(t), 16);
}

static long build_rsdt(struct layout *l, const long *tables, unsigned n)
{
	uint8_t t[HEADER_SIZE + 4 * 8] = { 0 };
	size_t len = HEADER_SIZE + 4 * n;

	header(t, "RSDT", len, 1);
	for (unsigned i = 0; i < n; i++)
		put32(t + HEADER_SIZE + 4 * i, gpa_of(tables[i]));
	set_checksum(t, len, 9);
	return emit(l, t, len, 16);
}

static long build_xsdt(struct layout *l, const long *tables, unsigned n)
{
	uint8_t t[HEADER_SIZE + 8 * 8] = { 0 };
	size_t len = HEADER_SIZE + 8 * n;

	header(t, "XSDT", len, 1);
	for (unsigned i = 0; i < n; i++)
		put64(t + HEADER_SIZE + 8 * i, gpa_of(tables[i]));
	set_checksum(t, len, 9);
	return emit(l, t, len, 16);
}

static void build_rsdp(uint8_t *p, long rsdt, long xsdt)
{
	memcpy(p, "RSD PTR ", 8);
	memcpy(p + 9, OEM_ID, 6);
	p[15] = 2;                               /* revision: ACPI 2.0+ */
	put32(p + 16, gpa_of(rsdt));
	put32(p + 20, 36);
	put64(p + 24, gpa_of(xsdt));
	set_checksum(p, 20, 8);                  /* first 20 bytes */
	set_checksum(p, 36, 32);                 /* extended checksum */
}

int acpi_build_tables(struct guest_mem *m, const struct acpi_config *cfg,
		      uint64_t *rsdp_gpa)
{
	struct layout l = { .size = BIOS_AREA_END - BIOS_AREA_BASE };
	long rsdp, facs, dsdt, tables[3], rsdt, xsdt;
	int err;

	if (!cfg || cfg->ncpus < 1 || cfg->ncpus > ACPI_MAX_CPUS)
		return -EINVAL;
	if (!gmem_ptr(m, BIOS_AREA_BASE, l.size))
		return -EFAULT;
	l.img = calloc(1, l.size);
	if (!l.img)
		return -ENOMEM;

	rsdp = place(&l, 36, 16);
	facs = build_facs(&l);
	dsdt = build_dsdt(&l, cfg);
	tables[0] = build_fadt(&l, facs, dsdt);
	tables[1] = build_madt(&l, cfg);
	tables[2] = build_mcfg(&l);
	rsdt = build_rsdt(&l, tables, ARRAY_SIZE(tables));
	xsdt = build_xsdt(&l, tables, ARRAY_SIZE(tables));
	if (l.err) {
		err = l.err;
		log_err("acpi: building tables: %d", err);
		goto out;
	}
	build_rsdp(l.img + rsdp, rsdt, xsdt);
	/* Only the used part: the rest of the BIOS area stays as it is. */
	err = gmem_write(m, BIOS_AREA_BASE, l.img, l.used);
	if (!err && rsdp_gpa)
		*rsdp_gpa = gpa_of(rsdp);
out:
	free(l.img);
	return err;
}
