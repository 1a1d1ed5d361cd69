/*
 * Serial consoles: vireod is the one client of each running VM's serial
 * socket (vireo --serial unix:RUN_DIR/NAME.serial) and keeps the last
 * CONSOLE_HISTORY bytes of output. DOMAIN_OPEN_CONSOLE bridges that
 * connection to a libvirt stream: output goes to the client as STREAM
 * CONTINUE packets (history first), the client's STREAM packets are typed
 * input. One stream per domain; VIR_DOMAIN_CONSOLE_FORCE takes it over.
 */
#ifndef VIREO_DAEMON_CONSOLE_H
#define VIREO_DAEMON_CONSOLE_H

#include "daemon/daemon.h"
#include "daemon/rpc.h"

#define CONSOLE_HISTORY		(16 * 1024)

/* Connect to d's serial socket; 0 or -errno (logged, not fatal). */
int console_attach(struct daemon *dm, struct domain *d);
/* d stopped: an open stream gets end-of-file; the socket is closed. */
void console_detach(struct daemon *dm, struct domain *d);
/* c is going away: drop its streams. */
void console_client_gone(struct daemon *dm, struct client *c);
/* A STREAM packet from c (data, finish or abort of a console stream). */
void console_stream_packet(struct daemon *dm, struct client *c,
			   const struct rpc_header *h,
			   const uint8_t *data, size_t len);

#endif
