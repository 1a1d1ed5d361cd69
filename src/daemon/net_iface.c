/* TAP devices for domains' network interfaces (see net_iface.h). */
#include "daemon/net_iface.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/network.h"
#include "daemon/protocol.h"
#include "lib/log.h"
#include "net/mac.h"
#include "net/netlink.h"

#define VIR_ERR_NO_NETWORK	43
#define VIR_FROM_NETWORK	19

static void tap_name(const struct domain_def *def, size_t i,
		     char out[IFNAMSIZ])
{
	/* FNV-1a over the whole UUID: sequential UUIDs get distinct names. */
	uint32_t h = 2166136261u;

	for (size_t k = 0; k < 16; k++)
		h = (h ^ def->uuid[k]) * 16777619u;
	snprintf(out, IFNAMSIZ, "vt%08x%u", h, (unsigned)(i % NETIF_MAX));
}

/* A running domain (other than self) whose TAP names match ours. */
static const struct domain *tap_user(struct daemon *dm,
				     const struct domain *self)
{
	char mine[IFNAMSIZ], theirs[IFNAMSIZ];

	tap_name(self->def, 0, mine);
	for (const struct domain *o = dm->store.head; o; o = o->next) {
		if (o == self || !domain_active(o) || !o->def->nifaces)
			continue;
		tap_name(o->def, 0, theirs);
		if (!strcmp(mine, theirs))
			return o;
	}
	return NULL;
}

int netif_check(const struct domain_def *def, struct vir_error *err)
{
	if (def->nifaces > NETIF_MAX) {
		vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
			      "domain '%s' has %zu interfaces; vireo takes at most %d",
			      def->name, def->nifaces, NETIF_MAX);
		return -1;
	}
	for (size_t i = 0; i < def->nifaces; i++) {
		const struct dom_iface *f = &def->ifaces[i];

		if (strcmp(f->type, "network") && strcmp(f->type, "bridge")) {
			vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
				      "interface type '%s' is not supported by vireo yet (network and bridge are)",
				      f->type);
			return -1;
		}
		if (f->model && strcmp(f->model, "virtio")) {
			vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
				      "interface model '%s' is not supported by vireo (virtio is)",
				      f->model);
			return -1;
		}
	}
	return 0;
}

/* The bridge an interface plugs into, or NULL with err set. */
static const char *iface_bridge(const struct dom_iface *f,
				struct vir_error *err)
{
	struct network *n;

	if (!f->source) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "interface of type '%s' has no <source>", f->type);
		return NULL;
	}
	if (!strcmp(f->type, "bridge")) {
		if (hostnet_link_is_bridge(f->source) != 1) {
			vir_error_set(err, VIR_ERR_OPERATION_FAILED,
				      "bridge '%s' does not exist", f->source);
			return NULL;
		}
		return f->source;
	}
	n = network_find_name(f->source);
	if (!n) {
		err->code = VIR_ERR_NO_NETWORK;
		err->domain = VIR_FROM_NETWORK;
		snprintf(err->message, sizeof(err->message),
			 "Network not found: no network with matching name '%s'",
			 f->source);
		return NULL;
	}
	if (!n->active) {
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "network '%s' is not active", f->source);
		return NULL;
	}
	return n->def->bridge;
}

/* A running domain (other than self) using this MAC, or NULL. */
static const struct domain *mac_user(struct daemon *dm,
				     const struct domain *self, const char *mac)
{
	for (const struct domain *o = dm->store.head; o; o = o->next) {
		if (o == self || !domain_active(o))
			continue;
		for (size_t i = 0; i < o->def->nifaces; i++)
			if (o->def->ifaces[i].mac &&
			    !strcasecmp(o->def->ifaces[i].mac, mac))
				return o;
	}
	return NULL;
}

