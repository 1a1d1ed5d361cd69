/*
 * An interface's IPv4 addresses and routes over rtnetlink (see netlink.h):
 * what moving a NIC's configuration onto a bridge and back needs. Only the
 * main table's unicast routes with one next hop are handled; routes the
 * kernel made for an address (RTPROT_KERNEL) come and go with it.
 */
#include "net/netlink.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/route/addr.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <string.h>

#include "net/netlink_priv.h"

static bool addr_v4(struct nl_addr *a, uint32_t *out)
{
	uint32_t be;

	if (!a || nl_addr_get_family(a) != AF_INET || nl_addr_get_len(a) != 4)
		return false;
	memcpy(&be, nl_addr_get_binary_addr(a), 4);
	*out = ntohl(be);
	return true;
}

struct addr_walk {
	int ifindex;
	struct ipv4_cidr *out;
	size_t max, n;
	int err;
};

static void add_addr(struct nl_object *obj, void *arg)
{
	struct addr_walk *w = arg;
	struct rtnl_addr *a = (struct rtnl_addr *)obj;
	uint32_t ip;

	if (rtnl_addr_get_ifindex(a) != w->ifindex ||
	    rtnl_addr_get_family(a) != AF_INET ||
	    !addr_v4(rtnl_addr_get_local(a), &ip))
		return;
	if (w->n == w->max) {
		w->err = -E2BIG;
		return;
	}
	w->out[w->n].ip = ip;
	w->out[w->n].prefix = (unsigned)rtnl_addr_get_prefixlen(a);
	w->n++;
}

int hostnet_addrs(const char *ifname, struct ipv4_cidr *out, size_t max,
		  size_t *count)
{
	struct addr_walk w = { .out = out, .max = max };
	struct nl_sock *sk;
	struct nl_cache *cache;
	int r;

	*count = 0;
	w.ifindex = (int)if_nametoindex(ifname);
	if (!w.ifindex)
		return -ENODEV;
	sk = hostnet_nl_open();
	if (!sk)
		return -ENOMEM;
	r = hostnet_nl_errno(rtnl_addr_alloc_cache(sk, &cache));
	if (!r) {
		nl_cache_foreach(cache, add_addr, &w);
		nl_cache_free(cache);
		r = w.err;
	}
	nl_socket_free(sk);
	*count = w.n;
	return r;
}

int hostnet_addr_del(const char *ifname, uint32_t ip, unsigned prefix)
{
	struct nl_sock *sk;
	struct rtnl_addr *addr;
	struct nl_addr *local;
	uint32_t be = htonl(ip);
	int ifindex = (int)if_nametoindex(ifname), r = -ENOMEM;

	if (!ifindex)
		return -ENODEV;
	sk = hostnet_nl_open();
	if (!sk)
		return -ENOMEM;
	addr = rtnl_addr_alloc();
	local = nl_addr_build(AF_INET, &be, 4);
	if (addr && local) {
		nl_addr_set_prefixlen(local, (int)prefix);
		rtnl_addr_set_ifindex(addr, ifindex);
		rtnl_addr_set_family(addr, AF_INET);
		r = hostnet_nl_errno(rtnl_addr_set_local(addr, local));
		if (!r)
			r = hostnet_nl_errno(rtnl_addr_delete(sk, addr, 0));
	}
	if (local)
		nl_addr_put(local);
	if (addr)
		rtnl_addr_put(addr);
	nl_socket_free(sk);
	return r;
}

struct route_walk {
	int ifindex;		/* 0: any (the default-route test) */
	bool default_only;
	struct hostnet_route *out;
	size_t max, n;
	int err;
};

/* The route's one next hop, if it is a main-table IPv4 unicast route. */
static struct rtnl_nexthop *plain_route(struct rtnl_route *rt)
{
	if (rtnl_route_get_family(rt) != AF_INET ||
	    rtnl_route_get_table(rt) != RT_TABLE_MAIN ||
	    rtnl_route_get_type(rt) != RTN_UNICAST ||
	    rtnl_route_get_nnexthops(rt) != 1)
		return NULL;
	return rtnl_route_nexthop_n(rt, 0);
}

