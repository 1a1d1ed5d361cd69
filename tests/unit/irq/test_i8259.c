/* i8259 pair: Linux's init sequence and probe, masking, priorities, EOI,
 * spurious IRQ7/IRQ15, edge vs level (ELCR), auto-EOI, poll, bus access. */
#include "hw/i8259.h"
#include "tap.h"

static int int_level, int_changes;

static void set_int(void *opaque, int level)
{
	int_level = level;
	int_changes++;
}

static void out(struct pic *p, uint16_t port, uint8_t v) { pic_port_write(p, port, v); }
static uint8_t in(struct pic *p, uint16_t port) { return pic_port_read(p, port); }

/* arch/x86/kernel/i8259.c: init_8259A(auto_eoi) after a probe. */
static void linux_init(struct pic *p, int auto_eoi)
{
	out(p, 0xA1, 0xFF);
	out(p, 0x21, 0xFB);                     /* probe: mask all but cascade */
	CHECK_EQ(in(p, 0x21), 0xFB);
	out(p, 0x21, 0xFF);
	out(p, 0xA1, 0xFF);
	out(p, 0x20, 0x11);                     /* ICW1: edge, cascade, ICW4 */
	out(p, 0x21, 0x30);                     /* ICW2: vectors 0x30-0x37 */
	out(p, 0x21, 0x04);                     /* ICW3: slave on IR2 */
	out(p, 0x21, auto_eoi ? 0x03 : 0x01);   /* ICW4: 8086, (auto EOI) */
	out(p, 0xA0, 0x11);
	out(p, 0xA1, 0x38);
	out(p, 0xA1, 0x02);
	out(p, 0xA1, 0x01);
	out(p, 0x21, 0xFB);                     /* cached masks */
	out(p, 0xA1, 0xFF);
}

static void test_init_mask_priority(void)
{
	struct pic *p = pic_create(set_int, NULL);

	CHECK_EQ(in(p, 0x21), 0xFF);            /* power-on: masked */
	linux_init(p, 0);
	CHECK_EQ(in(p, 0x21), 0xFB);
	CHECK_EQ(in(p, 0xA1), 0xFF);

	/* Masked request: latched in IRR, no INT. */
	pic_set_irq(p, 1, 1);
	CHECK_EQ(int_level, 0);
	out(p, 0x20, 0x0A);                     /* OCW3: read IRR */
	CHECK_EQ(in(p, 0x20), 0x02);
	out(p, 0x21, 0xF9);                     /* unmask IRQ1 */
	CHECK_EQ(int_level, 1);
	CHECK(pic_output(p));
	CHECK_EQ(pic_ack(p), 0x31);
	CHECK_EQ(int_level, 0);
	out(p, 0x20, 0x0B);                     /* OCW3: read ISR */
	CHECK_EQ(in(p, 0x20), 0x02);

	/* IRQ0 is above IRQ1: it nests. IRQ3 is below: it waits. */
	out(p, 0x21, 0xF0);
	pic_set_irq(p, 3, 1);
	CHECK_EQ(int_level, 0);
	pic_set_irq(p, 0, 1);
	CHECK_EQ(int_level, 1);
	CHECK_EQ(pic_ack(p), 0x30);
	CHECK_EQ(in(p, 0x20), 0x03);            /* ISR: IRQ0 and IRQ1 */
	CHECK_EQ(int_level, 0);
	out(p, 0x20, 0x20);                     /* non-specific EOI: IRQ0 */
	CHECK_EQ(in(p, 0x20), 0x02);
	CHECK_EQ(int_level, 0);                 /* IRQ3 still below IRQ1 */
	out(p, 0x20, 0x61);                     /* specific EOI IRQ1 */
	CHECK_EQ(in(p, 0x20), 0x00);
	CHECK_EQ(int_level, 1);
	CHECK_EQ(pic_ack(p), 0x33);
	out(p, 0x20, 0x20);
	CHECK_EQ(int_level, 0);

	/* Two at once: the lower IRQ number wins; rotation changes that. */
	pic_set_irq(p, 0, 0);
	pic_set_irq(p, 3, 0);
	pic_set_irq(p, 1, 0);
	pic_set_irq(p, 3, 1);
	pic_set_irq(p, 1, 1);
	out(p, 0x20, 0xC1);                     /* set priority: IR1 lowest */
	CHECK_EQ(pic_ack(p), 0x33);             /* IR2.. first, so IR3 */
	out(p, 0x20, 0x20);
	CHECK_EQ(pic_ack(p), 0x31);
	out(p, 0x20, 0x20);
	out(p, 0x20, 0xC7);                     /* back to IR7 lowest */
	CHECK_EQ(int_level, 0);
	pic_destroy(p);
}

