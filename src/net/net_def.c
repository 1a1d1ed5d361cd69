/* struct net_def helpers (see net_def.h). */
#include "net/net_def.h"

#include <stdlib.h>

void net_def_free(struct net_def *def)
{
	if (!def)
		return;
	free(def->name);
	free(def->bridge);
	free(def->forward_dev);
	free(def->domain);
	for (size_t i = 0; i < def->nhosts; i++)
		free(def->hosts[i].name);
	for (size_t i = 0; i < def->ndns_hosts; i++)
		for (size_t j = 0; j < def->dns_hosts[i].nnames; j++)
			free(def->dns_hosts[i].names[j]);
	for (size_t i = 0; i < def->nforwarders; i++)
		free(def->forwarders[i].domain);
	free(def);
}

bool net_def_owns_bridge(const struct net_def *def)
{
	return def->forward != NET_FWD_BRIDGE;
}

bool net_def_wants_dnsmasq(const struct net_def *def)
{
	return net_def_owns_bridge(def) && def->has_ip;
}

const char *net_forward_name(int forward)
{
	switch (forward) {
	case NET_FWD_NAT:	return "nat";
	case NET_FWD_ROUTE:	return "route";
	case NET_FWD_BRIDGE:	return "bridge";
	default:		return "none";
	}
}
