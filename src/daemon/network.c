/*
 * The network store: definitions on disk, lookups, define/undefine,
 * autostart, and the default network (see network.h). Starting and
 * stopping networks is network_run.c.
 */
#include "daemon/network.h"
#include "daemon/iface.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/domain_xml.h"
#include "daemon/network_xml.h"
#include "daemon/protocol.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/ipv4.h"
#include "net/netlink.h"

static struct network_store store;

struct network_store *network_store(void)
{
	return &store;
}

struct network *network_find_name(const char *name)
{
	for (struct network *n = store.head; n; n = n->next)
		if (!strcmp(n->def->name, name))
			return n;
	return NULL;
}

struct network *network_find_uuid(const uint8_t uuid[16])
{
	for (struct network *n = store.head; n; n = n->next)
		if (!memcmp(n->def->uuid, uuid, 16))
			return n;
	return NULL;
}

struct network *network_find_bridge(const char *bridge,
				    const struct network *except)
{
	for (struct network *n = store.head; n; n = n->next)
		if (n != except && n->def->bridge &&
		    !strcmp(n->def->bridge, bridge))
			return n;
	return NULL;
}

struct network *network_find_overlap(const struct net_def *def,
				     const struct network *except)
{
	if (!def->has_ip)
		return NULL;
	for (struct network *n = store.head; n; n = n->next)
		if (n != except && n->def->has_ip &&
		    ipv4_subnets_overlap(n->def->ip, n->def->prefix, def->ip,
					 def->prefix))
			return n;
	return NULL;
}

static char *path_in(const char *dir, const char *name, const char *suffix)
{
	char *p;

	if (asprintf(&p, "%s/%s%s", dir, name, suffix) < 0)
		return NULL;
	return p;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Write the definition to NAME.xml via a temporary file and rename. */
static int save_def(const struct net_def *def)
{
	char *xml = network_def_format(def);
	char *path = path_in(store.dir, def->name, ".xml");
	int r = -ENOMEM;

	if (xml && path)
		r = write_file_replace(path, xml, strlen(xml));
	free(xml);
	free(path);
	return r;
}

static void remove_files(const char *name)
{
	char *p = path_in(store.dir, name, ".xml");
	char *a = path_in(store.autostart_dir, name, ".xml");

	if (p)
		unlink(p);
	if (a)
		unlink(a);
	free(p);
	free(a);
}

static struct network *add_network(struct net_def *def, bool persistent)
{
	struct network *n = calloc(1, sizeof(*n)), **tail = &store.head;

	if (!n)
		return NULL;
	n->def = def;
	n->persistent = persistent;
	while (*tail)
		tail = &(*tail)->next;
	*tail = n;
	return n;
}

void network_unlink(struct network *n)
{
	for (struct network **pp = &store.head; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			break;
		}
	}
	net_def_free(n->def);
	net_def_free(n->next_def);
	free(n);
}

/* Lowest free virbrN: no network uses it and no host link has it. */
static int pick_bridge(struct net_def *def)
{
	for (int i = 0; i < 256; i++) {
		char name[IFNAMSIZ];

		snprintf(name, sizeof(name), "virbr%d", i);
		if (network_find_bridge(name, NULL) ||
		    hostnet_link_exists(name) != 0)
			continue;
		def->bridge = strdup(name);
		return def->bridge ? 0 : -ENOMEM;
	}
	return -ENOSPC;
}

/*
 * Conflicts with the networks already known (other than `self`) and with
 * host interface definitions (a bridge `virsh iface-bridge` made).
 */
static int check_conflicts(struct daemon *d, const struct net_def *def,
			   const struct network *self, struct vir_error *err)
{
	struct network *o;
	char a[IPV4_STR_MAX];

	if (def->bridge && (o = network_find_bridge(def->bridge, self))) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "bridge name '%s' already in use by network '%s'",
			      def->bridge, o->def->name);
		return -1;
	}
	/* d is NULL when loading saved definitions: those stand. */
	if (d && def->bridge && net_def_owns_bridge(def) && !iface_init(d) &&
	    iface_find_def(def->bridge)) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "bridge name '%s' already in use by host interface '%s' (virsh iface-list)",
			      def->bridge, def->bridge);
		return -1;
	}
	if ((o = network_find_overlap(def, self))) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "subnet %s/%u of network '%s' overlaps network '%s'",
			      ipv4_format(def->ip & ipv4_prefix_mask(def->prefix), a),
			      def->prefix, def->name, o->def->name);
		return -1;
	}
	return 0;
}

