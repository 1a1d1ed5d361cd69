/*
 * libvirt's host interface XML (`virsh iface-dumpxml`, `iface-define`,
 * and the documents `virsh iface-bridge` / `iface-unbridge` build from
 * them) to and from struct iface_def (src/net/iface_def.h).
 */
#ifndef VIREO_DAEMON_IFACE_XML_H
#define VIREO_DAEMON_IFACE_XML_H

#include <stddef.h>

#include "daemon/virerr.h"
#include "net/iface_def.h"

/* Parse an <interface> document into *out. 0, or -1 with err set. */
int iface_def_parse(const char *xml, size_t len, struct iface_def *out,
		    struct vir_error *err);
/*
 * XML text (malloc'd), or NULL if out of memory. link_state ("up",
 * "down") adds the live <link> element; NULL leaves it out.
 */
char *iface_def_format(const struct iface_def *def, const char *link_state);

#endif
