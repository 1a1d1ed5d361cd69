#include "vmm/chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/loop.h"
#include "lib/util.h"

#define PENDING_MAX 4096
/* --serial unix: output before the first client connects, kept for it. */
#define EARLY_MAX (64 * 1024)
#define RETRY_MS 5
/* How long a guest write waits for a reader whose buffer is full. */
#define STALL_WAIT_MS 1000

struct chardev {
	struct loop *loop;
	enum serial_kind kind;
	int in_fd, out_fd;          /* -1 when absent */
	int listen_fd;              /* SERIAL_UNIX */
	char *path;
	bool raw_tty;
	struct termios saved;
	bool escape;                /* saw Ctrl-A */
	pthread_mutex_t out_lock;
	bool out_stalled;           /* the reader let its buffer fill: drop output */
	bool out_dropped_logged;

	chardev_input_fn input;
	void *input_opaque;
	void (*quit)(void *opaque);
	void *quit_opaque;
	uint8_t pending[PENDING_MAX];   /* typed but not yet taken by the UART */
	size_t npending;
	/*
	 * The guest starts before a management daemon (vireod) has connected
	 * to the socket: its first EARLY_MAX bytes go to the first client
	 * instead of being lost. Later gaps between clients lose output.
	 */
	bool had_client;
	uint8_t *early;
	size_t nearly;
};

static void input_ready(struct loop *l, int fd, short revents, void *opaque);

/* Hand pending bytes to the guest; retry later while its FIFO is full. */
static void deliver(struct chardev *ch)
{
	size_t n = ch->input ? ch->input(ch->input_opaque, ch->pending, ch->npending) : ch->npending;

	memmove(ch->pending, ch->pending + n, ch->npending - n);
	ch->npending -= n;
	if (ch->in_fd >= 0)
		loop_watch(ch->loop, ch->in_fd, ch->npending ? 0 : POLLIN, input_ready, ch);
	if (ch->npending)
		loop_timer(ch->loop, RETRY_MS, input_ready, ch);
}

static void drop_client(struct chardev *ch)
{
	pthread_mutex_lock(&ch->out_lock);
	loop_unwatch(ch->loop, ch->in_fd);
	close(ch->in_fd);
	ch->in_fd = ch->out_fd = -1;
	pthread_mutex_unlock(&ch->out_lock);
}

static void input_ready(struct loop *l, int fd, short revents, void *opaque)
{
	struct chardev *ch = opaque;
	uint8_t buf[PENDING_MAX];
	ssize_t n;

	if (fd < 0 || ch->npending) {   /* timer: retry delivery */
		deliver(ch);
		return;
	}
	n = read(ch->in_fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (ch->kind == SERIAL_UNIX)
			drop_client(ch);
		else
			loop_unwatch(l, ch->in_fd);   /* EOF on stdin: output only */
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		uint8_t c = buf[i];

		if (ch->raw_tty && ch->escape) {
			ch->escape = false;
			if (c == 'x' && ch->quit) {
				ch->quit(ch->quit_opaque);
				return;
			}
			if (c != 0x01 && ch->npending < PENDING_MAX)
				ch->pending[ch->npending++] = 0x01;
		} else if (ch->raw_tty && c == 0x01) {
			ch->escape = true;
			continue;
		}
		if (ch->npending < PENDING_MAX)
			ch->pending[ch->npending++] = c;
	}
	deliver(ch);
}

static void accept_client(struct loop *l, int fd, short revents, void *opaque)
{
	struct chardev *ch = opaque;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (c < 0)
		return;
	if (ch->in_fd >= 0)
		drop_client(ch);    /* the newest client wins, as with QEMU's reconnects */
	pthread_mutex_lock(&ch->out_lock);
	ch->in_fd = ch->out_fd = c;
	if (!ch->had_client && ch->nearly) {
		/* A fresh socket's send buffer takes EARLY_MAX at once. */
		if (write(c, ch->early, ch->nearly) < 0)
			log_warn("serial: early output lost: %s", strerror(errno));
	}
	ch->had_client = true;
	ch->out_stalled = false;
	free(ch->early);
	ch->early = NULL;
	ch->nearly = 0;
	pthread_mutex_unlock(&ch->out_lock);
	loop_watch(l, c, POLLIN, input_ready, ch);
}

static int open_unix(struct chardev *ch, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "--serial unix:%s: path too long", path);
		return -1;
	}
	strcpy(addr.sun_path, path);
	ch->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	unlink(path);
	if (ch->listen_fd < 0 || bind(ch->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(ch->listen_fd, 1) < 0) {
		snprintf(err, errlen, "--serial unix:%s: %s", path, strerror(errno));
		return -1;
	}
	ch->path = strdup(path);
	loop_watch(ch->loop, ch->listen_fd, POLLIN, accept_client, ch);
	return 0;
}

