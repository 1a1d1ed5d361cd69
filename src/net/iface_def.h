/*
 * A host interface's definition, as libvirt's interface XML describes it
 * (src/daemon/iface_xml.c parses and formats it): plain data with bounded
 * arrays, so it is copied by assignment and freed with the struct.
 *
 * An ethernet interface is a NIC with its IPv4 configuration; a bridge has
 * that configuration itself and ports (the NICs `virsh iface-bridge`
 * moved under it, each with the MAC it had).
 */
#ifndef VIREO_NET_IFACE_DEF_H
#define VIREO_NET_IFACE_DEF_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/ipv4.h"

#define IFACE_ADDRS_MAX		16
#define IFACE_PORTS_MAX		8
#define IFACE_DELAY_MAX_MS	30000	/* the kernel's BR_MAX_FORWARD_DELAY */

enum iface_type { IFACE_ETHERNET, IFACE_BRIDGE };
enum iface_start { IFACE_START_NONE, IFACE_START_ONBOOT, IFACE_START_HOTPLUG };

struct iface_port {
	char name[IFNAMSIZ];
	bool has_mac;
	uint8_t mac[6];
};

struct iface_def {
	char name[IFNAMSIZ];
	int type;			/* enum iface_type */
	int start;			/* enum iface_start (stored, not acted on) */
	bool has_start;
	bool has_mac;
	uint8_t mac[6];
	unsigned mtu;			/* 0: not given */
	bool has_ipv4;			/* <protocol family='ipv4'> present */
	struct ipv4_cidr addrs[IFACE_ADDRS_MAX];
	size_t naddrs;
	uint32_t gateway;		/* <route gateway>, 0 if none */
	bool stp;			/* bridges */
	unsigned delay_ms;
	struct iface_port ports[IFACE_PORTS_MAX];
	size_t nports;
};

#endif
