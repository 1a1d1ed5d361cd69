/*
 * Network procedures of libvirt's remote protocol: define/undefine,
 * create/destroy, lookups and listings, XML, autostart, bridge name and
 * DHCP leases. The work is in network.c and network_run.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/dispatch.h"
#include "daemon/domain_xml.h"
#include "daemon/network.h"
#include "daemon/network_xml.h"
#include "daemon/proc_network.h"
#include "daemon/protocol.h"
#include "lib/log.h"
#include "net/ipv4.h"
#include "net/mac.h"

/* remote_protocol.x numbers for networks (libvirt never renumbers). */
enum {
	PROC_CONNECT_LIST_DEFINED_NETWORKS = 36,
	PROC_CONNECT_LIST_NETWORKS = 38,
	PROC_NETWORK_CREATE = 39,
	PROC_NETWORK_CREATE_XML = 40,
	PROC_NETWORK_DEFINE_XML = 41,
	PROC_NETWORK_DESTROY = 42,
	PROC_NETWORK_GET_XML_DESC = 43,
	PROC_NETWORK_GET_AUTOSTART = 44,
	PROC_NETWORK_GET_BRIDGE_NAME = 45,
	PROC_NETWORK_LOOKUP_BY_NAME = 46,
	PROC_NETWORK_LOOKUP_BY_UUID = 47,
	PROC_NETWORK_SET_AUTOSTART = 48,
	PROC_NETWORK_UNDEFINE = 49,
	PROC_CONNECT_NUM_OF_DEFINED_NETWORKS = 50,
	PROC_CONNECT_NUM_OF_NETWORKS = 52,
	PROC_NETWORK_IS_ACTIVE = 152,
	PROC_NETWORK_IS_PERSISTENT = 153,
	PROC_CONNECT_LIST_ALL_NETWORKS = 283,
	PROC_NETWORK_GET_DHCP_LEASES = 341,
};

#define REMOTE_NETWORK_LIST_MAX		16384
#define REMOTE_NETWORK_DHCP_LEASES_MAX	65536
#define VIR_ERR_NO_NETWORK		43
#define VIR_FROM_NETWORK		19
#define VIR_NETWORK_XML_INACTIVE	(1u << 0)
#define VIR_IP_ADDR_TYPE_IPV4		0

/* virConnectListAllNetworksFlags */
#define LIST_INACTIVE		(1u << 0)
#define LIST_ACTIVE		(1u << 1)
#define LIST_PERSISTENT		(1u << 2)
#define LIST_TRANSIENT		(1u << 3)
#define LIST_AUTOSTART		(1u << 4)
#define LIST_NO_AUTOSTART	(1u << 5)

static void no_network(struct call *call, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (vir_error_isset(&call->err))
		return;
	call->err.code = VIR_ERR_NO_NETWORK;
	call->err.domain = VIR_FROM_NETWORK;
	n = snprintf(call->err.message, sizeof(call->err.message),
		     "Network not found: ");
	va_start(ap, fmt);
	vsnprintf(call->err.message + n, sizeof(call->err.message) - n, fmt,
		  ap);
	va_end(ap);
}

static int ready(struct call *call)
{
	if (network_init(call->d)) {
		vir_error_set(&call->err, VIR_ERR_INTERNAL_ERROR,
			      "cannot set up the network state directory");
		return -1;
	}
	return 0;
}

/* Decode a remote_nonnull_network and look it up by UUID. */
static int get_net(struct call *call, struct network **out)
{
	char *name = NULL, u[37];
	uint8_t uuid[VIR_UUID_BUFLEN];
	struct network *n;

	if (xdr_get_string(call->args, REMOTE_STRING_MAX, &name) ||
	    xdr_get_fixed(call->args, uuid, sizeof(uuid))) {
		free(name);
		return call_bad_args(call);
	}
	if (ready(call)) {
		free(name);
		return -1;
	}
	n = network_find_uuid(uuid);
	if (!n) {
		uuid_format(uuid, u);
		no_network(call, "no network with matching uuid '%s' (%s)", u,
			   name);
		free(name);
		return -1;
	}
	free(name);
	*out = n;
	return 0;
}

static int net_only(struct call *call, struct network **n)
{
	if (get_net(call, n))
		return -1;
	return call_args_end(call);
}