static void add_route(struct nl_object *obj, void *arg)
{
	struct route_walk *w = arg;
	struct rtnl_route *rt = (struct rtnl_route *)obj;
	struct rtnl_nexthop *nh = plain_route(rt);
	struct nl_addr *dst;
	struct hostnet_route r = { 0 };

	if (!nh || w->err)
		return;
	if (w->ifindex && rtnl_route_nh_get_ifindex(nh) != w->ifindex)
		return;
	dst = rtnl_route_get_dst(rt);
	if (dst && nl_addr_get_prefixlen(dst) > 0 &&
	    !addr_v4(dst, &r.dst.ip))
		return;
	r.dst.prefix = dst ? (unsigned)nl_addr_get_prefixlen(dst) : 0;
	if (w->default_only) {
		w->n += r.dst.prefix == 0;
		return;
	}
	r.protocol = rtnl_route_get_protocol(rt);
	if (r.protocol == RTPROT_KERNEL)
		return;
	addr_v4(rtnl_route_nh_get_gateway(nh), &r.gateway);
	addr_v4(rtnl_route_get_pref_src(rt), &r.pref_src);
	r.priority = rtnl_route_get_priority(rt);
	r.scope = rtnl_route_get_scope(rt);
	if (w->n == w->max) {
		w->err = -E2BIG;
		return;
	}
	w->out[w->n++] = r;
}

static int walk_routes(struct route_walk *w)
{
	struct nl_sock *sk = hostnet_nl_open();
	struct nl_cache *cache;
	int r;

	if (!sk)
		return -ENOMEM;
	r = hostnet_nl_errno(rtnl_route_alloc_cache(sk, AF_INET, 0, &cache));
	if (!r) {
		nl_cache_foreach(cache, add_route, w);
		nl_cache_free(cache);
		r = w->err;
	}
	nl_socket_free(sk);
	return r;
}

int hostnet_routes(const char *ifname, struct hostnet_route *out,
		   size_t max, size_t *count)
{
	struct route_walk w = { .out = out, .max = max };
	int r;

	*count = 0;
	w.ifindex = (int)if_nametoindex(ifname);
	if (!w.ifindex)
		return -ENODEV;
	r = walk_routes(&w);
	*count = w.n;
	return r;
}

int hostnet_has_default_route(void)
{
	struct route_walk w = { .default_only = true };
	int r = walk_routes(&w);

	return r ? r : w.n > 0;
}

/* A route object for rt through ifindex; NULL if out of memory. */
static struct rtnl_route *build_route(int ifindex,
				      const struct hostnet_route *rt)
{
	struct rtnl_route *route = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	uint32_t dst = htonl(rt->dst.ip), gw = htonl(rt->gateway);
	uint32_t src = htonl(rt->pref_src);
	struct nl_addr *a = nl_addr_build(AF_INET, &dst, 4);
	bool ok = route && nh && a;

	if (ok) {
		nl_addr_set_prefixlen(a, (int)rt->dst.prefix);
		rtnl_route_set_family(route, AF_INET);
		rtnl_route_set_table(route, RT_TABLE_MAIN);
		rtnl_route_set_type(route, RTN_UNICAST);
		rtnl_route_set_protocol(route, rt->protocol);
		rtnl_route_set_scope(route, rt->scope);
		rtnl_route_set_priority(route, rt->priority);
		ok = rtnl_route_set_dst(route, a) == 0;
	}
	if (ok && rt->pref_src) {
		struct nl_addr *s = nl_addr_build(AF_INET, &src, 4);

		ok = s && rtnl_route_set_pref_src(route, s) == 0;
		if (s)
			nl_addr_put(s);
	}
	if (ok) {
		rtnl_route_nh_set_ifindex(nh, ifindex);
		if (rt->gateway) {
			struct nl_addr *g = nl_addr_build(AF_INET, &gw, 4);

			ok = g != NULL;
			if (g) {
				rtnl_route_nh_set_gateway(nh, g);
				nl_addr_put(g);
			}
		}
	}
	if (ok) {
		rtnl_route_add_nexthop(route, nh);	/* route owns nh now */
		nh = NULL;
	}
	if (a)
		nl_addr_put(a);
	if (nh)
		rtnl_route_nh_free(nh);
	if (!ok && route) {
		rtnl_route_put(route);
		route = NULL;
	}
	return route;
}

static int route_op(const char *ifname, const struct hostnet_route *rt,
		    bool add)
{
	int ifindex = (int)if_nametoindex(ifname), r;
	struct nl_sock *sk;
	struct rtnl_route *route;

	if (!ifindex)
		return -ENODEV;
	sk = hostnet_nl_open();
	if (!sk)
		return -ENOMEM;
	route = build_route(ifindex, rt);
	if (!route) {
		nl_socket_free(sk);
		return -ENOMEM;
	}
	r = add ? rtnl_route_add(sk, route, NLM_F_CREATE | NLM_F_EXCL)
		: rtnl_route_delete(sk, route, 0);
	rtnl_route_put(route);
	nl_socket_free(sk);
	return hostnet_nl_errno(r);
}

int hostnet_route_add(const char *ifname, const struct hostnet_route *rt)
{
	return route_op(ifname, rt, true);
}

int hostnet_route_del(const char *ifname, const struct hostnet_route *rt)
{
	return route_op(ifname, rt, false);
}
