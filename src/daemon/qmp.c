/*
 * QMP client (see qmp.h). Messages are JSON objects, one per line; the
 * replies we wait for carry "return" or "error", and asynchronous "event"
 * lines in between are skipped.
 */
#include "daemon/qmp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/protocol.h"
#include "lib/util.h"

#define QMP_LINE_MAX	(64 * 1024)

struct qmp_conn {
	int fd;
	char buf[QMP_LINE_MAX];
	size_t len;
	uint64_t deadline_ns;
};

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

int qmp_probe(const char *socket_path)
{
	int fd = connect_unix(socket_path);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int wait_fd(struct qmp_conn *q, short events)
{
	uint64_t now = now_ns();
	struct pollfd p = { .fd = q->fd, .events = events };
	int r;

	if (now >= q->deadline_ns)
		return -ETIMEDOUT;
	r = poll(&p, 1, (int)((q->deadline_ns - now) / 1000000) + 1);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

/* Next complete line as a JSON object (caller decrefs); NULL on error. */
static json_t *read_message(struct qmp_conn *q, int *error)
{
	for (;;) {
		char *nl = memchr(q->buf, '\n', q->len);
		ssize_t n;

		if (nl) {
			json_t *j;
			size_t linelen = nl - q->buf;

			*nl = 0;
			j = json_loads(q->buf, 0, NULL);
			memmove(q->buf, nl + 1, q->len - linelen - 1);
			q->len -= linelen + 1;
			if (j && json_is_object(j))
				return j;
			json_decref(j);
			*error = -EPROTO;
			return NULL;
		}
		if (q->len == sizeof(q->buf)) {
			*error = -EMSGSIZE;
			return NULL;
		}
		*error = wait_fd(q, POLLIN);
		if (*error)
			return NULL;
		n = recv(q->fd, q->buf + q->len, sizeof(q->buf) - q->len, 0);
		if (n == 0) {
			*error = -ECONNRESET;
			return NULL;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			*error = -errno;
			return NULL;
		}
		if (n > 0)
			q->len += n;
	}
}

static int send_all(struct qmp_conn *q, const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t n = send(q->fd, s + off, len - off, MSG_NOSIGNAL);

		if (n < 0) {
			int r;

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			r = wait_fd(q, POLLOUT);
			if (r)
				return r;
			continue;
		}
		off += n;
	}
	return 0;
}

/* Commands after which vireo may exit before its reply is out. */
static bool ends_vm(const char *cmd)
{
	return strcmp(cmd, "system_powerdown") == 0 || strcmp(cmd, "quit") == 0;
}

/*
 * Send {"execute": cmd} and wait for its return or error; the "return"
 * value goes to *ret (a new reference) when ret is not NULL.
 */
static int execute(struct qmp_conn *q, const char *cmd, json_t *args,
		   struct vir_error *err, json_t **ret)
{
	json_t *msg = json_pack("{s:s}", "execute", cmd);
	char *line = NULL, *text = NULL;
	int r = -ENOMEM;

	if (msg && args)
		json_object_set(msg, "arguments", args);
	if (msg)
		line = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	/* One send: vireo acts on the object as soon as it is whole, and
	 * after system_powerdown a fast guest can be gone before a second
	 * send of the line's end. */
	if (line && asprintf(&text, "%s\r\n", line) >= 0) {
		r = send_all(q, text);
		free(text);
	}
	free(line);
	bool sent = r == 0;
	while (!r) {
		json_t *m = read_message(q, &r), *e;

		if (!m)
			break;
		if (json_object_get(m, "return")) {
			if (ret)
				*ret = json_incref(json_object_get(m, "return"));
			json_decref(m);
			return 0;
		}
		e = json_object_get(m, "error");
		if (e) {
			const char *desc = json_string_value(
				json_object_get(e, "desc"));

			vir_error_set(err, VIR_ERR_OPERATION_FAILED,
				      "vireo refused '%s': %s", cmd,
				      desc ? desc : "unknown error");
			json_decref(m);
			return -1;
		}
		json_decref(m);	/* an event: keep waiting */
	}
	if (sent && (r == -ECONNRESET || r == -EPIPE) && ends_vm(cmd))
		return 0;       /* it went down before it could answer */
	vir_error_set(err, r == -ETIMEDOUT ? VIR_ERR_OPERATION_TIMEOUT :
		      VIR_ERR_OPERATION_FAILED,
		      "QMP command '%s' failed: %s", cmd, strerror(-r));
	return -1;
}

static int run_command(const char *socket_path, const char *command,
		       json_t *args, struct vir_error *err, json_t **ret)
{
	struct qmp_conn *q = calloc(1, sizeof(*q));
	json_t *greeting;
	int r = -1;

	if (!q) {
		vir_error_set(err, VIR_ERR_NO_MEMORY, "QMP");
		return -1;
	}
	q->deadline_ns = now_ns() + QMP_TIMEOUT_MS * 1000000ULL;
	q->fd = connect_unix(socket_path);
	if (q->fd < 0) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "cannot connect to the VM's control socket %s: %s",
			      socket_path, strerror(-q->fd));
		free(q);
		return -1;
	}
	greeting = read_message(q, &r);
	if (!greeting || !json_object_get(greeting, "QMP")) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "no QMP greeting on %s", socket_path);
		json_decref(greeting);
		r = -1;
		goto out;
	}
	json_decref(greeting);
	r = execute(q, "qmp_capabilities", NULL, err, NULL);
	if (!r)
		r = execute(q, command, args, err, ret);
out:
	close(q->fd);
	free(q);
	return r ? -1 : 0;
}

int qmp_execute(const char *socket_path, const char *command,
		struct vir_error *err)
{
	return run_command(socket_path, command, NULL, err, NULL);
}

int qmp_call(const char *socket_path, const char *command, json_t *args,
	     json_t **ret, struct vir_error *err)
{
	return run_command(socket_path, command, args, err, ret);
}

int qmp_query_running(const char *socket_path, bool *running,
		      struct vir_error *err)
{
	json_t *ret = NULL;
	const char *status;

	if (run_command(socket_path, "query-status", NULL, err, &ret))
		return -1;
	status = json_string_value(json_object_get(ret, "status"));
	*running = !status || strcmp(status, "paused");
	json_decref(ret);
	return 0;
}
