/*
 * Console streams (see console.h). A stream is identified by its client
 * and the serial of the DOMAIN_OPEN_CONSOLE call, as in libvirt's RPC.
 */
#include "daemon/console.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/dispatch.h"
#include "daemon/protocol.h"
#include "lib/log.h"
#include "lib/util.h"

/* Largest data payload per STREAM packet (libvirt's legacy payload max). */
#define STREAM_CHUNK		(256 * 1024 - 24)
/* Output is dropped for a client that has this much unread. */
#define STREAM_BACKLOG_MAX	(1024 * 1024)

struct console {
	struct ev_source src;	/* first: the epoll data pointer */
	struct domain *dom;	/* NULL once detached */
	int fd;
	uint8_t history[CONSOLE_HISTORY];
	size_t history_len;
	struct client *client;	/* the open stream, or NULL */
	uint32_t serial;
};

static void send_packet(struct daemon *dm, struct client *c, uint32_t serial,
			uint32_t status, const void *data, size_t len,
			const struct vir_error *err)
{
	struct rpc_header h = {
		.prog = REMOTE_PROGRAM, .vers = REMOTE_PROTOCOL_VERSION,
		.proc = REMOTE_PROC_DOMAIN_OPEN_CONSOLE, .type = VIR_NET_STREAM,
		.serial = serial, .status = status,
	};
	struct xdr_writer w;

	xdr_writer_init(&w, RPC_FRAME_MAX);
	rpc_begin_frame(&w, &h);
	if (err) {
		rpc_put_error(&w, err);
	} else if (len) {
		/* Stream payloads are raw bytes, not XDR opaques. */
		size_t at = w.len;

		xdr_put_fixed(&w, data, len);
		w.len = at + len;	/* drop the XDR padding */
	}
	if (rpc_end_frame(&w)) {
		xdr_writer_free(&w);
		return;
	}
	client_queue_async(dm, c, w.buf, w.len);
}

static void send_data(struct daemon *dm, struct console *con,
		      const uint8_t *data, size_t len)
{
	while (con->client && len) {
		size_t n = MIN(len, (size_t)STREAM_CHUNK);

		if (client_backlog(con->client) > STREAM_BACKLOG_MAX)
			return;	/* a client that does not read loses output */
		send_packet(dm, con->client, con->serial, VIR_NET_CONTINUE,
			    data, n, NULL);
		data += n;
		len -= n;
	}
}

static void keep_history(struct console *con, const uint8_t *data,
			 size_t len)
{
	if (len >= CONSOLE_HISTORY) {
		memcpy(con->history, data + len - CONSOLE_HISTORY,
		       CONSOLE_HISTORY);
		con->history_len = CONSOLE_HISTORY;
		return;
	}
	if (con->history_len + len > CONSOLE_HISTORY) {
		size_t drop = con->history_len + len - CONSOLE_HISTORY;

		memmove(con->history, con->history + drop,
			con->history_len - drop);
		con->history_len -= drop;
	}
	memcpy(con->history + con->history_len, data, len);
	con->history_len += len;
}

/*
 * End the open stream, if any, with end-of-file. The client answers with
 * a finish or an abort and waits for our reply, so remember the serial.
 */
static void close_stream(struct daemon *dm, struct console *con)
{
	struct client *c = con->client;

	if (!c)
		return;
	send_packet(dm, c, con->serial, VIR_NET_OK, NULL, 0, NULL);
	if (c->nended_streams == ARRAY_SIZE(c->ended_streams)) {
		memmove(c->ended_streams, c->ended_streams + 1,
			sizeof(c->ended_streams) - sizeof(uint32_t));
		c->nended_streams--;
	}
	c->ended_streams[c->nended_streams++] = con->serial;
	con->client = NULL;
}

/* Was serial a stream we ended? Forgets it. */
static bool take_ended(struct client *c, uint32_t serial)
{
	for (size_t i = 0; i < c->nended_streams; i++) {
		if (c->ended_streams[i] == serial) {
			c->ended_streams[i] =
				c->ended_streams[--c->nended_streams];
			return true;
		}
	}
	return false;
}

static void close_console(struct daemon *dm, struct console *con)
{
	close_stream(dm, con);
	if (con->fd >= 0) {
		server_unwatch(dm, con->fd);
		close(con->fd);
		con->fd = -1;
	}
	if (con->dom) {
		con->dom->console = NULL;
		con->dom = NULL;
	}
	server_defer_free(dm, &con->src);
}

static void console_event(struct daemon *dm, struct ev_source *s,
			  uint32_t events)
{
	struct console *con = (struct console *)s;
	uint8_t buf[16384];
	ssize_t n;

	if (con->fd < 0)
		return;
	for (int i = 0; i < 16; i++) {
		n = recv(con->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			/* vireo closed the serial socket: it is exiting. */
			log_debug("domain '%s': serial socket closed",
				  con->dom ? con->dom->def->name : "?");
			close_console(dm, con);
			return;
		}
		keep_history(con, buf, n);
		send_data(dm, con, buf, n);
	}
}

