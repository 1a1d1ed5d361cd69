/*
 * Host network plumbing over rtnetlink (libnl-route-3) and the TUN driver:
 * Linux bridges, TAP devices for guests, link state, masters, IPv4
 * addresses and forwarding. Nothing here runs `ip` or `brctl`. All return
 * 0 or -errno; names are kernel interface names (< IFNAMSIZ).
 */
#ifndef VIREO_NET_NETLINK_H
#define VIREO_NET_NETLINK_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

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
/* Valid as a Linux interface name (length, no '/', ':' or spaces)? */
bool hostnet_ifname_valid(const char *name);

#endif
