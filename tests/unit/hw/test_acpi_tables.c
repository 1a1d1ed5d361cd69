/*
 * ACPI tables: structure, links and checksums for 1, 2 and 64 CPUs, then
 * every table through iasl's disassembler (acpica-tools), and the DSDT
 * recompiled from that disassembly: any error, or any warning, fails.
 * A missing iasl fails the test too.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hw/acpi_tables.h"
#include "lib/util.h"
#include "mem/guest_mem.h"
#include "mem/layout.h"
#include "tap.h"

static struct guest_mem mem;

static uint8_t *at(uint64_t gpa, uint64_t len)
{
	return gmem_ptr(&mem, gpa, len);
}

static uint32_t get16(const uint8_t *p) { return p[0] | p[1] << 8; }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

static bool in_bios_area(uint64_t gpa, uint64_t len)
{
	return gpa >= BIOS_AREA_BASE && range_within(gpa - BIOS_AREA_BASE, len,
						     BIOS_AREA_END - BIOS_AREA_BASE);
}

/* A table with a standard header: in the BIOS area, right signature and sum. */
static const uint8_t *table(uint64_t gpa, const char *sig)
{
	const uint8_t *t = at(gpa, 36);
	uint32_t len;

	CHECK(t != NULL);
	if (!t)
		return NULL;
	len = get32(t + 4);
	CHECK(memcmp(t, sig, 4) == 0);
	CHECK(len >= 36 && in_bios_area(gpa, len));
	if (!in_bios_area(gpa, len))
		return NULL;
	CHECK_EQ(sum(t, len), 0);
	return t;
}

struct found {
	uint64_t fadt, madt, mcfg, dsdt, facs, rsdt, xsdt;
};

