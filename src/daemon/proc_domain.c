/*
 * Domain procedures: define/undefine, lookups and listings, info/state,
 * XML, autostart, and the lifecycle calls (which vm.c carries out).
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/dispatch.h"
#include "daemon/domain_xml.h"
#include "daemon/events.h"
#include "daemon/protocol.h"
#include "daemon/vm.h"
#include "lib/log.h"

static int dom_only(struct call *call, struct domain **d)
{
	return call_get_domain_only(call, d);
}

static int dom_flags(struct call *call, struct domain **d, uint32_t known,
		     uint32_t *flags)
{
	return call_get_domain_flags(call, d, known, flags);
}

static int parse_xml_arg(struct call *call, char *xml, struct domain_def **def)
{
	int r = domain_def_parse(xml, strlen(xml), def, &call->err);

	free(xml);
	return r;
}

static int define_common(struct call *call, char *xml)
{
	struct domain_def *def;
	struct domain *d;
	bool existed;

	if (parse_xml_arg(call, xml, &def))
		return -1;
	d = store_find_name(&call->d->store, def->name);
	existed = d && d->persistent;
	if (store_define(&call->d->store, def, &d, &call->err))
		return -1;
	log_info("defined domain '%s'", d->def->name);
	domain_event(call->d, d, DOM_EVENT_DEFINED,
		     existed ? DOM_EVENT_DEFINED_UPDATED :
		     DOM_EVENT_DEFINED_ADDED);
	call_put_domain(call, d);
	return 0;
}

static int proc_define_xml(struct call *call)
{
	char *xml;

	if (xdr_get_string(call->args, REMOTE_STRING_MAX, &xml))
		return call_bad_args(call);
	if (call_args_end(call)) {
		free(xml);
		return -1;
	}
	return define_common(call, xml);
}

static int proc_define_xml_flags(struct call *call)
{
	char *xml;
	uint32_t flags;

	if (xdr_get_string(call->args, REMOTE_STRING_MAX, &xml))
		return call_bad_args(call);
	if (xdr_get_u32(call->args, &flags) || call_args_end(call)) {
		free(xml);
		return call_bad_args(call);
	}
	/* The parser always validates strictly. */
	if (flags & ~VIR_DOMAIN_DEFINE_VALIDATE) {
		free(xml);
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "unsupported flags (0x%x)", flags);
		return -1;
	}
	return define_common(call, xml);
}

static int undefine_common(struct call *call, struct domain *d)
{
	/* d may be freed by the undefine: the event names a copy. */
	struct domain_def gone = { .name = strdup(d->def->name) };
	struct domain was = { .def = &gone, .id = d->id };

	memcpy(gone.uuid, d->def->uuid, sizeof(gone.uuid));
	if (store_undefine(&call->d->store, d, &call->err)) {
		free(gone.name);
		return -1;
	}
	log_info("undefined domain '%s'", gone.name ? gone.name : "?");
	if (gone.name)
		domain_event(call->d, &was, DOM_EVENT_UNDEFINED,
			     DOM_EVENT_UNDEFINED_REMOVED);
	free(gone.name);
	return 0;
}

static int proc_undefine(struct call *call)
{
	struct domain *d;

	return dom_only(call, &d) ? -1 : undefine_common(call, d);
}

static int proc_undefine_flags(struct call *call)
{
	struct domain *d;
	uint32_t flags;

	/* managed save, snapshot/checkpoint metadata, nvram, tpm: none exist. */
	return dom_flags(call, &d, 0x7f, &flags) ? -1 :
	       undefine_common(call, d);
}

static bool want(uint32_t flags, uint32_t yes, uint32_t no, bool value)
{
	bool y = flags & yes, n = flags & no;

	return y == n || (value ? y : n);
}

