/*
 * From a complete frame to a reply: header checks, the keepalive program,
 * the remote program's procedure table, and libvirt-style errors for
 * everything that goes wrong (unknown program or procedure, undecodable
 * arguments, calls before CONNECT_OPEN). Every procedure number received
 * is logged at debug level, which is how the set virsh needs was found.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/console.h"
#include "daemon/dispatch.h"
#include "daemon/domain_xml.h"
#include "daemon/proc_iface.h"
#include "daemon/proc_network.h"
#include "daemon/protocol.h"
#include "daemon/rpc.h"
#include "lib/log.h"
#include "lib/util.h"

int call_bad_args(struct call *call)
{
	vir_error_set(&call->err, VIR_ERR_RPC,
		      "Unable to decode message payload");
	return -1;
}

int call_args_end(struct call *call)
{
	return xdr_reader_finish(call->args) ? call_bad_args(call) : 0;
}

int call_get_domain(struct call *call, struct domain **out)
{
	char *name = NULL;
	uint8_t uuid[VIR_UUID_BUFLEN];
	int32_t id;
	char ustr[37];
	struct domain *d;

	if (xdr_get_string(call->args, REMOTE_STRING_MAX, &name) ||
	    xdr_get_fixed(call->args, uuid, sizeof(uuid)) ||
	    xdr_get_i32(call->args, &id)) {
		free(name);
		return call_bad_args(call);
	}
	d = store_find_uuid(&call->d->store, uuid);
	if (!d) {
		uuid_format(uuid, ustr);
		vir_error_set(&call->err, VIR_ERR_NO_DOMAIN,
			      "no domain with matching uuid '%s' (%s)", ustr,
			      name);
		free(name);
		return -1;
	}
	free(name);
	*out = d;
	return 0;
}

int call_get_domain_only(struct call *call, struct domain **d)
{
	if (call_get_domain(call, d))
		return -1;
	return call_args_end(call);
}

int call_get_domain_flags(struct call *call, struct domain **d,
			  uint32_t known, uint32_t *flags)
{
	if (call_get_domain(call, d))
		return -1;
	if (xdr_get_u32(call->args, flags) || call_args_end(call))
		return call_bad_args(call);
	if (*flags & ~known) {
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "unsupported flags (0x%x)", *flags & ~known);
		return -1;
	}
	return 0;
}

void call_put_domain(struct call *call, const struct domain *d)
{
	xdr_put_string(call->ret, d->def->name);
	xdr_put_fixed(call->ret, d->def->uuid, VIR_UUID_BUFLEN);
	xdr_put_i32(call->ret, d->id);
}

/* Procedures a client may call before CONNECT_OPEN (as libvirtd). */
static bool allowed_before_open(int proc)
{
	return proc == REMOTE_PROC_CONNECT_OPEN ||
	       proc == REMOTE_PROC_CONNECT_CLOSE ||
	       proc == REMOTE_PROC_AUTH_LIST ||
	       proc == REMOTE_PROC_CONNECT_SUPPORTS_FEATURE;
}

static const struct proc_entry *find_proc(int proc)
{
	const struct proc_entry *tables[] = { proc_connect_table,
					      proc_domain_table,
					      proc_domain_live_table,
					      proc_event_table,
					      proc_console_table,
					      proc_network_table,
					      proc_iface_table };

	for (size_t t = 0; t < ARRAY_SIZE(tables); t++)
		for (const struct proc_entry *e = tables[t]; e->fn; e++)
			if (e->proc == proc)
				return e;
	return NULL;
}

static void queue_writer(struct daemon *d, struct client *c,
			 struct xdr_writer *w)
{
	client_queue(d, c, w->buf, w->len);
	w->buf = NULL;
	w->len = w->cap = 0;
}

static void reply_error(struct daemon *d, struct client *c,
			const struct rpc_header *h, const struct vir_error *err)
{
	struct xdr_writer w;

	xdr_writer_init(&w, RPC_FRAME_MAX);
	if (rpc_error_frame(&w, h, err)) {
		xdr_writer_free(&w);
		c->closing = true;
		return;
	}
	queue_writer(d, c, &w);
}

static void keepalive(struct daemon *d, struct client *c,
		      const struct rpc_header *h)
{
	struct rpc_header pong = {
		.prog = KEEPALIVE_PROGRAM, .vers = KEEPALIVE_PROTOCOL_VERSION,
		.proc = KEEPALIVE_PROC_PONG, .type = VIR_NET_MESSAGE,
		.serial = 0, .status = VIR_NET_OK,
	};
	struct xdr_writer w;

	if (h->type != VIR_NET_MESSAGE || h->proc != KEEPALIVE_PROC_PING) {
		log_debug("client %lu: keepalive proc %d type %u ignored",
			  (unsigned long)c->id, h->proc, h->type);
		return;
	}
	log_debug("client %lu: keepalive PING", (unsigned long)c->id);
	xdr_writer_init(&w, RPC_FRAME_MAX);
	rpc_begin_frame(&w, &pong);
	if (rpc_end_frame(&w)) {
		xdr_writer_free(&w);
		return;
	}
	queue_writer(d, c, &w);
}

