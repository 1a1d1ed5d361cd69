/*
 * vireod's shared state: options, the domain store and the server. One
 * thread runs everything from the event loop in server.c.
 */
#ifndef VIREO_DAEMON_DAEMON_H
#define VIREO_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/domain_store.h"
#include "daemon/ev_source.h"

struct client;
struct daemon;
struct console;
struct event_cb;

struct daemon {
	char *state_dir;	/* persistent XML and autostart links */
	char *run_dir;		/* control sockets, logs */
	char *socket_path;	/* the libvirt RPC socket */
	char *vireo_path;	/* the VMM binary */
	char *accel;		/* --accel passed to vireo, or NULL (auto) */
	size_t max_clients;
	bool session;		/* not root: libvirt's session mode */
	struct domain_store store;
	int listen_fd;
	int epoll_fd;
	int signal_fd;
	bool stopping;
	struct client *clients;
	size_t nclients;
	uint64_t next_client_id;
	/* Sources closed during an epoll batch: freed after it. */
	struct ev_source *graveyard;
};

/* Per-connection state the dispatcher uses. */
struct client {
	struct ev_source src;	/* first: the epoll data pointer */
	struct client *next;
	uint64_t id;
	int fd;
	bool opened;		/* CONNECT_OPEN done */
	bool closing;		/* CONNECT_CLOSE: drop after flushing */
	bool want_write;	/* EPOLLOUT registered */
	bool reading;		/* EPOLLIN registered */
	uint8_t *rx;
	size_t rx_len;
	size_t rx_cap;
	struct txbuf *tx_head, *tx_tail;
	size_t tx_bytes;
	/* Console streams we ended whose finish/abort is still to answer. */
	uint32_t ended_streams[8];
	size_t nended_streams;
	struct event_cb *event_cbs;	/* registered event callbacks */
	size_t nevent_cbs;
	int next_callback_id;
};

/* server.c */
int server_listen(struct daemon *d);
int server_run(struct daemon *d);
void server_shutdown(struct daemon *d);
/* Queue a complete frame (takes buf); the client is dropped on failure. */
void client_queue(struct daemon *d, struct client *c, uint8_t *buf,
		  size_t len);
/* Queue a frame outside a client's own event (events, console data). */
void client_queue_async(struct daemon *d, struct client *c, uint8_t *buf,
			size_t len);
/* Drop everything queued for c (tests and fuzzers without a peer). */
void client_discard_output(struct client *c);
/* Bytes queued for c and not yet written. */
size_t client_backlog(const struct client *c);
/* Add or remove another fd in the event loop; 0 or -errno. */
int server_watch(struct daemon *d, int fd, uint32_t events,
		 struct ev_source *s);
void server_unwatch(struct daemon *d, int fd);
/*
 * Free s (malloc'd, s first in its block) once the current epoll batch is
 * done: an event for it may still be pending in the batch.
 */
void server_defer_free(struct daemon *d, struct ev_source *s);

/*
 * dispatch.c: handle one complete frame from client c (length word
 * included). Replies are queued with client_queue(). Returns 0, or -1 if
 * the client must be dropped (a message that cannot be answered).
 */
int dispatch_frame(struct daemon *d, struct client *c, const uint8_t *frame,
		   size_t len);

#endif