static void test_cascade_and_spurious(void)
{
	struct pic *p = pic_create(set_int, NULL);

	linux_init(p, 0);
	out(p, 0xA1, 0xFE);                     /* unmask IRQ8 */
	pic_set_irq(p, 8, 1);
	CHECK_EQ(int_level, 1);
	CHECK_EQ(pic_ack(p), 0x38);
	out(p, 0xA0, 0x0B);
	CHECK_EQ(in(p, 0xA0), 0x01);
	out(p, 0xA0, 0x20);
	out(p, 0x20, 0x20);
	pic_set_irq(p, 8, 0);

	/* Level IRQ that goes away before INTA: spurious IRQ7 (no ISR bit). */
	out(p, 0x4D0, 0x20);                    /* IRQ5 level */
	CHECK_EQ(in(p, 0x4D0), 0x20);
	out(p, 0x21, 0xDB);
	pic_set_irq(p, 5, 1);
	CHECK_EQ(int_level, 1);
	pic_set_irq(p, 5, 0);
	CHECK_EQ(int_level, 0);
	CHECK_EQ(pic_ack(p), 0x37);
	out(p, 0x20, 0x0B);
	CHECK_EQ(in(p, 0x20), 0x00);

	/* Same on the slave: IRQ15's vector, master's IR2 in service. */
	out(p, 0x4D1, 0x02);                    /* IRQ9 level */
	out(p, 0xA1, 0xFD);
	pic_set_irq(p, 9, 1);
	CHECK_EQ(int_level, 1);
	pic_set_irq(p, 9, 0);                   /* master IR2 edge stays latched */
	CHECK_EQ(pic_ack(p), 0x3F);
	CHECK_EQ(in(p, 0x20), 0x04);
	out(p, 0x20, 0x20);
	CHECK_EQ(in(p, 0x20), 0x00);

	/* ELCR bits that can't be level are fixed at edge. */
	out(p, 0x4D0, 0xFF);
	CHECK_EQ(in(p, 0x4D0), 0xF8);
	out(p, 0x4D1, 0xFF);
	CHECK_EQ(in(p, 0x4D1), 0xDE);
	pic_destroy(p);
}

