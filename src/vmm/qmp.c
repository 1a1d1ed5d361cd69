#include "vmm/qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/loop.h"
#include "lib/util.h"
#include "vireo-version.h"

#define QMP_MAX_INPUT (64 * 1024)    /* one command never needs more */
#define QMP_MAX_OUTPUT (1024 * 1024) /* a client that stops reading is dropped */

struct qmp_client {
	const struct qmp_command *cmds;
	void *opaque;
	qmp_write_fn write;
	void *ctx;
	bool negotiated;
	char *in;
	size_t in_len;
	/* Socket side (unused by tests). */
	struct qmp_server *server;
	int fd;
	char *out;
	size_t out_len;
	struct qmp_client *next;
};

struct qmp_server {
	struct loop *loop;
	char *path;
	int fd;
	const struct qmp_command *cmds;
	void *opaque;
	struct qmp_client *clients;
};

static void send_json(struct qmp_client *c, json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);

	if (s) {
		c->write(c->ctx, s, strlen(s));
		c->write(c->ctx, "\r\n", 2);
		free(s);
	}
	json_decref(msg);
}

static void send_error(struct qmp_client *c, json_t *id, const char *cls, const char *desc)
{
	json_t *msg = json_pack("{s:{s:s,s:s}}", "error", "class", cls, "desc", desc);

	if (id)
		json_object_set(msg, "id", id);
	send_json(c, msg);
}

void qmp_client_greet(struct qmp_client *c)
{
	send_json(c, json_pack("{s:{s:{s:{s:i,s:i,s:i},s:s},s:[]}}", "QMP", "version",
			       "qemu", "major", 8, "minor", 0, "micro", 0,
			       "package", "vireo " VIREO_VERSION, "capabilities"));
}

static void dispatch(struct qmp_client *c, json_t *req)
{
	json_t *id, *exec, *args, *ret;
	const char *name, *err = NULL;
	const struct qmp_command *cmd;

	if (!json_is_object(req)) {
		send_error(c, NULL, "GenericError", "QMP input must be a JSON object");
		return;
	}
	id = json_object_get(req, "id");
	exec = json_object_get(req, "execute");
	args = json_object_get(req, "arguments");
	if (!json_is_string(exec)) {
		send_error(c, id, "GenericError", "QMP input lacks member 'execute'");
		return;
	}
	if (args && !json_is_object(args)) {
		send_error(c, id, "GenericError", "QMP input member 'arguments' must be an object");
		return;
	}
	name = json_string_value(exec);
	if (!strcmp(name, "qmp_capabilities")) {
		if (c->negotiated) {
			send_error(c, id, "CommandNotFound",
				   "Capabilities negotiation is already complete, command ignored");
			return;
		}
		c->negotiated = true;
		ret = json_object();
		goto reply;
	}
	if (!c->negotiated) {
		send_error(c, id, "CommandNotFound",
			   "Expecting capabilities negotiation with 'qmp_capabilities'");
		return;
	}
	for (cmd = c->cmds; cmd && cmd->name; cmd++)
		if (!strcmp(cmd->name, name))
			break;
	if (!cmd || !cmd->name) {
		char desc[160];
		snprintf(desc, sizeof(desc), "The command %.100s has not been found", name);
		send_error(c, id, "CommandNotFound", desc);
		return;
	}
	ret = cmd->fn(c->opaque, args, &err);
	if (err) {
		json_decref(ret);
		send_error(c, id, "GenericError", err);
		return;
	}
	if (!ret)
		ret = json_object();
reply: {
		json_t *msg = json_pack("{s:o}", "return", ret);
		if (id)
			json_object_set(msg, "id", id);
		send_json(c, msg);
	}
}

int qmp_client_input(struct qmp_client *c, const char *data, size_t len)
{
	size_t pos = 0;

	if (c->in_len + len > QMP_MAX_INPUT) {
		send_error(c, NULL, "GenericError", "QMP input too long");
		return -1;
	}
	char *in = realloc(c->in, c->in_len + len + 1);
	if (!in)
		return -1;
	c->in = in;
	memcpy(c->in + c->in_len, data, len);
	c->in_len += len;

	while (pos < c->in_len) {
		json_error_t jerr;
		json_t *req;

		/* Skip whitespace between messages. */
		while (pos < c->in_len && strchr(" \t\r\n", c->in[pos]))
			pos++;
		if (pos == c->in_len)
			break;
		req = json_loadb(c->in + pos, c->in_len - pos,
				 JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &jerr);
		if (!req) {
			char *nl;

			if (json_error_code(&jerr) == json_error_premature_end_of_input)
				break;     /* wait for the rest */
			send_error(c, NULL, "GenericError", "JSON parse error");
			/* Resynchronise at the next line. */
			nl = memchr(c->in + pos, '\n', c->in_len - pos);
			pos = nl ? (size_t)(nl - c->in) + 1 : c->in_len;
			continue;
		}
		pos += jerr.position;
		dispatch(c, req);
		json_decref(req);
	}
	memmove(c->in, c->in + pos, c->in_len - pos);
	c->in_len -= pos;
	return 0;
}

