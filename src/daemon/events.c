/*
 * Lifecycle event registrations and delivery (see events.h). Events are
 * asynchronous MESSAGE frames (serial 0) queued after whatever reply is
 * being built, so a client sees "start" succeed before the event about it
 * in most cases; libvirt makes no promise about that order either.
 */
#include "daemon/events.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/dispatch.h"
#include "daemon/protocol.h"
#include "daemon/rpc.h"
#include "lib/log.h"

/* virDomainEventID values go up to about 30; leave room for newer ones. */
#define EVENT_ID_MAX		64
#define EVENT_ID_LIFECYCLE	0

enum cb_kind {
	CB_CALLBACK,	/* CALLBACK_REGISTER_ANY: messages name the callback */
	CB_LEGACY,	/* REGISTER / REGISTER_ANY: plain lifecycle messages */
};

struct event_cb {
	int id;
	int kind;
	int event_id;
	bool has_dom;
	uint8_t uuid[VIR_UUID_BUFLEN];
};

static struct event_cb *add_cb(struct call *call)
{
	struct client *c = call->c;
	struct event_cb *n;

	if (c->nevent_cbs >= EVENT_CALLBACKS_MAX) {
		vir_error_set(&call->err, VIR_ERR_OPERATION_FAILED,
			      "too many event callbacks on this connection (%d)",
			      EVENT_CALLBACKS_MAX);
		return NULL;
	}
	n = realloc(c->event_cbs, (c->nevent_cbs + 1) * sizeof(*n));
	if (!n) {
		vir_error_set(&call->err, VIR_ERR_NO_MEMORY, "event callback");
		return NULL;
	}
	c->event_cbs = n;
	n = &c->event_cbs[c->nevent_cbs++];
	memset(n, 0, sizeof(*n));
	n->id = ++c->next_callback_id;
	return n;
}

static void del_cb(struct client *c, size_t i)
{
	c->event_cbs[i] = c->event_cbs[--c->nevent_cbs];
}

static struct event_cb *find_legacy(struct client *c, int event_id)
{
	for (size_t i = 0; i < c->nevent_cbs; i++)
		if (c->event_cbs[i].kind == CB_LEGACY &&
		    c->event_cbs[i].event_id == event_id)
			return &c->event_cbs[i];
	return NULL;
}

static int check_event_id(struct call *call, int32_t id)
{
	if (id >= 0 && id < EVENT_ID_MAX)
		return 0;
	vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
		      "unsupported event ID %d", id);
	return -1;
}

/* CALLBACK_REGISTER_ANY: {int eventID; remote_domain dom;} -> {callbackID} */
static int proc_callback_register_any(struct call *call)
{
	int32_t event_id;
	uint32_t present;
	char *name = NULL;
	uint8_t uuid[VIR_UUID_BUFLEN];
	int32_t id;
	struct event_cb *cb;

	if (xdr_get_i32(call->args, &event_id) ||
	    xdr_get_u32(call->args, &present) || present > 1)
		return call_bad_args(call);
	if (present) {
		if (xdr_get_string(call->args, REMOTE_STRING_MAX, &name) ||
		    xdr_get_fixed(call->args, uuid, sizeof(uuid)) ||
		    xdr_get_i32(call->args, &id)) {
			free(name);
			return call_bad_args(call);
		}
		free(name);
	}
	if (call_args_end(call) || check_event_id(call, event_id))
		return -1;
	cb = add_cb(call);
	if (!cb)
		return -1;
	cb->kind = CB_CALLBACK;
	cb->event_id = event_id;
	cb->has_dom = present;
	if (present)
		memcpy(cb->uuid, uuid, sizeof(uuid));
	xdr_put_i32(call->ret, cb->id);
	return 0;
}

static int proc_callback_deregister_any(struct call *call)
{
	int32_t id;
	struct client *c = call->c;

	if (xdr_get_i32(call->args, &id) || call_args_end(call))
		return call_bad_args(call);
	for (size_t i = 0; i < c->nevent_cbs; i++) {
		if (c->event_cbs[i].kind == CB_CALLBACK &&
		    c->event_cbs[i].id == id) {
			del_cb(c, i);
			return 0;
		}
	}
	vir_error_set(&call->err, VIR_ERR_RPC,
		      "domain event callback %d not registered", id);
	return -1;
}

static int legacy_register(struct call *call, int32_t event_id)
{
	struct event_cb *cb;

	if (check_event_id(call, event_id))
		return -1;
	if (find_legacy(call->c, event_id)) {
		vir_error_set(&call->err, VIR_ERR_RPC,
			      "domain event %d already registered", event_id);
		return -1;
	}
	cb = add_cb(call);
	if (!cb)
		return -1;
	cb->kind = CB_LEGACY;
	cb->event_id = event_id;
	return 0;
}

