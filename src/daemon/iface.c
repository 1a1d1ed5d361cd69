/*
 * Host interface definitions and lookups (see iface.h): the store of
 * definitions in STATE_DIR/interfaces/, merged with the host's links for
 * lookups, listings and XML. Starting and stopping is in iface_run.c.
 */
#include "daemon/iface.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/iface_xml.h"
#include "daemon/network.h"
#include "daemon/protocol.h"
#include "lib/log.h"
#include "lib/util.h"

#define VIR_ERR_NO_INTERFACE		57
#define VIR_ERR_MULTIPLE_INTERFACES	59
#define VIR_FROM_INTERFACE		26

struct iface_entry {
	struct iface_entry *next;
	struct iface_def def;
};

static struct {
	struct daemon *d;
	char *dir;		/* STATE_DIR/interfaces */
	struct iface_entry *head;
	bool ready;
} store;

void iface_not_found(struct vir_error *err, const char *name)
{
	if (vir_error_isset(err))
		return;
	err->code = VIR_ERR_NO_INTERFACE;
	err->domain = VIR_FROM_INTERFACE;
	snprintf(err->message, sizeof(err->message),
		 "Interface not found: couldn't find interface named '%s'",
		 name);
}

static struct iface_entry *find_entry(const char *name)
{
	for (struct iface_entry *e = store.head; e; e = e->next)
		if (!strcmp(e->def.name, name))
			return e;
	return NULL;
}

const struct iface_def *iface_find_def(const char *name)
{
	struct iface_entry *e = find_entry(name);

	return e ? &e->def : NULL;
}

/* The defined bridge that has `port` among its ports, or NULL. */
static const struct iface_def *bridge_of_port(const char *port)
{
	for (struct iface_entry *e = store.head; e; e = e->next)
		for (size_t i = 0; i < e->def.nports; i++)
			if (!strcmp(e->def.ports[i].name, port))
				return &e->def;
	return NULL;
}

static char *def_path(const char *name, const char *suffix)
{
	char *p;

	if (asprintf(&p, "%s/%s%s", store.dir, name, suffix) < 0)
		return NULL;
	return p;
}

static int save_def(const struct iface_def *def)
{
	char *xml = iface_def_format(def, NULL);
	char *path = def_path(def->name, ".xml");
	int r = -ENOMEM;

	if (xml && path)
		r = write_file_replace(path, xml, strlen(xml));
	free(xml);
	free(path);
	return r;
}

static void remove_entry(struct iface_entry *gone)
{
	char *path = def_path(gone->def.name, ".xml");

	if (path)
		unlink(path);
	free(path);
	for (struct iface_entry **p = &store.head; *p; p = &(*p)->next)
		if (*p == gone) {
			*p = gone->next;
			break;
		}
	free(gone);
}

static void load_all(void)
{
	DIR *dir = opendir(store.dir);
	struct dirent *ent;

	if (!dir)
		return;
	while ((ent = readdir(dir))) {
		size_t n = strlen(ent->d_name);
		struct vir_error err = { 0 };
		struct iface_entry *e;
		uint8_t *text = NULL;
		size_t len;
		char *path;

		if (n < 5 || strcmp(ent->d_name + n - 4, ".xml"))
			continue;
		path = def_path(ent->d_name, "");
		e = calloc(1, sizeof(*e));
		if (path && e && !read_file(path, &text, &len) &&
		    !iface_def_parse((char *)text, len, &e->def, &err) &&
		    !find_entry(e->def.name)) {
			e->next = store.head;
			store.head = e;
			e = NULL;
		} else {
			log_warn("ignoring interface definition %s: %s",
				 path ? path : ent->d_name, err.message);
		}
		free(e);
		free(text);
		free(path);
	}
	closedir(dir);
}

int iface_init(struct daemon *d)
{
	if (store.ready)
		return 0;
	store.d = d;
	if (asprintf(&store.dir, "%s/interfaces", d->state_dir) < 0) {
		store.dir = NULL;
		return -ENOMEM;
	}
	if (mkdir(store.dir, 0755) && errno != EEXIST) {
		int r = -errno;

		log_err("cannot create %s: %s", store.dir, strerror(-r));
		free(store.dir);
		store.dir = NULL;
		return r;
	}
	load_all();
	store.ready = true;
	return 0;
}

