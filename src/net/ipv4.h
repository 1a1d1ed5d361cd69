/*
 * IPv4 addresses and subnets as host-order integers: parsing, formatting,
 * netmask/prefix conversion and the overlap test networks are checked with
 * before they are defined or started.
 */
#ifndef VIREO_NET_IPV4_H
#define VIREO_NET_IPV4_H

#include <stdbool.h>
#include <stdint.h>

#define IPV4_STR_MAX 16		/* "255.255.255.255" + NUL */

/* An address with its prefix length (an interface address, a route). */
struct ipv4_cidr {
	uint32_t ip;
	unsigned prefix;
};

/* Dotted quad only ("10.0.0.1"); 0 or -EINVAL. */
int ipv4_parse(const char *s, uint32_t *out);
/* out needs IPV4_STR_MAX bytes; returns out. */
char *ipv4_format(uint32_t addr, char *out);
/* A contiguous netmask ("255.255.255.0") to its prefix; 0 or -EINVAL. */
int ipv4_netmask_prefix(uint32_t mask, unsigned *prefix);
uint32_t ipv4_prefix_mask(unsigned prefix);
/* Do a/pa and b/pb share any address? */
bool ipv4_subnets_overlap(uint32_t a, unsigned pa, uint32_t b, unsigned pb);
bool ipv4_in_subnet(uint32_t addr, uint32_t net, unsigned prefix);

#endif
