/*
 * Just enough ACPI: find the RSDP, walk the RSDT/XSDT to the MADT (CPUs,
 * IOAPICs, interrupt source overrides) and the FADT (PM1 blocks, SCI, reset
 * register, DSDT), then \_S5 in the DSDT for power-off. Nothing about the
 * machine is hard-coded; the same kernel runs on QEMU and vireo.
 *
 * Tables are reached through the identity map (0-4 GiB); a table above
 * 4 GiB is ignored.
 */
#include "tk.h"

#define SDT_HEADER_LEN	36
#define FOUR_GIB	(1ULL << 32)

/* FADT field offsets (ACPI 6.x, table 5.9). */
#define FADT_DSDT		40
#define FADT_SCI_INT		46
#define FADT_SMI_CMD		48
#define FADT_ACPI_ENABLE	52
#define FADT_PM1A_EVT		56
#define FADT_PM1B_EVT		60
#define FADT_PM1A_CNT		64
#define FADT_PM1B_CNT		68
#define FADT_PM_TMR		76
#define FADT_PM1_EVT_LEN	88
#define FADT_FLAGS		112
#define FADT_RESET_REG		116
#define FADT_RESET_VALUE	128
#define FADT_X_DSDT		140
#define FADT_X_PM1A_EVT		148
#define FADT_X_PM1A_CNT		172
#define FADT_FLAG_RESET_REG_SUP	(1u << 10)

#define PM1_CNT_SCI_EN		(1u << 0)
#define PM1_CNT_SLP_TYP_SHIFT	10
#define PM1_CNT_SLP_EN		(1u << 13)
#define PM_TMR_HZ		3579545u

struct acpi_info acpi;

static bool checksum_ok(const u8 *p, u32 len)
{
	u8 sum = 0;

	while (len--)
		sum += *p++;
	return sum == 0;
}

static bool rsdp_valid(u64 addr)
{
	const u8 *p = (const u8 *)(uintptr_t)addr;

	if (!addr || addr >= FOUR_GIB - 36)
		return false;
	return !memcmp(p, "RSD PTR ", 8) && checksum_ok(p, 20);
}

static u64 rsdp_scan(u64 start, u64 end)
{
	for (; start + 20 <= end; start += 16)
		if (rd64((const void *)(uintptr_t)start) ==
		    0x2052545020445352ULL && rsdp_valid(start))
			return start;
	return 0;
}

static u64 find_rsdp(void)
{
	u64 ebda;

	if (rsdp_valid(boot.rsdp))
		return boot.rsdp;
	/* The first KiB of the EBDA, then the BIOS area (ACPI 5.2.5.1). */
	ebda = (u64)rd16((const void *)0x40E) << 4;
	if (ebda >= 0x80000 && ebda < 0xA0000) {
		u64 found = rsdp_scan(ebda, ebda + 1024);

		if (found)
			return found;
	}
	return rsdp_scan(0xE0000, 0x100000);
}

static const u8 *table_at(u64 addr)
{
	if (!addr || addr >= FOUR_GIB - SDT_HEADER_LEN)
		return NULL;
	return (const u8 *)(uintptr_t)addr;
}

static void parse_madt(const u8 *t)
{
	u32 len = rd32(t + 4);
	const u8 *p = t + 44, *end = t + len;

	acpi.lapic_base = rd32(t + 36);
	while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
		switch (p[0]) {
		case 0:	/* processor local APIC */
			if ((rd32(p + 4) & 1) && acpi.nr_cpus < TK_MAX_CPUS)
				acpi.apic_ids[acpi.nr_cpus++] = p[3];
			break;
		case 1:	/* IOAPIC */
			if (acpi.nr_ioapics < TK_MAX_IOAPICS) {
				acpi.ioapic[acpi.nr_ioapics].addr = rd32(p + 4);
				acpi.ioapic[acpi.nr_ioapics].gsi_base =
					rd32(p + 8);
				acpi.nr_ioapics++;
			}
			break;
		case 2:	/* interrupt source override */
			if (acpi.nr_isos < TK_MAX_ISOS) {
				acpi.iso[acpi.nr_isos].source = p[3];
				acpi.iso[acpi.nr_isos].gsi = rd32(p + 4);
				acpi.iso[acpi.nr_isos].flags = rd16(p + 8);
				acpi.nr_isos++;
			}
			break;
		case 5:	/* local APIC address override */
			if (p[1] >= 12)
				acpi.lapic_base = rd64(p + 4);
			break;
		}
		p += p[1];
	}
}

/* An I/O-space generic address, or 0. */
static u16 gas_io(const u8 *g)
{
	return g[0] == 1 ? (u16)rd64(g + 4) : 0;
}

