/*
 * The emu engine through struct engine_ops: a 32-bit (PVH-like) guest
 * writes a port whose device asks for power-off; a triple fault ends run()
 * with ENGINE_EXIT_ERROR; stop() from another thread ends a busy loop;
 * pause/resume work while it runs.
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "cpu/engine.h"
#include "mem/bus.h"
#include "mem/guest_mem.h"
#include "../tap.h"

static struct guest_mem mem;
static struct bus pio, mmio;
static struct engine *eng;
static uint64_t port_value;

static uint64_t dev_read(void *opaque, uint64_t off, unsigned size)
{
	return 0;
}

static void dev_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	port_value = val;
	emu_engine_ops.stop(eng, ENGINE_EXIT_POWEROFF);
}

static const struct bus_ops dev_ops = { dev_read, dev_write };

static struct engine *boot32(const uint8_t *code, size_t len)
{
	struct engine_config cfg = { &mem, &pio, &mmio, 1 };
	struct cpu_boot_state st;
	struct engine *e = emu_engine_ops.create(&cfg);

	CHECK(e != NULL);
	CHECK(emu_engine_ops.irq_chip(e) != NULL);
	gmem_write(&mem, 0x100000, code, len);
	memset(&st, 0, sizeof(st));
	struct seg_state flat = { .selector = 0x18, .limit = 0xFFFFFFFF, .type = 3,
				  .s = 1, .present = 1, .db = 1, .g = 1 };
	st.ds = st.es = st.fs = st.gs = st.ss = flat;
	st.cs = flat;
	st.cs.selector = 0x10;
	st.cs.type = 0xB;
	st.tr = (struct seg_state){ .type = 0xB, .present = 1, .limit = 0x67 };
	st.rip = 0x100000;
	st.rsp = 0x8000;
	st.rflags = 2;
	st.cr0 = 0x11;
	CHECK_EQ(emu_engine_ops.set_boot_state(e, &st), 0);
	return e;
}

static void test_poweroff(void)
{
	/* mov $0x2000,%ax; mov $0x604,%dx; out %ax,%dx; hlt */
	static const uint8_t code[] = { 0x66, 0xb8, 0x00, 0x20, 0x66, 0xba, 0x04, 0x06,
					0x66, 0xef, 0xf4 };
	eng = boot32(code, sizeof(code));
	CHECK_EQ(emu_engine_ops.run(eng), ENGINE_EXIT_POWEROFF);
	CHECK_EQ(port_value, 0x2000);
	emu_engine_ops.destroy(eng);
}

static void test_triple_fault(void)
{
	/* ud2 with an empty IDT: #UD -> #GP -> #DF -> triple fault. */
	static const uint8_t code[] = { 0x0f, 0x0b };
	eng = boot32(code, sizeof(code));
	CHECK_EQ(emu_engine_ops.run(eng), ENGINE_EXIT_ERROR);
	emu_engine_ops.destroy(eng);
}

static void *stopper(void *arg)
{
	usleep(20000);
	emu_engine_ops.pause(eng);
	usleep(10000);
	emu_engine_ops.resume(eng);
	usleep(10000);
	emu_engine_ops.stop(eng, ENGINE_EXIT_STOPPED);
	return NULL;
}

static void test_stop(void)
{
	static const uint8_t code[] = { 0xeb, 0xfe };     /* jmp . */
	pthread_t t;
	eng = boot32(code, sizeof(code));
	pthread_create(&t, NULL, stopper, NULL);
	CHECK_EQ(emu_engine_ops.run(eng), ENGINE_EXIT_STOPPED);
	pthread_join(t, NULL);
	emu_engine_ops.destroy(eng);
}

int main(void)
{
	char why[64];
	if (gmem_init(&mem, 32ULL << 20, 0) != 0)
		return 1;
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	bus_add(&pio, 0x604, 2, &dev_ops, NULL, "pm1");
	CHECK(emu_engine_ops.available(why, sizeof(why)));
	test_poweroff();
	test_triple_fault();
	test_stop();
	bus_destroy(&pio);
	bus_destroy(&mmio);
	gmem_destroy(&mem);
	return test_done();
}
