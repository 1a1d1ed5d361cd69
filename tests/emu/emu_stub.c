/*
 * Stand-in for the emu CPU while src/cpu/emu/ has no sources in the build:
 * emu_cpu_create() fails, so emu-diff runs its native self-checks only.
 * Linked into emu-diff only when emu_src is empty (see meson.build).
 */
#include <stddef.h>

#include "cpu/emu/emu.h"

struct emu_cpu *emu_cpu_create(struct guest_mem *mem, struct bus *pio,
			       struct bus *mmio, unsigned apic_id)
{
	return NULL;
}

void emu_cpu_destroy(struct emu_cpu *c)
{
}

int emu_cpu_setup_flat64(struct emu_cpu *c, uint64_t table_gpa)
{
	return -1;
}

void emu_cpu_get_regs(const struct emu_cpu *c, struct emu_regs *r)
{
}

void emu_cpu_set_regs(struct emu_cpu *c, const struct emu_regs *r)
{
}

void emu_cpu_get_fxsave(const struct emu_cpu *c, uint8_t out[512])
{
}

void emu_cpu_set_fxsave(struct emu_cpu *c, const uint8_t in[512])
{
}

int emu_cpu_step(struct emu_cpu *c, bool deliver)
{
	return 6;
}

uint64_t emu_cpu_cr2(const struct emu_cpu *c)
{
	return 0;
}