static void check_tables(unsigned ncpus, struct found *f)
{
	struct acpi_config cfg = { .ncpus = ncpus };
	uint64_t rsdp_gpa = 0;
	const uint8_t *rsdp, *xsdt, *rsdt, *fadt, *madt, *mcfg, *facs, *p, *end;
	unsigned n, lapics = 0, ioapics = 0, isos = 0, nmis = 0, others = 0;

	memset(f, 0, sizeof(*f));
	memset(at(BIOS_AREA_BASE, BIOS_AREA_END - BIOS_AREA_BASE), 0,
	       BIOS_AREA_END - BIOS_AREA_BASE);
	CHECK_EQ(acpi_build_tables(&mem, &cfg, &rsdp_gpa), 0);
	CHECK_EQ(rsdp_gpa, BIOS_AREA_BASE);
	CHECK_EQ(rsdp_gpa % 16, 0);
	rsdp = at(rsdp_gpa, 36);
	CHECK(memcmp(rsdp, "RSD PTR ", 8) == 0);
	CHECK_EQ(sum(rsdp, 20), 0);
	CHECK_EQ(sum(rsdp, 36), 0);
	CHECK_EQ(rsdp[15], 2);
	CHECK_EQ(get32(rsdp + 20), 36);
	f->rsdt = get32(rsdp + 16);
	f->xsdt = get64(rsdp + 24);

	xsdt = table(f->xsdt, "XSDT");
	rsdt = table(f->rsdt, "RSDT");
	if (!xsdt || !rsdt)
		return;
	n = (get32(xsdt + 4) - 36) / 8;
	CHECK_EQ(n, 3);
	CHECK_EQ((get32(rsdt + 4) - 36) / 4, n);
	for (unsigned i = 0; i < n; i++) {
		uint64_t gpa = get64(xsdt + 36 + 8 * i);
		const uint8_t *t = at(gpa, 4);

		CHECK_EQ(get32(rsdt + 36 + 4 * i), gpa);
		if (!t)
			continue;
		if (!memcmp(t, "FACP", 4))
			f->fadt = gpa;
		else if (!memcmp(t, "APIC", 4))
			f->madt = gpa;
		else if (!memcmp(t, "MCFG", 4))
			f->mcfg = gpa;
	}

	/* FADT. */
	fadt = table(f->fadt, "FACP");
	if (!fadt)
		return;
	CHECK_EQ(get32(fadt + 4), 276);
	CHECK_EQ(fadt[8], 6);
	f->dsdt = get64(fadt + 140);
	f->facs = get32(fadt + 36);
	CHECK_EQ(get32(fadt + 40), f->dsdt);
	CHECK_EQ(get16(fadt + 46), IRQ_ACPI_SCI);
	CHECK_EQ(get32(fadt + 48), 0);
	CHECK_EQ(get32(fadt + 56), PORT_ACPI_PM1_EVT);
	CHECK_EQ(get32(fadt + 64), PORT_ACPI_PM1_CNT);
	CHECK_EQ(get32(fadt + 76), PORT_ACPI_PM_TMR);
	CHECK_EQ(get32(fadt + 80), PORT_ACPI_GPE0);
	CHECK_EQ(fadt[88], 4);
	CHECK_EQ(fadt[89], 2);
	CHECK_EQ(fadt[91], 4);
	CHECK_EQ(fadt[92], 4);
	CHECK_EQ(get16(fadt + 109) & 0x0E, 0);        /* 8042, VGA-absent, no-MSI */
	CHECK_EQ(get32(fadt + 112) & 0x10, 0);        /* fixed power button */
	CHECK_EQ(get32(fadt + 112) & 0x425, 0x425);
	CHECK_EQ(fadt[116], 1);                       /* RESET_REG in I/O space */
	CHECK_EQ(get64(fadt + 120), PORT_RESET);
	CHECK_EQ(fadt[128], 6);
	CHECK_EQ(get64(fadt + 148 + 4), PORT_ACPI_PM1_EVT);
	CHECK_EQ(fadt[148 + 1], 32);
	CHECK_EQ(get64(fadt + 172 + 4), PORT_ACPI_PM1_CNT);
	CHECK_EQ(fadt[172 + 1], 16);
	CHECK_EQ(get64(fadt + 208 + 4), PORT_ACPI_PM_TMR);
	CHECK_EQ(get64(fadt + 220 + 4), PORT_ACPI_GPE0);

	table(f->dsdt, "DSDT");
	facs = at(f->facs, 64);
	CHECK(facs && memcmp(facs, "FACS", 4) == 0 && get32(facs + 4) == 64);
	CHECK_EQ(f->facs % 64, 0);

	/* MADT: walk the entries. */
	madt = table(f->madt, "APIC");
	if (!madt)
		return;
	CHECK_EQ(get32(madt + 36), LAPIC_BASE);
	CHECK_EQ(get32(madt + 40) & 1, 1);
	p = madt + 44;
	end = madt + get32(madt + 4);
	while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
		switch (p[0]) {
		case 0:
			CHECK_EQ(p[3], lapics);
			CHECK_EQ(get32(p + 4) & 1, 1);
			lapics++;
			break;
		case 1:
			CHECK_EQ(p[2], ncpus);
			CHECK_EQ(get32(p + 4), IOAPIC_BASE);
			CHECK_EQ(get32(p + 8), 0);
			ioapics++;
			break;
		case 2:
			if (p[3] == 0)
				CHECK_EQ(get32(p + 4), 2);
			else
				CHECK(p[3] == IRQ_ACPI_SCI && get32(p + 4) == IRQ_ACPI_SCI &&
				      get16(p + 8) == 0x0D);
			isos++;
			break;
		case 4:
			CHECK_EQ(p[5], 1);
			nmis++;
			break;
		default:
			others++;
		}
		p += p[1];
	}
	CHECK(p == end);
	CHECK_EQ(lapics, ncpus);
	CHECK_EQ(ioapics, 1);
	CHECK_EQ(isos, 2);
	CHECK_EQ(nmis, 1);
	CHECK_EQ(others, 0);

	mcfg = table(f->mcfg, "MCFG");
	if (!mcfg)
		return;
	CHECK_EQ(get32(mcfg + 4), 60);
	CHECK_EQ(get64(mcfg + 44), PCI_ECAM_BASE);
	CHECK_EQ(get16(mcfg + 52), 0);
	CHECK_EQ(mcfg[54], 0);
	CHECK_EQ(mcfg[55], 255);
}

static void check_errors(void)
{
	struct acpi_config cfg = { .ncpus = 0 };
	struct guest_mem small;
	uint64_t rsdp;

	CHECK_EQ(acpi_build_tables(&mem, &cfg, &rsdp), -EINVAL);
	cfg.ncpus = ACPI_MAX_CPUS + 1;
	CHECK_EQ(acpi_build_tables(&mem, &cfg, &rsdp), -EINVAL);
	CHECK_EQ(acpi_build_tables(&mem, NULL, &rsdp), -EINVAL);
	cfg.ncpus = 1;
	CHECK_EQ(gmem_init(&small, 512 * KiB, 0), 0);
	CHECK_EQ(acpi_build_tables(&small, &cfg, &rsdp), -EFAULT);
	gmem_destroy(&small);
}

/* --- iasl --- */

