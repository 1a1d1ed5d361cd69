/*
 * Host network plumbing over rtnetlink (libnl-route-3) and the TUN driver:
 * Linux bridges (with STP), TAP devices for guests, link listing and state,
 * masters, IPv4 addresses, routes (netlink_addr.c) and forwarding. Nothing
 * here runs `ip` or `brctl`. All return
 * 0 or -errno; names are kernel interface names (< IFNAMSIZ).
 */
#ifndef VIREO_NET_NETLINK_H
#define VIREO_NET_NETLINK_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/ipv4.h"

/* Create a bridge (EEXIST if the name is taken); mac may be NULL. */
int hostnet_bridge_add(const char *name, const uint8_t *mac);
/* Delete any link by name (ENODEV if absent). */
int hostnet_link_del(const char *name);
/* 1 if a link of that name exists, 0 if not, or -errno. */
int hostnet_link_exists(const char *name);
/* 1 if the link is a bridge, 0 if not (or absent), or -errno. */
int hostnet_link_is_bridge(const char *name);
int hostnet_link_up(const char *name);
int hostnet_link_set_mac(const char *name, const uint8_t mac[6]);
/* Make port a port of bridge. */
int hostnet_link_set_master(const char *port, const char *bridge);
int hostnet_addr_add(const char *ifname, uint32_t ip, unsigned prefix);
/*
 * Does any address on the host (except on ifname `except`, may be NULL)
 * lie in ip/prefix, or any address's subnet overlap it? 1, 0 or -errno.
 */
int hostnet_subnet_in_use(uint32_t ip, unsigned prefix, const char *except);
/*
 * Create a persistent TAP with IFF_VNET_HDR from a name template such as
 * "vnet%d" (the kernel picks the number); the real name goes to out.
 */
int hostnet_tap_create(const char *tmpl, char out[IFNAMSIZ]);
/* Turn on IPv4 forwarding (the current network namespace). */
int hostnet_ipv4_forwarding(void);
/* A host link as INTERFACE_* procedures show it. */
struct hostnet_link {
	char name[IFNAMSIZ];
	int ifindex;
	int master;		/* ifindex of its bridge, or 0 */
	bool has_mac;
	uint8_t mac[6];
	bool up;		/* IFF_UP */
	bool is_bridge;
	bool loopback;
	unsigned mtu;
};

/* Every link of the namespace; *out is malloc'd. 0 or -errno. */
int hostnet_links(struct hostnet_link **out, size_t *count);
/* One link by name (-ENODEV if absent). */
int hostnet_link_get(const char *name, struct hostnet_link *out);
int hostnet_link_down(const char *name);
int hostnet_link_set_mtu(const char *name, unsigned mtu);
/* Take a port out of its bridge. */
int hostnet_link_nomaster(const char *port);
/*
 * A bridge's spanning tree and forward delay (centiseconds, as the
 * kernel's IFLA_BR_FORWARD_DELAY), over rtnetlink.
 */
int hostnet_bridge_set_stp(const char *bridge, bool stp, unsigned delay_cs);

/* netlink_addr.c: an interface's IPv4 addresses and routes. */

/* A main-table IPv4 route through one interface. */
struct hostnet_route {
	struct ipv4_cidr dst;	/* 0.0.0.0/0 for the default route */
	uint32_t gateway;	/* 0 when on-link */
	uint32_t pref_src;	/* 0 when none */
	uint32_t priority;
	uint8_t protocol;	/* RTPROT_* */
	uint8_t scope;		/* RT_SCOPE_* */
};

#define HOSTNET_ADDRS_MAX	32
#define HOSTNET_ROUTES_MAX	64

/* The link's IPv4 addresses (at most max; more is -E2BIG). */
int hostnet_addrs(const char *ifname, struct ipv4_cidr *out, size_t max,
		  size_t *count);
int hostnet_addr_del(const char *ifname, uint32_t ip, unsigned prefix);
/*
 * The main table's unicast IPv4 routes through ifname (single next hop)
 * that were not made by the kernel for an address (RTPROT_KERNEL).
 */
int hostnet_routes(const char *ifname, struct hostnet_route *out,
		   size_t max, size_t *count);
int hostnet_route_add(const char *ifname, const struct hostnet_route *rt);
int hostnet_route_del(const char *ifname, const struct hostnet_route *rt);
/* Is there a default route in the main table? 1, 0 or -errno. */
int hostnet_has_default_route(void);

/* Valid as a Linux interface name (length, no '/', ':' or spaces)? */
bool hostnet_ifname_valid(const char *name);

#endif
