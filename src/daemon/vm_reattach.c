/*
 * Running VMs outlive the daemon: each start leaves RUN_DIR/NAME.pid
 * ("PID ID") and RUN_DIR/NAME.xml (the definition it runs), next to the
 * QMP and serial sockets. A new vireod reads them back: a VM whose
 * process is alive and whose QMP socket answers is running again under
 * its old ID; anything else is stale and removed. Reattached VMs are not
 * our children, so their exit is seen through a pidfd instead of SIGCHLD.
 */
#include "daemon/vm_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "daemon/console.h"
#include "daemon/events.h"
#include "daemon/protocol.h"
#include "daemon/qmp.h"
#include "lib/log.h"
#include "lib/util.h"

struct pid_watch {
	struct ev_source src;	/* first: the epoll data pointer */
	struct domain *dom;
	int fd;
};

static int write_atomic(const char *path, const char *text)
{
	char *tmp;
	FILE *f;
	int r = 0;

	if (asprintf(&tmp, "%s.new", path) < 0)
		return -ENOMEM;
	f = fopen(tmp, "we");
	if (!f) {
		r = -errno;
		free(tmp);
		return r;
	}
	if (fputs(text, f) < 0 || fflush(f) || fsync(fileno(f)))
		r = -EIO;
	if (fclose(f) && !r)
		r = -EIO;
	if (!r && rename(tmp, path))
		r = -errno;
	if (r)
		unlink(tmp);
	free(tmp);
	return r;
}

int vm_save_run_state(struct daemon *dm, struct domain *d)
{
	char *pid_path = vm_run_file(dm, d, "pid");
	char *xml_path = vm_run_file(dm, d, "xml");
	char *xml = domain_def_format(d->def, NULL);
	char line[64];
	int r = -ENOMEM;

	if (pid_path && xml_path && xml) {
		snprintf(line, sizeof(line), "%d %d\n", (int)d->pid, d->id);
		/* The XML first: a pid file always has its definition. */
		r = write_atomic(xml_path, xml);
		if (!r)
			r = write_atomic(pid_path, line);
	}
	if (r)
		log_warn("domain '%s': cannot save its run state: %s",
			 d->def->name, strerror(-r));
	free(pid_path);
	free(xml_path);
	free(xml);
	return r;
}

void vm_remove_run_state(struct daemon *dm, struct domain *d)
{
	static const char *const files[] = { "pid", "xml", "qmp", "serial" };

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char *p = vm_run_file(dm, d, files[i]);

		if (p)
			unlink(p);
		free(p);
	}
}

static void pid_exited(struct daemon *dm, struct ev_source *s, uint32_t ev)
{
	struct pid_watch *w = (struct pid_watch *)s;
	struct domain *d = w->dom;

	if (!d)
		return;
	log_info("domain '%s': reattached vireo (pid %d) exited",
		 d->def->name, (int)d->pid);
	vm_mark_stopped(dm, d, VIR_DOMAIN_SHUTOFF_UNKNOWN);
}

static int watch_pid(struct daemon *dm, struct domain *d)
{
	struct pid_watch *w;
	int fd = (int)syscall(SYS_pidfd_open, d->pid, 0);

	if (fd < 0)
		return -errno;
	w = calloc(1, sizeof(*w));
	if (!w) {
		close(fd);
		return -ENOMEM;
	}
	w->src.handle = pid_exited;
	w->dom = d;
	w->fd = fd;
	if (server_watch(dm, fd, EPOLLIN, &w->src)) {
		close(fd);
		free(w);
		return -errno;
	}
	d->pid_watch = w;
	return 0;
}

void vm_unwatch_pid(struct daemon *dm, struct domain *d)
{
	struct pid_watch *w = d->pid_watch;

	if (!w)
		return;
	server_unwatch(dm, w->fd);
	close(w->fd);
	w->dom = NULL;
	d->pid_watch = NULL;
	server_defer_free(dm, &w->src);
}

bool vm_wait_exit(struct domain *d, unsigned timeout_ms)
{
	struct pollfd p = { .events = POLLIN };
	uint64_t deadline = now_ns() + timeout_ms * 1000000ULL;

	if (d->pid_watch) {
		p.fd = d->pid_watch->fd;
		return poll(&p, 1, (int)timeout_ms) == 1;
	}
	/* No pidfd (an old kernel): poll the pid itself. */
	while (kill(d->pid, 0) == 0) {
		struct timespec ts = { 0, 10 * 1000000L };

		if (now_ns() >= deadline)
			return false;
		nanosleep(&ts, NULL);
	}
	return true;
}

static int read_pid_file(const char *path, pid_t *pid, int *id)
{
	FILE *f = fopen(path, "re");
	int p, i, n;

	if (!f)
		return -errno;
	n = fscanf(f, "%d %d", &p, &i);
	fclose(f);
	if (n != 2 || p <= 1 || i <= 0)
		return -EINVAL;
	*pid = p;
	*id = i;
	return 0;
}

