/*
 * vireo: run one virtual machine. The main thread runs the event loop
 * (serial input, the QMP control socket, signals); a runner thread drives
 * the CPU engine, whose own threads run the vCPUs.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/loop.h"
#include "vmm/chardev.h"
#include "vmm/options.h"
#include "vmm/qmp.h"
#include "virtio/virtio_devices.h"
#include "vmm/vm.h"

struct vmm {
	struct vm_options opts;
	struct vm vm;
	struct loop *loop;
	struct chardev *serial;
	struct qmp_server *qmp;
	int done_fd;                /* eventfd: the runner thread finished */
	int signal_fd;
	pthread_t runner;
	enum engine_exit exit;
	bool paused;
	bool quitting;
};

static void *runner(void *arg)
{
	struct vmm *v = arg;
	uint64_t one = 1;

	v->exit = v->vm.eops->run(v->vm.engine);
	if (write(v->done_fd, &one, sizeof(one)) < 0)
		log_err("cannot wake the main loop: %s", strerror(errno));
	return NULL;
}

static void request_stop(struct vmm *v)
{
	v->quitting = true;
	if (v->vm.engine)
		v->vm.eops->stop(v->vm.engine, ENGINE_EXIT_STOPPED);
}

/* ---- QMP commands ---- */

static json_t *cmd_query_status(void *opaque, json_t *args, const char **err)
{
	struct vmm *v = opaque;

	return json_pack("{s:s,s:b,s:b}", "status", v->paused ? "paused" : "running",
			 "running", !v->paused, "singlestep", 0);
}

static json_t *cmd_stop(void *opaque, json_t *args, const char **err)
{
	struct vmm *v = opaque;

	if (!v->paused) {
		v->vm.eops->pause(v->vm.engine);
		v->paused = true;
		qmp_server_event(v->qmp, "STOP", NULL);
	}
	return NULL;
}

static json_t *cmd_cont(void *opaque, json_t *args, const char **err)
{
	struct vmm *v = opaque;

	if (v->paused) {
		v->vm.eops->resume(v->vm.engine);
		v->paused = false;
		qmp_server_event(v->qmp, "RESUME", NULL);
	}
	return NULL;
}

static json_t *cmd_system_powerdown(void *opaque, json_t *args, const char **err)
{
	struct vmm *v = opaque;

	vm_power_button(&v->vm);
	qmp_server_event(v->qmp, "POWERDOWN", NULL);
	return NULL;
}

static json_t *cmd_system_reset(void *opaque, json_t *args, const char **err)
{
	struct vmm *v = opaque;

	v->vm.eops->stop(v->vm.engine, ENGINE_EXIT_RESET);
	return NULL;
}

static json_t *cmd_quit(void *opaque, json_t *args, const char **err)
{
	request_stop(opaque);
	return NULL;
}

static json_t *cmd_query_cpus_fast(void *opaque, json_t *args, const char **err)
{
	struct vmm *v = opaque;
	json_t *list = json_array();

	for (unsigned i = 0; i < v->opts.ncpus; i++)
		json_array_append_new(list, json_pack("{s:i,s:s,s:s,s:{s:i,s:i,s:i}}",
			"cpu-index", i, "qom-path", "/machine/unattached/device",
			"target", "x86_64", "props", "socket-id", 0, "core-id", i, "thread-id", 0));
	return list;
}

/* QEMU's semantics: "value" is the guest memory size to aim for, in bytes. */
static json_t *cmd_balloon(void *opaque, json_t *args, const char **err)
{
	struct vmm *v = opaque;
	json_t *value = args ? json_object_get(args, "value") : NULL;
	json_int_t bytes;
	uint64_t ram = v->opts.mem_size;

	if (!v->vm.vballoon) {
		*err = "No balloon device has been activated";
		return NULL;
	}
	if (!json_is_integer(value) || (bytes = json_integer_value(value)) <= 0) {
		*err = "Parameter 'value' expects a positive size in bytes";
		return NULL;
	}
	if ((uint64_t)bytes > ram)
		bytes = ram;
	virtio_balloon_set_target(v->vm.vballoon, (uint32_t)((ram - (uint64_t)bytes) >> 12));
	return NULL;
}

static json_t *cmd_query_balloon(void *opaque, json_t *args, const char **err)
{
	struct vmm *v = opaque;
	struct virtio_balloon_info info;

	if (!v->vm.vballoon) {
		*err = "No balloon device has been activated";
		return NULL;
	}
	virtio_balloon_info(v->vm.vballoon, &info);
	return json_pack("{s:I}", "actual",
			 (json_int_t)(v->opts.mem_size - ((uint64_t)info.actual_pages << 12)));
}

