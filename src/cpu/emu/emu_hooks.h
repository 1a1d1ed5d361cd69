/*
 * Hooks of the emu engine for the rest of vireo (devices, loaders, the
 * future interrupt-controller models). Kept apart from emu.h, the CPU
 * contract.
 */
#ifndef VIREO_CPU_EMU_HOOKS_H
#define VIREO_CPU_EMU_HOOKS_H

#include <stdint.h>

struct guest_mem;
struct engine;

/*
 * Call after writing guest RAM [gpa, gpa+len) other than through the
 * emulator (device DMA, virtio used rings, the loader after the vCPUs
 * exist): drops decoded instructions cached for those pages on every
 * vCPU using mem. Lock-free and cheap for pages that hold no code (one
 * byte load per page); safe from any thread.
 */
void emu_code_invalidate(struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Wake halted vCPUs of an emu engine after raising an interrupt. */
void emu_engine_kick(struct engine *e);

#endif
