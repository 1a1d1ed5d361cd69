/*
 * vireod: the management daemon. It speaks libvirt's remote protocol on a
 * UNIX socket, so the stock virsh and python3-libvirt drive it:
 *
 *   vireod &                                   (as root)
 *   virsh -c vireo:///system list --all
 *
 *   vireod --state-dir /var/tmp/v --socket /var/tmp/v/sock &
 *   virsh -c 'vireo+unix:///system?socket=/var/tmp/v/sock' list --all
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/network.h"
#include "daemon/vm.h"
#include "lib/log.h"
#include "lib/util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vireod [options]\n"
		"  --socket PATH     libvirt RPC socket (default: where virsh looks for\n"
		"                    vireo:///system as root, /run/libvirt/libvirt-sock,\n"
		"                    or vireo:///session otherwise,\n"
		"                    $XDG_RUNTIME_DIR/libvirt/libvirt-sock)\n"
		"  --state-dir DIR   persistent state: DIR/domains, DIR/autostart\n"
		"                    (default /etc/vireo as root, else\n"
		"                    $XDG_CONFIG_HOME/vireo or ~/.config/vireo)\n"
		"  --run-dir DIR     control sockets and logs (default /run/vireo as\n"
		"                    root, else $XDG_RUNTIME_DIR/vireo, or\n"
		"                    STATE_DIR/run with --state-dir)\n"
		"  --vireo PATH      the VMM binary (default: vireo next to vireod)\n"
		"  --accel MODE      kvm|emu|auto for domains of type 'vireo'\n"
		"  --max-clients N   concurrent connections (default 256)\n"
		"  --no-autostart    do not start autostart domains\n"
		"  -v, --verbose     debug logging (every RPC procedure received)\n"
		"  -h, --help\n");
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

static char *default_vireo(void)
{
	char exe[PATH_MAX], *p;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return strdup("vireo");
	exe[n] = 0;
	if (asprintf(&p, "%s/vireo", dirname(exe)) < 0)
		return NULL;
	return p;
}

/*
 * Where libvirt's client looks for a daemon (src/remote/remote_sockets.c):
 * root's URIs (vireo:///system) under /var/run/libvirt, an unprivileged
 * user's (vireo:///session) under g_get_user_runtime_dir()/libvirt, which
 * is $XDG_RUNTIME_DIR, else ~/.cache. In each directory the client tries
 * virt<driver>d-sock ("direct" mode: virtvireod-sock for vireo://) first,
 * then libvirtd's libvirt-sock ("legacy"), which is also where it goes when
 * neither exists yet. vireod takes libvirt-sock by default, as a libvirtd
 * would; virtvireod-sock lets it live next to a running libvirtd.
 */
static char *client_socket_dir(bool system)
{
	const char *runtime = getenv("XDG_RUNTIME_DIR"), *home = getenv("HOME");
	char *p;

	if (system)
		return strdup("/run/libvirt");
	if (runtime && runtime[0] == '/')
		return asprintf(&p, "%s/libvirt", runtime) < 0 ? NULL : p;
	if (home && home[0] == '/')
		return asprintf(&p, "%s/.cache/libvirt", home) < 0 ? NULL : p;
	return NULL;
}

/* Session mode: $XDG_CONFIG_HOME/vireo, else ~/.config/vireo. */
static char *session_state_dir(void)
{
	const char *config = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char *p;

	if (config && config[0] == '/')
		return asprintf(&p, "%s/vireo", config) < 0 ? NULL : p;
	if (home && home[0] == '/')
		return asprintf(&p, "%s/.config/vireo", home) < 0 ? NULL : p;
	return NULL;
}