static void parse_fadt(const u8 *t)
{
	u32 len = rd32(t + 4);
	u64 dsdt = 0;

	if (len < FADT_PM1_EVT_LEN + 1)
		return;
	acpi.have_fadt = true;
	acpi.sci_irq = rd16(t + FADT_SCI_INT);
	acpi.smi_cmd = rd32(t + FADT_SMI_CMD);
	acpi.acpi_enable = t[FADT_ACPI_ENABLE];
	acpi.pm1a_evt = (u16)rd32(t + FADT_PM1A_EVT);
	acpi.pm1b_evt = (u16)rd32(t + FADT_PM1B_EVT);
	acpi.pm1a_cnt = (u16)rd32(t + FADT_PM1A_CNT);
	acpi.pm1b_cnt = (u16)rd32(t + FADT_PM1B_CNT);
	acpi.pm_tmr = (u16)rd32(t + FADT_PM_TMR);
	acpi.pm1_evt_len = t[FADT_PM1_EVT_LEN];
	if (len >= FADT_FLAGS + 4)
		acpi.fadt_flags = rd32(t + FADT_FLAGS);
	if (len >= FADT_RESET_VALUE + 1 &&
	    (acpi.fadt_flags & FADT_FLAG_RESET_REG_SUP)) {
		acpi.have_reset_reg = true;
		acpi.reset_reg.space = t[FADT_RESET_REG];
		acpi.reset_reg.addr = rd64(t + FADT_RESET_REG + 4);
		acpi.reset_value = t[FADT_RESET_VALUE];
	}
	if (len >= FADT_X_DSDT + 8)
		dsdt = rd64(t + FADT_X_DSDT);
	if (!dsdt)
		dsdt = rd32(t + FADT_DSDT);
	/* Hardware-reduced style tables may only fill the X_ blocks. */
	if (!acpi.pm1a_evt && len >= FADT_X_PM1A_EVT + 12)
		acpi.pm1a_evt = gas_io(t + FADT_X_PM1A_EVT);
	if (!acpi.pm1a_cnt && len >= FADT_X_PM1A_CNT + 12)
		acpi.pm1a_cnt = gas_io(t + FADT_X_PM1A_CNT);
	acpi.dsdt = table_at(dsdt);
	if (acpi.dsdt) {
		acpi.dsdt_len = rd32(acpi.dsdt + 4);
		if (memcmp(acpi.dsdt, "DSDT", 4))
			acpi.dsdt = NULL;
	}
}

void acpi_init(void)
{
	const u8 *root;
	u32 entry_size = 4, len, i;
	u64 root_addr;

	acpi.lapic_base = 0xFEE00000;	/* architectural default */
	acpi.rsdp = find_rsdp();
	if (!acpi.rsdp)
		return;
	root = (const u8 *)(uintptr_t)acpi.rsdp;
	root_addr = rd32(root + 16);
	if (root[15] >= 2 && rd64(root + 24) && rd64(root + 24) < FOUR_GIB) {
		root_addr = rd64(root + 24);
		entry_size = 8;
	}
	root = table_at(root_addr);
	if (!root)
		return;
	len = rd32(root + 4);
	for (i = SDT_HEADER_LEN; i + entry_size <= len; i += entry_size) {
		u64 addr = entry_size == 8 ? rd64(root + i) : rd32(root + i);
		const u8 *t = table_at(addr);

		if (!t)
			continue;
		if (!memcmp(t, "APIC", 4))
			parse_madt(t);
		else if (!memcmp(t, "FACP", 4))
			parse_fadt(t);
	}
}

/*
 * Busy-wait until *flag reaches want (flag may be NULL) or ms milliseconds
 * pass on the ACPI PM timer. The timer is read once per 256 loop turns so a
 * wait costs few port reads; without a timer the bound is a loop count.
 */
bool acpi_wait(volatile u32 *flag, u32 want, unsigned int ms)
{
	u32 ticks = (u32)((u64)PM_TMR_HZ * ms / 1000), start = 0, turns;

	if (ticks > 0xFFFFFF / 2)
		ticks = 0xFFFFFF / 2;	/* 24-bit timer: below one wrap */
	if (acpi.pm_tmr)
		start = inl(acpi.pm_tmr);
	for (turns = 1;; turns++) {
		if (flag && *flag >= want)
			return true;
		cpu_pause();
		if (turns % 256)
			continue;
		if (acpi.pm_tmr) {
			if (((inl(acpi.pm_tmr) - start) & 0xFFFFFF) >= ticks)
				return false;
		} else if (turns >= ms * 1000u) {
			return false;
		}
	}
}

