/* Guest memory translation and the I/O bus. */
#include <errno.h>
#include <stdint.h>

#include "lib/util.h"
#include "mem/bus.h"
#include "mem/guest_mem.h"
#include "mem/layout.h"
#include "tap.h"

static void test_gmem_small(void)
{
	struct guest_mem m;
	uint8_t buf[16] = { 0 };

	CHECK_EQ(gmem_init(&m, 64 * MiB, 0), 0);
	CHECK_EQ(m.nr_regions, 1);
	CHECK(gmem_ptr(&m, 0, 64 * MiB) != NULL);
	CHECK(gmem_ptr(&m, 64 * MiB, 0) != NULL);
	CHECK(gmem_ptr(&m, 64 * MiB - 1, 2) == NULL);
	CHECK(gmem_ptr(&m, 64 * MiB, 1) == NULL);
	CHECK(gmem_ptr(&m, UINT64_MAX, 2) == NULL);
	CHECK(gmem_ptr(&m, 16, UINT64_MAX) == NULL);
	CHECK(gmem_ptr(&m, 1, UINT64_MAX - 0) == NULL);
	CHECK_EQ(gmem_write(&m, 100, "hello", 5), 0);
	CHECK_EQ(gmem_read(&m, 100, buf, 5), 0);
	CHECK(buf[0] == 'h' && buf[4] == 'o');
	CHECK_EQ(gmem_read(&m, 64 * MiB - 4, buf, 8), -EFAULT);
	gmem_destroy(&m);
	CHECK_EQ(gmem_init(&m, 0, 0), -EINVAL);
	CHECK_EQ(gmem_init(&m, 4097, 0), -EINVAL);
}

static uint64_t dma_gpa, dma_len;

static void on_dma(struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	dma_gpa = gpa;
	dma_len = len;
}

/* Writes behind the CPU's back are announced to the engine (emu's code cache). */
static void test_gmem_dma_notice(void)
{
	struct guest_mem m;

	CHECK_EQ(gmem_init(&m, 16 * MiB, 0), 0);
	m.on_dma_write = on_dma;
	CHECK_EQ(gmem_write(&m, 0x1234, "abc", 3), 0);
	CHECK_EQ(dma_gpa, 0x1234);
	CHECK_EQ(dma_len, 3);
	dma_len = 0;
	CHECK_EQ(gmem_write(&m, 16 * MiB - 1, "ab", 2), -EFAULT);
	CHECK_EQ(dma_len, 0);                   /* nothing written, nothing announced */
	gmem_destroy(&m);
}

static void test_gmem_split(void)
{
	struct guest_mem m;
	uint64_t ram = LOW_RAM_END + 256 * MiB;

	CHECK_EQ(gmem_init(&m, ram, GMEM_MERGE), 0);
	CHECK_EQ(m.nr_regions, 2);
	CHECK(gmem_ptr(&m, LOW_RAM_END - 8, 8) != NULL);
	CHECK(gmem_ptr(&m, LOW_RAM_END - 8, 16) == NULL);   /* spans the hole */
	CHECK(gmem_ptr(&m, LOW_RAM_END, 1) == NULL);
	CHECK(gmem_ptr(&m, HIGH_RAM_BASE, 256 * MiB) != NULL);
	CHECK(gmem_ptr(&m, HIGH_RAM_BASE + 256 * MiB, 1) == NULL);
	CHECK((uint8_t *)gmem_ptr(&m, HIGH_RAM_BASE, 1) ==
	      (uint8_t *)gmem_ptr(&m, LOW_RAM_END - 1, 1) + 1);
	gmem_destroy(&m);
}

static uint64_t last_off, last_val;
static unsigned last_size;

static uint64_t dev_read(void *opaque, uint64_t off, unsigned size)
{
	return (uintptr_t)opaque + off;
}

static void dev_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	last_off = off;
	last_size = size;
	last_val = val;
}

static const struct bus_ops dev_ops = { dev_read, dev_write };

static void test_bus(void)
{
	struct bus b;

	bus_init(&b, "pio");
	CHECK_EQ(bus_add(&b, 0x3f8, 8, &dev_ops, (void *)0x1000, "uart"), 0);
	CHECK_EQ(bus_add(&b, 0x3f0, 8, &dev_ops, (void *)0x2000, "fdc"), 0);
	CHECK_EQ(bus_add(&b, 0x3fc, 1, &dev_ops, NULL, "overlap"), -EEXIST);
	CHECK_EQ(bus_add(&b, 0x3f7, 2, &dev_ops, NULL, "overlap"), -EEXIST);
	CHECK_EQ(bus_add(&b, 0x3f0, 0, &dev_ops, NULL, "empty"), -EINVAL);
	CHECK_EQ(bus_read(&b, 0x3f8, 1), 0x1000);
	CHECK_EQ(bus_read(&b, 0x3fa, 1), 0x1002);
	CHECK_EQ(bus_read(&b, 0x3f2, 2), 0x2002);
	CHECK_EQ(bus_read(&b, 0x400, 1), 0xff);          /* unclaimed */
	CHECK_EQ(bus_read(&b, 0x400, 4), 0xffffffff);
	CHECK_EQ(bus_read(&b, 0x3ff, 2), 0xffff);        /* straddles the end */
	bus_write(&b, 0x3f9, 1, 0x5a);
	CHECK_EQ(last_off, 1);
	CHECK_EQ(last_size, 1);
	CHECK_EQ(last_val, 0x5a);
	CHECK_EQ(bus_remove(&b, 0x3f8, (void *)0x1234), -ENOENT);
	CHECK_EQ(bus_remove(&b, 0x3f8, (void *)0x1000), 0);
	CHECK_EQ(bus_read(&b, 0x3f8, 1), 0xff);
	CHECK_EQ(bus_add(&b, 0x3f8, 8, &dev_ops, NULL, "again"), 0);
	bus_destroy(&b);
}

static void test_parse(void)
{
	uint64_t v;

	CHECK_EQ(parse_size("512M", 0, &v), 0);
	CHECK_EQ(v, 512 * MiB);
	CHECK_EQ(parse_size("2G", 0, &v), 0);
	CHECK_EQ(v, 2 * GiB);
	CHECK_EQ(parse_size("1GiB", 0, &v), 0);
	CHECK_EQ(v, GiB);
	CHECK_EQ(parse_size("256", MiB, &v), 0);
	CHECK_EQ(v, 256 * MiB);
	CHECK_EQ(parse_size("12X", 0, &v), -EINVAL);
	CHECK_EQ(parse_size("-1", 0, &v), -EINVAL);
	CHECK_EQ(parse_size("", 0, &v), -EINVAL);
	CHECK_EQ(parse_size("99999999999999999999", 0, &v), -EINVAL);
	CHECK_EQ(parse_size("99999999999T", 0, &v), -EINVAL);
	CHECK_EQ(parse_uint("4", 1, 64, &v), 0);
	CHECK_EQ(v, 4);
	CHECK_EQ(parse_uint("0", 1, 64, &v), -EINVAL);
	CHECK_EQ(parse_uint("65", 1, 64, &v), -EINVAL);
	CHECK_EQ(parse_uint("4x", 1, 64, &v), -EINVAL);
}

int main(void)
{
	test_gmem_small();
	test_gmem_split();
	test_gmem_dma_notice();
	test_bus();
	test_parse();
	return test_done();
}
