/*
 * The event loop: one epoll set with the listening UNIX socket, a
 * signalfd (SIGCHLD for exited VMs, SIGTERM/SIGINT to stop) and every
 * client. Clients are non-blocking; each has a receive buffer that grows
 * (x4 from 64 KiB, as libvirt) only as far as the frame being received
 * actually needs, up to libvirt's 16 MiB limit, and a queue of outgoing
 * frames. A client whose replies pile up is not read from until it drains
 * them, so a peer that never reads cannot make the daemon grow.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/console.h"
#include "daemon/daemon.h"
#include "daemon/events.h"
#include "daemon/protocol.h"
#include "daemon/rpc.h"
#include "daemon/vm.h"
#include "lib/log.h"
#include "lib/util.h"

/* Stop reading a client while this much is queued for it. */
#define TX_BACKLOG_MAX	(4 * MiB)

struct txbuf {
	struct txbuf *next;
	uint8_t *data;
	size_t len;
	size_t off;
};

/* epoll data: a tag for the two fixed fds, else the client pointer. */
static char listen_tag, signal_tag;

static int server_setup(struct daemon *d);

/*
 * Something accepts connections at the path: a live daemon, whose socket
 * must not be unlinked from under it. A socket file nobody listens on
 * (ECONNREFUSED) is a stale one from a crashed run.
 */
static bool socket_in_use(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool used;

	if (fd < 0)
		return false;
	used = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ||
	       errno == EAGAIN;	/* listening, backlog full */
	close(fd);
	return used;
}

