/*
 * The emu engine: struct engine_ops over the emulated vCPUs. One host
 * thread per vCPU runs instructions in batches; between batches it checks
 * for stop/pause requests (atomics, no lock on the hot path). HLT sleeps
 * on a condition variable until an interrupt is pending, or stop/pause.
 *
 * Interrupts: each vCPU has a local APIC (lapic.c) and the VM one IOAPIC
 * (ioapic.c); the irq_chip handed to devices routes GSIs 0-23 to IOAPIC
 * pins and MSIs to the APICs. There is no 8259 PIC model yet. APs wait
 * for INIT-SIPI-SIPI from the BSP's APIC.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/emu/emu_internal.h"
#include "cpu/emu/ioapic.h"
#include "cpu/emu/lapic.h"
#include "lib/log.h"
#include "mem/layout.h"

#define BATCH 4096

struct emu_engine;

struct emu_vcpu {
	struct emu_engine *e;
	struct emu_cpu *cpu;
	pthread_t thread;
	unsigned id;
	bool started;
};

struct emu_irq {
	struct irq_chip chip;
	struct emu_engine *e;
};

struct emu_engine {
	struct engine_config cfg;
	struct emu_vcpu vcpu[MAX_VCPUS];
	pthread_mutex_t lock;
	pthread_cond_t cond;          /* stop, pause, resume, interrupts */
	_Atomic bool stop_req;
	_Atomic bool pause_req;
	enum engine_exit why;
	unsigned running;             /* vCPU threads not yet exited */
	struct emu_irq irq;
	struct emu_apic_sys apic;
	struct emu_ioapic *ioapic;
};

/* struct engine is opaque to callers; ours is struct emu_engine. */
static struct emu_engine *E(struct engine *e)
{
	return (struct emu_engine *)e;
}

static bool emu_available(char *why, size_t len)
{
	return true;
}

static void irq_set_level(struct irq_chip *chip, unsigned gsi, int level)
{
	struct emu_irq *q = (struct emu_irq *)chip;
	emu_ioapic_set_level(q->e->ioapic, gsi, level);
}

static void irq_msi(struct irq_chip *chip, uint64_t addr, uint32_t data)
{
	struct emu_irq *q = (struct emu_irq *)chip;
	emu_apic_msi(&q->e->apic, addr, data);
}

