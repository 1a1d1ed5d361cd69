/*
 * Guest-side benchmarks for the emu engine (bench/emu-speed.sh runs them
 * under vireo and under QEMU TCG): a tight integer loop and a memory-heavy
 * copy + checksum through the page tables. The host measures wall time;
 * the guest only reports results, so both sides do identical work.
 *
 *   testkernel.bench=int testkernel.n=MILLIONS    4 instructions per iteration
 *   testkernel.bench=mem testkernel.n=MIB         copy N MiB, then checksum it
 */
#include "tk.h"

#define BENCH_BASE 0x4000000ULL         /* 64 MiB: above the kernel and its data */

/* The decimal value of key=VALUE on the command line, or dflt. */
static u64 cmdline_number(const char *key, u64 dflt)
{
	size_t n = strlen(key);
	const char *p = boot.cmdline;

	for (; *p; p++) {
		u64 v = 0;

		if ((p != boot.cmdline && p[-1] != ' ') || memcmp(p, key, n) || p[n] != '=')
			continue;
		for (p += n + 1; *p >= '0' && *p <= '9'; p++)
			v = v * 10 + (u64)(*p - '0');
		return v;
	}
	return dflt;
}

static void bench_int(u64 millions)
{
	u64 n = millions * 1000000;
	u32 a = 0, d = 0;

	if (!n)
		return;
	__asm__ volatile("1:\n\t"
			 "add %%ecx, %%eax\n\t"
			 "xor %%eax, %%edx\n\t"
			 "dec %%rcx\n\t"
			 "jnz 1b"
			 : "+c"(n), "+a"(a), "+d"(d));
	kprintf("bench: int %lu million iterations result %x\n", millions, a ^ d);
}

static void bench_mem(u64 mib)
{
	u64 words = mib << 17, sum = 0, i;
	volatile u64 *src = (u64 *)(uintptr_t)BENCH_BASE;
	volatile u64 *dst = (u64 *)(uintptr_t)(BENCH_BASE + (mib << 20));

	if (!bootinfo_is_ram(BENCH_BASE, 2 * (mib << 20))) {
		kprintf("bench: mem %lu MiB does not fit in RAM\n", mib);
		return;
	}
	for (i = 0; i < words; i++)
		src[i] = i * 0x9e3779b97f4a7c15ULL;
	for (i = 0; i < words; i++)
		dst[i] = src[i];
	for (i = 0; i < words; i++)
		sum += dst[i] ^ (sum << 1);
	kprintf("bench: mem %lu MiB checksum %lx\n", mib, sum);
}

void bench_run(void)
{
	if (cmdline_has("testkernel.bench=int"))
		bench_int(cmdline_number("testkernel.n", 100));
	else if (cmdline_has("testkernel.bench=mem"))
		bench_mem(cmdline_number("testkernel.n", 64));
	else
		return;
	kprintf("bench: done\n");
}
