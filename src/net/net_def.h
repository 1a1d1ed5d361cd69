/*
 * A virtual network's definition, as parsed from libvirt's network XML
 * (src/daemon/network_xml.c): plain data, so the host plumbing and the
 * generated configurations (dnsmasq_conf.c, nft_rules.c) depend on no XML
 * library and can be unit-tested on their own.
 */
#ifndef VIREO_NET_NET_DEF_H
#define VIREO_NET_NET_DEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_NAME_MAX		200
#define NET_HOSTS_MAX		256
#define NET_DNS_HOSTS_MAX	64
#define NET_DNS_NAMES_MAX	8	/* <hostname>s per <dns><host> */
#define NET_DNS_FWD_MAX		8

/* <forward mode=...>; NET_FWD_NONE is an isolated network (no <forward>). */
enum net_forward { NET_FWD_NONE, NET_FWD_NAT, NET_FWD_ROUTE, NET_FWD_BRIDGE };

struct net_dhcp_host {
	bool has_mac;
	uint8_t mac[6];
	uint32_t ip;
	char *name;		/* or NULL */
};

/* <dns><host ip=...><hostname>...</hostname>...</host>: a DNS record. */
struct net_dns_host {
	uint32_t ip;
	char *names[NET_DNS_NAMES_MAX];
	size_t nnames;
};

/* <dns><forwarder addr=... domain=.../>: either may be absent, not both. */
struct net_dns_forwarder {
	bool has_addr;
	uint32_t addr;
	char *domain;		/* or NULL: every name not answered locally */
};

struct net_def {
	char *name;
	uint8_t uuid[16];
	char *bridge;		/* Linux bridge name */
	bool stp;
	int forward;		/* enum net_forward */
	char *forward_dev;	/* <forward dev=...>, or NULL */
	bool has_mac;
	uint8_t mac[6];		/* the bridge's MAC */
	char *domain;		/* <domain name=...> for DNS, or NULL */
	bool has_ip;
	uint32_t ip;		/* the host's address on the bridge */
	unsigned prefix;
	bool has_dhcp;
	uint32_t range_start, range_end;
	struct net_dhcp_host hosts[NET_HOSTS_MAX];
	size_t nhosts;
	bool has_dns;		/* a <dns> element was given */
	bool dns_disabled;	/* <dns enable='no'>: DHCP only */
	struct net_dns_host dns_hosts[NET_DNS_HOSTS_MAX];
	size_t ndns_hosts;
	struct net_dns_forwarder forwarders[NET_DNS_FWD_MAX];
	size_t nforwarders;
};

void net_def_free(struct net_def *def);
/* Does the network need a dnsmasq (an address of its own on the bridge)? */
bool net_def_wants_dnsmasq(const struct net_def *def);
/* Is the bridge created (and deleted) by the network, not the host's? */
bool net_def_owns_bridge(const struct net_def *def);
const char *net_forward_name(int forward);

#endif