static void test_level_edge(void)
{
	struct pic *p = pic_create(set_int, NULL);

	linux_init(p, 0);
	out(p, 0x4D1, 0x02);                    /* IRQ9 level (SCI) */
	out(p, 0xA1, 0xFD);

	/* Level: still asserted after EOI -> delivered again. */
	pic_set_irq(p, 9, 1);
	CHECK_EQ(pic_ack(p), 0x39);
	CHECK_EQ(int_level, 0);
	out(p, 0xA0, 0x20);
	out(p, 0x20, 0x20);
	CHECK_EQ(int_level, 1);
	CHECK_EQ(pic_ack(p), 0x39);
	pic_set_irq(p, 9, 0);
	out(p, 0xA0, 0x20);
	out(p, 0x20, 0x20);
	CHECK_EQ(int_level, 0);

	/* Edge: one request per rising edge, held level doesn't repeat. */
	out(p, 0x21, 0xEB);                     /* unmask IRQ4 */
	pic_set_irq(p, 4, 1);
	CHECK_EQ(pic_ack(p), 0x34);
	out(p, 0x20, 0x20);
	CHECK_EQ(int_level, 0);
	pic_set_irq(p, 4, 1);                   /* no edge */
	CHECK_EQ(int_level, 0);
	pic_set_irq(p, 4, 0);
	pic_set_irq(p, 4, 1);
	CHECK_EQ(int_level, 1);
	CHECK_EQ(pic_ack(p), 0x34);
	out(p, 0x20, 0x20);
	/* Edge latched while masked is delivered when unmasked. */
	out(p, 0x21, 0xFB);
	pic_set_irq(p, 4, 0);
	pic_set_irq(p, 4, 1);
	CHECK_EQ(int_level, 0);
	out(p, 0x21, 0xEB);
	CHECK_EQ(int_level, 1);
	CHECK_EQ(pic_ack(p), 0x34);
	out(p, 0x20, 0x20);
	pic_destroy(p);
}

static void test_auto_eoi_poll_special_mask(void)
{
	struct pic *p = pic_create(set_int, NULL);

	linux_init(p, 1);
	out(p, 0x21, 0xEB);
	pic_set_irq(p, 4, 1);
	CHECK_EQ(pic_ack(p), 0x34);
	out(p, 0x20, 0x0B);
	CHECK_EQ(in(p, 0x20), 0x00);            /* auto EOI: nothing in service */
	pic_set_irq(p, 4, 0);

	/* Poll command: the next read is an INTA returning 0x80 | level. */
	linux_init(p, 0);
	out(p, 0x21, 0xEB);
	pic_set_irq(p, 4, 1);
	out(p, 0x20, 0x0C);
	CHECK_EQ(in(p, 0x20), 0x84);
	out(p, 0x20, 0x0B);
	CHECK_EQ(in(p, 0x20), 0x10);
	out(p, 0x20, 0x0C);
	CHECK_EQ(in(p, 0x20), 0x00);            /* nothing requested */

	/* Special mask: masking the in-service IR4 lets IR5 (lower) in. */
	out(p, 0x21, 0xCB);
	pic_set_irq(p, 5, 1);
	CHECK_EQ(int_level, 0);
	out(p, 0x20, 0x68);                     /* OCW3: set special mask */
	out(p, 0x21, 0xDB);                     /* mask IR4, IR5 open */
	CHECK_EQ(int_level, 1);
	CHECK_EQ(pic_ack(p), 0x35);
	out(p, 0x20, 0x48);                     /* clear special mask */
	pic_destroy(p);
}

static void test_bus(void)
{
	struct bus pio;
	struct pic *p = pic_create(set_int, NULL);

	bus_init(&pio, "pio");
	CHECK_EQ(pic_attach(p, &pio), 0);
	CHECK(pic_attach(p, &pio) < 0);         /* ports already taken */
	bus_write(&pio, 0x21, 1, 0x5A);
	CHECK_EQ(bus_read(&pio, 0x21, 1), 0x5A);
	bus_write(&pio, 0x4D0, 2, 0x0220);      /* both ELCRs at once */
	CHECK_EQ(bus_read(&pio, 0x4D0, 2), 0x0220);
	CHECK_EQ(bus_read(&pio, 0xA1, 1), 0xFF);
	/* Odd accesses must not crash. */
	for (unsigned port = 0x20; port < 0x22; port++)
		for (unsigned sz = 1; sz <= 2; sz++)
			(void)bus_read(&pio, port, sz);
	pic_detach(p, &pio);
	CHECK_EQ(bus_read(&pio, 0x21, 1), 0xFF);
	bus_destroy(&pio);
	pic_destroy(p);
}

int main(void)
{
	test_init_mask_priority();
	test_cascade_and_spurious();
	test_level_edge();
	test_auto_eoi_poll_special_mask();
	test_bus();
	return test_done();
}
