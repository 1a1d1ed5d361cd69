/*
 * The emu engine: struct engine_ops over the emulated vCPUs. One host
 * thread per vCPU runs instructions in batches; between batches it checks
 * for stop/pause requests (atomics, no lock on the hot path), applies
 * latched INIT/SIPI/NMI and polls the interrupt timers.
 *
 * Interrupts: the PC models of src/hw/irqchip_emu (8259 pair, IOAPIC,
 * 8254 PIT, one LAPIC per vCPU; see irqchip_emu.h for the protocol this
 * file follows). Devices get its irq_chip. Between instructions the CPU
 * core checks c->irq_pending (set by the LAPIC's kick) and calls irq_ack,
 * which takes the vector from the LAPIC. Timers have no thread: a running
 * vCPU polls them between batches, a halted one sleeps until the earliest
 * deadline or a kick. APs wait for INIT-SIPI-SIPI from the BSP's LAPIC.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/emu/emu_internal.h"
#include "cpu/emu/profile.h"
#include "hw/irqchip_emu.h"
#include "lib/log.h"
#include "mem/layout.h"

/*
 * Instructions between two checks of stop/pause, latched events and
 * timers (interrupts end a batch at once: the core checks irq_pending
 * between blocks). A batch runs up to the next timer deadline, counted as
 * an instruction per nanosecond (more than the engine runs, so it ends
 * early rather than late), between BATCH_MIN and BATCH_MAX: at 4096 for
 * every batch, a Linux boot went back to this loop 514,000 times.
 */
#define BATCH_MIN 4096
#define BATCH_MAX 65536

/*
 * The LAPIC timer's input clock, which must equal the crystal CPUID 0x15
 * announces (Linux derives the LAPIC timer period from it and skips
 * calibration): cpuid.c's EMU_TSC_HZ.
 */
#define EMU_LAPIC_HZ 1000000000ULL

#define NO_SIPI (-1)

struct emu_engine;

struct emu_vcpu {
	struct emu_engine *e;
	struct emu_cpu *cpu;
	struct lapic *apic;
	pthread_t thread;
	unsigned id;
	bool started;
	/* Sleep in HLT / wait-for-SIPI / pause; kicked is set under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool kicked;
	/* Latched by the LAPIC (any thread), applied by the vCPU thread. */
	_Atomic bool init;
	_Atomic int sipi;             /* vector, or NO_SIPI */
	_Atomic bool nmi;
};

struct emu_engine {
	struct engine_config cfg;
	struct emu_vcpu vcpu[MAX_VCPUS];
	pthread_mutex_t lock;
	pthread_cond_t cond;          /* stop, for emu_run */
	_Atomic bool stop_req;
	_Atomic bool pause_req;
	enum engine_exit why;
	unsigned running;             /* vCPU threads not yet exited */
	struct irqchip_emu *ic;
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

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Wake vCPU v if it sleeps; remembered if it is about to. */
static void wake(struct emu_vcpu *v)
{
	pthread_mutex_lock(&v->lock);
	v->kicked = true;
	pthread_cond_signal(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

static void wake_all(struct emu_engine *e)
{
	for (unsigned i = 0; i < e->cfg.ncpus; i++)
		wake(&e->vcpu[i]);
}

/* --- struct lapic_cpu_ops: called by the LAPIC from any thread --- */

static void op_kick(void *cpu)
{
	struct emu_vcpu *v = cpu;
	atomic_store(&v->cpu->irq_pending, true);
	wake(v);
}

static void op_init(void *cpu)
{
	struct emu_vcpu *v = cpu;
	atomic_store(&v->init, true);
	atomic_store(&v->sipi, NO_SIPI);
}

static void op_sipi(void *cpu, uint8_t vector)
{
	struct emu_vcpu *v = cpu;
	atomic_store(&v->sipi, vector);
}

static void op_nmi(void *cpu)
{
	struct emu_vcpu *v = cpu;
	atomic_store(&v->nmi, true);
}

/* The TSC counts host monotonic ns plus the vCPU's offset (cpuid.c). */
static uint64_t op_tsc_to_ns(void *cpu, uint64_t tsc)
{
	struct emu_vcpu *v = cpu;
	return tsc - v->cpu->tsc_offset;
}

static const struct lapic_cpu_ops cpu_ops = {
	.kick = op_kick,
	.init = op_init,
	.sipi = op_sipi,
	.nmi = op_nmi,
	.tsc_to_ns = op_tsc_to_ns,
};

/*
 * The CPU core's INTA, called between instructions when irq_pending is set
 * and RFLAGS.IF allows. A stale flag is cleared, then set again if an
 * interrupt became pending meanwhile (the LAPIC's kick protocol).
 */
static int irq_ack(struct emu_cpu *c, void *opaque)
{
	struct lapic *a = opaque;
	int v = lapic_ack(a);

	if (v < 0) {
		atomic_store(&c->irq_pending, false);
		if (lapic_pending(a) >= 0)
			atomic_store(&c->irq_pending, true);
	}
	return v;
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
	wake_all(e);
}

/* Wake every vCPU (kept for emu_hooks.h; the irqchip kicks by itself). */
void emu_engine_kick(struct engine *eng)
{
	wake_all(E(eng));
}

static void destroy_vcpus(struct emu_engine *e, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		emu_cpu_destroy(e->vcpu[i].cpu);
		pthread_cond_destroy(&e->vcpu[i].cond);
		pthread_mutex_destroy(&e->vcpu[i].lock);
	}
}

static void init_cond_mono(pthread_cond_t *cond)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &ca);
	pthread_condattr_destroy(&ca);
}

