/*
 * vireo processes (see vm.h). The daemon is single-threaded, so the waits
 * here (start-up, destroy's grace period, QMP) are short and bounded.
 */
#include "daemon/vm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/console.h"
#include "daemon/events.h"
#include "daemon/net_iface.h"
#include "daemon/protocol.h"
#include "daemon/qmp.h"
#include "lib/log.h"
#include "lib/util.h"

#define START_TIMEOUT_MS	10000
#define DESTROY_GRACE_MS	3000
#define VM_ARGS_MAX		64
#define VM_DISKS_MAX		8	/* vireo's --disk limit */

char *vm_run_file(struct daemon *dm, const struct domain *d,
		  const char *suffix)
{
	char *p;

	return asprintf(&p, "%s/%s.%s", dm->run_dir, d->def->name, suffix) < 0 ?
	       NULL : p;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Last non-empty line of the VM's log, for error messages. */
static void log_tail(const char *path, char *out, size_t size)
{
	FILE *f = fopen(path, "re");
	char line[512];

	snprintf(out, size, "no output");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (line[0]) {
			size_t n = MIN(strlen(line), size - 1);

			memcpy(out, line, n);
			out[n] = 0;
		}
	}
	fclose(f);
}

/* The first /dev/pts/N the VM printed (its serial pty), or NULL. */
static char *find_pty(const char *log_path)
{
	FILE *f = fopen(log_path, "re");
	char line[512], *p, *pty = NULL;

	if (!f)
		return NULL;
	while (!pty && fgets(line, sizeof(line), f)) {
		p = strstr(line, "/dev/pts/");
		if (p)
			pty = strndup(p, strspn(p, "/devpts0123456789"));
	}
	fclose(f);
	return pty;
}

static const char *accel_for(struct daemon *dm, const struct domain_def *def)
{
	switch (def->virt) {
	case DOM_VIRT_KVM:
		return "kvm";
	case DOM_VIRT_QEMU:
		return "emu";
	default:
		return dm->accel ? dm->accel : "auto";
	}
}

/* vireo's --disk value is KEY=VALUE,...: a ',' or '=' cannot be quoted. */
static bool disk_value_ok(const char *v)
{
	return !v || !strpbrk(v, ",=");
}

static int check_disks(const struct domain_def *def, struct vir_error *err)
{
	if (def->ndisks > VM_DISKS_MAX) {
		vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
			      "domain '%s' has %zu disks; vireo takes at most %d",
			      def->name, def->ndisks, VM_DISKS_MAX);
		return -1;
	}
	for (size_t i = 0; i < def->ndisks; i++) {
		const struct dom_disk *k = &def->disks[i];

		if (strcmp(k->device, "disk")) {
			vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
				      "disk '%s': device '%s' is not supported by vireo (only 'disk')",
				      k->target, k->device);
			return -1;
		}
		if (!disk_value_ok(k->source) || !disk_value_ok(k->serial)) {
			vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
				      "disk '%s': ',' and '=' cannot be passed to vireo in a path or serial",
				      k->target);
			return -1;
		}
	}
	return 0;
}

/* What the VMM's command line cannot express yet is refused, not dropped. */
static int check_startable(const struct domain_def *def, struct vir_error *err)
{
	if (!def->kernel) {
		vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
			      "domain '%s' has no <kernel>: vireo boots kernels directly, firmware boot is not supported yet",
			      def->name);
		return -1;
	}
	if (netif_check(def, err))	/* net_iface.c */
		return -1;
	return check_disks(def, err);
}

/* A <console> with <target type='virtio'>: typed input goes to hvc0. */
static bool console_virtio(const struct domain_def *def)
{
	for (size_t i = 0; i < def->nchardevs; i++)
		if (def->chardevs[i].console && def->chardevs[i].target_type &&
		    !strcmp(def->chardevs[i].target_type, "virtio"))
			return true;
	return false;
}