static int plug(const struct domain_def *def, size_t i, const char *bridge,
		char **arg, struct vir_error *err)
{
	const struct dom_iface *f = &def->ifaces[i];
	char want[IFNAMSIZ], got[IFNAMSIZ], macs[MAC_STR_MAX];
	uint8_t mac[6];
	int r;

	tap_name(def, i, want);
	if (!f->mac || mac_parse(f->mac, mac)) {
		vir_error_set(err, VIR_ERR_XML_ERROR, "bad MAC address '%s'",
			      f->mac ? f->mac : "");
		return -1;
	}
	/* A TAP left by a daemon that died: ours by its name. */
	if (hostnet_link_exists(want) > 0)
		hostnet_link_del(want);
	r = hostnet_tap_create(want, got);
	if (r) {
		vir_error_set(err, VIR_ERR_SYSTEM_ERROR,
			      "cannot create TAP device %s: %s", want,
			      strerror(-r));
		return -1;
	}
	/*
	 * The host side gets fe:... so the bridge never takes the guest's
	 * address as its own (bridges use their ports' lowest MAC).
	 */
	mac[0] = 0xfe;
	r = hostnet_link_set_mac(got, mac);
	if (!r)
		r = hostnet_link_set_master(got, bridge);
	if (!r)
		r = hostnet_link_up(got);
	if (r) {
		vir_error_set(err, VIR_ERR_SYSTEM_ERROR,
			      "cannot attach %s to bridge %s: %s", got, bridge,
			      strerror(-r));
		hostnet_link_del(got);
		return -1;
	}
	mac_parse(f->mac, mac);
	if (asprintf(arg, "tap=%s,mac=%s", got, mac_format(mac, macs)) < 0) {
		*arg = NULL;
		hostnet_link_del(got);
		vir_error_set(err, VIR_ERR_NO_MEMORY, "--net argument");
		return -1;
	}
	log_info("domain '%s': interface %zu on %s via %s", def->name, i,
		 bridge, got);
	return 0;
}

int netif_domain_start(struct daemon *dm, const struct domain *d,
		       char *args[NETIF_MAX], struct vir_error *err)
{
	const struct domain_def *def = d->def;
	size_t i;

	if (netif_check(def, err))
		return -1;
	if (def->nifaces && network_init(dm)) {
		vir_error_set(err, VIR_ERR_INTERNAL_ERROR,
			      "cannot set up the network state directory");
		return -1;
	}
	if (def->nifaces && tap_user(dm, d)) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "the TAP names of domain '%s' collide with running domain '%s'",
			      def->name, tap_user(dm, d)->def->name);
		return -1;
	}
	for (i = 0; i < def->nifaces; i++) {
		const struct domain *o = mac_user(dm, d, def->ifaces[i].mac);
		const char *bridge;

		if (o) {
			vir_error_set(err, VIR_ERR_OPERATION_INVALID,
				      "MAC address %s is already in use by domain '%s'",
				      def->ifaces[i].mac, o->def->name);
			break;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp(def->ifaces[j].mac, def->ifaces[i].mac))
				o = d;
		if (o) {
			vir_error_set(err, VIR_ERR_XML_ERROR,
				      "MAC address %s appears twice",
				      def->ifaces[i].mac);
			break;
		}
		bridge = iface_bridge(&def->ifaces[i], err);
		if (!bridge || plug(def, i, bridge, &args[i], err))
			break;
	}
	if (i == def->nifaces)
		return 0;
	netif_domain_stop(def);
	netif_args_free(args);
	return -1;
}

void netif_domain_stop(const struct domain_def *def)
{
	for (size_t i = 0; i < def->nifaces && i < NETIF_MAX; i++) {
		char name[IFNAMSIZ];
		int r;

		tap_name(def, i, name);
		r = hostnet_link_del(name);
		if (r && r != -ENODEV)
			log_warn("domain '%s': deleting %s: %s", def->name,
				 name, strerror(-r));
	}
}

void netif_args_free(char *args[NETIF_MAX])
{
	for (size_t i = 0; i < NETIF_MAX; i++) {
		free(args[i]);
		args[i] = NULL;
	}
}