static struct engine *emu_create(const struct engine_config *cfg)
{
	void *cpus[MAX_VCPUS];
	struct emu_engine *e;
	unsigned i;

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
	pthread_cond_init(&e->cond, NULL);
	for (i = 0; i < cfg->ncpus; i++) {
		struct emu_vcpu *v = &e->vcpu[i];
		v->e = e;
		v->id = i;
		atomic_init(&v->sipi, NO_SIPI);
		pthread_mutex_init(&v->lock, NULL);
		init_cond_mono(&v->cond);
		v->cpu = emu_cpu_create(cfg->mem, cfg->pio, cfg->mmio, i);
		if (!v->cpu) {
			log_err("emu: cannot create vCPU %u", i);
			pthread_cond_destroy(&v->cond);
			pthread_mutex_destroy(&v->lock);
			goto fail;
		}
		/* Application processors wait for INIT-SIPI-SIPI. */
		v->cpu->wait_sipi = i != 0;
		v->cpu->ncpus = cfg->ncpus;
		cpus[i] = v;
	}
	e->ic = irqchip_emu_create(cfg->pio, cfg->mmio, cfg->ncpus, EMU_LAPIC_HZ,
				   &cpu_ops, cpus);
	if (!e->ic) {
		log_err("emu: cannot create the interrupt controllers");
		goto fail;
	}
	for (i = 0; i < cfg->ncpus; i++) {
		struct emu_vcpu *v = &e->vcpu[i];
		v->apic = irqchip_emu_lapic(e->ic, i);
		v->cpu->lapic = v->apic;       /* the APIC page and MSRs */
		v->cpu->irq_ack = irq_ack;
		v->cpu->irq_opaque = v->apic;
	}
	return (struct engine *)e;
fail:
	destroy_vcpus(e, i);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	free(e);
	return NULL;
}

