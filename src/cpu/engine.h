/*
 * The CPU engine interface. Two engines implement it: kvm (src/cpu/kvm.c)
 * and emu (src/cpu/emu/). The VMM builds guest memory, the two buses and
 * the devices, then hands them to an engine, which runs the vCPUs and
 * delivers every port-I/O and MMIO access to the buses.
 */
#ifndef VIREO_CPU_ENGINE_H
#define VIREO_CPU_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/platform.h"
#include "mem/bus.h"
#include "mem/guest_mem.h"

#define MAX_VCPUS 64

/* A segment as the loader wants it (already "cached": base/limit/attrs). */
struct seg_state {
	uint16_t selector;
	uint64_t base;
	uint32_t limit;
	uint8_t type;      /* 4-bit descriptor type */
	uint8_t s, dpl, present, avl, l, db, g;
};

/*
 * Register state of the boot CPU at the kernel's entry point, written by
 * the loader (src/boot): 64-bit Linux boot protocol or PVH 32-bit entry.
 */
struct cpu_boot_state {
	uint64_t rip, rsp, rflags;
	uint64_t rax, rbx, rcx, rdx, rsi, rdi;
	uint64_t cr0, cr3, cr4, efer;
	struct seg_state cs, ds, es, fs, gs, ss, tr, ldt;
	uint64_t gdt_base, idt_base;
	uint16_t gdt_limit, idt_limit;
};

/* Why engine_ops.run returned. */
enum engine_exit {
	ENGINE_EXIT_POWEROFF,
	ENGINE_EXIT_RESET,
	ENGINE_EXIT_ERROR,      /* triple fault, unhandled exit: already logged */
	ENGINE_EXIT_STOPPED,    /* engine_ops.stop was called (quit, SIGTERM) */
};

struct engine_config {
	struct guest_mem *mem;
	struct bus *pio;
	struct bus *mmio;
	unsigned ncpus;
};

struct engine;

struct engine_ops {
	const char *name;
	/* Can this engine run here? If not, a one-line reason in why. */
	bool (*available)(char *why, size_t len);
	/* Create the VM and its vCPUs; NULL with a logged reason on failure. */
	struct engine *(*create)(const struct engine_config *cfg);
	/* The interrupt controller devices raise lines on. */
	struct irq_chip *(*irq_chip)(struct engine *e);
	/* Registers of the boot CPU; APs wait for INIT-SIPI-SIPI. */
	int (*set_boot_state)(struct engine *e, const struct cpu_boot_state *st);
	/*
	 * Run all vCPUs (one host thread each) until the guest powers off,
	 * resets, fails, or stop() is called. Blocks the caller.
	 */
	enum engine_exit (*run)(struct engine *e);
	/* Thread-safe: make run() return with the given reason. */
	void (*stop)(struct engine *e, enum engine_exit why);
	/* Thread-safe: pause/resume all vCPUs (QMP stop/cont). */
	void (*pause)(struct engine *e);
	void (*resume)(struct engine *e);
	void (*destroy)(struct engine *e);
};

extern const struct engine_ops kvm_engine_ops;
extern const struct engine_ops emu_engine_ops;

#endif
