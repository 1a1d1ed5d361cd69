/*
 * The dnsmasq configuration of a network: DHCP on the network's range with
 * its static hosts, DNS for the guests, bound to the network's bridge only,
 * with its own pid and lease files. dnsmasq is started with this file as
 * its only configuration (--conf-file), so the host's /etc/dnsmasq.conf
 * never applies.
 */
#ifndef VIREO_NET_DNSMASQ_CONF_H
#define VIREO_NET_DNSMASQ_CONF_H

#include "net/net_def.h"

/* The file's text (malloc'd), or NULL if out of memory. */
char *dnsmasq_conf(const struct net_def *def, const char *pid_file,
		   const char *lease_file);

/* One lease from dnsmasq's lease file. */
struct dnsmasq_lease {
	int64_t expiry;		/* seconds since the epoch; 0: never */
	uint8_t mac[6];
	uint32_t ip;
	char hostname[64];	/* "" when unknown */
	char clientid[128];	/* "" when unknown */
};

/*
 * Parse a dnsmasq lease file's text ("expiry mac ip hostname clientid"
 * lines; IPv6 and malformed lines are skipped). Up to max leases go to
 * out; returns how many were stored.
 */
size_t dnsmasq_parse_leases(const char *text, struct dnsmasq_lease *out,
			    size_t max);

#endif