struct qmp_client *qmp_client_new(const struct qmp_command *cmds, void *opaque,
				  qmp_write_fn write, void *ctx)
{
	struct qmp_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->cmds = cmds;
	c->opaque = opaque;
	c->write = write;
	c->ctx = ctx;
	c->fd = -1;
	return c;
}

void qmp_client_free(struct qmp_client *c)
{
	if (!c)
		return;
	free(c->in);
	free(c->out);
	free(c);
}

/* ---- sockets ---- */

static void client_close(struct qmp_client *c)
{
	struct qmp_server *s = c->server;
	struct qmp_client **pp;

	for (pp = &s->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	loop_unwatch(s->loop, c->fd);
	close(c->fd);
	qmp_client_free(c);
}

static void client_io(struct loop *l, int fd, short revents, void *opaque);

static void client_flush(struct qmp_client *c)
{
	while (c->out_len) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		memmove(c->out, c->out + n, c->out_len - n);
		c->out_len -= n;
	}
	loop_watch(c->server->loop, c->fd, POLLIN | (c->out_len ? POLLOUT : 0), client_io, c);
}

static void client_write(void *ctx, const char *data, size_t len)
{
	struct qmp_client *c = ctx;
	char *out;

	if (c->out_len + len > QMP_MAX_OUTPUT)
		return;     /* the client stopped reading; client_io drops it */
	out = realloc(c->out, c->out_len + len);
	if (!out)
		return;
	c->out = out;
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	client_flush(c);
}

static void client_io(struct loop *l, int fd, short revents, void *opaque)
{
	struct qmp_client *c = opaque;
	char buf[4096];
	ssize_t n;

	if (revents & POLLOUT)
		client_flush(c);
	if (!(revents & (POLLIN | POLLHUP | POLLERR)))
		return;
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || qmp_client_input(c, buf, n) < 0 || c->out_len >= QMP_MAX_OUTPUT)
		client_close(c);
}

static void server_accept(struct loop *l, int fd, short revents, void *opaque)
{
	struct qmp_server *s = opaque;
	struct qmp_client *c;
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (cfd < 0)
		return;
	c = qmp_client_new(s->cmds, s->opaque, client_write, NULL);
	if (!c) {
		close(cfd);
		return;
	}
	c->ctx = c;
	c->server = s;
	c->fd = cfd;
	c->next = s->clients;
	s->clients = c;
	loop_watch(l, cfd, POLLIN, client_io, c);
	qmp_client_greet(c);
}

struct qmp_server *qmp_server_new(struct loop *loop, const char *path,
				  const struct qmp_command *cmds, void *opaque)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct qmp_server *s;
	int fd, err;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return NULL;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 8) < 0) {
		err = errno;
		close(fd);
		errno = err;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		unlink(path);
		errno = ENOMEM;
		return NULL;
	}
	s->loop = loop;
	s->path = strdup(path);
	s->fd = fd;
	s->cmds = cmds;
	s->opaque = opaque;
	loop_watch(loop, fd, POLLIN, server_accept, s);
	return s;
}

void qmp_server_free(struct qmp_server *s)
{
	if (!s)
		return;
	while (s->clients)
		client_close(s->clients);
	loop_unwatch(s->loop, s->fd);
	close(s->fd);
	unlink(s->path);
	free(s->path);
	free(s);
}

void qmp_server_event(struct qmp_server *s, const char *name, json_t *data)
{
	struct timeval tv;
	json_t *msg;

	gettimeofday(&tv, NULL);
	msg = json_pack("{s:s,s:{s:I,s:I}}", "event", name, "timestamp",
			"seconds", (json_int_t)tv.tv_sec, "microseconds", (json_int_t)tv.tv_usec);
	if (data)
		json_object_set_new(msg, "data", data);
	for (struct qmp_client *c = s->clients; c; c = c->next) {
		if (c->negotiated) {
			json_incref(msg);
			send_json(c, msg);
		}
	}
	json_decref(msg);
}