static bool list_match(const struct domain *d, uint32_t f)
{
	uint32_t states = f & (VIR_CONNECT_LIST_DOMAINS_RUNNING |
			       VIR_CONNECT_LIST_DOMAINS_PAUSED |
			       VIR_CONNECT_LIST_DOMAINS_SHUTOFF |
			       VIR_CONNECT_LIST_DOMAINS_OTHER);

	if (!want(f, VIR_CONNECT_LIST_DOMAINS_ACTIVE,
		  VIR_CONNECT_LIST_DOMAINS_INACTIVE, domain_active(d)) ||
	    !want(f, VIR_CONNECT_LIST_DOMAINS_PERSISTENT,
		  VIR_CONNECT_LIST_DOMAINS_TRANSIENT, d->persistent) ||
	    !want(f, VIR_CONNECT_LIST_DOMAINS_AUTOSTART,
		  VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART, d->autostart) ||
	    !want(f, VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE,
		  VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE, false) ||
	    !want(f, VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT,
		  VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT, false) ||
	    !want(f, VIR_CONNECT_LIST_DOMAINS_HAS_CHECKPOINT,
		  VIR_CONNECT_LIST_DOMAINS_NO_CHECKPOINT, false))
		return false;
	if (!states)
		return true;
	switch (d->state) {
	case VIR_DOMAIN_RUNNING:
		return states & VIR_CONNECT_LIST_DOMAINS_RUNNING;
	case VIR_DOMAIN_PAUSED:
		return states & VIR_CONNECT_LIST_DOMAINS_PAUSED;
	case VIR_DOMAIN_SHUTOFF:
		return states & VIR_CONNECT_LIST_DOMAINS_SHUTOFF;
	default:
		return states & VIR_CONNECT_LIST_DOMAINS_OTHER;
	}
}

static int proc_list_all(struct call *call)
{
	int32_t need;
	uint32_t flags, n = 0;
	size_t count_at;

	if (xdr_get_i32(call->args, &need) || xdr_get_u32(call->args, &flags) ||
	    call_args_end(call))
		return call_bad_args(call);
	count_at = call->ret->len;
	xdr_put_u32(call->ret, 0);
	for (struct domain *d = call->d->store.head; d; d = d->next) {
		if (!list_match(d, flags))
			continue;
		if (n == REMOTE_DOMAIN_LIST_MAX) {
			vir_error_set(&call->err, VIR_ERR_RPC,
				      "too many domains to list");
			return -1;
		}
		n++;
		if (need)
			call_put_domain(call, d);
	}
	xdr_patch_u32(call->ret, count_at, need ? n : 0);
	xdr_put_u32(call->ret, n);
	return 0;
}

/* CONNECT_NUM_OF_DOMAINS / NUM_OF_DEFINED_DOMAINS: old listing API. */
static int count_domains(struct call *call, bool active)
{
	int n = 0;

	if (call_args_end(call))
		return -1;
	for (struct domain *d = call->d->store.head; d; d = d->next)
		n += active ? domain_active(d) : !domain_active(d);
	xdr_put_i32(call->ret, n);
	return 0;
}

static int proc_num_of_domains(struct call *call)
{
	return count_domains(call, true);
}

static int proc_num_of_defined(struct call *call)
{
	return count_domains(call, false);
}

static int list_old(struct call *call, bool active)
{
	int32_t max;
	uint32_t n = 0;
	size_t count_at;

	if (xdr_get_i32(call->args, &max) || call_args_end(call))
		return call_bad_args(call);
	if (max < 0 || max > REMOTE_DOMAIN_LIST_MAX) {
		vir_error_set(&call->err, VIR_ERR_RPC,
			      "too many domains requested: %d", max);
		return -1;
	}
	count_at = call->ret->len;
	xdr_put_u32(call->ret, 0);
	for (struct domain *d = call->d->store.head; d && n < (uint32_t)max;
	     d = d->next) {
		if (domain_active(d) != active)
			continue;
		if (active)
			xdr_put_i32(call->ret, d->id);
		else
			xdr_put_string(call->ret, d->def->name);
		n++;
	}
	xdr_patch_u32(call->ret, count_at, n);
	return 0;
}