/* "path=F[,format=..][,readonly=on][,serial=..][,cache=..]" per disk. */
static int make_disk_args(const struct domain_def *def, char **out)
{
	for (size_t i = 0; i < def->ndisks; i++) {
		const struct dom_disk *k = &def->disks[i];

		if (asprintf(&out[i], "path=%s%s%s%s%s%s%s%s", k->source,
			     k->format ? ",format=" : "",
			     k->format ? k->format : "",
			     k->readonly ? ",readonly=on" : "",
			     k->serial ? ",serial=" : "",
			     k->serial ? k->serial : "",
			     k->cache ? ",cache=" : "",
			     k->cache ? k->cache : "") < 0) {
			out[i] = NULL;
			return -ENOMEM;
		}
	}
	return 0;
}

static void child_exec(const char *log_path, char *const argv[])
{
	sigset_t none;
	int fd;

	/* The daemon blocks signals for its signalfd; exec keeps the mask. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setsid();
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0)
		dup2(fd, 0);
	fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execv(argv[0], argv);
	fprintf(stderr, "vireod: cannot execute %s: %s\n", argv[0],
		strerror(errno));
	_exit(127);
}

/* Wait until the control socket answers or the child dies. */
static int wait_started(pid_t pid, const char *qmp, const char *log_path,
			struct vir_error *err)
{
	uint64_t deadline = now_ns() + START_TIMEOUT_MS * 1000000ULL;
	char tail[256];
	int status;

	while (now_ns() < deadline) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			log_tail(log_path, tail, sizeof(tail));
			vir_error_set(err, VIR_ERR_OPERATION_FAILED,
				      "vireo exited during start-up (status %d): %s",
				      WIFEXITED(status) ? WEXITSTATUS(status) :
				      128 + WTERMSIG(status), tail);
			return -1;
		}
		if (qmp_probe(qmp) == 0)
			return 0;
		sleep_ms(20);
	}
	vir_error_set(err, VIR_ERR_OPERATION_TIMEOUT,
		      "vireo did not open its control socket %s", qmp);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

int vm_start(struct daemon *dm, struct domain *d, unsigned flags,
	     struct vir_error *err)
{
	const struct domain_def *def = d->def;
	char *qmp = NULL, *log_path = NULL, *serial_arg = NULL, mem[32], cpus[16];
	char *disk_args[VM_DISKS_MAX] = { 0 };
	char *net_args[NETIF_MAX] = { 0 };	/* net_iface.c */
	const char *bin = def->emulator ? def->emulator : dm->vireo_path;
	char *argv[VM_ARGS_MAX];
	size_t argc = 0;
	pid_t pid;
	int ret = -1;

