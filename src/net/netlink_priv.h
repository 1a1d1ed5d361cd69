/*
 * What netlink.c shares with the other rtnetlink files of src/net
 * (netlink_addr.c): the socket, the error mapping and link lookup.
 */
#ifndef VIREO_NET_NETLINK_PRIV_H
#define VIREO_NET_NETLINK_PRIV_H

#include <netlink/netlink.h>
#include <netlink/route/link.h>

/* libnl's NLE_* (negative) to -errno. */
int hostnet_nl_errno(int nlerr);
/* A connected NETLINK_ROUTE socket, or NULL. */
struct nl_sock *hostnet_nl_open(void);
/* Look a link up; *link must be put with rtnl_link_put(). 0 or -errno. */
int hostnet_nl_get_link(struct nl_sock *sk, const char *name, struct rtnl_link **link);

#endif