static void put_net(struct call *call, const struct network *n)
{
	xdr_put_string(call->ret, n->def->name);
	xdr_put_fixed(call->ret, n->def->uuid, VIR_UUID_BUFLEN);
}

static int define_or_create(struct call *call, bool start)
{
	struct network *n;
	char *xml;
	int r;

	if (xdr_get_string(call->args, REMOTE_STRING_MAX, &xml))
		return call_bad_args(call);
	if (call_args_end(call)) {
		free(xml);
		return -1;
	}
	r = network_define_xml(call->d, xml, start, &n, &call->err);
	free(xml);
	if (r)
		return -1;
	log_info("%s network '%s'", start ? "created" : "defined",
		 n->def->name);
	put_net(call, n);
	return 0;
}

static int proc_define_xml(struct call *call)
{
	return define_or_create(call, false);
}

static int proc_create_xml(struct call *call)
{
	return define_or_create(call, true);
}

static int proc_create(struct call *call)
{
	struct network *n;

	if (net_only(call, &n))
		return -1;
	return network_start(n, &call->err);
}

static int proc_destroy(struct call *call)
{
	struct network *n;

	if (net_only(call, &n))
		return -1;
	return network_stop(n, &call->err);
}

static int proc_undefine(struct call *call)
{
	struct network *n;

	if (net_only(call, &n))
		return -1;
	return network_undefine(n, &call->err);
}

static int proc_get_xml_desc(struct call *call)
{
	struct network *n;
	uint32_t flags;
	char *xml;

	if (get_net(call, &n))
		return -1;
	if (xdr_get_u32(call->args, &flags) || call_args_end(call))
		return call_bad_args(call);
	if (flags & ~VIR_NETWORK_XML_INACTIVE) {
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "unsupported flags (0x%x)", flags);
		return -1;
	}
	xml = network_def_format((flags & VIR_NETWORK_XML_INACTIVE) &&
				 n->next_def ? n->next_def : n->def);
	if (!xml) {
		vir_error_set(&call->err, VIR_ERR_NO_MEMORY, "network XML");
		return -1;
	}
	xdr_put_string(call->ret, xml);
	free(xml);
	return 0;
}

static int proc_get_autostart(struct call *call)
{
	struct network *n;

	if (net_only(call, &n))
		return -1;
	xdr_put_i32(call->ret, n->autostart);
	return 0;
}

static int proc_set_autostart(struct call *call)
{
	struct network *n;
	int32_t on;

	if (get_net(call, &n))
		return -1;
	if (xdr_get_i32(call->args, &on) || call_args_end(call))
		return call_bad_args(call);
	return network_set_autostart(n, on != 0, &call->err);
}

static int proc_get_bridge_name(struct call *call)
{
	struct network *n;

	if (net_only(call, &n))
		return -1;
	xdr_put_string(call->ret, n->def->bridge ? n->def->bridge : "");
	return 0;
}

static int proc_is_active(struct call *call)
{
	struct network *n;

	if (net_only(call, &n))
		return -1;
	xdr_put_i32(call->ret, n->active);
	return 0;
}

static int proc_is_persistent(struct call *call)
{
	struct network *n;

	if (net_only(call, &n))
		return -1;
	xdr_put_i32(call->ret, n->persistent);
	return 0;
}

static int proc_lookup_by_name(struct call *call)
{
	struct network *n;
	char *name;

	if (xdr_get_string(call->args, REMOTE_STRING_MAX, &name))
		return call_bad_args(call);
	if (call_args_end(call) || ready(call)) {
		free(name);
		return -1;
	}
	n = network_find_name(name);
	if (!n)
		no_network(call, "no network with matching name '%s'", name);
	free(name);
	if (!n)
		return -1;
	put_net(call, n);
	return 0;
}

static int proc_lookup_by_uuid(struct call *call)
{
	uint8_t uuid[VIR_UUID_BUFLEN];
	struct network *n;
	char u[37];

	if (xdr_get_fixed(call->args, uuid, sizeof(uuid)) ||
	    call_args_end(call))
		return call_bad_args(call);
	if (ready(call))
		return -1;
	n = network_find_uuid(uuid);
	if (!n) {
		uuid_format(uuid, u);
		no_network(call, "no network with matching uuid '%s'", u);
		return -1;
	}
	put_net(call, n);
	return 0;
}