	if (domain_active(d) && !(flags & VM_START_REBOOT)) {
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "domain is already running");
		return -1;
	}
	if (check_startable(def, err))
		return -1;
	if (access(bin, X_OK)) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "cannot execute the VMM %s: %s", bin,
			      strerror(errno));
		return -1;
	}
	qmp = vm_run_file(dm, d, "qmp");
	log_path = vm_run_file(dm, d, "log");
	if (def->nchardevs) {
		char *sock = vm_run_file(dm, d, "serial");

		if (sock && asprintf(&serial_arg, "unix:%s", sock) < 0)
			serial_arg = NULL;
		free(sock);
	}
	if (!qmp || !log_path || (def->nchardevs && !serial_arg) ||
	    make_disk_args(def, disk_args)) {
		vir_error_set(err, VIR_ERR_NO_MEMORY, "paths");
		goto out;
	}
	unlink(qmp);
	if (def->max_mem_kib % 1024 == 0)
		snprintf(mem, sizeof(mem), "%" PRIu64 "M",
			 def->max_mem_kib / 1024);
	else
		snprintf(mem, sizeof(mem), "%" PRIu64 "K", def->max_mem_kib);
	snprintf(cpus, sizeof(cpus), "%u", def->vcpus);

	argv[argc++] = (char *)bin;
	argv[argc++] = "--kernel";
	argv[argc++] = def->kernel;
	if (def->initrd) {
		argv[argc++] = "--initrd";
		argv[argc++] = def->initrd;
	}
	if (def->cmdline) {
		argv[argc++] = "--cmdline";
		argv[argc++] = def->cmdline;
	}
	argv[argc++] = "--memory";
	argv[argc++] = mem;
	argv[argc++] = "--cpus";
	argv[argc++] = cpus;
	argv[argc++] = "--accel";
	argv[argc++] = (char *)accel_for(dm, def);
	/*
	 * The serial port goes to a socket vireod itself connects to, which
	 * is what DOMAIN_OPEN_CONSOLE streams. Without a <serial>, vireo's
	 * default (stdio) would fill the log.
	 */
	argv[argc++] = "--serial";
	argv[argc++] = serial_arg ? serial_arg : "none";
	if (console_virtio(def)) {
		argv[argc++] = "--console";
		argv[argc++] = "virtio";
	}
	for (size_t i = 0; i < def->ndisks; i++) {
		argv[argc++] = "--disk";
		argv[argc++] = disk_args[i];
	}
	if (def->nrngs)
		argv[argc++] = "--rng";
	if (def->memballoon && !strcmp(def->memballoon, "virtio"))
		argv[argc++] = "--balloon";
	/* Interfaces: TAPs on their bridges (net_iface.c), made last. */
	if (netif_domain_start(dm, d, net_args, err))
		goto out;
	for (size_t i = 0; i < NETIF_MAX && net_args[i]; i++) {
		argv[argc++] = "--net";
		argv[argc++] = net_args[i];
	}
	argv[argc++] = "--control";
	argv[argc++] = qmp;
	if (def->on_reboot == DOM_ACT_DESTROY)
		argv[argc++] = "--no-reboot";
	argv[argc] = NULL;

	log_info("starting domain '%s': %s", def->name, bin);
	pid = fork();
	if (pid < 0) {
		vir_error_set(err, VIR_ERR_SYSTEM_ERROR, "fork: %s",
			      strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_exec(log_path, argv);
	if (wait_started(pid, qmp, log_path, err))
		goto out;

	d->pid = pid;
	if (!(flags & VM_START_REBOOT))
		d->id = dm->store.next_id++;
	d->balloon_kib = 0;
	d->reboot_pending = false;
	d->state = VIR_DOMAIN_RUNNING;
	d->reason = VIR_DOMAIN_RUNNING_BOOTED;
	d->started_ns = now_ns();
	free(d->pty);
	d->pty = find_pty(log_path);
	d->reattached = false;
	if (def->nchardevs)
		console_attach(dm, d);	/* failing is not fatal: retried */
	if ((flags & VIR_DOMAIN_START_PAUSED) &&
	    qmp_execute(qmp, "stop", err)) {
		/* Not vm_destroy(): that would free a transient d. */
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		console_detach(dm, d);
		vm_remove_run_state(dm, d);
		d->pid = 0;
		d->id = -1;
		d->state = VIR_DOMAIN_SHUTOFF;
		d->reason = VIR_DOMAIN_SHUTOFF_FAILED;
		goto out;
	}
	vm_save_run_state(dm, d);
	if (!(flags & VM_START_REBOOT))
		domain_event(dm, d, DOM_EVENT_STARTED,
			     DOM_EVENT_STARTED_BOOTED);
	if (flags & VIR_DOMAIN_START_PAUSED) {
		d->state = VIR_DOMAIN_PAUSED;
		d->reason = VIR_DOMAIN_PAUSED_USER;
		domain_event(dm, d, DOM_EVENT_SUSPENDED,
			     DOM_EVENT_SUSPENDED_PAUSED);
	}
	log_info("domain '%s' running as pid %d, id %d", def->name, pid, d->id);
	ret = 0;
out:
	if (ret && net_args[0])
		netif_domain_stop(def);
	netif_args_free(net_args);
	free(qmp);
	free(log_path);
	free(serial_arg);
	for (size_t i = 0; i < VM_DISKS_MAX; i++)
		free(disk_args[i]);
	return ret;
}

static int stopped_detail(int reason)
{
	switch (reason) {
	case VIR_DOMAIN_SHUTOFF_DESTROYED:
		return DOM_EVENT_STOPPED_DESTROYED;
	case VIR_DOMAIN_SHUTOFF_CRASHED:
		return DOM_EVENT_STOPPED_CRASHED;
	case VIR_DOMAIN_SHUTOFF_FAILED:
		return DOM_EVENT_STOPPED_FAILED;
	default:
		return DOM_EVENT_STOPPED_SHUTDOWN;
	}
}

void vm_mark_stopped(struct daemon *dm, struct domain *d, int reason)
{
	vm_close_stat(d);
	console_detach(dm, d);
	vm_unwatch_pid(dm, d);
	vm_remove_run_state(dm, d);
	netif_domain_stop(d->def);	/* net_iface.c */
	d->state = VIR_DOMAIN_SHUTOFF;
	d->reason = reason;
	d->reattached = false;
	log_info("domain '%s' stopped", d->def->name);
	/* As libvirt's QEMU driver: a guest power-off is "shutdown" first. */
	if (reason == VIR_DOMAIN_SHUTOFF_SHUTDOWN)
		domain_event(dm, d, DOM_EVENT_SHUTDOWN,
			     DOM_EVENT_SHUTDOWN_FINISHED);
	domain_event(dm, d, DOM_EVENT_STOPPED, stopped_detail(reason));
	store_domain_stopped(&dm->store, d);
}

static int require_active(struct domain *d, struct vir_error *err)
{
	if (domain_active(d))
		return 0;
	vir_error_set(err, VIR_ERR_OPERATION_INVALID, "domain is not running");
	return -1;
}

int vm_destroy(struct daemon *dm, struct domain *d, struct vir_error *err)
{
	uint64_t deadline = now_ns() + DESTROY_GRACE_MS * 1000000ULL;
	int status;
	pid_t pid = d->pid;

	if (require_active(d, err))
		return -1;
	kill(pid, SIGTERM);
	if (d->reattached) {
		/* Not our child: no waitpid, its pidfd says when it is gone. */
		if (!vm_wait_exit(d, DESTROY_GRACE_MS)) {
			log_warn("domain '%s' ignored SIGTERM, killing it",
				 d->def->name);
			kill(pid, SIGKILL);
			vm_wait_exit(d, DESTROY_GRACE_MS);
		}
		vm_mark_stopped(dm, d, VIR_DOMAIN_SHUTOFF_DESTROYED);
		return 0;
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ns() >= deadline) {
			log_warn("domain '%s' ignored SIGTERM, killing it",
				 d->def->name);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		sleep_ms(10);
	}
	vm_mark_stopped(dm, d, VIR_DOMAIN_SHUTOFF_DESTROYED);
	return 0;
}

static int qmp_on(struct daemon *dm, struct domain *d, const char *cmd,
		  struct vir_error *err)
{
	char *qmp;
	int r;

	if (require_active(d, err))
		return -1;
	qmp = vm_run_file(dm, d, "qmp");
	if (!qmp) {
		vir_error_set(err, VIR_ERR_NO_MEMORY, "path");
		return -1;
	}
	r = qmp_execute(qmp, cmd, err);
	free(qmp);
	return r;
}

int vm_shutdown(struct daemon *dm, struct domain *d, struct vir_error *err)
{
	d->reboot_pending = false;	/* a shutdown after a reboot wins */
	return qmp_on(dm, d, "system_powerdown", err);
}

int vm_suspend(struct daemon *dm, struct domain *d, struct vir_error *err)
{
	if (d->state == VIR_DOMAIN_PAUSED)
		return 0;
	if (qmp_on(dm, d, "stop", err))
		return -1;
	d->state = VIR_DOMAIN_PAUSED;
	d->reason = VIR_DOMAIN_PAUSED_USER;
	domain_event(dm, d, DOM_EVENT_SUSPENDED, DOM_EVENT_SUSPENDED_PAUSED);
	return 0;
}

int vm_resume(struct daemon *dm, struct domain *d, struct vir_error *err)
{
	if (require_active(d, err))
		return -1;
	if (d->state != VIR_DOMAIN_PAUSED) {
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "domain is not paused");
		return -1;
	}
	if (qmp_on(dm, d, "cont", err))
		return -1;
	d->state = VIR_DOMAIN_RUNNING;
	d->reason = VIR_DOMAIN_RUNNING_UNPAUSED;
	domain_event(dm, d, DOM_EVENT_RESUMED, DOM_EVENT_RESUMED_UNPAUSED);
	return 0;
}