static json_t *cmd_query_version(void *opaque, json_t *args, const char **err)
{
	return json_pack("{s:{s:i,s:i,s:i},s:s}", "qemu", "major", 8, "minor", 0, "micro", 0,
			 "package", "vireo");
}

static const struct qmp_command qmp_commands[] = {
	{ "query-status", cmd_query_status },
	{ "stop", cmd_stop },
	{ "cont", cmd_cont },
	{ "system_powerdown", cmd_system_powerdown },
	{ "system_reset", cmd_system_reset },
	{ "quit", cmd_quit },
	{ "query-cpus-fast", cmd_query_cpus_fast },
	{ "query-version", cmd_query_version },
	{ "balloon", cmd_balloon },
	{ "query-balloon", cmd_query_balloon },
	{ NULL, NULL },
};

/* ---- main loop ---- */

static void on_done(struct loop *l, int fd, short revents, void *opaque)
{
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_err("eventfd: %s", strerror(errno));
	loop_quit(l, 0);
}

static void on_signal(struct loop *l, int fd, short revents, void *opaque)
{
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) == sizeof(si))
		log_info("signal %u: stopping the VM", si.ssi_signo);
	request_stop(opaque);
}

static void on_escape_quit(void *opaque)
{
	request_stop(opaque);
}

static void shutdown_event(struct vmm *v, bool guest, const char *reason)
{
	if (v->qmp)
		qmp_server_event(v->qmp, "SHUTDOWN",
				 json_pack("{s:b,s:s}", "guest", guest, "reason", reason));
}

/* Boot, run until the engine stops, and decide what's next; exit status or -1 to reboot. */
static int run_once(struct vmm *v)
{
	char err[512];

	if (vm_boot(&v->vm, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return 1;
	}
	v->paused = false;
	if (pthread_create(&v->runner, NULL, runner, v) != 0) {
		log_err("cannot start the runner thread");
		return 1;
	}
	if (v->quitting)
		request_stop(v);
	loop_run(v->loop);
	pthread_join(v->runner, NULL);
	vm_teardown(&v->vm);

	switch (v->exit) {
	case ENGINE_EXIT_POWEROFF:
		shutdown_event(v, true, "guest-shutdown");
		return 0;
	case ENGINE_EXIT_RESET:
		if (v->quitting)
			return 0;
		if (v->opts.no_reboot) {
			shutdown_event(v, true, "guest-reset");
			return 0;
		}
		if (v->qmp)
			qmp_server_event(v->qmp, "RESET",
					 json_pack("{s:b,s:s}", "guest", true, "reason", "guest-reset"));
		return -1;
	case ENGINE_EXIT_STOPPED:
		shutdown_event(v, false, "host-qmp-quit");
		return 0;
	case ENGINE_EXIT_ERROR:
	default:
		return 1;
	}
}

int main(int argc, char **argv)
{
	static struct vmm v;
	char err[512];
	sigset_t sigs;
	int r;

	log_set_program("vireo");
	r = options_parse(argc, argv, &v.opts, err, sizeof(err));
	if (r == OPTIONS_EXIT_OK)
		return 0;
	if (r == OPTIONS_ERROR) {
		log_err("%s", err);
		return 1;
	}
	if (v.opts.verbose)
		log_set_level(LOG_INFO);

	v.loop = loop_new();
	v.serial = chardev_open(v.loop, v.opts.serial, v.opts.serial_path, err, sizeof(err));
	if (!v.loop || !v.serial) {
		log_err("%s", v.loop ? err : "out of memory");
		return 1;
	}
	if (vm_init(&v.vm, &v.opts, v.serial, err, sizeof(err)) < 0) {
		chardev_close(v.serial);
		log_err("%s", err);
		return 1;
	}
	chardev_set_input(v.serial, vm_serial_input, &v.vm);
	chardev_set_quit(v.serial, on_escape_quit, &v);

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	v.signal_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	v.done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	loop_watch(v.loop, v.signal_fd, POLLIN, on_signal, &v);
	loop_watch(v.loop, v.done_fd, POLLIN, on_done, &v);

	if (v.opts.control) {
		v.qmp = qmp_server_new(v.loop, v.opts.control, qmp_commands, &v);
		if (!v.qmp) {
			log_err("--control %s: %s", v.opts.control, strerror(errno));
			vm_free(&v.vm);
			chardev_close(v.serial);
			return 1;
		}
	}

	while ((r = run_once(&v)) < 0)
		log_info("guest reset: rebooting");

	qmp_server_free(v.qmp);
	vm_free(&v.vm);
	chardev_close(v.serial);
	loop_free(v.loop);
	return r;
}