static bool list_match(const struct network *n, uint32_t f)
{
	if ((f & (LIST_ACTIVE | LIST_INACTIVE)) &&
	    !((f & LIST_ACTIVE && n->active) ||
	      (f & LIST_INACTIVE && !n->active)))
		return false;
	if ((f & (LIST_PERSISTENT | LIST_TRANSIENT)) &&
	    !((f & LIST_PERSISTENT && n->persistent) ||
	      (f & LIST_TRANSIENT && !n->persistent)))
		return false;
	if ((f & (LIST_AUTOSTART | LIST_NO_AUTOSTART)) &&
	    !((f & LIST_AUTOSTART && n->autostart) ||
	      (f & LIST_NO_AUTOSTART && !n->autostart)))
		return false;
	return true;
}

static int proc_list_all(struct call *call)
{
	int32_t need;
	uint32_t flags, count = 0;
	size_t count_at;

	if (xdr_get_i32(call->args, &need) || xdr_get_u32(call->args, &flags) ||
	    call_args_end(call))
		return call_bad_args(call);
	if (ready(call))
		return -1;
	count_at = call->ret->len;
	xdr_put_u32(call->ret, 0);
	for (struct network *n = network_store()->head; n; n = n->next) {
		if (!list_match(n, flags))
			continue;
		if (count == REMOTE_NETWORK_LIST_MAX) {
			vir_error_set(&call->err, VIR_ERR_RPC,
				      "too many networks to list");
			return -1;
		}
		count++;
		if (need)
			put_net(call, n);
	}
	xdr_patch_u32(call->ret, count_at, need ? count : 0);
	xdr_put_u32(call->ret, count);
	return 0;
}

/* The old listing API: counts and names of active or inactive networks. */
static int count_nets(struct call *call, bool active)
{
	int32_t count = 0;

	if (call_args_end(call) || ready(call))
		return -1;
	for (struct network *n = network_store()->head; n; n = n->next)
		count += n->active == active;
	xdr_put_i32(call->ret, count);
	return 0;
}

static int proc_num_of_networks(struct call *call)
{
	return count_nets(call, true);
}

static int proc_num_of_defined(struct call *call)
{
	return count_nets(call, false);
}

static int list_names(struct call *call, bool active)
{
	int32_t max, count = 0;
	size_t count_at;

	if (xdr_get_i32(call->args, &max) || call_args_end(call))
		return call_bad_args(call);
	if (max < 0 || max > REMOTE_NETWORK_LIST_MAX) {
		vir_error_set(&call->err, VIR_ERR_RPC, "maxnames out of range");
		return -1;
	}
	if (ready(call))
		return -1;
	count_at = call->ret->len;
	xdr_put_u32(call->ret, 0);
	for (struct network *n = network_store()->head; n && count < max;
	     n = n->next) {
		if (n->active != active)
			continue;
		xdr_put_string(call->ret, n->def->name);
		count++;
	}
	xdr_patch_u32(call->ret, count_at, (uint32_t)count);
	return 0;
}

static int proc_list_networks(struct call *call)
{
	return list_names(call, true);
}

static int proc_list_defined(struct call *call)
{
	return list_names(call, false);
}

static void put_lease(struct call *call, const struct network *n,
		      const struct dnsmasq_lease *l)
{
	char mac[MAC_STR_MAX], ip[IPV4_STR_MAX];

	xdr_put_string(call->ret, n->def->bridge);
	xdr_put_i64(call->ret, l->expiry);
	xdr_put_i32(call->ret, VIR_IP_ADDR_TYPE_IPV4);
	xdr_put_string_opt(call->ret, mac_format(l->mac, mac));
	xdr_put_string_opt(call->ret, NULL);		/* iaid: IPv6 only */
	xdr_put_string(call->ret, ipv4_format(l->ip, ip));
	xdr_put_u32(call->ret, n->def->prefix);
	xdr_put_string_opt(call->ret, l->hostname[0] ? l->hostname : NULL);
	xdr_put_string_opt(call->ret, l->clientid[0] ? l->clientid : NULL);
}

