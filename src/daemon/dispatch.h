/*
 * Internal interface between the RPC dispatcher (dispatch.c) and the
 * procedure implementations (proc_connect.c, proc_domain.c).
 *
 * A procedure decodes all of its arguments, calls call_args_end() (which
 * refuses trailing bytes), and only then acts. It writes its return
 * structure to call->ret and returns 0, or returns -1 with call->err set.
 */
#ifndef VIREO_DAEMON_DISPATCH_H
#define VIREO_DAEMON_DISPATCH_H

#include "daemon/daemon.h"
#include "daemon/virerr.h"
#include "daemon/xdr.h"

struct call {
	struct daemon *d;
	struct client *c;
	struct xdr_reader *args;
	struct xdr_writer *ret;
	struct vir_error err;
	uint32_t serial;	/* of the call: names a stream it opens */
	/* Run once the reply is queued (a stream's first data). */
	void (*after_reply)(struct call *call);
	void *after_arg;
};

typedef int (*proc_fn)(struct call *call);

struct proc_entry {
	int proc;
	const char *name;
	proc_fn fn;
};

/* -1 with VIR_ERR_RPC set: the arguments did not decode. */
int call_bad_args(struct call *call);
/* 0 if the arguments were consumed exactly, else call_bad_args(). */
int call_args_end(struct call *call);

/* Decode a remote_nonnull_domain and look it up by UUID (NO_DOMAIN). */
int call_get_domain(struct call *call, struct domain **out);
/* {remote_nonnull_domain dom;} and nothing else. */
int call_get_domain_only(struct call *call, struct domain **d);
/* {dom; unsigned int flags;}, flags outside `known` refused (INVALID_ARG). */
int call_get_domain_flags(struct call *call, struct domain **d,
			  uint32_t known, uint32_t *flags);
/* Encode a remote_nonnull_domain. */
void call_put_domain(struct call *call, const struct domain *d);

extern const struct proc_entry proc_connect_table[];
extern const struct proc_entry proc_domain_table[];
extern const struct proc_entry proc_event_table[];
extern const struct proc_entry proc_console_table[];
extern const struct proc_entry proc_domain_live_table[];

/*
 * The libvirt API behind a procedure number vireod knows of but does not
 * implement ("virDomainSave"), or NULL (proc_unsupported.c).
 */
const char *unsupported_api_name(int proc);

/* Host facts for NODE_GET_INFO and the capabilities XML (proc_connect.c). */
char *host_capabilities_xml(struct daemon *d);

#endif
