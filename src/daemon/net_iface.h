/*
 * Guest interfaces on vireod's networks: for each <interface type='network'>
 * or <interface type='bridge'> of a domain, a TAP device (IFF_VNET_HDR,
 * persistent, owned by the daemon) attached to the bridge, handed to vireo
 * as `--net tap=NAME,mac=MAC`, and deleted when the domain stops.
 *
 * TAP names are derived from the domain's UUID and the interface's index
 * ("vt" + a 32-bit hash of the UUID in hex + index), so they can be found
 * again to delete them whatever happened to the daemon in between.
 */
#ifndef VIREO_DAEMON_NET_IFACE_H
#define VIREO_DAEMON_NET_IFACE_H

#include "daemon/daemon.h"
#include "daemon/domain_xml.h"
#include "daemon/virerr.h"

#define NETIF_MAX 4		/* vireo's VM_MAX_NICS */

/* Can vireod start these interfaces? 0, or -1 (CONFIG_UNSUPPORTED). */
int netif_check(const struct domain_def *def, struct vir_error *err);
/*
 * Create and attach d's TAPs; args[i] gets the --net value of interface i
 * (malloc'd; free with netif_args_free). A MAC that a running domain
 * already uses is refused. On failure nothing is left behind.
 */
int netif_domain_start(struct daemon *dm, const struct domain *d,
		       char *args[NETIF_MAX], struct vir_error *err);
/* Delete the TAPs of def's interfaces (those that exist). */
void netif_domain_stop(const struct domain_def *def);
void netif_args_free(char *args[NETIF_MAX]);

#endif