int network_define_xml(struct daemon *d, const char *xml, bool start,
		       struct network **out, struct vir_error *err)
{
	struct net_def *def;
	struct network *n, *same_uuid;
	char u[37];

	if (network_init(d)) {
		vir_error_set(err, VIR_ERR_INTERNAL_ERROR,
			      "cannot set up the network state directory");
		return -1;
	}
	if (network_def_parse(xml, strlen(xml), &def, err))
		return -1;
	n = network_find_name(def->name);
	same_uuid = network_find_uuid(def->uuid);
	if (n && memcmp(n->def->uuid, def->uuid, 16)) {
		uuid_format(n->def->uuid, u);
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "network '%s' already exists with uuid %s",
			      def->name, u);
		goto fail;
	}
	if (!n && same_uuid) {
		uuid_format(def->uuid, u);
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "network '%s' is already defined with uuid %s",
			      same_uuid->def->name, u);
		goto fail;
	}
	if (n && start) {
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "network '%s' is already defined", def->name);
		goto fail;
	}
	/* A redefinition without a bridge name keeps the old one. */
	if (!def->bridge && n && n->def->bridge &&
	    !(def->bridge = strdup(n->def->bridge)))
		goto nomem;
	if (!def->bridge && pick_bridge(def)) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "no free bridge name virbr0..virbr255");
		goto fail;
	}
	if (check_conflicts(d, def, n, err))
		goto fail;
	if (n) {
		/* A running network keeps its definition until it stops. */
		struct net_def **slot = n->active ? &n->next_def : &n->def;

		if (save_def(def)) {
			vir_error_set(err, VIR_ERR_SYSTEM_ERROR,
				      "cannot save network '%s'", def->name);
			goto fail;
		}
		net_def_free(*slot);
		*slot = def;
		n->persistent = true;
		*out = n;
		return 0;
	}
	n = add_network(def, !start);
	if (!n)
		goto nomem;
	if (!start && save_def(def)) {
		network_unlink(n);
		vir_error_set(err, VIR_ERR_SYSTEM_ERROR,
			      "cannot save network definition");
		return -1;
	}
	if (start && network_start(n, err)) {
		network_unlink(n);
		return -1;
	}
	*out = n;
	return 0;
nomem:
	vir_error_set(err, VIR_ERR_NO_MEMORY, "network definition");
fail:
	net_def_free(def);
	return -1;
}

int network_undefine(struct network *n, struct vir_error *err)
{
	if (!n->persistent) {
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "network '%s' is not persistent", n->def->name);
		return -1;
	}
	remove_files(n->def->name);
	n->autostart = false;
	net_def_free(n->next_def);
	n->next_def = NULL;
	if (n->active)
		n->persistent = false;	/* goes away when it stops */
	else
		network_unlink(n);
	return 0;
}

int network_set_autostart(struct network *n, bool on, struct vir_error *err)
{
	char *link, *target;
	int r = 0;

	if (!n->persistent) {
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "cannot set autostart for transient network");
		return -1;
	}
	link = path_in(store.autostart_dir, n->def->name, ".xml");
	target = path_in("..", n->def->name, ".xml");
	if (!link || !target) {
		r = -ENOMEM;
	} else if (on) {
		if (symlink(target, link) && errno != EEXIST)
			r = -errno;
	} else if (unlink(link) && errno != ENOENT) {
		r = -errno;
	}
	free(link);
	free(target);
	if (r) {
		vir_error_set(err, VIR_ERR_SYSTEM_ERROR,
			      "cannot change autostart of network '%s': %s",
			      n->def->name, strerror(-r));
		return -1;
	}
	n->autostart = on;
	return 0;
}

static void load_one(const char *file)
{
	char *path = path_in(store.dir, file, "");
	uint8_t *data = NULL;
	size_t len;
	struct net_def *def;
	struct vir_error err = { 0 };
	struct network *n;
	char *xml;

	if (!path || read_file(path, &data, &len)) {
		free(path);
		return;
	}
	xml = strndup((const char *)data, len);
	free(data);
	if (!xml || network_def_parse(xml, strlen(xml), &def, &err)) {
		log_warn("network definition %s ignored: %s", path,
			 err.message);
		free(xml);
		free(path);
		return;
	}
	free(xml);
	free(path);
	if (network_find_name(def->name) || network_find_uuid(def->uuid) ||
	    !def->bridge || check_conflicts(NULL, def, NULL, &err)) {
		log_warn("network '%s' ignored: %s", def->name,
			 err.message[0] ? err.message : "duplicate");
		net_def_free(def);
		return;
	}
	n = add_network(def, true);
	if (!n) {
		net_def_free(def);
		return;
	}
	path = path_in(store.autostart_dir, def->name, ".xml");
	n->autostart = path && access(path, F_OK) == 0;
	free(path);
}