static int legacy_deregister(struct call *call, int32_t event_id)
{
	struct event_cb *cb = find_legacy(call->c, event_id);

	if (!cb) {
		vir_error_set(&call->err, VIR_ERR_RPC,
			      "domain event %d not registered", event_id);
		return -1;
	}
	del_cb(call->c, cb - call->c->event_cbs);
	return 0;
}

/* REGISTER_ANY / DEREGISTER_ANY: {int eventID;}, void */
static int proc_register_any(struct call *call)
{
	int32_t event_id;

	if (xdr_get_i32(call->args, &event_id) || call_args_end(call))
		return call_bad_args(call);
	return legacy_register(call, event_id);
}

static int proc_deregister_any(struct call *call)
{
	int32_t event_id;

	if (xdr_get_i32(call->args, &event_id) || call_args_end(call))
		return call_bad_args(call);
	return legacy_deregister(call, event_id);
}

/* REGISTER / DEREGISTER: void -> {int cb_registered;} (lifecycle only) */
static int proc_register(struct call *call)
{
	if (call_args_end(call) ||
	    legacy_register(call, EVENT_ID_LIFECYCLE))
		return -1;
	xdr_put_i32(call->ret, 1);
	return 0;
}

static int proc_deregister(struct call *call)
{
	if (call_args_end(call) ||
	    legacy_deregister(call, EVENT_ID_LIFECYCLE))
		return -1;
	xdr_put_i32(call->ret, 0);
	return 0;
}

static void send_event(struct daemon *dm, struct client *c,
		       const struct event_cb *cb, const struct domain *d,
		       int event, int detail)
{
	struct rpc_header h = {
		.prog = REMOTE_PROGRAM, .vers = REMOTE_PROTOCOL_VERSION,
		.type = VIR_NET_MESSAGE, .serial = 0, .status = VIR_NET_OK,
	};
	struct xdr_writer w;

	h.proc = cb->kind == CB_CALLBACK ?
		 REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE :
		 REMOTE_PROC_DOMAIN_EVENT_LIFECYCLE;
	xdr_writer_init(&w, RPC_FRAME_MAX);
	rpc_begin_frame(&w, &h);
	if (cb->kind == CB_CALLBACK)
		xdr_put_i32(&w, cb->id);
	xdr_put_string(&w, d->def->name);
	xdr_put_fixed(&w, d->def->uuid, VIR_UUID_BUFLEN);
	xdr_put_i32(&w, d->id);
	xdr_put_i32(&w, event);
	xdr_put_i32(&w, detail);
	if (rpc_end_frame(&w)) {
		xdr_writer_free(&w);
		return;
	}
	client_queue_async(dm, c, w.buf, w.len);
}

void domain_event(struct daemon *dm, const struct domain *d, int event,
		  int detail)
{
	log_debug("domain '%s': event %d detail %d", d->def->name, event,
		  detail);
	for (struct client *c = dm->clients; c; c = c->next) {
		if (!c->opened || c->closing)
			continue;
		for (size_t i = 0; i < c->nevent_cbs; i++) {
			const struct event_cb *cb = &c->event_cbs[i];

			if (cb->event_id != EVENT_ID_LIFECYCLE)
				continue;
			if (cb->has_dom && memcmp(cb->uuid, d->def->uuid,
						  VIR_UUID_BUFLEN))
				continue;
			send_event(dm, c, cb, d, event, detail);
		}
	}
}

void events_client_gone(struct client *c)
{
	free(c->event_cbs);
	c->event_cbs = NULL;
	c->nevent_cbs = 0;
}

const struct proc_entry proc_event_table[] = {
	{ REMOTE_PROC_CONNECT_DOMAIN_EVENT_REGISTER,
	  "CONNECT_DOMAIN_EVENT_REGISTER", proc_register },
	{ REMOTE_PROC_CONNECT_DOMAIN_EVENT_DEREGISTER,
	  "CONNECT_DOMAIN_EVENT_DEREGISTER", proc_deregister },
	{ REMOTE_PROC_CONNECT_DOMAIN_EVENT_REGISTER_ANY,
	  "CONNECT_DOMAIN_EVENT_REGISTER_ANY", proc_register_any },
	{ REMOTE_PROC_CONNECT_DOMAIN_EVENT_DEREGISTER_ANY,
	  "CONNECT_DOMAIN_EVENT_DEREGISTER_ANY", proc_deregister_any },
	{ REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
	  "CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY",
	  proc_callback_register_any },
	{ REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY,
	  "CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY",
	  proc_callback_deregister_any },
	{ 0, NULL, NULL },
};