static struct irq_chip *emu_irq_chip(struct engine *eng)
{
	return irqchip_emu_irq_chip(E(eng)->ic);
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

/* SIPI: real mode at vector << 8 : 0, as after INIT. */
static void start_at_sipi(struct emu_cpu *c, unsigned vector)
{
	struct seg_state rs = { .limit = 0xFFFF, .type = 3, .s = 1, .present = 1 };
	struct cpu_boot_state st;

	memset(&st, 0, sizeof(st));
	st.ds = st.es = st.fs = st.gs = st.ss = rs;
	st.cs = rs;
	st.cs.type = 0xB;
	st.cs.selector = (uint16_t)(vector << 8);
	st.cs.base = (uint64_t)vector << 12;
	st.ldt = (struct seg_state){ .limit = 0xFFFF, .type = 2, .present = 1 };
	st.tr = (struct seg_state){ .limit = 0xFFFF, .type = 0xB, .present = 1 };
	st.rflags = 2;
	st.cr0 = 0x60000010;          /* CD NW ET: the INIT state */
	st.gdt_limit = st.idt_limit = 0xFFFF;
	emu_cpu_set_boot_state(c, &st);
}

/*
 * NMI through IDT vector 2. NMI blocking until IRET is not modelled: Linux
 * only sends NMIs for backtraces and crash shoot-downs. A fault while
 * delivering it is not recoverable here and stops the VM.
 */
static void deliver_nmi(struct emu_vcpu *v)
{
	struct emu_cpu *c = v->cpu;

	if (sigsetjmp(c->jmp, 0)) {
		report_error(v, "fault while delivering an NMI");
		c->triple_fault = true;
		return;
	}
	emu_deliver(c, EXC_NMI, false, 0, false, true);
}

/* Apply what the LAPIC latched for this vCPU: INIT, SIPI, NMI. */
static void apply_events(struct emu_vcpu *v)
{
	struct emu_cpu *c = v->cpu;
	int sipi;

	if (atomic_load_explicit(&v->init, memory_order_relaxed) &&
	    atomic_exchange(&v->init, false)) {
		if (v->id == 0)
			log_warn("emu: INIT to the boot CPU: it waits for a SIPI");
		c->wait_sipi = true;
		c->halted = false;
	}
	if (atomic_load_explicit(&v->sipi, memory_order_relaxed) != NO_SIPI) {
		sipi = atomic_exchange(&v->sipi, NO_SIPI);
		if (sipi != NO_SIPI && c->wait_sipi)
			start_at_sipi(c, (unsigned)sipi);
	}
	if (atomic_load_explicit(&v->nmi, memory_order_relaxed) &&
	    atomic_exchange(&v->nmi, false) && !c->wait_sipi)
		deliver_nmi(v);
}

static bool has_events(struct emu_vcpu *v)
{
	return atomic_load(&v->init) || atomic_load(&v->nmi) ||
	       (atomic_load(&v->sipi) != NO_SIPI && v->cpu->wait_sipi);
}

/* Can the vCPU execute now (not paused, halted without an interrupt, or
 * waiting for SIPI)? */
static bool runnable(struct emu_vcpu *v)
{
	struct emu_cpu *c = v->cpu;

	if (atomic_load_explicit(&v->e->pause_req, memory_order_relaxed) || c->wait_sipi)
		return false;
	if (!c->halted)
		return true;
	return (c->rflags & FL_IF) && lapic_pending(v->apic) >= 0;
}

/*
 * Sleep until kicked (interrupt, INIT/SIPI/NMI, stop, pause, resume) or
 * until deadline (absolute monotonic ns; IRQCHIP_NO_DEADLINE: none). A kick
 * since the last sleep ends it at once, so none is lost.
 */
static void sleep_until(struct emu_vcpu *v, uint64_t deadline)
{
	pthread_mutex_lock(&v->lock);
	while (!v->kicked && !atomic_load(&v->e->stop_req)) {
		if (deadline == IRQCHIP_NO_DEADLINE ||
		    atomic_load(&v->e->pause_req)) {
			pthread_cond_wait(&v->cond, &v->lock);
			continue;
		}
		if (mono_ns() >= deadline)
			break;
		struct timespec ts = { (time_t)(deadline / 1000000000ULL),
				       (long)(deadline % 1000000000ULL) };
		pthread_cond_timedwait(&v->cond, &v->lock, &ts);
	}
	v->kicked = false;
	pthread_mutex_unlock(&v->lock);
}

static void *vcpu_thread(void *arg)
{
	struct emu_vcpu *v = arg;
	struct emu_engine *e = v->e;
	struct emu_cpu *c = v->cpu;
	struct irqchip_emu *ic = e->ic;

	irqchip_emu_vcpu_start(ic, v->id);
	{
		const void *jit_lo = NULL;
		size_t jit_len = 0;
		emu_jit_code_range(c->jit, &jit_lo, &jit_len);
		emu_profile_thread_start(v->id, &c->rip, jit_lo, jit_len);
	}
	while (!atomic_load_explicit(&e->stop_req, memory_order_relaxed)) {
		apply_events(v);
		uint64_t deadline = irqchip_emu_next_deadline_ns(ic, v->id);
		unsigned batch = BATCH_MAX;
		if (deadline != IRQCHIP_NO_DEADLINE) {
			uint64_t now = mono_ns();
			if (now >= deadline) {
				irqchip_emu_poll(ic, v->id, now);
				deadline = irqchip_emu_next_deadline_ns(ic, v->id);
			}
			uint64_t left = deadline > now ? deadline - now : 0;
			if (deadline != IRQCHIP_NO_DEADLINE && left < BATCH_MAX)
				batch = left < BATCH_MIN ? BATCH_MIN : (unsigned)left;
		}
		if (!runnable(v)) {
			if (!has_events(v))
				sleep_until(v, deadline);
			continue;
		}
		if (c->halted)      /* woken by an interrupt: let the core see it */
			atomic_store(&c->irq_pending, true);
		emu_cpu_run(c, batch);
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
	emu_profile_thread_end();
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
			break;
		}
		v->started = true;
		e->running++;
	}
	while (!atomic_load(&e->stop_req))
		pthread_cond_wait(&e->cond, &e->lock);
	why = e->why;
	pthread_mutex_unlock(&e->lock);
	wake_all(e);
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
	atomic_store(&e->pause_req, true);
	wake_all(e);
}

static void emu_resume(struct engine *eng)
{
	struct emu_engine *e = E(eng);
	atomic_store(&e->pause_req, false);
	wake_all(e);
}

static void emu_destroy(struct engine *eng)
{
	struct emu_engine *e = E(eng);
	if (!e)
		return;
	irqchip_emu_destroy(e->ic);
	destroy_vcpus(e, e->cfg.ncpus);
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
