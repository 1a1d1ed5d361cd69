/*
 * Starting and stopping networks (see network.h): the bridge with its
 * address (netlink), IPv4 forwarding, the nftables table (`nft -f`), and
 * dnsmasq. A start that fails part-way undoes what it did, so a network is
 * either fully up or leaves nothing behind.
 */
#include "daemon/network.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/protocol.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/ipv4.h"
#include "net/netlink.h"
#include "net/nft_rules.h"

static const char *find_prog(const char *name, char *buf, size_t len)
{
	static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin",
					    "/bin", "/usr/local/sbin" };

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(buf, len, "%s/%s", dirs[i], name);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

/*
 * Run a helper (nft, dnsmasq) and wait for it. Its output goes to `out`
 * (last line kept, for error messages). We wait before reading: dnsmasq's
 * daemon may keep the pipe open, and the helpers print little.
 */
static int run_helper(char *const argv[], char *out, size_t outlen)
{
	int pipefd[2], status;
	pid_t pid;
	ssize_t n;

	out[0] = 0;
	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -errno;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		sigset_t none;

		/*
		 * vireod blocks the signals it reads from a signalfd; a
		 * daemon inherits the mask and would never see SIGTERM.
		 */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);

		if (null >= 0)
			dup2(null, 0);
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		execv(argv[0], argv);
		fprintf(stderr, "cannot execute %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	n = read(pipefd[0], out, outlen - 1);
	close(pipefd[0]);
	out[n > 0 ? n : 0] = 0;
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	return -EIO;
}

static char *net_file(const struct network *n, const char *suffix)
{
	char *p;

	if (asprintf(&p, "%s/%s%s", network_store()->dnsmasq_dir, n->def->name,
		     suffix) < 0)
		return NULL;
	return p;
}

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int r;

	if (fd < 0)
		return -errno;
	r = write_all(fd, text, strlen(text));
	close(fd);
	return r;
}

static int nft_apply(const struct network *n, const char *script,
		     struct vir_error *err)
{
	char prog[64], out[512], *path = net_file(n, ".nft");
	int r;

	if (!path || !find_prog("nft", prog, sizeof(prog))) {
		free(path);
		vir_error_set(err, VIR_ERR_INTERNAL_ERROR,
			      "the nft program is not installed");
		return -1;
	}
	r = write_text(path, script);
	if (!r) {
		char *argv[] = { prog, "-f", path, NULL };

		r = run_helper(argv, out, sizeof(out));
		if (r)
			vir_error_set(err, VIR_ERR_INTERNAL_ERROR,
				      "nft failed for network '%s': %s",
				      n->def->name, out);
	} else {
		vir_error_set(err, VIR_ERR_SYSTEM_ERROR, "cannot write %s: %s",
			      path, strerror(-r));
	}
	free(path);
	return r ? -1 : 0;
}

static void nft_remove(const struct network *n)
{
	struct vir_error err = { 0 };
	char *script = nft_delete_script(n->def), *path = net_file(n, ".nft");

	if (script && nft_apply(n, script, &err))
		log_warn("%s", err.message);
	if (path)
		unlink(path);
	free(script);
	free(path);
}

/* Is pid a dnsmasq started with our configuration file? */
static bool is_our_dnsmasq(pid_t pid, const char *conf)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	for (ssize_t i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	return strstr(buf, "dnsmasq") && strstr(buf, conf);
}

static void dnsmasq_stop(struct network *n)
{
	char *conf = net_file(n, ".conf"), *pidf = net_file(n, ".pid");

	if (n->dnsmasq_pid && conf && is_our_dnsmasq(n->dnsmasq_pid, conf)) {
		kill(n->dnsmasq_pid, SIGTERM);
		/* Not our child (it daemonized): poll until it is gone. */
		for (int i = 0; i < 100 && kill(n->dnsmasq_pid, 0) == 0; i++) {
			struct timespec ts = { 0, 20 * 1000 * 1000 };

			if (!is_our_dnsmasq(n->dnsmasq_pid, conf))
				break;
			nanosleep(&ts, NULL);
		}
		if (is_our_dnsmasq(n->dnsmasq_pid, conf))
			kill(n->dnsmasq_pid, SIGKILL);
	}
	n->dnsmasq_pid = 0;
	if (conf)
		unlink(conf);
	if (pidf)
		unlink(pidf);
	free(conf);
	free(pidf);
}