static int proc_list_domains(struct call *call)
{
	return list_old(call, true);
}

static int proc_list_defined(struct call *call)
{
	return list_old(call, false);
}

static int proc_lookup_by_name(struct call *call)
{
	char *name;
	struct domain *d;

	if (xdr_get_string(call->args, REMOTE_STRING_MAX, &name))
		return call_bad_args(call);
	if (call_args_end(call)) {
		free(name);
		return -1;
	}
	d = store_find_name(&call->d->store, name);
	if (!d)
		vir_error_set(&call->err, VIR_ERR_NO_DOMAIN,
			      "no domain with matching name '%s'", name);
	free(name);
	if (!d)
		return -1;
	call_put_domain(call, d);
	return 0;
}

static int proc_lookup_by_uuid(struct call *call)
{
	uint8_t uuid[VIR_UUID_BUFLEN];
	char s[37];
	struct domain *d;

	if (xdr_get_fixed(call->args, uuid, sizeof(uuid)) ||
	    call_args_end(call))
		return call_bad_args(call);
	d = store_find_uuid(&call->d->store, uuid);
	if (!d) {
		uuid_format(uuid, s);
		vir_error_set(&call->err, VIR_ERR_NO_DOMAIN,
			      "no domain with matching uuid '%s'", s);
		return -1;
	}
	call_put_domain(call, d);
	return 0;
}

static int proc_lookup_by_id(struct call *call)
{
	int32_t id;
	struct domain *d;

	if (xdr_get_i32(call->args, &id) || call_args_end(call))
		return call_bad_args(call);
	d = store_find_id(&call->d->store, id);
	if (!d) {
		vir_error_set(&call->err, VIR_ERR_NO_DOMAIN,
			      "no domain with matching id %d", id);
		return -1;
	}
	call_put_domain(call, d);
	return 0;
}

static int proc_get_info(struct call *call)
{
	struct domain *d;

	if (dom_only(call, &d))
		return -1;
	/* unsigned char and unsigned short travel as 4-byte XDR ints. */
	xdr_put_u32(call->ret, d->state);
	xdr_put_u64(call->ret, d->def->max_mem_kib);
	xdr_put_u64(call->ret, vm_current_memory(d));
	xdr_put_u32(call->ret, d->def->vcpus);
	xdr_put_u64(call->ret, vm_cpu_time(d));
	return 0;
}

static int proc_get_state(struct call *call)
{
	struct domain *d;
	uint32_t flags;

	if (dom_flags(call, &d, 0, &flags))
		return -1;
	xdr_put_i32(call->ret, d->state);
	xdr_put_i32(call->ret, d->reason);
	return 0;
}

static int proc_get_xml_desc(struct call *call)
{
	struct domain *d;
	uint32_t flags;
	const struct domain_def *def;
	struct domain_live live = { 0 };
	char *xml;

	/* SECURE (1), INACTIVE (2), UPDATE_CPU (4), MIGRATABLE (8) */
	if (dom_flags(call, &d, 0xf, &flags))
		return -1;
	def = d->def;
	if ((flags & VIR_DOMAIN_XML_INACTIVE) && d->newdef)
		def = d->newdef;
	if (!(flags & VIR_DOMAIN_XML_INACTIVE) && domain_active(d)) {
		live.id = d->id;
		live.pty = d->pty;
		live.cur_mem_kib = d->balloon_kib;
	}
	xml = domain_def_format(def, live.id ? &live : NULL);
	if (!xml) {
		vir_error_set(&call->err, VIR_ERR_NO_MEMORY, "domain XML");
		return -1;
	}
	xdr_put_string(call->ret, xml);
	free(xml);
	return 0;
}

