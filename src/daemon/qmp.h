/*
 * A small synchronous QMP client for vireo's control socket: connect, read
 * the greeting, negotiate capabilities, run one command, disconnect.
 * Every wait is bounded, so a hung VMM costs a timeout, not the daemon.
 */
#ifndef VIREO_DAEMON_QMP_H
#define VIREO_DAEMON_QMP_H

#include <stdbool.h>

#include <jansson.h>

#include "daemon/virerr.h"

#define QMP_TIMEOUT_MS	5000

/* Run `command` (e.g. "stop"); 0, or -1 with err set. */
int qmp_execute(const char *socket_path, const char *command,
		struct vir_error *err);
/*
 * Run `command` with `args` (a JSON object, or NULL; not stolen). Its
 * "return" value goes to *ret (a new reference) when ret is not NULL.
 */
int qmp_call(const char *socket_path, const char *command, json_t *args,
	     json_t **ret, struct vir_error *err);
/* query-status: *running is false when the VM is paused. */
int qmp_query_running(const char *socket_path, bool *running,
		      struct vir_error *err);
/* Non-blocking probe: 0 if something accepts connections at the path. */
int qmp_probe(const char *socket_path);

#endif