/* The domain the VM runs: its persistent entry, or a transient one. */
static struct domain *domain_for(struct daemon *dm, struct domain_def *def)
{
	struct domain *d = store_find_name(&dm->store, def->name);
	struct vir_error err = { 0 };

	if (d) {
		char *a, *b;

		if (memcmp(d->def->uuid, def->uuid, sizeof(def->uuid)) ||
		    domain_active(d)) {
			domain_def_free(def);
			return NULL;
		}
		/* Running what it ran; a newer config applies at its stop. */
		a = domain_def_format(d->def, NULL);
		b = domain_def_format(def, NULL);
		if (a && b && strcmp(a, b)) {
			d->newdef = d->def;
			d->def = def;
		} else {
			domain_def_free(def);
		}
		free(a);
		free(b);
		return d;
	}
	if (store_add_transient(&dm->store, def, &d, &err)) {
		log_warn("cannot reattach '%s': %s", def->name, err.message);
		return NULL;
	}
	return d;
}

static bool pid_is_vireo_vm(pid_t pid, const char *qmp)
{
	char path[64], buf[4096];
	FILE *f;
	size_t n;
	bool found = false;

	if (kill(pid, 0) && errno == ESRCH)
		return false;
	/* A recycled pid would not have this control socket in its argv. */
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
		buf[n] = 0;
		if (!strcmp(buf + i, qmp))
			found = true;
	}
	return found;
}

/*
 * Reattach RUN_DIR/<name>.pid: 1 when done, 0 when its VM is gone (the
 * files are stale), -1 when a live VM is there but cannot be taken over.
 */
static int reattach_one(struct daemon *dm, const char *name)
{
	char *pid_path = NULL, *xml_path = NULL, *qmp = NULL;
	uint8_t *xml = NULL;
	size_t len;
	pid_t pid = 0;
	int id = 0;
	bool running;
	int ret = -1;
	struct domain_def *def = NULL;
	struct domain *d;
	struct vir_error err = { 0 };

	if (asprintf(&pid_path, "%s/%s.pid", dm->run_dir, name) < 0 ||
	    asprintf(&xml_path, "%s/%s.xml", dm->run_dir, name) < 0 ||
	    asprintf(&qmp, "%s/%s.qmp", dm->run_dir, name) < 0)
		goto out;
	if (read_pid_file(pid_path, &pid, &id) ||
	    !pid_is_vireo_vm(pid, qmp)) {
		log_info("domain '%s': its VM is gone, removing its run state",
			 name);
		ret = 0;
		goto out;
	}
	if (qmp_query_running(qmp, &running, &err)) {
		log_warn("domain '%s': pid %d does not answer on QMP (%s); left alone",
			 name, (int)pid, err.message);
		goto out;
	}
	if (read_file(xml_path, &xml, &len) < 0 ||
	    domain_def_parse((char *)xml, len, &def, &err)) {
		log_warn("domain '%s': unreadable %s; VM pid %d left alone",
			 name, xml_path, (int)pid);
		goto out;
	}
	if (strcmp(def->name, name)) {
		domain_def_free(def);
		goto out;
	}
	d = domain_for(dm, def);
	if (!d)
		goto out;
	d->pid = pid;
	d->id = id;
	d->state = running ? VIR_DOMAIN_RUNNING : VIR_DOMAIN_PAUSED;
	d->reason = running ? VIR_DOMAIN_RUNNING_UNKNOWN :
		    VIR_DOMAIN_PAUSED_UNKNOWN;
	d->started_ns = now_ns();
	d->reattached = true;
	if (dm->store.next_id <= id)
		dm->store.next_id = id + 1;
	if (watch_pid(dm, d))
		log_warn("domain '%s': cannot watch pid %d: its exit will be noticed late",
			 name, (int)pid);
	console_attach(dm, d);
	log_info("domain '%s': reattached to pid %d, id %d (%s)", name,
		 (int)pid, id, running ? "running" : "paused");
	ret = 1;
out:
	free(pid_path);
	free(xml_path);
	free(qmp);
	free(xml);
	return ret;
}

void vm_reattach_all(struct daemon *dm)
{
	DIR *dir = opendir(dm->run_dir);
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		size_t n = strlen(e->d_name);
		char *name;

		if (n <= 4 || strcmp(e->d_name + n - 4, ".pid"))
			continue;
		name = strndup(e->d_name, n - 4);
		if (name && domain_name_valid(name) &&
		    reattach_one(dm, name) == 0) {
			/* Stale: the files of a VM that is gone. */
			struct domain_def def = { .name = name };
			struct domain tmp = { .def = &def };

			vm_remove_run_state(dm, &tmp);
		}
		free(name);
	}
	closedir(dir);
}