static void remote_call(struct daemon *d, struct client *c,
			const struct rpc_header *h, struct xdr_reader *args)
{
	const struct proc_entry *e = find_proc(h->proc);
	struct rpc_header rh = *h;
	struct xdr_writer w;
	struct call call = { .d = d, .c = c, .args = args, .ret = &w,
			     .serial = h->serial };
	int r;

	log_debug("client %lu: call %d (%s) serial %u", (unsigned long)c->id,
		  h->proc, e ? e->name : "unknown", h->serial);
	if (!e) {
		const char *api = unsupported_api_name(h->proc);

		/* As libvirtd: the API a driver lacks, else the number. */
		if (api)
			vir_error_set(&call.err, VIR_ERR_NO_SUPPORT, "%s", api);
		else
			vir_error_set(&call.err, VIR_ERR_NO_SUPPORT,
				      "unknown procedure: %d", h->proc);
		reply_error(d, c, h, &call.err);
		return;
	}
	if (!c->opened && !allowed_before_open(h->proc)) {
		vir_error_set(&call.err, VIR_ERR_INTERNAL_ERROR,
			      "connection not open");
		reply_error(d, c, h, &call.err);
		return;
	}
	rh.type = VIR_NET_REPLY;
	rh.status = VIR_NET_OK;
	xdr_writer_init(&w, RPC_FRAME_MAX);
	rpc_begin_frame(&w, &rh);
	r = e->fn(&call);
	if (r == 0 && rpc_end_frame(&w)) {
		vir_error_set(&call.err, VIR_ERR_RPC,
			      "reply of procedure %d is too large", h->proc);
		r = -1;
	}
	if (r) {
		xdr_writer_free(&w);
		if (!vir_error_isset(&call.err))
			vir_error_set(&call.err, VIR_ERR_INTERNAL_ERROR,
				      "procedure %d failed", h->proc);
		log_debug("client %lu: call %d failed: %s",
			  (unsigned long)c->id, h->proc, call.err.message);
		reply_error(d, c, h, &call.err);
		return;
	}
	queue_writer(d, c, &w);
	if (call.after_reply)
		call.after_reply(&call);
}

int dispatch_frame(struct daemon *d, struct client *c, const uint8_t *frame,
		   size_t len)
{
	struct xdr_reader r;
	struct rpc_header h;
	struct vir_error err = { 0 };

	xdr_reader_init(&r, frame + VIR_NET_MESSAGE_LEN_MAX,
			len - VIR_NET_MESSAGE_LEN_MAX);
	if (rpc_decode_header(&r, &h))
		return -1;	/* cannot happen: the length was checked */

	if (h.prog == KEEPALIVE_PROGRAM &&
	    h.vers == KEEPALIVE_PROTOCOL_VERSION) {
		keepalive(d, c, &h);
		return 0;
	}
	if (h.prog != REMOTE_PROGRAM || h.vers != REMOTE_PROTOCOL_VERSION) {
		log_debug("client %lu: unknown program %#x version %u",
			  (unsigned long)c->id, h.prog, h.vers);
		if (h.type == VIR_NET_CALL) {
			vir_error_set(&err, VIR_ERR_RPC,
				      "Cannot find program %d version %d",
				      (int)h.prog, (int)h.vers);
			reply_error(d, c, &h, &err);
		}
		return 0;
	}
	switch (h.type) {
	case VIR_NET_CALL:
		if (h.status != VIR_NET_OK) {
			vir_error_set(&err, VIR_ERR_RPC,
				      "Unexpected message status %u", h.status);
			reply_error(d, c, &h, &err);
			return 0;
		}
		remote_call(d, c, &h, &r);
		return 0;
	case VIR_NET_CALL_WITH_FDS:
		vir_error_set(&err, VIR_ERR_RPC,
			      "file descriptor passing is not supported");
		reply_error(d, c, &h, &err);
		return 0;
	case VIR_NET_STREAM:
		if (c->opened)
			console_stream_packet(d, c, &h, r.buf + r.pos,
					      xdr_remaining(&r));
		return 0;
	default:
		/* Stray replies and messages: nothing to answer. */
		log_debug("client %lu: message type %u proc %d ignored",
			  (unsigned long)c->id, h.type, h.proc);
		return 0;
	}
}