static int proc_get_autostart(struct call *call)
{
	struct domain *d;

	if (dom_only(call, &d))
		return -1;
	xdr_put_i32(call->ret, d->autostart);
	return 0;
}

static int proc_set_autostart(struct call *call)
{
	struct domain *d;
	int32_t on;

	if (call_get_domain(call, &d))
		return -1;
	if (xdr_get_i32(call->args, &on) || call_args_end(call))
		return call_bad_args(call);
	return store_set_autostart(&call->d->store, d, on != 0, &call->err);
}

static int proc_is_active(struct call *call)
{
	struct domain *d;

	if (dom_only(call, &d))
		return -1;
	xdr_put_i32(call->ret, domain_active(d));
	return 0;
}

static int proc_is_persistent(struct call *call)
{
	struct domain *d;

	if (dom_only(call, &d))
		return -1;
	xdr_put_i32(call->ret, d->persistent);
	return 0;
}

static int proc_is_updated(struct call *call)
{
	struct domain *d;

	if (dom_only(call, &d))
		return -1;
	xdr_put_i32(call->ret, d->newdef != NULL);
	return 0;
}

static int proc_get_os_type(struct call *call)
{
	struct domain *d;

	if (dom_only(call, &d))
		return -1;
	xdr_put_string(call->ret, "hvm");
	return 0;
}

static int proc_get_max_memory(struct call *call)
{
	struct domain *d;

	if (dom_only(call, &d))
		return -1;
	xdr_put_u64(call->ret, d->def->max_mem_kib);
	return 0;
}

static int proc_get_max_vcpus(struct call *call)
{
	struct domain *d;

	if (dom_only(call, &d))
		return -1;
	xdr_put_i32(call->ret, d->def->vcpus);
	return 0;
}

static int proc_get_vcpus_flags(struct call *call)
{
	struct domain *d;
	uint32_t flags;

	if (dom_flags(call, &d, VIR_DOMAIN_AFFECT_LIVE |
		      VIR_DOMAIN_AFFECT_CONFIG | VIR_DOMAIN_VCPU_MAXIMUM,
		      &flags))
		return -1;
	xdr_put_i32(call->ret, d->def->vcpus);
	return 0;
}

/* Managed save, snapshots, security labels: none exist yet. */
static int proc_zero_flags(struct call *call)
{
	struct domain *d;
	uint32_t flags;

	if (dom_flags(call, &d, ~0u, &flags))
		return -1;
	xdr_put_i32(call->ret, 0);
	return 0;
}

static int proc_list_all_snapshots(struct call *call)
{
	struct domain *d;
	int32_t need;
	uint32_t flags;

	if (call_get_domain(call, &d))
		return -1;
	if (xdr_get_i32(call->args, &need) || xdr_get_u32(call->args, &flags) ||
	    call_args_end(call))
		return call_bad_args(call);
	xdr_put_u32(call->ret, 0);	/* snapshots<> */
	xdr_put_i32(call->ret, 0);	/* ret */
	return 0;
}

static int proc_get_security_label(struct call *call)
{
	struct domain *d;

	if (dom_only(call, &d))
		return -1;
	xdr_put_u32(call->ret, 0);	/* label: empty */
	xdr_put_i32(call->ret, 0);	/* enforcing */
	return 0;
}

static int proc_create(struct call *call)
{
	struct domain *d;

	return dom_only(call, &d) ? -1 : vm_start(call->d, d, 0, &call->err);
}

static int proc_create_with_flags(struct call *call)
{
	struct domain *d;
	uint32_t flags;

	if (dom_flags(call, &d, VIR_DOMAIN_START_PAUSED, &flags) ||
	    vm_start(call->d, d, flags, &call->err))
		return -1;
	call_put_domain(call, d);
	return 0;
}

