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

struct client;

struct daemon {
	char *state_dir;	/* persistent XML and autostart links */
	char *run_dir;		/* control sockets, logs */
	char *socket_path;	/* the libvirt RPC socket */
	char *vireo_path;	/* the VMM binary */
	char *accel;		/* --accel passed to vireo, or NULL (auto) */
	size_t max_clients;
	struct domain_store store;
	int listen_fd;
	int epoll_fd;
	int signal_fd;
	bool stopping;
	struct client *clients;
	size_t nclients;
	uint64_t next_client_id;
};

/* Per-connection state the dispatcher uses. */
struct client {
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
	uint32_t frame_len;	/* 0 until the length word is in */
	struct txbuf *tx_head, *tx_tail;
	size_t tx_bytes;
};

/* server.c */
int server_listen(struct daemon *d);
int server_run(struct daemon *d);
void server_shutdown(struct daemon *d);
/* Queue a complete frame (takes buf); the client is dropped on failure. */
void client_queue(struct daemon *d, struct client *c, uint8_t *buf,
		  size_t len);

/*
 * dispatch.c: handle one complete frame from client c (length word
 * included). Replies are queued with client_queue(). Returns 0, or -1 if
 * the client must be dropped (a message that cannot be answered).
 */
int dispatch_frame(struct daemon *d, struct client *c, const uint8_t *frame,
		   size_t len);

#endif
