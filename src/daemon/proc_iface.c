/*
 * Host interface procedures of libvirt's remote protocol (virsh iface-*):
 * listings, lookups by name and MAC, XML, define/undefine, create/destroy.
 * `virsh iface-bridge IF BR` is client-side: LOOKUP_BY_NAME(IF),
 * LOOKUP_BY_NAME(BR) (must fail), GET_XML_DESC(IF, INACTIVE), then
 * DEFINE_XML of a bridge document it builds and CREATE; `iface-unbridge
 * BR` does GET_XML_DESC(BR, INACTIVE), DESTROY, UNDEFINE, DEFINE_XML of
 * the port's document and CREATE. The work is in iface.c / iface_run.c.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/dispatch.h"
#include "daemon/iface.h"
#include "daemon/proc_iface.h"
#include "daemon/protocol.h"

/* remote_protocol.x numbers for interfaces (libvirt never renumbers). */
enum {
	PROC_CONNECT_NUM_OF_INTERFACES = 126,
	PROC_CONNECT_LIST_INTERFACES = 127,
	PROC_INTERFACE_LOOKUP_BY_NAME = 128,
	PROC_INTERFACE_LOOKUP_BY_MAC_STRING = 129,
	PROC_INTERFACE_GET_XML_DESC = 130,
	PROC_INTERFACE_DEFINE_XML = 131,
	PROC_INTERFACE_UNDEFINE = 132,
	PROC_INTERFACE_CREATE = 133,
	PROC_INTERFACE_DESTROY = 134,
	PROC_CONNECT_NUM_OF_DEFINED_INTERFACES = 137,
	PROC_CONNECT_LIST_DEFINED_INTERFACES = 138,
	PROC_INTERFACE_IS_ACTIVE = 156,
	PROC_CONNECT_LIST_ALL_INTERFACES = 284,
};

#define REMOTE_INTERFACE_LIST_MAX	16384
#define VIR_INTERFACE_XML_INACTIVE	(1u << 0)
#define VIR_INTERFACE_DEFINE_VALIDATE	(1u << 0)
#define LIST_INACTIVE			(1u << 0)
#define LIST_ACTIVE			(1u << 1)

static int ready(struct call *call)
{
	if (iface_init(call->d)) {
		vir_error_set(&call->err, VIR_ERR_INTERNAL_ERROR,
			      "cannot set up the interface state directory");
		return -1;
	}
	return 0;
}

static void put_iface(struct call *call, const struct iface_view *v)
{
	xdr_put_string(call->ret, v->name);
	xdr_put_string(call->ret, v->mac);
}

/* Decode a remote_nonnull_interface (name, mac) and look it up by name. */
static int get_iface(struct call *call, struct iface_view *out)
{
	char *name = NULL, *mac = NULL;
	int r;

	if (xdr_get_string(call->args, REMOTE_STRING_MAX, &name) ||
	    xdr_get_string(call->args, REMOTE_STRING_MAX, &mac)) {
		free(name);
		free(mac);
		return call_bad_args(call);
	}
	free(mac);
	r = ready(call) ? -1 : iface_lookup(name, out, &call->err);
	free(name);
	return r;
}

/* An interface and a flags word of which none are known. */
static int iface_and_flags(struct call *call, struct iface_view *v,
			   uint32_t known)
{
	uint32_t flags;

	if (get_iface(call, v))
		return -1;
	if (xdr_get_u32(call->args, &flags) || call_args_end(call))
		return call_bad_args(call);
	if (flags & ~known) {
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "unsupported flags (0x%x)", flags & ~known);
		return -1;
	}
	return 0;
}

static int proc_lookup_by_name(struct call *call)
{
	struct iface_view v;
	char *name;
	int r;

	if (xdr_get_string(call->args, REMOTE_STRING_MAX, &name))
		return call_bad_args(call);
	r = call_args_end(call) || ready(call) ||
	    iface_lookup(name, &v, &call->err);
	free(name);
	if (r)
		return -1;
	put_iface(call, &v);
	return 0;
}

static int proc_lookup_by_mac(struct call *call)
{
	struct iface_view v;
	char *mac;
	int r;

	if (xdr_get_string(call->args, REMOTE_STRING_MAX, &mac))
		return call_bad_args(call);
	r = call_args_end(call) || ready(call) ||
	    iface_lookup_mac(mac, &v, &call->err);
	free(mac);
	if (r)
		return -1;
	put_iface(call, &v);
	return 0;
}

static int proc_get_xml_desc(struct call *call)
{
	struct iface_view v;
	uint32_t flags;
	char *xml;

	if (get_iface(call, &v))
		return -1;
	if (xdr_get_u32(call->args, &flags) || call_args_end(call))
		return call_bad_args(call);
	if (flags & ~VIR_INTERFACE_XML_INACTIVE) {
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "unsupported flags (0x%x)", flags);
		return -1;
	}
	xml = iface_xml(v.name, flags & VIR_INTERFACE_XML_INACTIVE, &call->err);
	if (!xml)
		return -1;
	xdr_put_string(call->ret, xml);
	free(xml);
	return 0;
}

static int proc_define_xml(struct call *call)
{
	struct iface_view v;
	uint32_t flags;
	char *xml;
	int r;

	if (xdr_get_string(call->args, REMOTE_STRING_MAX, &xml))
		return call_bad_args(call);
	if (xdr_get_u32(call->args, &flags) || call_args_end(call)) {
		free(xml);
		return call_bad_args(call);
	}
	if (flags & ~VIR_INTERFACE_DEFINE_VALIDATE) {
		free(xml);
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "unsupported flags (0x%x)", flags);
		return -1;
	}
	r = ready(call) || iface_define(xml, &v, &call->err);
	free(xml);
	if (r)
		return -1;
	put_iface(call, &v);
	return 0;
}

