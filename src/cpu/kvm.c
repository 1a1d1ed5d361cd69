/*
 * The kvm engine: hardware-assisted vCPUs through /dev/kvm, with KVM's
 * in-kernel PIC, IOAPIC, LAPIC and PIT. One host thread per vCPU runs
 * KVM_RUN and hands port I/O and MMIO exits to the buses.
 */
#include "cpu/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

#define KICK_SIGNAL SIGUSR1

struct kvm_vcpu {
	struct kvm_engine *kvm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;
};

struct kvm_engine {
	struct irq_chip irq;        /* first: engines hand out &e->irq */
	struct engine_config cfg;
	int sys_fd, vm_fd;
	struct kvm_vcpu vcpu[MAX_VCPUS];

	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool exiting;
	enum engine_exit exit_reason;
	bool paused;
	unsigned running;           /* vCPU threads not parked in pause */
};

static bool kvm_available(char *why, size_t len)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		snprintf(why, len, "/dev/kvm: %s", strerror(errno));
		return false;
	}
	if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		snprintf(why, len, "/dev/kvm has an unsupported API version");
		close(fd);
		return false;
	}
	close(fd);
	return true;
}

static void kvm_set_level(struct irq_chip *chip, unsigned gsi, int level)
{
	struct kvm_engine *e = (struct kvm_engine *)chip;
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	if (ioctl(e->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		log_warn("KVM_IRQ_LINE %u: %s", gsi, strerror(errno));
}

static void kvm_msi(struct irq_chip *chip, uint64_t addr, uint32_t data)
{
	struct kvm_engine *e = (struct kvm_engine *)chip;
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr, .address_hi = addr >> 32, .data = data,
	};

	if (ioctl(e->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
		log_warn("KVM_SIGNAL_MSI: %s", strerror(errno));
}

static void kick_handler(int sig) { (void)sig; }

/* Give each vCPU the host-supported CPUID with its own APIC id. */
static int setup_cpuid(struct kvm_engine *e, struct kvm_vcpu *v)
{
	unsigned n = 128;
	struct kvm_cpuid2 *cpuid;
	int err = 0;

	for (;;) {
		cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));
		if (!cpuid)
			return -ENOMEM;
		cpuid->nent = n;
		if (ioctl(e->sys_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			break;
		free(cpuid);
		if (errno != E2BIG || n > 4096)
			return -errno;
		n *= 2;
	}
	for (unsigned i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *ent = &cpuid->entries[i];

		switch (ent->function) {
		case 1:
			ent->ebx = (ent->ebx & 0x0000ffff) | (v->id << 24) |
				   (MIN(e->cfg.ncpus, 255u) << 16);
			if (e->cfg.ncpus > 1)
				ent->edx |= 1u << 28;   /* HTT: logical count valid */
			break;
		case 0xb:
		case 0x1f:
			ent->edx = v->id;
			break;
		}
	}
	if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0)
		err = -errno;
	free(cpuid);
	return err;
}

/*
 * Wire LINT0 to the 8259 (ExtINT) and LINT1 to NMI, as a PC's firmware
 * does, and make the APs wait for INIT-SIPI. Writing the LAPIC state back
 * also makes KVM rebuild its APIC-id map: without it, this host's KVM
 * never delivers the INIT that starts an AP.
 */
static int setup_lapic(struct kvm_vcpu *v)
{
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp = {
		v->id == 0 ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED,
	};
	uint32_t lint0 = 0x700, lint1 = 0x400;     /* delivery modes ExtINT, NMI */

	if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	memcpy(lapic.regs + 0x350, &lint0, 4);
	memcpy(lapic.regs + 0x360, &lint1, 4);
	if (ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0 ||
	    ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0)
		return -errno;
	return 0;
}

static int create_vcpu(struct kvm_engine *e, unsigned id)
{
	struct kvm_vcpu *v = &e->vcpu[id];
	int size, err;

	v->kvm = e;
	v->id = id;
	v->fd = ioctl(e->vm_fd, KVM_CREATE_VCPU, id);
	if (v->fd < 0)
		return -errno;
	size = ioctl(e->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run))
		return -EINVAL;
	v->run_size = size;
	v->run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return -errno;
	}
	err = setup_cpuid(e, v);
	if (err)
		return err;
	return setup_lapic(v);
}

