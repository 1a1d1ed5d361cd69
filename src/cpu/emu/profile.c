/*
 * Guest profile: VIREO_EMU_PROFILE=PREFIX samples, on each vCPU thread,
 * the guest RIP every tick of that thread's CPU time and
 * writes PREFIX.vcpuN when the thread ends, one line per RIP:
 *
 *     <rip hex> <samples in translated code> <samples elsewhere>
 *
 * bench/guest-profile.py resolves the RIPs against the guest kernel's
 * System.map. A host profile (perf) says which handler is slow; this says
 * for which guest code, which is what decides the next inline form or
 * fast path.
 *
 * With VIREO_EMU_PROFILE_WAIT=1 sampling starts off; `kill -PROF` of the
 * vireo process turns it on and off (to profile one command in a guest
 * rather than its boot).
 *
 * The sample is taken in a SIGPROF handler from the interrupted context:
 * in translated code the block's first RIP is in r12 (jit_internal.h), so
 * those samples name blocks; anywhere else (handlers, the interpreter,
 * the MMU) the vCPU's current instruction's RIP is in c->rip. Everything
 * is per thread: the table, the timer and the vCPU it samples.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "cpu/emu/profile.h"
#include "lib/log.h"

/* Asked for; the kernel checks thread CPU timers at its tick (250 Hz on
 * Debian), so a sample stands for about 4 ms. */
#define PROFILE_PERIOD_NS 1000000
#define PROFILE_SLOTS (1u << 16)       /* distinct RIPs kept; more are counted lost */

struct profile_slot {
	uint64_t rip;                  /* 0: empty */
	uint64_t jit, other;
};

struct profile {
	struct profile_slot *slot;
	uint64_t lost;
	timer_t timer;
	const uint64_t *rip;           /* the vCPU's current instruction */
	unsigned vcpu;
	const uint8_t *jit_lo, *jit_hi;
};

static __thread struct profile *prof;
static _Atomic bool sampling = true;     /* all threads; kill -PROF toggles */

static void record(struct profile *p, uint64_t rip, bool jit)
{
	unsigned i = (unsigned)((rip * 0x9E3779B97F4A7C15ull) >> 48) & (PROFILE_SLOTS - 1);

	for (unsigned probe = 0; probe < 64; probe++, i = (i + 1) & (PROFILE_SLOTS - 1)) {
		struct profile_slot *s = &p->slot[i];
		if (s->rip != rip && s->rip != 0)
			continue;
		s->rip = rip;
		if (jit)
			s->jit++;
		else
			s->other++;
		return;
	}
	p->lost++;
}

static void on_sigprof(int sig, siginfo_t *si, void *ctx)
{
	const ucontext_t *uc = ctx;
	struct profile *p = prof;
	(void)sig;

	if (si->si_code == SI_USER) {
		sampling = !sampling;
		return;
	}
	if (!p || !sampling)
		return;
#if defined(__x86_64__)
	const uint8_t *pc = (const uint8_t *)uc->uc_mcontext.gregs[REG_RIP];
	if (pc >= p->jit_lo && pc < p->jit_hi) {
		record(p, (uint64_t)uc->uc_mcontext.gregs[REG_R12], true);
		return;
	}
#else
	(void)uc;
#endif
	record(p, *(volatile const uint64_t *)p->rip, false);
}

static bool profile_wanted(void)
{
	const char *env = getenv("VIREO_EMU_PROFILE");
	return env && env[0];
}

void emu_profile_thread_start(unsigned vcpu, const uint64_t *rip, const void *jit_lo,
			      size_t jit_len)
{
	struct profile *p;
	struct sigaction sa;
	struct sigevent sev;

	if (!profile_wanted() || prof)
		return;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->slot = calloc(PROFILE_SLOTS, sizeof(*p->slot)))) {
		free(p);
		log_warn("emu profile: out of memory");
		return;
	}
	if (getenv("VIREO_EMU_PROFILE_WAIT") && strcmp(getenv("VIREO_EMU_PROFILE_WAIT"), "1") == 0)
		sampling = false;
	p->vcpu = vcpu;
	p->rip = rip;
	p->jit_lo = jit_lo;
	p->jit_hi = (const uint8_t *)jit_lo + jit_len;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigprof;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPROF, &sa, NULL);

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGPROF;
	sev._sigev_un._tid = gettid();
	if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &p->timer) < 0) {
		log_warn("emu profile: timer_create: %s", strerror(errno));
		free(p->slot);
		free(p);
		return;
	}
	prof = p;
	struct itimerspec its = {
		.it_interval = { .tv_nsec = PROFILE_PERIOD_NS },
		.it_value = { .tv_nsec = PROFILE_PERIOD_NS },
	};
	timer_settime(p->timer, 0, &its, NULL);
}

void emu_profile_thread_end(void)
{
	struct profile *p = prof;
	char path[4096];
	FILE *f;

	if (!p)
		return;
	timer_delete(p->timer);
	prof = NULL;
	snprintf(path, sizeof(path), "%s.vcpu%u", getenv("VIREO_EMU_PROFILE"), p->vcpu);
	f = fopen(path, "w");
	if (!f) {
		log_warn("emu profile: %s: %s", path, strerror(errno));
	} else {
		for (unsigned i = 0; i < PROFILE_SLOTS; i++)
			if (p->slot[i].rip)
				fprintf(f, "%llx %llu %llu\n", (unsigned long long)p->slot[i].rip,
					(unsigned long long)p->slot[i].jit,
					(unsigned long long)p->slot[i].other);
		if (p->lost)
			fprintf(f, "lost %llu\n", (unsigned long long)p->lost);
		fclose(f);
	}
	free(p->slot);
	free(p);
}
