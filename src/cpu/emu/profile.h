/*
 * VIREO_EMU_PROFILE=PREFIX: guest RIP samples per vCPU thread (profile.c).
 * Kept apart from emu_internal.h, whose register names clash with
 * <ucontext.h>'s.
 */
#ifndef VIREO_CPU_EMU_PROFILE_H
#define VIREO_CPU_EMU_PROFILE_H

#include <stddef.h>
#include <stdint.h>

/* On the vCPU thread before it runs: rip is the vCPU's current RIP,
 * [jit_lo, jit_lo + jit_len) its translated code (whose samples take the
 * block's RIP from r12). Does nothing unless VIREO_EMU_PROFILE is set. */
void emu_profile_thread_start(unsigned vcpu, const uint64_t *rip, const void *jit_lo,
			      size_t jit_len);
/* On the same thread when it stops: writes PREFIX.vcpuN. */
void emu_profile_thread_end(void);

#endif
