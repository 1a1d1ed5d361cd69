/* Something in vireod's epoll set (see server.c). */
#ifndef VIREO_DAEMON_EV_SOURCE_H
#define VIREO_DAEMON_EV_SOURCE_H

#include <stdint.h>

struct daemon;

/*
 * Every epoll data pointer is one of these, embedded as the first member
 * of clients, consoles and the pid watches of reattached VMs.
 */
struct ev_source {
	void (*handle)(struct daemon *d, struct ev_source *s, uint32_t events);
	struct ev_source *next_dead;	/* see server_defer_free() */
};

#endif