void iface_shutdown(void)
{
	while (store.head) {
		struct iface_entry *e = store.head;

		store.head = e->next;
		free(e);
	}
	free(store.dir);
	memset(&store, 0, sizeof(store));
}

/* The MAC a defined interface will have: its own, else its first port's. */
static void def_mac(const struct iface_def *def, char out[MAC_STR_MAX])
{
	out[0] = 0;
	if (def->has_mac)
		mac_format(def->mac, out);
	else if (def->nports && def->ports[0].has_mac)
		mac_format(def->ports[0].mac, out);
}

static void view_of(const struct hostnet_link *l, const struct iface_def *def,
		    struct iface_view *v)
{
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", l ? l->name : def->name);
	v->exists = l != NULL;
	v->active = l && l->up;
	v->defined = def != NULL;
	if (l && l->has_mac)
		mac_format(l->mac, v->mac);
	else if (def)
		def_mac(def, v->mac);
}

int iface_lookup(const char *name, struct iface_view *out,
		 struct vir_error *err)
{
	const struct iface_def *def = iface_find_def(name);
	struct hostnet_link l;
	int r = hostnet_link_get(name, &l);

	if (r && r != -ENODEV) {
		vir_error_set(err, VIR_ERR_SYSTEM_ERROR,
			      "cannot read interface '%s': %s", name,
			      strerror(-r));
		return -1;
	}
	if (r && !def) {
		iface_not_found(err, name);
		return -1;
	}
	view_of(r ? NULL : &l, def, out);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct iface_view *)a)->name,
		      ((const struct iface_view *)b)->name);
}

int iface_list(struct iface_view **out, size_t *count, struct vir_error *err)
{
	struct hostnet_link *links;
	struct iface_view *v;
	size_t n, ndefs = 0, k = 0;
	int r = hostnet_links(&links, &n);

	*out = NULL;
	*count = 0;
	if (r) {
		vir_error_set(err, VIR_ERR_SYSTEM_ERROR,
			      "cannot list host interfaces: %s", strerror(-r));
		return -1;
	}
	for (struct iface_entry *e = store.head; e; e = e->next)
		ndefs++;
	v = calloc(n + ndefs + 1, sizeof(*v));
	if (!v) {
		free(links);
		vir_error_set(err, VIR_ERR_NO_MEMORY, "interface list");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		view_of(&links[i], iface_find_def(links[i].name), &v[k++]);
	for (struct iface_entry *e = store.head; e; e = e->next) {
		bool present = false;

		for (size_t i = 0; i < n && !present; i++)
			present = !strcmp(links[i].name, e->def.name);
		if (!present)
			view_of(NULL, &e->def, &v[k++]);
	}
	free(links);
	qsort(v, k, sizeof(*v), by_name);
	*out = v;
	*count = k;
	return 0;
}

int iface_lookup_mac(const char *mac, struct iface_view *out,
		     struct vir_error *err)
{
	struct iface_view *v;
	size_t n, found = 0;

	if (iface_list(&v, &n, err))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (v[i].mac[0] && !strcasecmp(v[i].mac, mac)) {
			if (!found++)
				*out = v[i];
		}
	free(v);
	if (found == 1)
		return 0;
	if (found) {
		err->code = VIR_ERR_MULTIPLE_INTERFACES;
		err->domain = VIR_FROM_INTERFACE;
		snprintf(err->message, sizeof(err->message),
			 "multiple matching interfaces found: %zu interfaces have MAC address %s",
			 found, mac);
	} else {
		err->code = VIR_ERR_NO_INTERFACE;
		err->domain = VIR_FROM_INTERFACE;
		snprintf(err->message, sizeof(err->message),
			 "Interface not found: couldn't find interface with MAC address '%s'",
			 mac);
	}
	return -1;
}

char *iface_xml(const char *name, bool inactive, struct vir_error *err)
{
	const struct iface_def *def = iface_find_def(name);
	struct iface_def live;
	struct hostnet_link l;
	char *xml;
	int r = hostnet_link_get(name, &l);

	if (r && !def) {
		iface_not_found(err, name);
		return NULL;
	}
	if (def && (inactive || r)) {
		xml = iface_def_format(def, NULL);
	} else {
		r = iface_host_def(name, &live);
		if (r) {
			vir_error_set(err, VIR_ERR_SYSTEM_ERROR,
				      "cannot read interface '%s': %s", name,
				      strerror(-r));
			return NULL;
		}
		if (def) {	/* what the host does not tell */
			live.has_start = def->has_start;
			live.start = def->start;
		}
		xml = iface_def_format(&live, l.up ? "up" : "down");
	}
	if (!xml)
		vir_error_set(err, VIR_ERR_NO_MEMORY, "interface XML");
	return xml;
}

/* Define-time conflicts with networks and other definitions. */
static int check_conflicts(const struct iface_def *def, struct vir_error *err)
{
	const struct iface_def *other = iface_find_def(def->name);
	const struct iface_def *owner = bridge_of_port(def->name);
	struct network *net;
	struct hostnet_link l;
	char a[IPV4_STR_MAX];

	/* A <forward mode='bridge'> network only names a host bridge. */
	for (net = network_store()->head; net; net = net->next)
		if (net_def_owns_bridge(net->def) && net->def->bridge &&
		    !strcmp(net->def->bridge, def->name))
			break;
	if (net) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "bridge name '%s' already in use by network '%s'",
			      def->name, net->def->name);
		return -1;
	}
	if (other && other->type != def->type) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "interface '%s' is already defined as %s",
			      def->name, other->type == IFACE_BRIDGE ?
			      "a bridge" : "an ethernet interface");
		return -1;
	}
	if (owner && owner != other) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "interface '%s' is a port of bridge '%s'",
			      def->name, owner->name);
		return -1;
	}
	if (def->type == IFACE_BRIDGE && !hostnet_link_get(def->name, &l) &&
	    !l.is_bridge) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "bridge name '%s' already in use by a host interface that is not a bridge",
			      def->name);
		return -1;
	}
	for (size_t i = 0; i < def->nports; i++) {
		const char *p = def->ports[i].name;
		const struct iface_def *pd = iface_find_def(p);
		const struct iface_def *pb = bridge_of_port(p);

		if ((pb && strcmp(pb->name, def->name)) ||
		    (pd && pd->type == IFACE_BRIDGE) ||
		    network_find_bridge(p, NULL)) {
			vir_error_set(err, VIR_ERR_OPERATION_FAILED,
				      "interface '%s' cannot be a port of '%s': it is a bridge or another bridge's port",
				      p, def->name);
			return -1;
		}
	}
	for (size_t i = 0; i < def->naddrs; i++)
		for (net = network_store()->head; net; net = net->next)
			if (net->def->has_ip &&
			    ipv4_subnets_overlap(def->addrs[i].ip,
						 def->addrs[i].prefix,
						 net->def->ip, net->def->prefix)) {
				vir_error_set(err, VIR_ERR_OPERATION_FAILED,
					      "address %s/%u overlaps network '%s'",
					      ipv4_format(def->addrs[i].ip, a),
					      def->addrs[i].prefix,
					      net->def->name);
				return -1;
			}
	return 0;
}