static int proc_get_dhcp_leases(struct call *call)
{
	struct network *n;
	struct dnsmasq_lease *leases;
	char *mac = NULL;
	uint8_t want[6];
	bool has_mac;
	int32_t need;
	uint32_t flags, count = 0;
	size_t nleases, count_at;
	int r;

	if (get_net(call, &n))
		return -1;
	if (xdr_get_string_opt(call->args, REMOTE_STRING_MAX, &mac) ||
	    xdr_get_i32(call->args, &need) || xdr_get_u32(call->args, &flags) ||
	    call_args_end(call)) {
		free(mac);
		return call_bad_args(call);
	}
	has_mac = mac != NULL;
	r = mac ? mac_parse(mac, want) : 0;
	free(mac);
	if (r || flags) {
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG, r ?
			      "invalid MAC address" : "unsupported flags");
		return -1;
	}
	if (!n->active) {
		vir_error_set(&call->err, VIR_ERR_OPERATION_INVALID,
			      "network '%s' is not active", n->def->name);
		return -1;
	}
	if (network_leases(n, &leases, &nleases)) {
		vir_error_set(&call->err, VIR_ERR_INTERNAL_ERROR,
			      "cannot read the leases of network '%s'",
			      n->def->name);
		return -1;
	}
	count_at = call->ret->len;
	xdr_put_u32(call->ret, 0);
	for (size_t i = 0; i < nleases && count < REMOTE_NETWORK_DHCP_LEASES_MAX;
	     i++) {
		if (has_mac && memcmp(leases[i].mac, want, 6))
			continue;
		count++;
		if (need)
			put_lease(call, n, &leases[i]);
	}
	free(leases);
	xdr_patch_u32(call->ret, count_at, need ? count : 0);
	xdr_put_u32(call->ret, count);
	return 0;
}

const struct proc_entry proc_network_table[] = {
	{ PROC_CONNECT_LIST_DEFINED_NETWORKS, "CONNECT_LIST_DEFINED_NETWORKS",
	  proc_list_defined },
	{ PROC_CONNECT_LIST_NETWORKS, "CONNECT_LIST_NETWORKS",
	  proc_list_networks },
	{ PROC_NETWORK_CREATE, "NETWORK_CREATE", proc_create },
	{ PROC_NETWORK_CREATE_XML, "NETWORK_CREATE_XML", proc_create_xml },
	{ PROC_NETWORK_DEFINE_XML, "NETWORK_DEFINE_XML", proc_define_xml },
	{ PROC_NETWORK_DESTROY, "NETWORK_DESTROY", proc_destroy },
	{ PROC_NETWORK_GET_XML_DESC, "NETWORK_GET_XML_DESC",
	  proc_get_xml_desc },
	{ PROC_NETWORK_GET_AUTOSTART, "NETWORK_GET_AUTOSTART",
	  proc_get_autostart },
	{ PROC_NETWORK_GET_BRIDGE_NAME, "NETWORK_GET_BRIDGE_NAME",
	  proc_get_bridge_name },
	{ PROC_NETWORK_LOOKUP_BY_NAME, "NETWORK_LOOKUP_BY_NAME",
	  proc_lookup_by_name },
	{ PROC_NETWORK_LOOKUP_BY_UUID, "NETWORK_LOOKUP_BY_UUID",
	  proc_lookup_by_uuid },
	{ PROC_NETWORK_SET_AUTOSTART, "NETWORK_SET_AUTOSTART",
	  proc_set_autostart },
	{ PROC_NETWORK_UNDEFINE, "NETWORK_UNDEFINE", proc_undefine },
	{ PROC_CONNECT_NUM_OF_DEFINED_NETWORKS,
	  "CONNECT_NUM_OF_DEFINED_NETWORKS", proc_num_of_defined },
	{ PROC_CONNECT_NUM_OF_NETWORKS, "CONNECT_NUM_OF_NETWORKS",
	  proc_num_of_networks },
	{ PROC_NETWORK_IS_ACTIVE, "NETWORK_IS_ACTIVE", proc_is_active },
	{ PROC_NETWORK_IS_PERSISTENT, "NETWORK_IS_PERSISTENT",
	  proc_is_persistent },
	{ PROC_CONNECT_LIST_ALL_NETWORKS, "CONNECT_LIST_ALL_NETWORKS",
	  proc_list_all },
	{ PROC_NETWORK_GET_DHCP_LEASES, "NETWORK_GET_DHCP_LEASES",
	  proc_get_dhcp_leases },
	{ 0, NULL, NULL },
};
