/*
 * The emu engine's public CPU API: one emulated x86-64 vCPU.
 *
 * This is the contract between the emulator (src/cpu/emu/), its engine
 * glue (emu_engine.c, implementing struct engine_ops) and the differential
 * tests (tests/emu/), which run the same instruction natively and here.
 * Everything else about the CPU (decoded-block cache, lazy flags, TLB) is
 * private to src/cpu/emu/.
 */
#ifndef VIREO_CPU_EMU_EMU_H
#define VIREO_CPU_EMU_EMU_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/engine.h"

struct emu_cpu;

/* GPRs in x86 encoding order: rax rcx rdx rbx rsp rbp rsi rdi r8..r15. */
enum { EMU_RAX, EMU_RCX, EMU_RDX, EMU_RBX, EMU_RSP, EMU_RBP, EMU_RSI, EMU_RDI,
       EMU_R8, EMU_R9, EMU_R10, EMU_R11, EMU_R12, EMU_R13, EMU_R14, EMU_R15 };

struct emu_regs {
	uint64_t gpr[16];
	uint64_t rip;
	uint64_t rflags;
};

/* Result of emu_cpu_step() when exceptions are not delivered. */
#define EMU_STEP_OK   (-1)

/*
 * Create a vCPU over guest memory and the two buses. The CPU starts in the
 * architectural power-on state (real mode, CS:IP = F000:FFF0). apic_id is
 * what CPUID reports. NULL on allocation failure.
 */
struct emu_cpu *emu_cpu_create(struct guest_mem *mem, struct bus *pio,
			       struct bus *mmio, unsigned apic_id);
void emu_cpu_destroy(struct emu_cpu *c);

/* Load the state a boot loader prepared (64-bit Linux entry, PVH entry). */
int emu_cpu_set_boot_state(struct emu_cpu *c, const struct cpu_boot_state *st);

/*
 * Test setup: 64-bit long mode, CPL0, flat segments, IF=0, paging on with
 * an identity map of the first 4 GiB in 2 MiB pages (RW, U, executable)
 * whose tables the call writes into guest RAM at table_gpa (needs 6 pages,
 * 4 KiB-aligned). CR0.NE, CR0.MP, CR4.OSFXSR, CR4.OSXMMEXCPT, EFER.NXE set;
 * MXCSR = 0x1F80, x87 in FNINIT state. -EINVAL if table_gpa is not RAM.
 */
int emu_cpu_setup_flat64(struct emu_cpu *c, uint64_t table_gpa);

void emu_cpu_get_regs(const struct emu_cpu *c, struct emu_regs *r);
void emu_cpu_set_regs(struct emu_cpu *c, const struct emu_regs *r);

/* x87/MMX/SSE state as the 512-byte FXSAVE image (64-bit layout). */
void emu_cpu_get_fxsave(const struct emu_cpu *c, uint8_t out[512]);
void emu_cpu_set_fxsave(struct emu_cpu *c, const uint8_t in[512]);

/*
 * Execute exactly one instruction (a REP string instruction runs to
 * completion, as one step).
 *
 * deliver == true: exceptions and pending interrupts are delivered through
 * the IDT as the CPU would; returns EMU_STEP_OK.
 * deliver == false (differential tests): an exception is not delivered;
 * the vCPU is left as the CPU leaves it at a fault (RIP at the faulting
 * instruction, registers as architecturally defined) and the vector is
 * returned (0 = #DE, 6 = #UD, 13 = #GP, 14 = #PF, ...); EMU_STEP_OK if none.
 */
int emu_cpu_step(struct emu_cpu *c, bool deliver);

/* CR2 after a #PF (for tests). */
uint64_t emu_cpu_cr2(const struct emu_cpu *c);

#endif