/* Value of an AML integer at *p (ZeroOp, OneOp, OnesOp, Byte/Word/DWord). */
static bool aml_int(const u8 **pp, const u8 *end, u32 *val)
{
	const u8 *p = *pp;

	if (p >= end)
		return false;
	switch (*p) {
	case 0x00:
		*val = 0;
		*pp = p + 1;
		return true;
	case 0x01:
		*val = 1;
		*pp = p + 1;
		return true;
	case 0xFF:
		*val = 0xFFFFFFFF;
		*pp = p + 1;
		return true;
	case 0x0A:
		if (p + 2 > end)
			return false;
		*val = p[1];
		*pp = p + 2;
		return true;
	case 0x0B:
		if (p + 3 > end)
			return false;
		*val = rd16(p + 1);
		*pp = p + 3;
		return true;
	case 0x0C:
		if (p + 5 > end)
			return false;
		*val = rd32(p + 1);
		*pp = p + 5;
		return true;
	}
	return false;
}

/* Find Name(_S5, Package() { SLP_TYPa, SLP_TYPb, ... }) in the DSDT. */
static bool find_s5(u32 *typa, u32 *typb)
{
	const u8 *t = acpi.dsdt, *end;
	u32 i;

	if (!t || acpi.dsdt_len < SDT_HEADER_LEN + 8)
		return false;
	end = t + acpi.dsdt_len;
	for (i = SDT_HEADER_LEN; i + 16 <= acpi.dsdt_len; i++) {
		const u8 *p;
		u64 v;

		/*
		 * Each byte costs guest instructions, so skip 8 bytes at a
		 * time unless one of them is '5' (rare in AML, unlike '_').
		 */
		v = rd64(t + i) ^ 0x3535353535353535ULL;
		if (!((v - 0x0101010101010101ULL) & ~v &
		      0x8080808080808080ULL)) {
			i += 7;
			continue;
		}
		if (rd32(t + i - 2) != 0x5F35535F)	/* "_S5_" */
			continue;
		p = t + i + 2;
		if (*p++ != 0x12)		/* PackageOp */
			continue;
		p += 1 + (*p >> 6);		/* PkgLength */
		p++;				/* NumElements */
		if (!aml_int(&p, end, typa))
			continue;
		if (!aml_int(&p, end, typb))
			*typb = *typa;
		return true;
	}
	return false;
}

static void write_slp(u16 port, u32 typ)
{
	u16 v = inw(port);

	v &= ~(7u << PM1_CNT_SLP_TYP_SHIFT);
	v |= (u16)(((typ & 7) << PM1_CNT_SLP_TYP_SHIFT) | PM1_CNT_SLP_EN);
	outw(port, v);
}

void acpi_power_off(void)
{
	u32 typa, typb;

	if (acpi.pm1a_cnt && find_s5(&typa, &typb)) {
		write_slp(acpi.pm1a_cnt, typa);
		if (acpi.pm1b_cnt)
			write_slp(acpi.pm1b_cnt, typb);
		/* The VMM may take a moment to act on it. */
		acpi_wait(NULL, 0, 1000);
	}
	kprintf("testkernel: power off failed\n");
	halt_forever();
}

static void pci_conf_write8(u64 gas_addr, u8 v)
{
	u32 dev = (gas_addr >> 32) & 0x1F, fn = (gas_addr >> 16) & 7;
	u32 off = gas_addr & 0xFF;

	outl(0xCF8, 0x80000000u | dev << 11 | fn << 8 | (off & 0xFC));
	outb((u16)(0xCFC + (off & 3)), v);
}

void acpi_reset(void)
{
	if (acpi.have_reset_reg && acpi.reset_reg.addr) {
		switch (acpi.reset_reg.space) {
		case 0:
			if (acpi.reset_reg.addr < FOUR_GIB)
				*(volatile u8 *)(uintptr_t)acpi.reset_reg.addr =
					acpi.reset_value;
			break;
		case 1:
			outb((u16)acpi.reset_reg.addr, acpi.reset_value);
			break;
		case 2:
			pci_conf_write8(acpi.reset_reg.addr, acpi.reset_value);
			break;
		}
	} else {
		outb(0xCF9, 0x06);
	}
	acpi_wait(NULL, 0, 100);
	outb(0x64, 0xFE);		/* keyboard controller pulse */
	halt_forever();
}

/*
 * Where the SCI arrives: FADT SCI_INT is an ISA IRQ unless an interrupt
 * source override maps it. Without an override the SCI is level, active
 * low (ACPI 5.2.9, what Linux assumes); an override's "conforms" bits
 * (0) keep those defaults.
 */
bool acpi_sci_route(u32 *gsi, bool *level, bool *active_low)
{
	unsigned int i;

	if (!acpi.have_fadt)
		return false;
	*gsi = acpi.sci_irq;
	*level = true;
	*active_low = true;
	for (i = 0; i < acpi.nr_isos; i++) {
		u16 f = acpi.iso[i].flags;

		if (acpi.iso[i].source != acpi.sci_irq)
			continue;
		*gsi = acpi.iso[i].gsi;
		if ((f & 3) == 1)
			*active_low = false;
		else if ((f & 3) == 3)
			*active_low = true;
		if (((f >> 2) & 3) == 1)
			*level = false;
		else if (((f >> 2) & 3) == 3)
			*level = true;
	}
	return true;
}
