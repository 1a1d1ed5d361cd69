/*
 * Fake CPUs and a fake clock for the interrupt-controller tests: the ops
 * record every kick, INIT, SIPI and NMI so tests can check who got what.
 */
#ifndef VIREO_TESTS_IRQ_FAKE_CPU_H
#define VIREO_TESTS_IRQ_FAKE_CPU_H

#include <stdint.h>
#include <string.h>

#include "hw/lapic.h"

#define FAKE_NCPU 8

struct fake_cpu {
	unsigned idx;
	unsigned kicks, inits, sipis, nmis;
	int sipi_vector;
};

static struct fake_cpu fake_cpus[FAKE_NCPU];
static void *fake_cpu_ptrs[FAKE_NCPU];
static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

/* Atomic: ops may run on any thread (test_irqchip's IPI storm). */
#define BUMP(field) __atomic_fetch_add(&((struct fake_cpu *)cpu)->field, 1, __ATOMIC_RELAXED)
static void fake_kick(void *cpu)  { BUMP(kicks); }
static void fake_init(void *cpu)  { BUMP(inits); }
static void fake_nmi(void *cpu)   { BUMP(nmis); }

static void fake_sipi(void *cpu, uint8_t vector)
{
	struct fake_cpu *c = cpu;

	__atomic_fetch_add(&c->sipis, 1, __ATOMIC_RELAXED);
	c->sipi_vector = vector;
}

static const struct lapic_cpu_ops fake_ops = {
	.kick = fake_kick, .init = fake_init, .sipi = fake_sipi, .nmi = fake_nmi,
};

static void fake_reset(void)
{
	memset(fake_cpus, 0, sizeof(fake_cpus));
	for (unsigned i = 0; i < FAKE_NCPU; i++) {
		fake_cpus[i].idx = i;
		fake_cpus[i].sipi_vector = -1;
		fake_cpu_ptrs[i] = &fake_cpus[i];
	}
	fake_now = 1000000000ull;
}

/* 32-bit LAPIC register access, as the guest does it. */
static inline uint32_t apic_rd(struct lapic *a, unsigned reg)
{
	return (uint32_t)lapic_mmio_read(a, reg, 4);
}

static inline void apic_wr(struct lapic *a, unsigned reg, uint32_t v)
{
	lapic_mmio_write(a, reg, 4, v);
}

/* Bit v of a 256-bit register (ISR 0x100, TMR 0x180, IRR 0x200). */
static inline unsigned apic_bit(struct lapic *a, unsigned base, unsigned v)
{
	return apic_rd(a, base + (v >> 5) * 0x10) >> (v & 31) & 1;
}

#define IRR(a, v) apic_bit(a, 0x200, v)
#define ISR(a, v) apic_bit(a, 0x100, v)
#define TMR(a, v) apic_bit(a, 0x180, v)

/* Take the interrupt the CPU would take, as an engine does with IF=1. */
static inline int take_irq(struct lapic *a)
{
	return lapic_pending(a) >= 0 ? lapic_ack(a) : -1;
}

#endif
