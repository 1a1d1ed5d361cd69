/*
 * vireod's virtual networks: definitions kept in STATE_DIR/networks/NAME.xml
 * (autostart: a symlink in STATE_DIR/networks/autostart/), and running
 * networks' host plumbing (network_run.c): a Linux bridge, a dnsmasq with
 * its files in STATE_DIR/dnsmasq/, and an nftables table of vireo's own.
 *
 * The store is one per process (the daemon runs one event-loop thread);
 * network_init() sets it up from the daemon's state directory and is safe
 * to call again. A default NAT network is defined on the first start.
 */
#ifndef VIREO_DAEMON_NETWORK_H
#define VIREO_DAEMON_NETWORK_H

#include <stdbool.h>
#include <sys/types.h>

#include "daemon/daemon.h"
#include "daemon/virerr.h"
#include "net/dnsmasq_conf.h"
#include "net/net_def.h"

struct network {
	struct network *next;
	struct net_def *def;
	struct net_def *next_def;	/* defined while active: used next start */
	bool persistent;
	bool autostart;
	bool active;
	pid_t dnsmasq_pid;	/* 0 when none runs */
};

struct network_store {
	char *dir;		/* STATE_DIR/networks */
	char *autostart_dir;	/* STATE_DIR/networks/autostart */
	char *dnsmasq_dir;	/* STATE_DIR/dnsmasq */
	struct network *head;
	bool ready;
};

/* The store (set up by network_init). */
struct network_store *network_store(void);
/* Load definitions; on the very first start define "default". 0/-errno. */
int network_init(struct daemon *d);
/* Start persistent networks marked autostart. */
void network_autostart(struct daemon *d);
/* At daemon exit: stop every running network, free the store. */
void network_shutdown(struct daemon *d);

struct network *network_find_name(const char *name);
struct network *network_find_uuid(const uint8_t uuid[16]);
/* The network using a bridge name, other than `except` (may be NULL). */
struct network *network_find_bridge(const char *bridge,
				    const struct network *except);

/*
 * Define (persistent) from XML, or with `start` create and start a
 * transient one. 0 and *out, or -1 with err set; nothing changes on error.
 */
int network_define_xml(struct daemon *d, const char *xml, bool start,
		       struct network **out, struct vir_error *err);
int network_undefine(struct network *n, struct vir_error *err);
int network_set_autostart(struct network *n, bool on, struct vir_error *err);

/* network_run.c */
int network_start(struct network *n, struct vir_error *err);
/* Stop; a transient network is freed (do not use n after 0). */
int network_stop(struct network *n, struct vir_error *err);
/*
 * Read the network's DHCP leases; *out is malloc'd (may be NULL when
 * *count is 0). 0 or -errno.
 */
int network_leases(struct network *n, struct dnsmasq_lease **out,
		   size_t *count);

/*
 * A network a daemon that died left running (its nft script is still on
 * disk): stop its dnsmasq, delete its table and bridge.
 */
void network_clear_stale(struct network *n);

/* network.c internals shared with network_run.c */
void network_unlink(struct network *n);
/* Does def's subnet overlap another network's (other than `except`)? */
struct network *network_find_overlap(const struct net_def *def,
				     const struct network *except);

#endif