/* Session mode: $XDG_RUNTIME_DIR/vireo, else STATE_DIR/run. */
static char *session_run_dir(const char *state_dir)
{
	const char *runtime = getenv("XDG_RUNTIME_DIR");
	char *p;

	if (runtime && runtime[0] == '/')
		return asprintf(&p, "%s/vireo", runtime) < 0 ? NULL : p;
	return asprintf(&p, "%s/run", state_dir) < 0 ? NULL : p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		die("out of memory");
	return p;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "run-dir", required_argument, NULL, 'R' },
		{ "vireo", required_argument, NULL, 'V' },
		{ "accel", required_argument, NULL, 'a' },
		{ "max-clients", required_argument, NULL, 'm' },
		{ "no-autostart", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d = { .listen_fd = -1, .epoll_fd = -1, .signal_fd = -1,
			    .max_clients = 256 };
	bool autostart = true, system_mode;
	char *sock_dir;
	uint64_t v;
	int c, r;

	log_set_program("vireod");
	log_set_level(LOG_INFO);
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 's': d.socket_path = xstrdup(optarg); break;
		case 'S': d.state_dir = xstrdup(optarg); break;
		case 'R': d.run_dir = xstrdup(optarg); break;
		case 'V': d.vireo_path = xstrdup(optarg); break;
		case 'a':
			if (strcmp(optarg, "kvm") && strcmp(optarg, "emu") &&
			    strcmp(optarg, "auto"))
				die("--accel must be kvm, emu or auto");
			d.accel = xstrdup(optarg);
			break;
		case 'm':
			if (parse_uint(optarg, 1, 65536, &v))
				die("bad --max-clients '%s'", optarg);
			d.max_clients = v;
			break;
		case 'n': autostart = false; break;
		case 'v': log_set_level(LOG_DEBUG); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	system_mode = geteuid() == 0;
	d.session = !system_mode;
	if (!d.state_dir) {
		d.state_dir = system_mode ? xstrdup("/etc/vireo") :
			      session_state_dir();
		if (!d.state_dir)
			die("no $HOME or $XDG_CONFIG_HOME: give --state-dir");
		if (!d.run_dir)
			d.run_dir = system_mode ? xstrdup("/run/vireo") :
				    session_run_dir(d.state_dir);
	}
	if (!d.run_dir && asprintf(&d.run_dir, "%s/run", d.state_dir) < 0)
		die("out of memory");
	sock_dir = client_socket_dir(system_mode);
	if (!d.socket_path) {
		if (!sock_dir)
			die("no $XDG_RUNTIME_DIR or $HOME: give --socket");
		r = mkdir_p(sock_dir, system_mode ? 0755 : 0700);
		if (r)
			die("cannot create %s: %s", sock_dir, strerror(-r));
		if (asprintf(&d.socket_path, "%s/libvirt-sock", sock_dir) < 0)
			die("out of memory");
	}
	if (!d.vireo_path)
		d.vireo_path = default_vireo();
	if (!d.vireo_path)
		die("out of memory");

	r = mkdir_p(d.run_dir, 0700);
	if (r)
		die("cannot create %s: %s", d.run_dir, strerror(-r));
	r = store_init(&d.store, d.state_dir);
	if (r)
		die("cannot create state under %s: %s", d.state_dir,
		    strerror(-r));
	store_load(&d.store);
	r = server_listen(&d);
	if (r == -EADDRINUSE && sock_dir)
		fprintf(stderr,
			"vireod: stop that daemon, or give --socket PATH; with\n"
			"vireod: --socket %s/virtvireod-sock, virsh -c vireo:///%s\n"
			"vireod: still finds vireod (libvirt tries that socket first)\n",
			sock_dir, system_mode ? "system" : "session");
	if (r)
		return 1;
	log_info("listening on %s (state %s, VMM %s)", d.socket_path,
		 d.state_dir, d.vireo_path);
	vm_reattach_all(&d);
	network_init(&d);	/* networks before the domains using them */
	if (autostart)
		network_autostart(&d);
	if (autostart)
		vm_autostart(&d);

	r = server_run(&d);
	if (r)
		log_err("event loop failed: %s", strerror(-r));
	vm_stop_all(&d);
	network_shutdown(&d);
	server_shutdown(&d);
	store_free(&d.store);
	free(d.state_dir);
	free(d.run_dir);
	free(d.socket_path);
	free(d.vireo_path);
	free(d.accel);
	free(sock_dir);
	return r ? 1 : 0;
}
