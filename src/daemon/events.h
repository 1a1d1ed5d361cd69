/*
 * Domain lifecycle events for clients that registered for them
 * (virsh event, virConnectDomainEventRegisterAny): the modern per-callback
 * form (CALLBACK_REGISTER_ANY, messages carry the callback ID and may be
 * filtered to one domain) and the legacy forms (REGISTER, REGISTER_ANY).
 * Only lifecycle events are ever sent; registering for other event IDs is
 * accepted so `virsh event --all` works, they just never fire.
 */
#ifndef VIREO_DAEMON_EVENTS_H
#define VIREO_DAEMON_EVENTS_H

#include "daemon/daemon.h"

/* virDomainEventType */
enum dom_event {
	DOM_EVENT_DEFINED = 0,
	DOM_EVENT_UNDEFINED = 1,
	DOM_EVENT_STARTED = 2,
	DOM_EVENT_SUSPENDED = 3,
	DOM_EVENT_RESUMED = 4,
	DOM_EVENT_STOPPED = 5,
	DOM_EVENT_SHUTDOWN = 6,
};
/* The details we send (virDomainEvent*DetailType). */
#define DOM_EVENT_DEFINED_ADDED		0
#define DOM_EVENT_DEFINED_UPDATED	1
#define DOM_EVENT_UNDEFINED_REMOVED	0
#define DOM_EVENT_STARTED_BOOTED	0
#define DOM_EVENT_SUSPENDED_PAUSED	0
#define DOM_EVENT_RESUMED_UNPAUSED	0
#define DOM_EVENT_STOPPED_SHUTDOWN	0
#define DOM_EVENT_STOPPED_DESTROYED	1
#define DOM_EVENT_STOPPED_CRASHED	2
#define DOM_EVENT_STOPPED_FAILED	5
#define DOM_EVENT_SHUTDOWN_FINISHED	0

/* At most this many callbacks per connection. */
#define EVENT_CALLBACKS_MAX	256

/* Send a lifecycle event about d to every client that asked for it. */
void domain_event(struct daemon *dm, const struct domain *d, int event,
		  int detail);
/* Forget c's registrations (it is going away). */
void events_client_gone(struct client *c);

#endif