static int dnsmasq_start(struct network *n, struct vir_error *err)
{
	char prog[64], out[512], opt[4200];
	char *conf = net_file(n, ".conf"), *pidf = net_file(n, ".pid");
	char *leases = net_file(n, ".leases"), *text = NULL;
	uint8_t *pidtext = NULL;
	size_t len;
	int r = -1;

	if (!conf || !pidf || !leases) {
		vir_error_set(err, VIR_ERR_NO_MEMORY, "dnsmasq paths");
		goto out;
	}
	if (!find_prog("dnsmasq", prog, sizeof(prog))) {
		vir_error_set(err, VIR_ERR_INTERNAL_ERROR,
			      "dnsmasq is not installed");
		goto out;
	}
	text = dnsmasq_conf(n->def, pidf, leases);
	unlink(pidf);
	if (!text || write_text(conf, text)) {
		vir_error_set(err, VIR_ERR_SYSTEM_ERROR, "cannot write %s",
			      conf);
		goto out;
	}
	snprintf(opt, sizeof(opt), "--conf-file=%s", conf);
	{
		/* dnsmasq forks its daemon and exits once that is ready. */
		char *argv[] = { prog, opt, NULL };

		if (run_helper(argv, out, sizeof(out))) {
			vir_error_set(err, VIR_ERR_INTERNAL_ERROR,
				      "dnsmasq failed for network '%s': %s",
				      n->def->name, out);
			goto out;
		}
	}
	if (read_file(pidf, &pidtext, &len) || !len) {
		vir_error_set(err, VIR_ERR_INTERNAL_ERROR,
			      "dnsmasq wrote no pid file %s", pidf);
		goto out;
	}
	n->dnsmasq_pid = (pid_t)strtol(strndupa((char *)pidtext, len), NULL,
				       10);
	if (n->dnsmasq_pid <= 0) {
		n->dnsmasq_pid = 0;
		vir_error_set(err, VIR_ERR_INTERNAL_ERROR,
			      "bad dnsmasq pid file %s", pidf);
		goto out;
	}
	log_info("network '%s': dnsmasq pid %d", n->def->name,
		 (int)n->dnsmasq_pid);
	r = 0;
out:
	free(pidtext);
	free(text);
	free(conf);
	free(pidf);
	free(leases);
	return r;
}

static int sys_fail(struct vir_error *err, const char *what,
		    const char *name, int r)
{
	vir_error_set(err, VIR_ERR_SYSTEM_ERROR, "cannot %s '%s': %s", what,
		      name, strerror(-r));
	return -1;
}

/* Bring up a bridge of the network's own; undone by the caller. */
static int bridge_up(struct net_def *def, bool *made, struct vir_error *err)
{
	int r = hostnet_bridge_add(def->bridge, def->has_mac ? def->mac : NULL);

	*made = r == 0;
	if (r == -EEXIST) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "bridge name '%s' already in use", def->bridge);
		return -1;
	}
	if (r)
		return sys_fail(err, "create bridge", def->bridge, r);
	if (def->has_ip && (r = hostnet_addr_add(def->bridge, def->ip,
						  def->prefix)))
		return sys_fail(err, "set the address of bridge", def->bridge,
				r);
	if ((r = hostnet_link_up(def->bridge)))
		return sys_fail(err, "bring up bridge", def->bridge, r);
	if ((def->forward == NET_FWD_NAT || def->forward == NET_FWD_ROUTE) &&
	    (r = hostnet_ipv4_forwarding()))
		return sys_fail(err, "enable forwarding for", def->name, r);
	return 0;
}

/* Is the network's subnet already on the host (and not ours)? */
static int check_host(const struct net_def *def, struct vir_error *err)
{
	char a[IPV4_STR_MAX];
	int r = hostnet_link_exists(def->bridge);

	if (r > 0) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "bridge name '%s' already in use", def->bridge);
		return -1;
	}
	if (!def->has_ip)
		return 0;
	r = hostnet_subnet_in_use(def->ip, def->prefix, NULL);
	if (r > 0) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "network %s/%u overlaps an address already on the host",
			      ipv4_format(def->ip & ipv4_prefix_mask(def->prefix), a),
			      def->prefix);
		return -1;
	}
	return 0;
}

