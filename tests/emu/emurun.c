/*
 * The emulated side of emu-diff: one emu_cpu in flat 64-bit mode over
 * 1 GiB of guest RAM, so the harness's fixed code and data addresses are
 * the same guest-virtual (identity map) and guest-physical addresses.
 *
 * The code bytes are written straight into guest RAM. The emulator caches
 * decoded code per guest-physical page and only notices writes the guest
 * makes, so every case runs in a slot never used before; when the slot
 * area wraps, the vCPU is re-created (emurun_reset) to drop its caches.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cpu/emu/emu.h"
#include "mem/bus.h"
#include "mem/guest_mem.h"

#include "harness.h"

static struct guest_mem mem;
static struct bus pio, mmio;
static struct emu_cpu *cpu;
static bool ready;

static bool guard_ok;

/*
 * Unmap the 2 MiB page at GUARD_PAGE in the identity map that
 * emu_cpu_setup_flat64() wrote at PT_GPA: walk PML4 -> PDPT -> PD (as the
 * hardware would) and clear the PDE's present bit. Done on a fresh vCPU,
 * before its TLB holds anything. false if the tables are not laid out
 * as expected (then memory-fault cases are not compared).
 */
static bool unmap_guard(void)
{
	uint64_t table = PT_GPA, e = 0;
	static const unsigned shifts[3] = { 39, 30, 21 };

	for (unsigned level = 0; level < 3; level++) {
		uint64_t at = table + ((GUARD_PAGE >> shifts[level]) & 511) * 8;

		if (gmem_read(&mem, at, &e, 8) || !(e & 1))
			return false;
		if (level == 2) {
			if (!(e & 0x80) || (e & 0x000FFFFFFFE00000ULL) != GUARD_PAGE)
				return false;
			e &= ~1ULL;
			return gmem_write(&mem, at, &e, 8) == 0;
		}
		if (e & 0x80)
			return false;   /* a 1 GiB page: not what the API says */
		table = e & 0x000FFFFFFFFFF000ULL;
	}
	return false;
}

static int make_cpu(void)
{
	int ret;

	cpu = emu_cpu_create(&mem, &pio, &mmio, 0);
	if (!cpu)
		return -ENOMEM;
	ret = emu_cpu_setup_flat64(cpu, PT_GPA);
	if (ret) {
		emu_cpu_destroy(cpu);
		cpu = NULL;
		return ret;
	}
	guard_ok = unmap_guard();
	return 0;
}

bool emurun_has_guard(void)
{
	return ready && guard_ok;
}

int emurun_init(void)
{
	int ret = gmem_init(&mem, GUEST_RAM, 0);

	if (ret)
		return ret;
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	ret = make_cpu();
	ready = ret == 0;
	return ret;
}

/*
 * CPUID as the emulated CPU reports it, by running the instruction in it
 * (at a slot outside the case area). false if the emulator faults on it.
 */
bool emurun_cpuid(uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	static const uint8_t cpuid[2] = { 0x0F, 0xA2 };
	uint64_t at = SLOT_BASE + SLOT_AREA;
	struct emu_regs r;

	if (!ready)
		return false;
	gmem_write(&mem, at, cpuid, sizeof(cpuid));
	memset(&r, 0, sizeof(r));
	r.gpr[EMU_RAX] = leaf;
	r.gpr[EMU_RCX] = sub;
	r.gpr[EMU_RSP] = STACK_TOP;
	r.rip = at;
	r.rflags = 2;
	emu_cpu_set_regs(cpu, &r);
	if (emu_cpu_step(cpu, false) != EMU_STEP_OK)
		return false;
	emu_cpu_get_regs(cpu, &r);
	out[0] = (uint32_t)r.gpr[EMU_RAX];
	out[1] = (uint32_t)r.gpr[EMU_RBX];
	out[2] = (uint32_t)r.gpr[EMU_RCX];
	out[3] = (uint32_t)r.gpr[EMU_RDX];
	return true;
}

bool emurun_available(void)
{
	return ready;
}

void emurun_reset(void)
{
	if (!ready)
		return;
	emu_cpu_destroy(cpu);
	ready = make_cpu() == 0;
}

void emurun_run(const struct tcase *c, const uint8_t *data_img,
		struct result *out)
{
	struct emu_regs r;
	uint8_t slot[SLOT_SIZE];
	int32_t rel;

	/* Same slot bytes as natively: the instruction, then a jmp. */
	memset(slot, 0x90, sizeof(slot));
	memcpy(slot, c->code, c->len);
	slot[c->len] = 0xE9;
	rel = 0;
	memcpy(slot + c->len + 1, &rel, 4);
	gmem_write(&mem, c->rip, slot, sizeof(slot));
	gmem_write(&mem, DATA_BASE, data_img, DATA_SIZE);

	memcpy(r.gpr, c->in.gpr, sizeof(r.gpr));
	r.rip = c->rip;
	r.rflags = (c->in.rflags & F_COMPARED) | 2;
	emu_cpu_set_regs(cpu, &r);
	emu_cpu_set_fxsave(cpu, c->in.fx);

	out->vector = EMU_STEP_OK;
	for (unsigned n = 0; n < (c->nsteps ? c->nsteps : 1); n++) {
		out->vector = emu_cpu_step(cpu, false);
		if (out->vector != EMU_STEP_OK)
			break;
	}
	if (out->vector == EMU_STEP_OK)
		out->vector = -1;
	out->cr2 = out->vector == 14 ? emu_cpu_cr2(cpu) : 0;

	emu_cpu_get_regs(cpu, &r);
	memcpy(out->st.gpr, r.gpr, sizeof(r.gpr));
	out->st.rip = r.rip;
	out->st.rflags = r.rflags;
	emu_cpu_get_fxsave(cpu, out->st.fx);
	gmem_read(&mem, DATA_BASE, out->data, DATA_SIZE);
}