static char *slurp(const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	char *s;

	if (read_file(path, &data, &len) < 0)
		return NULL;
	s = realloc(data, len + 1);
	if (!s) {
		free(data);
		return NULL;
	}
	s[len] = 0;
	return s;
}

static bool dump(const char *dir, const char *name, uint64_t gpa, uint64_t len)
{
	char path[512];
	const void *p = at(gpa, len);
	FILE *fp;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
	fp = fopen(path, "wb");
	if (!fp || !p)
		return false;
	ok = fwrite(p, 1, len, fp) == len;
	return fclose(fp) == 0 && ok;
}

/* Run a shell command in dir with output to log; its exit status. */
static int run(const char *dir, const char *cmd, const char *log)
{
	char line[1024];
	int st;

	snprintf(line, sizeof(line), "cd '%s' && %s > '%s' 2>&1", dir, cmd, log);
	st = system(line);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool mentions_problem(const char *log)
{
	return strstr(log, "Error") || strstr(log, "error") ||
	       strstr(log, "Warning") || strstr(log, "warning");
}

/* Our own "Compilation complete. 0 Errors, 0 Warnings" check. */
static bool clean_compile(const char *log)
{
	return strstr(log, " 0 Errors, 0 Warnings") != NULL;
}

static void check_with_iasl(unsigned ncpus)
{
	static const char *names[] = { "dsdt", "facp", "apic", "mcfg", "facs", "xsdt", "rsdt" };
	char dir[] = "/tmp/vireo-acpi-XXXXXX", path[600], cmd[256];
	struct found f;
	char *log;

	check_tables(ncpus, &f);
	CHECK(mkdtemp(dir) != NULL);
	CHECK(dump(dir, "dsdt", f.dsdt, get32(at(f.dsdt, 8) + 4)));
	CHECK(dump(dir, "facp", f.fadt, get32(at(f.fadt, 8) + 4)));
	CHECK(dump(dir, "apic", f.madt, get32(at(f.madt, 8) + 4)));
	CHECK(dump(dir, "mcfg", f.mcfg, get32(at(f.mcfg, 8) + 4)));
	CHECK(dump(dir, "facs", f.facs, 64));
	CHECK(dump(dir, "xsdt", f.xsdt, get32(at(f.xsdt, 8) + 4)));
	CHECK(dump(dir, "rsdt", f.rsdt, get32(at(f.rsdt, 8) + 4)));

	CHECK_EQ(run(dir, "command -v iasl", "which.log"), 0);
	for (unsigned i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(cmd, sizeof(cmd), "iasl -d %s.dat", names[i]);
		snprintf(path, sizeof(path), "%s.log", names[i]);
		CHECK_EQ(run(dir, cmd, path), 0);
		snprintf(path, sizeof(path), "%s/%s.log", dir, names[i]);
		log = slurp(path);
		CHECK(log != NULL);
		if (log && mentions_problem(log)) {
			CHECK(!"iasl -d reported a problem");
			fprintf(stderr, "--- iasl -d %s.dat (%u cpus):\n%s\n", names[i], ncpus, log);
		}
		free(log);
	}

	snprintf(path, sizeof(path), "%s/dsdt.dsl", dir);
	log = slurp(path);
	CHECK(log != NULL);
	if (log) {
		CHECK(strstr(log, "_S5") != NULL);
		CHECK(strstr(log, "PNP0A03") != NULL);
		CHECK(strstr(log, "PNP0A08") != NULL);
		CHECK(strstr(log, "PNP0501") != NULL);
		CHECK(strstr(log, "_PRT") != NULL);
	}
	free(log);

	/* Recompiling the disassembly is the strict check of the AML. */
	CHECK_EQ(run(dir, "iasl -vi -p recompiled dsdt.dsl", "compile.log"), 0);
	snprintf(path, sizeof(path), "%s/compile.log", dir);
	log = slurp(path);
	CHECK(log != NULL);
	if (log && !clean_compile(log)) {
		CHECK(!"iasl recompile of the DSDT not clean");
		fprintf(stderr, "--- iasl dsdt.dsl (%u cpus):\n%s\n", ncpus, log);
	}
	free(log);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_EQ(system(cmd), 0);
}

int main(void)
{
	struct found f;

	CHECK_EQ(gmem_init(&mem, 64 * MiB, 0), 0);
	check_tables(1, &f);
	check_tables(2, &f);
	check_tables(64, &f);
	check_errors();
	check_with_iasl(2);
	check_with_iasl(64);
	gmem_destroy(&mem);
	return test_done();
}