/*
 * The second half of an ACPI reboot: the guest powered off, vireo exited
 * with 0; start it again as the same domain. If that fails, the domain is
 * shut off like any VM whose start failed.
 */
static void reboot_restart(struct daemon *dm, struct domain *d)
{
	struct vir_error err = { 0 };

	log_info("domain '%s' powered off for a reboot: starting it again",
		 d->def->name);
	console_detach(dm, d);
	vm_remove_run_state(dm, d);
	netif_domain_stop(d->def);	/* net_iface.c */
	d->pid = 0;
	if (vm_start(dm, d, VM_START_REBOOT, &err)) {
		log_err("reboot of '%s' failed: %s", d->def->name,
			err.message);
		d->reboot_pending = false;
		vm_mark_stopped(dm, d, VIR_DOMAIN_SHUTOFF_FAILED);
	}
}

void vm_reap(struct daemon *dm)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct domain *d;

		for (d = dm->store.head; d; d = d->next)
			if (d->pid == pid)
				break;
		if (!d)
			continue;
		if (d->reboot_pending && WIFEXITED(status) &&
		    !WEXITSTATUS(status)) {
			reboot_restart(dm, d);
			continue;
		}
		if (WIFEXITED(status))
			log_info("domain '%s': vireo exited with status %d",
				 d->def->name, WEXITSTATUS(status));
		else
			log_warn("domain '%s': vireo killed by signal %d",
				 d->def->name, WTERMSIG(status));
		vm_mark_stopped(dm, d, WIFEXITED(status) && !WEXITSTATUS(status) ?
			     VIR_DOMAIN_SHUTOFF_SHUTDOWN :
			     VIR_DOMAIN_SHUTOFF_CRASHED);
	}
}

