/*
 * libvirt's network XML for vireo's virtual networks: parsed with libxml2
 * into struct net_def (src/net/net_def.h) and formatted back. Elements vireo
 * does not implement are refused with VIR_ERR_CONFIG_UNSUPPORTED.
 */
#ifndef VIREO_DAEMON_NETWORK_XML_H
#define VIREO_DAEMON_NETWORK_XML_H

#include <stddef.h>

#include "daemon/virerr.h"
#include "net/net_def.h"

/*
 * Parse a network document. A missing <uuid> and (for networks with a
 * bridge of their own) a missing <mac> are generated; a missing bridge
 * name is left NULL for the caller to choose. 0, or -1 with err set.
 */
int network_def_parse(const char *xml, size_t len, struct net_def **out,
		      struct vir_error *err);
/* XML text (malloc'd), or NULL if out of memory. */
char *network_def_format(const struct net_def *def);
/* Names end up in file names: the same rule as domain names. */
bool network_name_valid(const char *name);

#endif