static void kvm_destroy(struct engine *eng)
{
	struct kvm_engine *e = (struct kvm_engine *)eng;

	for (unsigned i = 0; i < e->cfg.ncpus; i++) {
		struct kvm_vcpu *v = &e->vcpu[i];
		if (v->run)
			munmap(v->run, v->run_size);
		if (v->fd > 0)
			close(v->fd);
	}
	if (e->vm_fd >= 0)
		close(e->vm_fd);
	if (e->sys_fd >= 0)
		close(e->sys_fd);
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->cond);
	free(e);
}

static struct engine *kvm_create(const struct engine_config *cfg)
{
	struct kvm_engine *e = calloc(1, sizeof(*e));
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	struct sigaction sa = { .sa_handler = kick_handler };
	const char *step = "open /dev/kvm";

	if (!e)
		return NULL;
	e->cfg = *cfg;
	e->irq.set_level = kvm_set_level;
	e->irq.msi = kvm_msi;
	e->vm_fd = -1;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	/* No SA_RESTART: the kick must make KVM_RUN return EINTR. */
	sigaction(KICK_SIGNAL, &sa, NULL);

	e->sys_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (e->sys_fd < 0)
		goto fail;
	step = "KVM_CREATE_VM";
	e->vm_fd = ioctl(e->sys_fd, KVM_CREATE_VM, 0);
	if (e->vm_fd < 0)
		goto fail;
	/* Three pages below the IOAPIC for VMX's real-mode TSS and EPT identity map. */
	step = "KVM_SET_TSS_ADDR";
	if (ioctl(e->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0)
		goto fail;
	step = "KVM_SET_USER_MEMORY_REGION";
	for (unsigned i = 0; i < cfg->mem->nr_regions; i++) {
		const struct guest_region *r = &cfg->mem->region[i];
		struct kvm_userspace_memory_region mr = {
			.slot = i, .guest_phys_addr = r->gpa, .memory_size = r->size,
			.userspace_addr = (uintptr_t)r->host,
		};
		if (ioctl(e->vm_fd, KVM_SET_USER_MEMORY_REGION, &mr) < 0)
			goto fail;
	}
	step = "KVM_CREATE_IRQCHIP";
	if (ioctl(e->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		goto fail;
	step = "KVM_CREATE_PIT2";
	if (ioctl(e->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		goto fail;
	for (unsigned i = 0; i < cfg->ncpus; i++) {
		int err = create_vcpu(e, i);
		if (err) {
			errno = -err;
			step = "KVM_CREATE_VCPU";
			goto fail;
		}
	}
	return (struct engine *)e;
fail:
	log_err("kvm: %s: %s", step, strerror(errno));
	kvm_destroy((struct engine *)e);
	return NULL;
}

static struct irq_chip *kvm_irq_chip(struct engine *eng)
{
	return &((struct kvm_engine *)eng)->irq;
}

static void to_kvm_seg(struct kvm_segment *k, const struct seg_state *s)
{
	*k = (struct kvm_segment){
		.base = s->base, .limit = s->limit, .selector = s->selector,
		.type = s->type, .present = s->present, .dpl = s->dpl, .db = s->db,
		.s = s->s, .l = s->l, .g = s->g, .avl = s->avl,
		.unusable = !s->present,
	};
}

static int kvm_set_boot_state(struct engine *eng, const struct cpu_boot_state *st)
{
	struct kvm_engine *e = (struct kvm_engine *)eng;
	struct kvm_vcpu *v = &e->vcpu[0];
	struct kvm_sregs sregs;
	struct kvm_regs regs = {
		.rip = st->rip, .rsp = st->rsp, .rflags = st->rflags | 2,
		.rax = st->rax, .rbx = st->rbx, .rcx = st->rcx, .rdx = st->rdx,
		.rsi = st->rsi, .rdi = st->rdi,
	};
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	to_kvm_seg(&sregs.cs, &st->cs);
	to_kvm_seg(&sregs.ds, &st->ds);
	to_kvm_seg(&sregs.es, &st->es);
	to_kvm_seg(&sregs.fs, &st->fs);
	to_kvm_seg(&sregs.gs, &st->gs);
	to_kvm_seg(&sregs.ss, &st->ss);
	to_kvm_seg(&sregs.tr, &st->tr);
	to_kvm_seg(&sregs.ldt, &st->ldt);
	sregs.gdt = (struct kvm_dtable){ .base = st->gdt_base, .limit = st->gdt_limit };
	sregs.idt = (struct kvm_dtable){ .base = st->idt_base, .limit = st->idt_limit };
	sregs.cr0 = st->cr0;
	sregs.cr3 = st->cr3;
	sregs.cr4 = st->cr4;
	sregs.efer = st->efer;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0 ||
	    ioctl(v->fd, KVM_SET_REGS, &regs) < 0 ||
	    ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;
	return 0;
}

/* Record why the VM ends (first reason wins) and kick every vCPU out. */
static void kvm_stop(struct engine *eng, enum engine_exit why)
{
	struct kvm_engine *e = (struct kvm_engine *)eng;

	pthread_mutex_lock(&e->lock);
	if (!e->exiting) {
		e->exiting = true;
		e->exit_reason = why;
	}
	e->paused = false;
	pthread_cond_broadcast(&e->cond);
	for (unsigned i = 0; i < e->cfg.ncpus; i++) {
		struct kvm_vcpu *v = &e->vcpu[i];
		v->run->immediate_exit = 1;
		if (v->started)
			pthread_kill(v->thread, KICK_SIGNAL);
	}
	pthread_mutex_unlock(&e->lock);
}

static void kvm_pause(struct engine *eng)
{
	struct kvm_engine *e = (struct kvm_engine *)eng;

	pthread_mutex_lock(&e->lock);
	if (!e->exiting && !e->paused) {
		e->paused = true;
		for (unsigned i = 0; i < e->cfg.ncpus; i++) {
			e->vcpu[i].run->immediate_exit = 1;
			if (e->vcpu[i].started)
				pthread_kill(e->vcpu[i].thread, KICK_SIGNAL);
		}
		/* Return only once every vCPU is parked: "stop" means stopped. */
		while (e->running && !e->exiting)
			pthread_cond_wait(&e->cond, &e->lock);
	}
	pthread_mutex_unlock(&e->lock);
}

static void kvm_resume(struct engine *eng)
{
	struct kvm_engine *e = (struct kvm_engine *)eng;

	pthread_mutex_lock(&e->lock);
	e->paused = false;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

/* One line with the registers, for triple faults and unhandled exits. */
static void dump_vcpu(struct kvm_vcpu *v, const char *what)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
		log_err("vcpu %u: %s (registers unavailable)", v->id, what);
		return;
	}
	log_err("vcpu %u: %s: rip=%#llx rsp=%#llx rflags=%#llx rax=%#llx rbx=%#llx rcx=%#llx "
		"rdx=%#llx rsi=%#llx rdi=%#llx cs=%#x cr0=%#llx cr2=%#llx cr3=%#llx cr4=%#llx efer=%#llx",
		v->id, what, r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi,
		s.cs.selector, s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
}

/*
 * KVM gave up on the guest. An emulation failure carries the instruction
 * bytes: a paravirtual KVM that emulates kernel code reports a triple
 * fault (an exception it cannot deliver) this way too.
 */
static void internal_error(struct kvm_vcpu *v)
{
	struct kvm_run *run = v->run;
	char what[160];
	int n;

	n = snprintf(what, sizeof(what), "KVM internal error %u", run->internal.suberror);
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		unsigned len = MIN(run->emulation_failure.insn_size, 4u);

		n += snprintf(what + n, sizeof(what) - n,
			      " (cannot emulate or deliver an exception at insn");
		for (unsigned i = 0; i < len; i++)
			n += snprintf(what + n, sizeof(what) - n, " %02x",
				      run->emulation_failure.insn_bytes[i]);
		snprintf(what + n, sizeof(what) - n, "...)");
	}
	dump_vcpu(v, what);
}

static void handle_io(struct kvm_engine *e, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	unsigned size = run->io.size;

	for (unsigned i = 0; i < run->io.count; i++, data += size) {
		uint64_t val = 0;

		if (run->io.direction == KVM_EXIT_IO_OUT) {
			memcpy(&val, data, size);
			bus_write(e->cfg.pio, run->io.port, size, val);
		} else {
			val = bus_read(e->cfg.pio, run->io.port, size);
			memcpy(data, &val, size);
		}
	}
}

static void handle_mmio(struct kvm_engine *e, struct kvm_run *run)
{
	unsigned len = run->mmio.len;
	uint64_t val = 0;

	if (len != 1 && len != 2 && len != 4 && len != 8)
		return;
	if (run->mmio.is_write) {
		memcpy(&val, run->mmio.data, len);
		bus_write(e->cfg.mmio, run->mmio.phys_addr, len, val);
	} else {
		val = bus_read(e->cfg.mmio, run->mmio.phys_addr, len);
		memcpy(run->mmio.data, &val, len);
	}
}

/* Park while paused; false when the VM is ending. */
static bool wait_while_paused(struct kvm_engine *e, struct kvm_vcpu *v)
{
	bool go;

	pthread_mutex_lock(&e->lock);
	if (e->paused) {
		e->running--;
		pthread_cond_broadcast(&e->cond);
		while (e->paused && !e->exiting)
			pthread_cond_wait(&e->cond, &e->lock);
		e->running++;
	}
	go = !e->exiting;
	if (go)
		v->run->immediate_exit = 0;
	pthread_mutex_unlock(&e->lock);
	return go;
}

static void *vcpu_thread(void *arg)
{
	struct kvm_vcpu *v = arg;
	struct kvm_engine *e = v->kvm;
	struct kvm_run *run = v->run;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	while (wait_while_paused(e, v)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			log_err("vcpu %u: KVM_RUN: %s", v->id, strerror(errno));
			kvm_stop((struct engine *)e, ENGINE_EXIT_ERROR);
			break;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			handle_io(e, run);
			break;
		case KVM_EXIT_MMIO:
			handle_mmio(e, run);
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_SHUTDOWN:
			dump_vcpu(v, "triple fault");
			kvm_stop((struct engine *)e, ENGINE_EXIT_ERROR);
			break;
		case KVM_EXIT_SYSTEM_EVENT:
			kvm_stop((struct engine *)e,
				 run->system_event.type == KVM_SYSTEM_EVENT_RESET ?
				 ENGINE_EXIT_RESET : ENGINE_EXIT_POWEROFF);
			break;
		case KVM_EXIT_FAIL_ENTRY: {
			char what[96];
			snprintf(what, sizeof(what), "VM entry failed (hardware reason %#llx)",
				 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			dump_vcpu(v, what);
			kvm_stop((struct engine *)e, ENGINE_EXIT_ERROR);
			break;
		}
		case KVM_EXIT_INTERNAL_ERROR:
			internal_error(v);
			kvm_stop((struct engine *)e, ENGINE_EXIT_ERROR);
			break;
		default: {
			char what[96];
			snprintf(what, sizeof(what), "unhandled KVM exit %u", run->exit_reason);
			dump_vcpu(v, what);
			kvm_stop((struct engine *)e, ENGINE_EXIT_ERROR);
			break;
		}
		}
	}
	return NULL;
}

static enum engine_exit kvm_run_all(struct engine *eng)
{
	struct kvm_engine *e = (struct kvm_engine *)eng;
	sigset_t set, old;
	enum engine_exit why;

	/* vCPU threads unblock the kick signal themselves; others keep it blocked. */
	sigemptyset(&set);
	sigaddset(&set, KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	pthread_mutex_lock(&e->lock);
	for (unsigned i = 0; i < e->cfg.ncpus; i++) {
		struct kvm_vcpu *v = &e->vcpu[i];
		if (pthread_create(&v->thread, NULL, vcpu_thread, v) != 0) {
			log_err("kvm: cannot start vCPU thread %u", i);
			e->exiting = true;
			e->exit_reason = ENGINE_EXIT_ERROR;
			break;
		}
		v->started = true;
		e->running++;
	}
	while (!e->exiting)
		pthread_cond_wait(&e->cond, &e->lock);
	pthread_mutex_unlock(&e->lock);
	for (unsigned i = 0; i < e->cfg.ncpus; i++) {
		if (e->vcpu[i].started) {
			pthread_join(e->vcpu[i].thread, NULL);
			e->vcpu[i].started = false;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_mutex_lock(&e->lock);
	why = e->exit_reason;
	pthread_mutex_unlock(&e->lock);
	return why;
}

const struct engine_ops kvm_engine_ops = {
	.name = "kvm",
	.available = kvm_available,
	.create = kvm_create,
	.irq_chip = kvm_irq_chip,
	.set_boot_state = kvm_set_boot_state,
	.run = kvm_run_all,
	.stop = kvm_stop,
	.pause = kvm_pause,
	.resume = kvm_resume,
	.destroy = kvm_destroy,
};