static int proc_create_xml(struct call *call)
{
	char *xml;
	uint32_t flags;
	struct domain_def *def;
	struct domain *d;

	if (xdr_get_string(call->args, REMOTE_STRING_MAX, &xml))
		return call_bad_args(call);
	if (xdr_get_u32(call->args, &flags) || call_args_end(call)) {
		free(xml);
		return call_bad_args(call);
	}
	if (flags & ~VIR_DOMAIN_START_PAUSED) {
		free(xml);
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "unsupported flags (0x%x)", flags);
		return -1;
	}
	if (parse_xml_arg(call, xml, &def) ||
	    store_add_transient(&call->d->store, def, &d, &call->err))
		return -1;
	if (vm_start(call->d, d, flags, &call->err)) {
		store_domain_stopped(&call->d->store, d);
		return -1;
	}
	call_put_domain(call, d);
	return 0;
}

static int proc_destroy(struct call *call)
{
	struct domain *d;

	return dom_only(call, &d) ? -1 : vm_destroy(call->d, d, &call->err);
}

static int proc_destroy_flags(struct call *call)
{
	struct domain *d;
	uint32_t flags;

	return dom_flags(call, &d, VIR_DOMAIN_DESTROY_GRACEFUL, &flags) ? -1 :
	       vm_destroy(call->d, d, &call->err);
}

static int proc_shutdown(struct call *call)
{
	struct domain *d;

	return dom_only(call, &d) ? -1 : vm_shutdown(call->d, d, &call->err);
}

static int proc_shutdown_flags(struct call *call)
{
	struct domain *d;
	uint32_t flags;

	/* 0 (default) or 1 (ACPI power button) are what we can do. */
	return dom_flags(call, &d, 1, &flags) ? -1 :
	       vm_shutdown(call->d, d, &call->err);
}

static int proc_suspend(struct call *call)
{
	struct domain *d;

	return dom_only(call, &d) ? -1 : vm_suspend(call->d, d, &call->err);
}

static int proc_resume(struct call *call)
{
	struct domain *d;

	return dom_only(call, &d) ? -1 : vm_resume(call->d, d, &call->err);
}