static int open_pty(struct chardev *ch, char *err, size_t errlen)
{
	int master, slave;
	char name[128];
	struct termios t;

	if (openpty(&master, &slave, name, NULL, NULL) < 0) {
		snprintf(err, errlen, "--serial pty: %s", strerror(errno));
		return -1;
	}
	/* Raw, so the guest's bytes pass unchanged; keep the slave open so
	 * the master never sees EIO while no one is attached. */
	tcgetattr(slave, &t);
	cfmakeraw(&t);
	tcsetattr(slave, TCSANOW, &t);
	fcntl(master, F_SETFL, O_NONBLOCK);
	fcntl(master, F_SETFD, FD_CLOEXEC);
	fcntl(slave, F_SETFD, FD_CLOEXEC);
	ch->in_fd = ch->out_fd = master;
	ch->listen_fd = slave;
	fprintf(stderr, "vireo: serial console on %s\n", name);
	loop_watch(ch->loop, master, POLLIN, input_ready, ch);
	return 0;
}

struct chardev *chardev_open(struct loop *loop, enum serial_kind kind, const char *path,
			     char *err, size_t errlen)
{
	struct chardev *ch = calloc(1, sizeof(*ch));

	if (!ch) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ch->loop = loop;
	ch->kind = kind;
	ch->in_fd = ch->out_fd = ch->listen_fd = -1;
	pthread_mutex_init(&ch->out_lock, NULL);
	switch (kind) {
	case SERIAL_STDIO:
		ch->in_fd = STDIN_FILENO;
		ch->out_fd = STDOUT_FILENO;
		if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &ch->saved) == 0) {
			struct termios t = ch->saved;
			cfmakeraw(&t);
			t.c_oflag |= OPOST | ONLCR;   /* keep our own log lines readable */
			tcsetattr(STDIN_FILENO, TCSANOW, &t);
			ch->raw_tty = true;
		}
		fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
		loop_watch(loop, STDIN_FILENO, POLLIN, input_ready, ch);
		break;
	case SERIAL_PTY:
		if (open_pty(ch, err, errlen) < 0)
			goto fail;
		break;
	case SERIAL_UNIX:
		if (open_unix(ch, path, err, errlen) < 0)
			goto fail;
		break;
	case SERIAL_FILE:
		ch->out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (ch->out_fd < 0) {
			snprintf(err, errlen, "--serial file:%s: %s", path, strerror(errno));
			goto fail;
		}
		break;
	case SERIAL_NONE:
		break;
	}
	return ch;
fail:
	chardev_close(ch);
	return NULL;
}

void chardev_close(struct chardev *ch)
{
	if (!ch)
		return;
	loop_timer(ch->loop, -1, input_ready, ch);
	if (ch->raw_tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &ch->saved);
	if (ch->kind == SERIAL_STDIO) {
		loop_unwatch(ch->loop, STDIN_FILENO);
		fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) & ~O_NONBLOCK);
	} else {
		if (ch->in_fd >= 0) {
			loop_unwatch(ch->loop, ch->in_fd);
			close(ch->in_fd);
		} else if (ch->out_fd >= 0) {
			close(ch->out_fd);
		}
		if (ch->listen_fd >= 0) {
			loop_unwatch(ch->loop, ch->listen_fd);
			close(ch->listen_fd);
		}
	}
	if (ch->path)
		unlink(ch->path);
	free(ch->path);
	free(ch->early);
	pthread_mutex_destroy(&ch->out_lock);
	free(ch);
}

void chardev_set_input(struct chardev *ch, chardev_input_fn fn, void *opaque)
{
	ch->input = fn;
	ch->input_opaque = opaque;
}

void chardev_set_quit(struct chardev *ch, void (*fn)(void *opaque), void *opaque)
{
	ch->quit = fn;
	ch->quit_opaque = opaque;
}

void chardev_write(struct chardev *ch, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&ch->out_lock);
	if (ch->out_fd < 0 && ch->kind == SERIAL_UNIX && !ch->had_client) {
		size_t n = MIN(len, EARLY_MAX - ch->nearly);

		if (!ch->early)
			ch->early = malloc(EARLY_MAX);
		if (ch->early && n) {
			memcpy(ch->early + ch->nearly, buf, n);
			ch->nearly += n;
		}
	}
	while (ch->out_fd >= 0 && len) {
		ssize_t n = write(ch->out_fd, buf, len);

		if (n > 0) {
			if (ch->out_stalled)
				log_info("serial: the reader is back; output resumes");
			ch->out_stalled = false;
			buf += n;
			len -= n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/*
		 * A full buffer: the reader is slow (a management daemon
		 * that a loaded host has not scheduled yet: the UART writes
		 * a byte at a time, each a packet of about 1 KiB in the
		 * socket's accounting, so a few hundred bytes fill it) or
		 * not reading at all (a pty nobody has opened). Wait for it a while, as a UART with flow control
		 * would; a reader that stays away loses output, without a
		 * wait per byte, until it reads again.
		 */
		if (n < 0 && errno == EAGAIN && !ch->out_stalled) {
			struct pollfd p = { .fd = ch->out_fd, .events = POLLOUT };

			if (poll(&p, 1, STALL_WAIT_MS) > 0 && (p.revents & POLLOUT))
				continue;
			ch->out_stalled = true;
			if (!ch->out_dropped_logged)
				log_warn("serial: the reader takes no output; dropping it until it does");
			ch->out_dropped_logged = true;
		}
		break;
	}
	pthread_mutex_unlock(&ch->out_lock);
}