static void apic_kick(void *opaque, unsigned cpu)
{
	struct emu_engine *e = opaque;
	pthread_mutex_lock(&e->lock);
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

static void apic_eoi(void *opaque, unsigned vec)
{
	struct emu_engine *e = opaque;
	emu_ioapic_eoi(e->ioapic, vec);
}

static void engine_stop(struct engine *eng, enum engine_exit why)
{
	struct emu_engine *e = E(eng);
	pthread_mutex_lock(&e->lock);
	if (!atomic_load(&e->stop_req)) {
		e->why = why;
		atomic_store(&e->stop_req, true);
	}
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

/* Wake halted vCPUs after an interrupt became pending (for irq models). */
void emu_engine_kick(struct engine *eng)
{
	struct emu_engine *e = E(eng);
	pthread_mutex_lock(&e->lock);
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

static struct engine *emu_create(const struct engine_config *cfg)
{
	struct emu_engine *e;

	if (cfg->ncpus == 0 || cfg->ncpus > MAX_VCPUS) {
		log_err("emu: bad vCPU count %u", cfg->ncpus);
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		log_err("emu: out of memory");
		return NULL;
	}
	e->cfg = *cfg;
	pthread_mutex_init(&e->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cond, &ca);
	pthread_condattr_destroy(&ca);
	e->apic.kick = apic_kick;
	e->apic.eoi = apic_eoi;
	e->apic.opaque = e;
	e->ioapic = emu_ioapic_create(&e->apic, cfg->mmio, IOAPIC_BASE);
	if (!e->ioapic) {
		log_err("emu: cannot create the IOAPIC");
		free(e);
		return NULL;
	}
	e->irq.chip.set_level = irq_set_level;
	e->irq.chip.msi = irq_msi;
	e->irq.e = e;
	for (unsigned i = 0; i < cfg->ncpus; i++) {
		struct emu_vcpu *v = &e->vcpu[i];
		v->e = e;
		v->id = i;
		v->cpu = emu_cpu_create(cfg->mem, cfg->pio, cfg->mmio, i);
		if (v->cpu)
			e->apic.lapic[i] = emu_lapic_create(&e->apic, v->cpu);
		if (!v->cpu || !e->apic.lapic[i]) {
			log_err("emu: cannot create vCPU %u", i);
			emu_cpu_destroy(v->cpu);
			for (unsigned j = 0; j < i; j++) {
				emu_lapic_destroy(e->apic.lapic[j]);
				emu_cpu_destroy(e->vcpu[j].cpu);
			}
			emu_ioapic_destroy(e->ioapic, cfg->mmio, IOAPIC_BASE);
			free(e);
			return NULL;
		}
		e->apic.n = i + 1;
		/* Application processors wait for INIT-SIPI-SIPI. */
		v->cpu->wait_sipi = i != 0;
	}
	return (struct engine *)e;
}

static struct irq_chip *emu_irq_chip(struct engine *eng)
{
	return &E(eng)->irq.chip;
}

static int emu_set_boot(struct engine *eng, const struct cpu_boot_state *st)
{
	return emu_cpu_set_boot_state(E(eng)->vcpu[0].cpu, st);
}

static void report_error(struct emu_vcpu *v, const char *what)
{
	char buf[512];
	emu_cpu_describe(v->cpu, buf, sizeof(buf));
	log_err("emu: vCPU %u: %s: %s", v->id, what, buf);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * Sleep while halted (or waiting for SIPI, or paused) until woken or until
 * the APIC timer's next expiry (deadline, host ns; 0 = none).
 */
static void wait_runnable(struct emu_vcpu *v, uint64_t deadline)
{
	struct emu_engine *e = v->e;
	struct emu_cpu *c = v->cpu;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		if (atomic_load(&e->stop_req))
			break;
		bool paused = atomic_load(&e->pause_req);
		bool irq = atomic_load(&c->irq_pending) && (c->rflags & FL_IF);
		bool blocked = c->wait_sipi || (c->halted && !irq);
		if (!paused && (!blocked || emu_lapic_has_event(c)))
			break;
		if (deadline && !paused) {
			if (mono_ns() >= deadline)
				break;
			struct timespec ts = { (time_t)(deadline / 1000000000ULL),
					       (long)(deadline % 1000000000ULL) };
			pthread_cond_timedwait(&e->cond, &e->lock, &ts);
		} else {
			pthread_cond_wait(&e->cond, &e->lock);
		}
	}
	pthread_mutex_unlock(&e->lock);
}

static void *vcpu_thread(void *arg)
{
	struct emu_vcpu *v = arg;
	struct emu_engine *e = v->e;
	struct emu_cpu *c = v->cpu;

	while (!atomic_load_explicit(&e->stop_req, memory_order_relaxed)) {
		uint64_t next = emu_lapic_service(c);
		bool irq = atomic_load_explicit(&c->irq_pending, memory_order_relaxed) &&
			   (c->rflags & FL_IF);
		if (atomic_load_explicit(&e->pause_req, memory_order_relaxed) ||
		    c->wait_sipi || (c->halted && !irq)) {
			wait_runnable(v, next);
			continue;
		}
		emu_cpu_run(c, BATCH);
		if (c->triple_fault) {
			report_error(v, "triple fault");
			engine_stop((struct engine *)e, ENGINE_EXIT_ERROR);
			break;
		}
		if (c->unimplemented) {
			report_error(v, "cannot execute (code outside RAM)");
			engine_stop((struct engine *)e, ENGINE_EXIT_ERROR);
			break;
		}
	}
	pthread_mutex_lock(&e->lock);
	e->running--;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

static enum engine_exit emu_run(struct engine *eng)
{
	struct emu_engine *e = E(eng);
	enum engine_exit why;

	pthread_mutex_lock(&e->lock);
	for (unsigned i = 0; i < e->cfg.ncpus; i++) {
		struct emu_vcpu *v = &e->vcpu[i];
		if (pthread_create(&v->thread, NULL, vcpu_thread, v) != 0) {
			log_err("emu: cannot start vCPU thread %u", i);
			if (!atomic_load(&e->stop_req)) {
				e->why = ENGINE_EXIT_ERROR;
				atomic_store(&e->stop_req, true);
			}
			pthread_cond_broadcast(&e->cond);
			break;
		}
		v->started = true;
		e->running++;
	}
	while (!atomic_load(&e->stop_req))
		pthread_cond_wait(&e->cond, &e->lock);
	why = e->why;
	pthread_mutex_unlock(&e->lock);
	for (unsigned i = 0; i < e->cfg.ncpus; i++) {
		if (e->vcpu[i].started) {
			pthread_join(e->vcpu[i].thread, NULL);
			e->vcpu[i].started = false;
		}
	}
	return why;
}

static void emu_pause(struct engine *eng)
{
	struct emu_engine *e = E(eng);
	pthread_mutex_lock(&e->lock);
	atomic_store(&e->pause_req, true);
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

static void emu_resume(struct engine *eng)
{
	struct emu_engine *e = E(eng);
	pthread_mutex_lock(&e->lock);
	atomic_store(&e->pause_req, false);
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

static void emu_destroy(struct engine *eng)
{
	struct emu_engine *e = E(eng);
	if (!e)
		return;
	for (unsigned i = 0; i < e->cfg.ncpus; i++) {
		emu_lapic_destroy(e->apic.lapic[i]);
		emu_cpu_destroy(e->vcpu[i].cpu);
	}
	emu_ioapic_destroy(e->ioapic, e->cfg.mmio, IOAPIC_BASE);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

const struct engine_ops emu_engine_ops = {
	.name = "emu",
	.available = emu_available,
	.create = emu_create,
	.irq_chip = emu_irq_chip,
	.set_boot_state = emu_set_boot,
	.run = emu_run,
	.stop = engine_stop,
	.pause = emu_pause,
	.resume = emu_resume,
	.destroy = emu_destroy,
};