int iface_define(const char *xml, struct iface_view *out,
		 struct vir_error *err)
{
	struct iface_def def;
	struct iface_entry *e;
	int r;

	if (iface_def_parse(xml, strlen(xml), &def, err))
		return -1;
	if (network_init(store.d) == 0 && check_conflicts(&def, err))
		return -1;
	r = save_def(&def);
	if (r) {
		vir_error_set(err, VIR_ERR_SYSTEM_ERROR,
			      "cannot save the definition of '%s': %s",
			      def.name, strerror(-r));
		return -1;
	}
	/* As libvirt: a bridge's definition replaces those of its ports. */
	for (size_t i = 0; i < def.nports; i++) {
		e = find_entry(def.ports[i].name);
		if (e)
			remove_entry(e);
	}
	e = find_entry(def.name);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e) {
			vir_error_set(err, VIR_ERR_NO_MEMORY, "interface");
			return -1;
		}
		e->next = store.head;
		store.head = e;
	}
	e->def = def;
	log_info("defined %s interface '%s'",
		 def.type == IFACE_BRIDGE ? "bridge" : "ethernet", def.name);
	return iface_lookup(def.name, out, err);
}

int iface_undefine(const char *name, struct vir_error *err)
{
	struct iface_entry *e = find_entry(name);

	if (!e) {
		struct iface_view v;

		if (iface_lookup(name, &v, err))
			return -1;
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "interface '%s' has no definition in vireod to undefine",
			      name);
		return -1;
	}
	remove_entry(e);
	log_info("undefined interface '%s'", name);
	return 0;
}
