/*
 * libFuzzer target: arbitrary bytes as guest code for the emu CPU in flat
 * 64-bit mode. Up to MAX_STEPS instructions are stepped with exceptions
 * returned instead of delivered; a run stops at the first exception. The
 * emulator must neither crash nor hang on any input.
 *
 * The first 16 bytes of the input (if present) seed the GPRs, so string
 * instructions, divides and addressing see varied values; the rest is
 * code at CODE_GPA. Everything is rebuilt per input (fresh vCPU, zeroed
 * RAM), so a crash reproduces from its file alone.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu/emu/emu.h"
#include "mem/bus.h"
#include "mem/guest_mem.h"

#define FUZZ_RAM      (8ULL << 20)
#define FUZZ_PT_GPA   0x1000ULL
#define FUZZ_CODE_GPA 0x200000ULL
#define FUZZ_STACK    0x400000ULL
#define MAX_STEPS     64
#define MAX_CODE      4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_mem mem;
	static struct bus pio, mmio;
	static int ready;
	struct emu_regs r;
	struct emu_cpu *c;
	uint64_t seed = 0x243F6A8885A308D3ULL;

	if (!ready) {
		if (gmem_init(&mem, FUZZ_RAM, 0))
			return 0;
		bus_init(&pio, "pio");
		bus_init(&mmio, "mmio");
		ready = 1;
	}
	memset(mem.region[0].host, 0, mem.region[0].size);
	if (size >= 16) {
		memcpy(&seed, data, 8);
		seed ^= (uint64_t)data[8] << 3;
		data += 16;
		size -= 16;
	}
	if (size > MAX_CODE)
		size = MAX_CODE;
	gmem_write(&mem, FUZZ_CODE_GPA, data, size);

	c = emu_cpu_create(&mem, &pio, &mmio, 0);
	if (!c)
		return 0;
	if (emu_cpu_setup_flat64(c, FUZZ_PT_GPA) == 0) {
		memset(&r, 0, sizeof(r));
		for (int i = 0; i < 16; i++) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			/* Small values mostly: counts and addresses that hit RAM. */
			r.gpr[i] = (seed >> 33) & (i & 1 ? 0xFFFF : 0x3FFFFF);
		}
		r.gpr[EMU_RSP] = FUZZ_STACK;
		r.rip = FUZZ_CODE_GPA;
		r.rflags = 2;
		emu_cpu_set_regs(c, &r);
		for (int s = 0; s < MAX_STEPS; s++) {
			/*
			 * A REP string instruction is one step and runs to
			 * completion: with RCX near 2^64 over unclaimed MMIO
			 * (writes dropped, no fault) that is a hang of the
			 * vCPU, reported to the emulator's author. Until the
			 * emulator bounds it, keep counts small here so the
			 * fuzzer looks for other bugs.
			 */
			emu_cpu_get_regs(c, &r);
			if (r.gpr[EMU_RCX] > 0xFFFF) {
				r.gpr[EMU_RCX] &= 0xFFFF;
				emu_cpu_set_regs(c, &r);
			}
			if (emu_cpu_step(c, false) != EMU_STEP_OK)
				break;
		}
	}
	emu_cpu_destroy(c);
	return 0;
}
