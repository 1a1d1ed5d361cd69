/*
 * libFuzzer target: vireod's procedure argument decoding. Each input is
 * one message to an open connection:
 *
 *	byte 0		kind: bit 0 clear = a CALL, set = a STREAM packet
 *			(status = (kind >> 1) % 3)
 *	bytes 1..4	procedure number (big-endian)
 *	rest		the arguments (or stream data)
 *
 * It goes through dispatch_frame() like a message off the socket, so the
 * XDR decoders, the procedures behind them and the domain XML parser all
 * see hostile bytes. Procedures that would start processes (CREATE*: a
 * definition may name any <emulator>) and the network procedures (which
 * create host devices) are not called. Definitions are stored in a
 * scratch directory and undefined after each input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/dispatch.h"
#include "daemon/protocol.h"
#include "daemon/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct daemon dm;
static struct client cl;
static int peer = -1;

static char dir[] = "/dev/shm/vireod-fuzz-XXXXXX";

/* Definitions are undefined after each input: only empty dirs remain. */
static void cleanup(void)
{
	char p[64];

	snprintf(p, sizeof(p), "%s/domains", dir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/autostart", dir);
	rmdir(p);
	rmdir(dir);
}

static int setup(void)
{
	char run[64];
	int sv[2];

	/* tmpfs when there is one: every define is fsynced. */
	if (!mkdtemp(dir)) {
		memcpy(dir, "/tmp/vireod", 11);
		memmove(dir + 11, "-fuzz-XXXXXX", 13);
		if (!mkdtemp(dir))
			return -1;
	}
	atexit(cleanup);
	snprintf(run, sizeof(run), "%s/run", dir);
	dm.state_dir = dir;
	dm.run_dir = strdup(run);
	dm.socket_path = "/nonexistent/sock";
	dm.vireo_path = "/nonexistent/vireo";
	dm.max_clients = 1;
	dm.listen_fd = dm.epoll_fd = dm.signal_fd = -1;
	if (store_init(&dm.store, dir))
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv))
		return -1;
	cl.fd = sv[0];
	peer = sv[1];
	cl.id = 1;
	cl.opened = true;
	dm.clients = &cl;
	dm.nclients = 1;
	return 0;
}

static bool in_table(const struct proc_entry *t, int proc)
{
	for (; t->fn; t++)
		if (t->proc == proc)
			return true;
	return false;
}

static bool allowed(int proc)
{
	if (proc == REMOTE_PROC_DOMAIN_CREATE ||
	    proc == REMOTE_PROC_DOMAIN_CREATE_XML ||
	    proc == REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS)
		return false;
	/* Unknown numbers exercise the error path; networks are excluded. */
	return in_table(proc_connect_table, proc) ||
	       in_table(proc_domain_table, proc) ||
	       in_table(proc_domain_live_table, proc) ||
	       in_table(proc_event_table, proc) ||
	       in_table(proc_console_table, proc) || proc < 0 || proc > 450;
}

static void reset(void)
{
	uint8_t sink[65536];
	struct domain *d, *next;

	client_discard_output(&cl);
	while (read(peer, sink, sizeof(sink)) > 0)
		;
	for (d = dm.store.head; d; d = next) {
		struct vir_error err = { 0 };

		next = d->next;
		if (d->persistent)
			store_undefine(&dm.store, d, &err);
	}
	cl.closing = false;
	cl.opened = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct rpc_header h = {
		.prog = REMOTE_PROGRAM, .vers = REMOTE_PROTOCOL_VERSION,
		.serial = 7, .status = VIR_NET_OK, .type = VIR_NET_CALL,
	};
	struct xdr_writer w;

	if (!ready) {
		if (setup())
			abort();
		ready = true;
	}
	if (size < 5 || size > 1024 * 1024)
		return 0;
	h.proc = (int32_t)((uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 |
			   (uint32_t)data[3] << 8 | data[4]);
	if (data[0] & 1) {
		h.type = VIR_NET_STREAM;
		h.status = (data[0] >> 1) % 3;
	} else if (!allowed(h.proc)) {
		return 0;
	}
	xdr_writer_init(&w, RPC_FRAME_MAX);
	rpc_begin_frame(&w, &h);
	xdr_put_fixed(&w, data + 5, size - 5);
	w.len = VIR_NET_MESSAGE_LEN_MAX + VIR_NET_MESSAGE_HEADER_MAX + size - 5;
	if (!rpc_end_frame(&w))
		dispatch_frame(&dm, &cl, w.buf, w.len);
	xdr_writer_free(&w);
	reset();
	return 0;
}