int server_listen(struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(d->socket_path) >= sizeof(sa.sun_path)) {
		log_err("socket path too long: %s", d->socket_path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, d->socket_path);
	if (socket_in_use(&sa)) {
		log_err("%s is in use: another daemon (a libvirtd?) listens there",
			d->socket_path);
		return -EADDRINUSE;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A stale socket from a crashed run: only replace a socket. */
	{
		struct stat st;

		if (lstat(d->socket_path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(d->socket_path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(d->socket_path, 0700) || listen(fd, SOMAXCONN)) {
		int e = errno;

		log_err("cannot listen on %s: %s", d->socket_path, strerror(e));
		close(fd);
		return -e;
	}
	d->listen_fd = fd;
	fd = server_setup(d);
	if (fd)
		log_err("cannot set up the event loop: %s", strerror(-fd));
	return fd;
}

static int epoll_set(struct daemon *d, int op, int fd, uint32_t events,
		     void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(d->epoll_fd, op, fd, &ev) ? -errno : 0;
}

static void client_update_events(struct daemon *d, struct client *c)
{
	bool want_read = !c->closing && c->tx_bytes < TX_BACKLOG_MAX;
	bool want_write = c->tx_head != NULL;
	uint32_t ev = 0;

	if (want_read == c->reading && want_write == c->want_write)
		return;
	c->reading = want_read;
	c->want_write = want_write;
	if (want_read)
		ev |= EPOLLIN;
	if (want_write)
		ev |= EPOLLOUT;
	epoll_set(d, EPOLL_CTL_MOD, c->fd, ev, c);
}

static void client_free(struct daemon *d, struct client *c)
{
	struct txbuf *t, *next;

	console_client_gone(d, c);
	events_client_gone(c);

	for (struct client **pp = &d->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	d->nclients--;
	epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	for (t = c->tx_head; t; t = next) {
		next = t->next;
		free(t->data);
		free(t);
	}
	log_debug("client %lu: closed", (unsigned long)c->id);
	free(c->rx);
	free(c);
}

static void client_event(struct daemon *d, struct ev_source *s, uint32_t ev);

static void accept_clients(struct daemon *d)
{
	for (;;) {
		int fd = accept4(d->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *c;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept: %s", strerror(errno));
			return;
		}
		if (d->nclients >= d->max_clients) {
			log_warn("too many clients (%zu), refusing one",
				 d->nclients);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->src.handle = client_event;
		c->fd = fd;
		c->id = ++d->next_client_id;
		c->reading = true;
		if (epoll_set(d, EPOLL_CTL_ADD, fd, EPOLLIN, c)) {
			close(fd);
			free(c);
			continue;
		}
		c->next = d->clients;
		d->clients = c;
		d->nclients++;
		log_debug("client %lu: connected", (unsigned long)c->id);
	}
}

/* Write queued frames until done or the socket is full; -1 drops c. */
static int client_flush(struct client *c)
{
	while (c->tx_head) {
		struct txbuf *t = c->tx_head;
		ssize_t n = send(c->fd, t->data + t->off, t->len - t->off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -1;
		}
		t->off += n;
		c->tx_bytes -= n;
		if (t->off == t->len) {
			c->tx_head = t->next;
			if (!c->tx_head)
				c->tx_tail = NULL;
			free(t->data);
			free(t);
		}
	}
	return 0;
}

void client_queue(struct daemon *d, struct client *c, uint8_t *buf,
		  size_t len)
{
	struct txbuf *t = calloc(1, sizeof(*t));

	if (!t) {
		free(buf);
		c->closing = true;
		return;
	}
	t->data = buf;
	t->len = len;
	if (c->tx_tail)
		c->tx_tail->next = t;
	else
		c->tx_head = t;
	c->tx_tail = t;
	c->tx_bytes += len;
}

/* Make room for `need` bytes in rx, growing x4 from the initial size. */
static int rx_reserve(struct client *c, size_t need)
{
	size_t cap = c->rx_cap ? c->rx_cap : VIR_NET_MESSAGE_INITIAL;
	uint8_t *nb;

	if (need <= c->rx_cap)
		return 0;
	while (cap < need)
		cap *= 4;
	if (cap > RPC_FRAME_MAX)
		cap = RPC_FRAME_MAX;
	nb = realloc(c->rx, cap);
	if (!nb)
		return -ENOMEM;
	c->rx = nb;
	c->rx_cap = cap;
	return 0;
}

/*
 * Dispatch every complete frame at the start of rx, then keep the rest.
 * Returns 1 to go on reading, 0 to stop (replies pile up, or the client
 * is closing), -1 to drop c.
 */
static int dispatch_buffered(struct daemon *d, struct client *c)
{
	size_t off = 0;
	int r = 1;

	while (r > 0 && c->rx_len - off >= VIR_NET_MESSAGE_LEN_MAX) {
		uint32_t len;

		if (rpc_frame_length(c->rx + off, &len)) {
			log_warn("client %lu: bad frame length, dropping it",
				 (unsigned long)c->id);
			return -1;
		}
		if (c->rx_len - off < len)
			break;
		if (dispatch_frame(d, c, c->rx + off, len) < 0)
			return -1;
		off += len;
		if (c->tx_bytes >= TX_BACKLOG_MAX || c->closing)
			r = 0;
	}
	if (off) {
		memmove(c->rx, c->rx + off, c->rx_len - off);
		c->rx_len -= off;
	}
	/* Give a large buffer back once the big message is done. */
	if (c->rx_cap > VIR_NET_MESSAGE_INITIAL &&
	    c->rx_len <= VIR_NET_MESSAGE_INITIAL) {
		uint8_t *nb = realloc(c->rx, VIR_NET_MESSAGE_INITIAL);

		if (nb) {
			c->rx = nb;
			c->rx_cap = VIR_NET_MESSAGE_INITIAL;
		}
	}
	return r;
}

/*
 * Read what the socket has (as much as fits: several pipelined calls
 * come in with one recv), and dispatch the complete frames. The buffer
 * grows only when a frame longer than it has filled it, by x4 up to
 * libvirt's limit, so memory follows data actually received. Returns 1 to
 * keep reading, 0 when the socket is drained, -1 to drop c.
 */
static int client_read_step(struct daemon *d, struct client *c)
{
	size_t room;
	ssize_t n;
	int r;

	/* Frames kept back while replies piled up go first. */
	r = dispatch_buffered(d, c);
	if (r <= 0)
		return r;
	if (c->rx_len == c->rx_cap &&
	    rx_reserve(c, c->rx_len + VIR_NET_MESSAGE_INITIAL))
		return -1;
	room = c->rx_cap - c->rx_len;
	if (room == 0)
		return -1;	/* cannot happen: frames fit RPC_FRAME_MAX */
	n = recv(c->fd, c->rx + c->rx_len, room, MSG_DONTWAIT);
	if (n == 0)
		return -1;
	if (n < 0) {
		if (errno == EINTR)
			return 1;
		return errno == EAGAIN ? 0 : -1;
	}
	c->rx_len += n;
	r = dispatch_buffered(d, c);
	if (r <= 0)
		return r;
	/* A short read drained the socket; epoll says when there is more. */
	return (size_t)n < room ? 0 : 1;
}

void client_discard_output(struct client *c)
{
	struct txbuf *t, *next;

	for (t = c->tx_head; t; t = next) {
		next = t->next;
		free(t->data);
		free(t);
	}
	c->tx_head = c->tx_tail = NULL;
	c->tx_bytes = 0;
}

size_t client_backlog(const struct client *c)
{
	return c->tx_bytes;
}

/*
 * From outside the client's own handler: queue, then try to write now so
 * the data does not wait for the client's next event. A failed write only
 * marks the client closing; it is freed from its own handler.
 */
void client_queue_async(struct daemon *d, struct client *c, uint8_t *buf,
			size_t len)
{
	client_queue(d, c, buf, len);
	/* On failure the client's own handler sees the error and drops it. */
	if (client_flush(c))
		c->closing = true;
	client_update_events(d, c);
}

int server_watch(struct daemon *d, int fd, uint32_t events,
		 struct ev_source *s)
{
	return epoll_set(d, EPOLL_CTL_ADD, fd, events, s);
}

void server_unwatch(struct daemon *d, int fd)
{
	epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
}

void server_defer_free(struct daemon *d, struct ev_source *s)
{
	s->handle = NULL;
	s->next_dead = d->graveyard;
	d->graveyard = s;
}

static void free_graveyard(struct daemon *d)
{
	while (d->graveyard) {
		struct ev_source *s = d->graveyard;

		d->graveyard = s->next_dead;
		free(s);
	}
}

static void client_event(struct daemon *d, struct ev_source *s, uint32_t ev)
{
	struct client *c = (struct client *)s;
	int r = 1;

	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		/* Bounded so one busy client cannot starve the others. */
		for (int i = 0; i < 64 && r > 0 && c->reading; i++)
			r = client_read_step(d, c);
	}
	if (r >= 0 && client_flush(c))
		r = -1;
	/* Replies drained: calls already received but kept back go on. */
	if (r >= 0 && c->rx_len && !c->closing &&
	    c->tx_bytes < TX_BACKLOG_MAX) {
		if (dispatch_buffered(d, c) < 0 || client_flush(c))
			r = -1;
	}
	if (r >= 0 && c->closing && !c->tx_head)
		r = -1;
	if (r < 0) {
		client_free(d, c);
		return;
	}
	client_update_events(d, c);
}

static void signal_event(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			vm_reap(d);
		} else {
			log_info("signal %u: stopping", si.ssi_signo);
			d->stopping = true;
		}
	}
}

/*
 * The signalfd and the epoll set exist from server_listen() on, so VMs
 * found again (vm_reattach_all) or autostarted before server_run() can
 * register their fds.
 */
static int server_setup(struct daemon *d)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	d->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (d->signal_fd < 0 || d->epoll_fd < 0)
		return -errno;
	if (epoll_set(d, EPOLL_CTL_ADD, d->listen_fd, EPOLLIN, &listen_tag) ||
	    epoll_set(d, EPOLL_CTL_ADD, d->signal_fd, EPOLLIN, &signal_tag))
		return -errno;
	return 0;
}

int server_run(struct daemon *d)
{
	struct epoll_event evs[64];

	/* Children that exited before the loop ran. */
	vm_reap(d);

	while (!d->stopping) {
		int n = epoll_wait(d->epoll_fd, evs, ARRAY_SIZE(evs), -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		bool pending_accept = false;

		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &listen_tag)
				pending_accept = true;
			else if (p == &signal_tag)
				signal_event(d);
			else if (((struct ev_source *)p)->handle)
				((struct ev_source *)p)->handle(d, p,
								evs[i].events);
		}
		free_graveyard(d);
		/* After the batch's hang-ups, so they free their slots first. */
		if (pending_accept)
			accept_clients(d);
	}
	return 0;
}

void server_shutdown(struct daemon *d)
{
	while (d->clients)
		client_free(d, d->clients);
	/* What vm_stop_all() closed after the loop ended. */
	free_graveyard(d);
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		unlink(d->socket_path);
		d->listen_fd = -1;
	}
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	if (d->epoll_fd >= 0)
		close(d->epoll_fd);
	d->signal_fd = d->epoll_fd = -1;
}