const struct proc_entry proc_domain_table[] = {
	{ REMOTE_PROC_DOMAIN_CREATE, "DOMAIN_CREATE", proc_create },
	{ REMOTE_PROC_DOMAIN_CREATE_XML, "DOMAIN_CREATE_XML", proc_create_xml },
	{ REMOTE_PROC_DOMAIN_DEFINE_XML, "DOMAIN_DEFINE_XML", proc_define_xml },
	{ REMOTE_PROC_DOMAIN_DESTROY, "DOMAIN_DESTROY", proc_destroy },
	{ REMOTE_PROC_DOMAIN_GET_XML_DESC, "DOMAIN_GET_XML_DESC",
	  proc_get_xml_desc },
	{ REMOTE_PROC_DOMAIN_GET_AUTOSTART, "DOMAIN_GET_AUTOSTART",
	  proc_get_autostart },
	{ REMOTE_PROC_DOMAIN_GET_INFO, "DOMAIN_GET_INFO", proc_get_info },
	{ REMOTE_PROC_DOMAIN_GET_MAX_MEMORY, "DOMAIN_GET_MAX_MEMORY",
	  proc_get_max_memory },
	{ REMOTE_PROC_DOMAIN_GET_MAX_VCPUS, "DOMAIN_GET_MAX_VCPUS",
	  proc_get_max_vcpus },
	{ REMOTE_PROC_DOMAIN_GET_OS_TYPE, "DOMAIN_GET_OS_TYPE",
	  proc_get_os_type },
	{ REMOTE_PROC_CONNECT_LIST_DEFINED_DOMAINS,
	  "CONNECT_LIST_DEFINED_DOMAINS", proc_list_defined },
	{ REMOTE_PROC_DOMAIN_LOOKUP_BY_ID, "DOMAIN_LOOKUP_BY_ID",
	  proc_lookup_by_id },
	{ REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME, "DOMAIN_LOOKUP_BY_NAME",
	  proc_lookup_by_name },
	{ REMOTE_PROC_DOMAIN_LOOKUP_BY_UUID, "DOMAIN_LOOKUP_BY_UUID",
	  proc_lookup_by_uuid },
	{ REMOTE_PROC_CONNECT_NUM_OF_DEFINED_DOMAINS,
	  "CONNECT_NUM_OF_DEFINED_DOMAINS", proc_num_of_defined },
	{ REMOTE_PROC_DOMAIN_RESUME, "DOMAIN_RESUME", proc_resume },
	{ REMOTE_PROC_DOMAIN_SET_AUTOSTART, "DOMAIN_SET_AUTOSTART",
	  proc_set_autostart },
	{ REMOTE_PROC_DOMAIN_SHUTDOWN, "DOMAIN_SHUTDOWN", proc_shutdown },
	{ REMOTE_PROC_DOMAIN_SUSPEND, "DOMAIN_SUSPEND", proc_suspend },
	{ REMOTE_PROC_DOMAIN_UNDEFINE, "DOMAIN_UNDEFINE", proc_undefine },
	{ REMOTE_PROC_CONNECT_LIST_DOMAINS, "CONNECT_LIST_DOMAINS",
	  proc_list_domains },
	{ REMOTE_PROC_CONNECT_NUM_OF_DOMAINS, "CONNECT_NUM_OF_DOMAINS",
	  proc_num_of_domains },
	{ REMOTE_PROC_DOMAIN_GET_SECURITY_LABEL, "DOMAIN_GET_SECURITY_LABEL",
	  proc_get_security_label },
	{ REMOTE_PROC_DOMAIN_IS_ACTIVE, "DOMAIN_IS_ACTIVE", proc_is_active },
	{ REMOTE_PROC_DOMAIN_IS_PERSISTENT, "DOMAIN_IS_PERSISTENT",
	  proc_is_persistent },
	{ REMOTE_PROC_DOMAIN_HAS_MANAGED_SAVE_IMAGE,
	  "DOMAIN_HAS_MANAGED_SAVE_IMAGE", proc_zero_flags },
	{ REMOTE_PROC_DOMAIN_SNAPSHOT_NUM, "DOMAIN_SNAPSHOT_NUM",
	  proc_zero_flags },
	{ REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS, "DOMAIN_CREATE_WITH_FLAGS",
	  proc_create_with_flags },
	{ REMOTE_PROC_DOMAIN_GET_VCPUS_FLAGS, "DOMAIN_GET_VCPUS_FLAGS",
	  proc_get_vcpus_flags },
	{ REMOTE_PROC_DOMAIN_IS_UPDATED, "DOMAIN_IS_UPDATED", proc_is_updated },
	{ REMOTE_PROC_DOMAIN_GET_STATE, "DOMAIN_GET_STATE", proc_get_state },
	{ REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS, "DOMAIN_UNDEFINE_FLAGS",
	  proc_undefine_flags },
	{ REMOTE_PROC_DOMAIN_DESTROY_FLAGS, "DOMAIN_DESTROY_FLAGS",
	  proc_destroy_flags },
	{ REMOTE_PROC_DOMAIN_SHUTDOWN_FLAGS, "DOMAIN_SHUTDOWN_FLAGS",
	  proc_shutdown_flags },
	{ REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS, "CONNECT_LIST_ALL_DOMAINS",
	  proc_list_all },
	{ REMOTE_PROC_DOMAIN_LIST_ALL_SNAPSHOTS, "DOMAIN_LIST_ALL_SNAPSHOTS",
	  proc_list_all_snapshots },
	{ REMOTE_PROC_DOMAIN_DEFINE_XML_FLAGS, "DOMAIN_DEFINE_XML_FLAGS",
	  proc_define_xml_flags },
	{ 0, NULL, NULL },
};