static void load_all(void)
{
	DIR *dir = opendir(store.dir);
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		size_t l = strlen(e->d_name);

		if (e->d_name[0] != '.' && l > 4 &&
		    !strcmp(e->d_name + l - 4, ".xml"))
			load_one(e->d_name);
	}
	closedir(dir);
}

/*
 * The default network, as libvirt's: NAT on virbr0 with 192.168.122.0/24,
 * or the next 192.168.N.0/24 no host address or network uses.
 */
static void define_default(struct daemon *d)
{
	struct vir_error err = { 0 };
	struct network *n;
	char xml[512];
	int i;

	for (i = 122; i < 255; i++) {
		struct net_def probe = { .has_ip = true, .prefix = 24,
					 .ip = 0xc0a80001u | (uint32_t)i << 8 };

		if (!network_find_overlap(&probe, NULL) &&
		    hostnet_subnet_in_use(probe.ip, 24, NULL) == 0)
			break;
	}
	if (i == 255) {
		log_warn("no free 192.168.N.0/24 for the default network");
		return;
	}
	snprintf(xml, sizeof(xml),
		 "<network><name>default</name><forward mode='nat'/>"
		 "<ip address='192.168.%d.1' netmask='255.255.255.0'><dhcp>"
		 "<range start='192.168.%d.2' end='192.168.%d.254'/>"
		 "</dhcp></ip></network>", i, i, i);
	if (network_define_xml(d, xml, false, &n, &err)) {
		log_warn("cannot define the default network: %s", err.message);
		return;
	}
	/*
	 * Autostart it only for the system daemon: a daemon on a private
	 * state directory (tests, users) must not touch the host's network
	 * unasked.
	 */
	if (!strcmp(d->state_dir, "/etc/vireo"))
		network_set_autostart(n, true, &err);
	log_info("defined the default network (192.168.%d.0/24 on %s)", i,
		 n->def->bridge);
}

int network_init(struct daemon *d)
{
	bool first;
	int r;

	if (store.ready)
		return 0;
	store.dir = path_in(d->state_dir, "networks", "");
	store.autostart_dir = path_in(d->state_dir, "networks/autostart", "");
	store.dnsmasq_dir = path_in(d->state_dir, "dnsmasq", "");
	if (!store.dir || !store.autostart_dir || !store.dnsmasq_dir)
		return -ENOMEM;
	first = access(store.dir, F_OK) != 0;
	r = make_dir(store.dir);
	if (!r)
		r = make_dir(store.autostart_dir);
	if (!r)
		r = make_dir(store.dnsmasq_dir);
	if (r) {
		log_err("cannot create %s: %s", store.dir, strerror(-r));
		return r;
	}
	store.ready = true;
	load_all();
	for (struct network *n = store.head; n; n = n->next)
		network_clear_stale(n);
	if (first)
		define_default(d);
	return 0;
}

void network_autostart(struct daemon *d)
{
	if (network_init(d))
		return;
	for (struct network *n = store.head; n; n = n->next) {
		struct vir_error err = { 0 };

		if (n->persistent && n->autostart && !n->active &&
		    network_start(n, &err))
			log_err("autostart of network '%s' failed: %s",
				n->def->name, err.message);
	}
}

void network_shutdown(struct daemon *d)
{
	struct network *n = store.head, *next;

	for (; n; n = next) {
		struct vir_error err = { 0 };

		next = n->next;	/* a transient n is freed by stopping */
		if (n->active && network_stop(n, &err))
			log_warn("stopping network '%s': %s", n->def->name,
				 err.message);
	}
	while (store.head)
		network_unlink(store.head);
	iface_shutdown();	/* host interface definitions: memory only */
	free(store.dir);
	free(store.autostart_dir);
	free(store.dnsmasq_dir);
	memset(&store, 0, sizeof(store));
}