int console_attach(struct daemon *dm, struct domain *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct console *con;
	int fd, r;

	if (d->console)
		return 0;
	if (!d->def->nchardevs)
		return -ENODEV;
	r = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s.serial",
		     dm->run_dir, d->def->name);
	if (r < 0 || (size_t)r >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		r = -errno;
		log_warn("domain '%s': cannot connect to %s: %s", d->def->name,
			 sa.sun_path, strerror(-r));
		close(fd);
		return r;
	}
	con = calloc(1, sizeof(*con));
	if (!con) {
		close(fd);
		return -ENOMEM;
	}
	con->src.handle = console_event;
	con->fd = fd;
	con->dom = d;
	r = server_watch(dm, fd, EPOLLIN, &con->src);
	if (r) {
		close(fd);
		free(con);
		return r;
	}
	d->console = con;
	return 0;
}

void console_detach(struct daemon *dm, struct domain *d)
{
	if (d->console)
		close_console(dm, d->console);
}

void console_client_gone(struct daemon *dm, struct client *c)
{
	for (struct domain *d = dm->store.head; d; d = d->next)
		if (d->console && d->console->client == c)
			d->console->client = NULL;
}

static struct console *find_stream(struct daemon *dm, struct client *c,
				   uint32_t serial)
{
	for (struct domain *d = dm->store.head; d; d = d->next)
		if (d->console && d->console->client == c &&
		    d->console->serial == serial)
			return d->console;
	return NULL;
}

void console_stream_packet(struct daemon *dm, struct client *c,
			   const struct rpc_header *h,
			   const uint8_t *data, size_t len)
{
	struct console *con = NULL;

	if (h->prog == REMOTE_PROGRAM &&
	    h->proc == REMOTE_PROC_DOMAIN_OPEN_CONSOLE)
		con = find_stream(dm, c, h->serial);
	switch (h->status) {
	case VIR_NET_CONTINUE:
		/* Data for a closed stream is dropped, as libvirtd does. */
		if (con && len && con->fd >= 0 &&
		    send(con->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			log_debug("console input dropped: %s", strerror(errno));
		return;
	case VIR_NET_OK:	/* virStreamFinish */
	case VIR_NET_ERROR:	/* virStreamAbort */
		if (con)
			con->client = NULL;
		else if (h->proc != REMOTE_PROC_DOMAIN_OPEN_CONSOLE ||
			 !take_ended(c, h->serial))
			return;	/* not a stream of ours: ignored, as libvirtd */
		/* The client waits for this answer before it goes on. */
		send_packet(dm, c, h->serial, VIR_NET_OK, NULL, 0, NULL);
		return;
	default:
		return;
	}
}

/* After the OPEN_CONSOLE reply: the recent output, so nothing is missed. */
static void send_history(struct call *call)
{
	struct console *con = call->after_arg;

	if (con->client == call->c)
		send_data(call->d, con, con->history, con->history_len);
}

/* {remote_nonnull_domain dom; remote_string dev_name; unsigned flags;} */
static int proc_open_console(struct call *call)
{
	struct domain *d;
	char *dev = NULL;
	uint32_t flags;
	struct console *con;

	if (call_get_domain(call, &d))
		return -1;
	if (xdr_get_string_opt(call->args, REMOTE_STRING_MAX, &dev) ||
	    xdr_get_u32(call->args, &flags)) {
		free(dev);
		return call_bad_args(call);
	}
	if (call_args_end(call)) {
		free(dev);
		return -1;
	}
	if (dev && strcmp(dev, "serial0") && strcmp(dev, "console0")) {
		vir_error_set(&call->err, VIR_ERR_INTERNAL_ERROR,
			      "cannot find character device %s", dev);
		free(dev);
		return -1;
	}
	free(dev);
	if (flags & ~(VIR_DOMAIN_CONSOLE_FORCE | VIR_DOMAIN_CONSOLE_SAFE)) {
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "unsupported flags (0x%x)", flags);
		return -1;
	}
	if (!domain_active(d)) {
		vir_error_set(&call->err, VIR_ERR_OPERATION_INVALID,
			      "domain is not running");
		return -1;
	}
	if (!d->def->nchardevs) {
		vir_error_set(&call->err, VIR_ERR_OPERATION_FAILED,
			      "domain '%s' has no serial console",
			      d->def->name);
		return -1;
	}
	/* Not connected at start-up (or lost): try again now. */
	if (!d->console && console_attach(call->d, d)) {
		vir_error_set(&call->err, VIR_ERR_OPERATION_FAILED,
			      "cannot connect to the serial console of '%s'",
			      d->def->name);
		return -1;
	}
	con = d->console;
	if (con->client) {
		if (!(flags & VIR_DOMAIN_CONSOLE_FORCE)) {
			vir_error_set(&call->err, VIR_ERR_OPERATION_FAILED,
				      "Active console session exists for this domain");
			return -1;
		}
		close_stream(call->d, con);
	}
	con->client = call->c;
	con->serial = call->serial;
	call->after_reply = send_history;
	call->after_arg = con;
	return 0;
}

const struct proc_entry proc_console_table[] = {
	{ REMOTE_PROC_DOMAIN_OPEN_CONSOLE, "DOMAIN_OPEN_CONSOLE",
	  proc_open_console },
	{ 0, NULL, NULL },
};