static int proc_undefine(struct call *call)
{
	struct iface_view v;

	if (get_iface(call, &v) || call_args_end(call))
		return -1;
	return iface_undefine(v.name, &call->err);
}

static int proc_create(struct call *call)
{
	struct iface_view v;

	if (iface_and_flags(call, &v, 0))
		return -1;
	return iface_create(v.name, &call->err);
}

static int proc_destroy(struct call *call)
{
	struct iface_view v;

	if (iface_and_flags(call, &v, 0))
		return -1;
	return iface_destroy(v.name, &call->err);
}

static int proc_is_active(struct call *call)
{
	struct iface_view v;

	if (get_iface(call, &v) || call_args_end(call))
		return -1;
	xdr_put_i32(call->ret, v.active);
	return 0;
}

static int proc_list_all(struct call *call)
{
	struct iface_view *v;
	int32_t need;
	uint32_t flags, count = 0;
	size_t n, count_at;

	if (xdr_get_i32(call->args, &need) || xdr_get_u32(call->args, &flags) ||
	    call_args_end(call))
		return call_bad_args(call);
	if (flags & ~(LIST_ACTIVE | LIST_INACTIVE)) {
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "unsupported flags (0x%x)", flags);
		return -1;
	}
	if (!flags)
		flags = LIST_ACTIVE | LIST_INACTIVE;
	if (ready(call) || iface_list(&v, &n, &call->err))
		return -1;
	count_at = call->ret->len;
	xdr_put_u32(call->ret, 0);
	for (size_t i = 0; i < n && count < REMOTE_INTERFACE_LIST_MAX; i++) {
		if (!(flags & (v[i].active ? LIST_ACTIVE : LIST_INACTIVE)))
			continue;
		count++;
		if (need)
			put_iface(call, &v[i]);
	}
	free(v);
	xdr_patch_u32(call->ret, count_at, need ? count : 0);
	xdr_put_u32(call->ret, count);
	return 0;
}

/* The old listing API: counts and names of active or inactive ones. */
static int count_or_list(struct call *call, bool active, bool names)
{
	struct iface_view *v;
	int32_t max = REMOTE_INTERFACE_LIST_MAX, count = 0;
	size_t n, count_at = 0;

	if (names && xdr_get_i32(call->args, &max))
		return call_bad_args(call);
	if (call_args_end(call))
		return -1;
	if (max < 0 || max > REMOTE_INTERFACE_LIST_MAX) {
		vir_error_set(&call->err, VIR_ERR_RPC, "maxnames out of range");
		return -1;
	}
	if (ready(call) || iface_list(&v, &n, &call->err))
		return -1;
	if (names) {
		count_at = call->ret->len;
		xdr_put_u32(call->ret, 0);
	}
	for (size_t i = 0; i < n && count < max; i++) {
		if (v[i].active != active)
			continue;
		if (names)
			xdr_put_string(call->ret, v[i].name);
		count++;
	}
	free(v);
	if (names)
		xdr_patch_u32(call->ret, count_at, (uint32_t)count);
	else
		xdr_put_i32(call->ret, count);
	return 0;
}

static int proc_num_of_interfaces(struct call *call)
{
	return count_or_list(call, true, false);
}

static int proc_list_interfaces(struct call *call)
{
	return count_or_list(call, true, true);
}

static int proc_num_of_defined(struct call *call)
{
	return count_or_list(call, false, false);
}

static int proc_list_defined(struct call *call)
{
	return count_or_list(call, false, true);
}

const struct proc_entry proc_iface_table[] = {
	{ PROC_CONNECT_NUM_OF_INTERFACES, "CONNECT_NUM_OF_INTERFACES",
	  proc_num_of_interfaces },
	{ PROC_CONNECT_LIST_INTERFACES, "CONNECT_LIST_INTERFACES",
	  proc_list_interfaces },
	{ PROC_INTERFACE_LOOKUP_BY_NAME, "INTERFACE_LOOKUP_BY_NAME",
	  proc_lookup_by_name },
	{ PROC_INTERFACE_LOOKUP_BY_MAC_STRING, "INTERFACE_LOOKUP_BY_MAC_STRING",
	  proc_lookup_by_mac },
	{ PROC_INTERFACE_GET_XML_DESC, "INTERFACE_GET_XML_DESC",
	  proc_get_xml_desc },
	{ PROC_INTERFACE_DEFINE_XML, "INTERFACE_DEFINE_XML", proc_define_xml },
	{ PROC_INTERFACE_UNDEFINE, "INTERFACE_UNDEFINE", proc_undefine },
	{ PROC_INTERFACE_CREATE, "INTERFACE_CREATE", proc_create },
	{ PROC_INTERFACE_DESTROY, "INTERFACE_DESTROY", proc_destroy },
	{ PROC_CONNECT_NUM_OF_DEFINED_INTERFACES,
	  "CONNECT_NUM_OF_DEFINED_INTERFACES", proc_num_of_defined },
	{ PROC_CONNECT_LIST_DEFINED_INTERFACES,
	  "CONNECT_LIST_DEFINED_INTERFACES", proc_list_defined },
	{ PROC_INTERFACE_IS_ACTIVE, "INTERFACE_IS_ACTIVE", proc_is_active },
	{ PROC_CONNECT_LIST_ALL_INTERFACES, "CONNECT_LIST_ALL_INTERFACES",
	  proc_list_all },
	{ 0, NULL, NULL },
};