int network_start(struct network *n, struct vir_error *err)
{
	struct net_def *def = n->def;
	char *rules = NULL;
	bool made_bridge = false, made_table = false;

	if (n->active) {
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "network is already active");
		return -1;
	}
	if (!net_def_owns_bridge(def)) {
		if (hostnet_link_is_bridge(def->bridge) != 1) {
			vir_error_set(err, VIR_ERR_OPERATION_FAILED,
				      "bridge '%s' of network '%s' does not exist",
				      def->bridge, def->name);
			return -1;
		}
		n->active = true;
		return 0;
	}
	if (check_host(def, err))
		return -1;
	if (bridge_up(def, &made_bridge, err))
		goto fail;
	rules = nft_ruleset(def);
	if (!rules) {
		vir_error_set(err, VIR_ERR_NO_MEMORY, "nft rules");
		goto fail;
	}
	made_table = true;
	if (nft_apply(n, rules, err))
		goto fail;
	if (net_def_wants_dnsmasq(def) && dnsmasq_start(n, err))
		goto fail;
	free(rules);
	n->active = true;
	log_info("network '%s' started on bridge %s", def->name, def->bridge);
	return 0;
fail:
	free(rules);
	dnsmasq_stop(n);
	if (made_table)
		nft_remove(n);
	if (made_bridge)
		hostnet_link_del(def->bridge);
	return -1;
}

int network_stop(struct network *n, struct vir_error *err)
{
	if (!n->active) {
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "network is not active");
		return -1;
	}
	if (net_def_owns_bridge(n->def)) {
		int r;

		dnsmasq_stop(n);
		nft_remove(n);
		r = hostnet_link_del(n->def->bridge);
		if (r && r != -ENODEV)
			log_warn("network '%s': deleting bridge %s: %s",
				 n->def->name, n->def->bridge, strerror(-r));
	}
	n->active = false;
	log_info("network '%s' stopped", n->def->name);
	if (!n->persistent) {
		network_unlink(n);
		return 0;
	}
	if (n->next_def) {
		net_def_free(n->def);
		n->def = n->next_def;
		n->next_def = NULL;
	}
	return 0;
}

int network_leases(struct network *n, struct dnsmasq_lease **out,
		   size_t *count)
{
	char *path = net_file(n, ".leases");
	uint8_t *data = NULL;
	size_t len, max;
	char *text;
	int r;

	*out = NULL;
	*count = 0;
	if (!path)
		return -ENOMEM;
	r = read_file(path, &data, &len);
	free(path);
	if (r == -ENOENT)
		return 0;
	if (r)
		return r;
	text = strndup((char *)data, len);
	free(data);
	if (!text)
		return -ENOMEM;
	max = 1;
	for (const char *p = text; *p; p++)
		max += *p == '\n';
	*out = calloc(max, sizeof(**out));
	if (!*out) {
		free(text);
		return -ENOMEM;
	}
	*count = dnsmasq_parse_leases(text, *out, max);
	free(text);
	return 0;
}

void network_clear_stale(struct network *n)
{
	char *nft = net_file(n, ".nft"), *pidf = net_file(n, ".pid");
	uint8_t *text = NULL;
	size_t len;

	/* NAME.nft exists only while the network runs. */
	if (!nft || !pidf || access(nft, F_OK) || !net_def_owns_bridge(n->def))
		goto out;
	log_warn("network '%s' was left running by a previous vireod: stopping it",
		 n->def->name);
	if (!read_file(pidf, &text, &len) && len < 32) {
		char buf[32];

		memcpy(buf, text, len);
		buf[len] = 0;
		n->dnsmasq_pid = (pid_t)strtol(buf, NULL, 10);
	}
	dnsmasq_stop(n);
	nft_remove(n);
	hostnet_link_del(n->def->bridge);
out:
	free(text);
	free(nft);
	free(pidf);
}