void vm_autostart(struct daemon *dm)
{
	for (struct domain *d = dm->store.head; d; d = d->next) {
		struct vir_error err = { 0 };

		if (!d->persistent || !d->autostart || domain_active(d))
			continue;
		if (vm_start(dm, d, 0, &err))
			log_err("autostart of '%s' failed: %s", d->def->name,
				err.message);
	}
}

void vm_stop_all(struct daemon *dm)
{
	struct domain *d = dm->store.head, *next;

	for (; d; d = next) {
		struct vir_error err = { 0 };

		next = d->next;	/* d may be freed (transient) */
		if (domain_active(d))
			vm_destroy(dm, d, &err);
	}
}

/*
 * /proc/PID/stat stays open while the VM runs: GET_INFO asks for the CPU
 * time on every call (virsh list, monitoring loops), and one pread() is a
 * third of what open, read and close cost. Reopened when the pid changes.
 */
static int stat_fd(struct domain *d)
{
	char path[64];

	if (d->stat_fd >= 0 && d->stat_pid == d->pid)
		return d->stat_fd;
	if (d->stat_fd >= 0)
		close(d->stat_fd);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)d->pid);
	d->stat_fd = open(path, O_RDONLY | O_CLOEXEC);
	d->stat_pid = d->pid;
	return d->stat_fd;
}

void vm_close_stat(struct domain *d)
{
	if (d->stat_fd >= 0)
		close(d->stat_fd);
	d->stat_fd = -1;
	d->stat_pid = 0;
}

uint64_t vm_cpu_time(struct domain *d)
{
	char buf[1024], *p;
	unsigned long long utime, stime;
	long hz = sysconf(_SC_CLK_TCK);
	ssize_t n;
	int fd;

	if (!d->pid || hz <= 0)
		return 0;
	fd = stat_fd(d);
	if (fd < 0)
		return 0;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* Fields after "(comm)": state is 3rd, utime 14th, stime 15th. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &utime, &stime) != 2)
		return 0;
	return (utime + stime) * (1000000000ULL / hz);
}
