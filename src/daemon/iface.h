/*
 * Host interfaces for libvirt's INTERFACE_* procedures (virsh iface-*).
 *
 * What vireod shows is the host's links as rtnetlink reports them, plus
 * the definitions vireod was given (INTERFACE_DEFINE_XML), kept in
 * STATE_DIR/interfaces/NAME.xml. An interface is active when its link
 * exists and is up. Starting a defined bridge (INTERFACE_CREATE, which
 * `virsh iface-bridge` calls after defining it) creates the bridge,
 * enslaves its ports and moves their IPv4 addresses and routes onto it;
 * stopping it (INTERFACE_DESTROY, from `virsh iface-unbridge`) deletes the
 * bridge and puts addresses and routes back on its port. Both undo what
 * they did when a step fails. All host changes go through rtnetlink.
 *
 * Definitions are host configuration, not runtime state: a bridge stays
 * when vireod exits, and nothing is started at daemon start.
 */
#ifndef VIREO_DAEMON_IFACE_H
#define VIREO_DAEMON_IFACE_H

#include <stdbool.h>

#include "daemon/daemon.h"
#include "daemon/virerr.h"
#include "net/iface_def.h"
#include "net/mac.h"
#include "net/netlink.h"

/* One interface as lookups and listings see it. */
struct iface_view {
	char name[IFNAMSIZ];
	char mac[MAC_STR_MAX];	/* "" when unknown (a bridge not yet made) */
	bool exists;		/* the host has the link */
	bool active;		/* ... and it is up */
	bool defined;		/* vireod has a definition of it */
};

/* Load the definitions (once; safe to call again). 0 or -errno. */
int iface_init(struct daemon *d);
void iface_shutdown(void);

/* NO_INTERFACE error for name, as libvirt words it. */
void iface_not_found(struct vir_error *err, const char *name);

/* By name or MAC. 0, or -1 with err set (NO_INTERFACE). */
int iface_lookup(const char *name, struct iface_view *out,
		 struct vir_error *err);
int iface_lookup_mac(const char *mac, struct iface_view *out,
		     struct vir_error *err);
/* Every host link and every defined interface, sorted by name. */
int iface_list(struct iface_view **out, size_t *count, struct vir_error *err);

/*
 * The XML of an interface: with `inactive` its definition if vireod has
 * one, else (and always for links vireod did not define) the live state.
 */
char *iface_xml(const char *name, bool inactive, struct vir_error *err);
int iface_define(const char *xml, struct iface_view *out,
		 struct vir_error *err);
int iface_undefine(const char *name, struct vir_error *err);

/* iface.c internals for iface_run.c */
const struct iface_def *iface_find_def(const char *name);

/* iface_run.c */
/* The live state of a host link as a definition (ports, addresses, ...). */
int iface_host_def(const char *name, struct iface_def *out);
int iface_create(const char *name, struct vir_error *err);
int iface_destroy(const char *name, struct vir_error *err);

#endif
