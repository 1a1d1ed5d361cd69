/*
 * The control socket: a subset of QEMU's machine protocol (QMP) on a UNIX
 * stream socket. Clients get a greeting, must send qmp_capabilities, then
 * run commands; events are broadcast to every client past negotiation.
 * Bad input gets an error reply (GenericError), never a crash.
 */
#ifndef VIREO_VMM_QMP_H
#define VIREO_VMM_QMP_H

#include <jansson.h>
#include <stddef.h>

struct loop;
struct qmp_server;
struct qmp_client;

/*
 * A command handler: returns the "return" value (a new reference; NULL
 * means {}), or sets *err to a one-line description for a GenericError.
 */
typedef json_t *(*qmp_handler)(void *opaque, json_t *args, const char **err);

struct qmp_command {
	const char *name;
	qmp_handler fn;
};

/* Listen on path (replacing a stale socket); NULL with errno on failure. */
struct qmp_server *qmp_server_new(struct loop *loop, const char *path,
				  const struct qmp_command *cmds, void *opaque);
/* Close every client and remove the socket file. */
void qmp_server_free(struct qmp_server *s);
/* Send {"event": name, "data": data, "timestamp": ...}; steals data. */
void qmp_server_event(struct qmp_server *s, const char *name, json_t *data);

/*
 * The protocol engine without sockets, for tests: feed bytes, replies go
 * to write(). A client starts in capabilities-negotiation mode.
 */
typedef void (*qmp_write_fn)(void *ctx, const char *data, size_t len);
struct qmp_client *qmp_client_new(const struct qmp_command *cmds, void *opaque,
				  qmp_write_fn write, void *ctx);
void qmp_client_free(struct qmp_client *c);
void qmp_client_greet(struct qmp_client *c);
/* Returns -1 if the client must be disconnected (input flood). */
int qmp_client_input(struct qmp_client *c, const char *data, size_t len);

#endif
