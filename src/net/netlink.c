/*
 * rtnetlink through libnl-route-3 (see netlink.h): links, bridges, TAPs;
 * addresses and routes are in netlink_addr.c. Each call opens its own
 * socket: network operations are rare, and a shared socket would have to
 * survive errors and namespaces for no gain.
 */
#include "net/netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <netlink/addr.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/route/link/bridge.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "net/ipv4.h"
#include "net/netlink_priv.h"

int hostnet_nl_errno(int nlerr)
{
	switch (-nlerr) {
	case 0:			return 0;
	case NLE_EXIST:		return -EEXIST;
	case NLE_NOMEM:		return -ENOMEM;
	case NLE_INVAL:		return -EINVAL;
	case NLE_RANGE:		return -ERANGE;
	case NLE_OPNOTSUPP:	return -EOPNOTSUPP;
	case NLE_OBJ_NOTFOUND:
	case NLE_NODEV:		return -ENODEV;
	case NLE_BUSY:		return -EBUSY;
	case NLE_NOACCESS:
	case NLE_PERM:		return -EPERM;
	case NLE_NOADDR:	return -EADDRNOTAVAIL;
	default:		return -EIO;
	}
}

struct nl_sock *hostnet_nl_open(void)
{
	struct nl_sock *sk = nl_socket_alloc();

	if (!sk)
		return NULL;
	if (nl_connect(sk, NETLINK_ROUTE)) {
		nl_socket_free(sk);
		return NULL;
	}
	return sk;
}

int hostnet_nl_get_link(struct nl_sock *sk, const char *name,
			struct rtnl_link **link)
{
	return hostnet_nl_errno(rtnl_link_get_kernel(sk, 0, name, link));
}

bool hostnet_ifname_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= IFNAMSIZ || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] == '/' || name[i] == ':' || name[i] <= ' ' ||
		    name[i] == 0x7f || name[i] == '%')
			return false;
	return true;
}

int hostnet_bridge_add(const char *name, const uint8_t *mac)
{
	struct nl_sock *sk = hostnet_nl_open();
	struct rtnl_link *link;
	int r;

	if (!sk)
		return -ENOMEM;
	link = rtnl_link_bridge_alloc();
	if (!link) {
		nl_socket_free(sk);
		return -ENOMEM;
	}
	rtnl_link_set_name(link, name);
	if (mac) {
		struct nl_addr *a = nl_addr_build(AF_LLC, mac, 6);

		if (a) {
			rtnl_link_set_addr(link, a);
			nl_addr_put(a);
		}
	}
	r = hostnet_nl_errno(rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL));
	rtnl_link_put(link);
	nl_socket_free(sk);
	return r;
}

int hostnet_link_del(const char *name)
{
	struct nl_sock *sk = hostnet_nl_open();
	struct rtnl_link *link;
	int r;

	if (!sk)
		return -ENOMEM;
	r = hostnet_nl_get_link(sk, name, &link);
	if (!r) {
		r = hostnet_nl_errno(rtnl_link_delete(sk, link));
		rtnl_link_put(link);
	}
	nl_socket_free(sk);
	return r;
}

static int link_query(const char *name, bool want_bridge)
{
	struct nl_sock *sk = hostnet_nl_open();
	struct rtnl_link *link;
	int r;

	if (!sk)
		return -ENOMEM;
	r = hostnet_nl_get_link(sk, name, &link);
	if (r == -ENODEV) {
		r = 0;
	} else if (!r) {
		const char *type = rtnl_link_get_type(link);

		r = want_bridge ? (type && !strcmp(type, "bridge")) : 1;
		rtnl_link_put(link);
	}
	nl_socket_free(sk);
	return r;
}

int hostnet_link_exists(const char *name)
{
	return link_query(name, false);
}

int hostnet_link_is_bridge(const char *name)
{
	return link_query(name, true);
}

/* Apply what fill() sets in a change object to the named link. */
static int link_change(const char *name,
		       void (*fill)(struct rtnl_link *c, const void *arg),
		       const void *arg)
{
	struct nl_sock *sk = hostnet_nl_open();
	struct rtnl_link *link, *change;
	int r;

	if (!sk)
		return -ENOMEM;
	r = hostnet_nl_get_link(sk, name, &link);
	if (r) {
		nl_socket_free(sk);
		return r;
	}
	change = rtnl_link_alloc();
	if (!change) {
		r = -ENOMEM;
	} else {
		fill(change, arg);
		r = hostnet_nl_errno(rtnl_link_change(sk, link, change, 0));
		rtnl_link_put(change);
	}
	rtnl_link_put(link);
	nl_socket_free(sk);
	return r;
}

static void fill_up(struct rtnl_link *c, const void *arg)
{
	rtnl_link_set_flags(c, IFF_UP);
}

int hostnet_link_up(const char *name)
{
	return link_change(name, fill_up, NULL);
}

static void fill_mac(struct rtnl_link *c, const void *arg)
{
	struct nl_addr *a = nl_addr_build(AF_LLC, arg, 6);

	if (a) {
		rtnl_link_set_addr(c, a);
		nl_addr_put(a);
	}
}

int hostnet_link_set_mac(const char *name, const uint8_t mac[6])
{
	return link_change(name, fill_mac, mac);
}

static void fill_down(struct rtnl_link *c, const void *arg)
{
	rtnl_link_unset_flags(c, IFF_UP);
}

int hostnet_link_down(const char *name)
{
	return link_change(name, fill_down, NULL);
}

static void fill_mtu(struct rtnl_link *c, const void *arg)
{
	rtnl_link_set_mtu(c, *(const unsigned *)arg);
}

int hostnet_link_set_mtu(const char *name, unsigned mtu)
{
	return link_change(name, fill_mtu, &mtu);
}

static void fill_nomaster(struct rtnl_link *c, const void *arg)
{
	rtnl_link_set_master(c, 0);
}

int hostnet_link_nomaster(const char *port)
{
	return link_change(port, fill_nomaster, NULL);
}

static void link_fill(struct rtnl_link *l, struct hostnet_link *out)
{
	struct nl_addr *a = rtnl_link_get_addr(l);
	const char *type = rtnl_link_get_type(l);

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", rtnl_link_get_name(l));
	out->ifindex = rtnl_link_get_ifindex(l);
	out->master = rtnl_link_get_master(l);
	if (a && nl_addr_get_len(a) == 6) {
		out->has_mac = true;
		memcpy(out->mac, nl_addr_get_binary_addr(a), 6);
	}
	out->up = (rtnl_link_get_flags(l) & IFF_UP) != 0;
	out->is_bridge = type && !strcmp(type, "bridge");
	out->loopback = rtnl_link_get_arptype(l) == ARPHRD_LOOPBACK;
	out->mtu = rtnl_link_get_mtu(l);
}

struct link_walk {
	struct hostnet_link *v;
	size_t n, cap;
	int err;
};

static void add_link(struct nl_object *obj, void *arg)
{
	struct link_walk *w = arg;

	if (w->err)
		return;
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 16;
		struct hostnet_link *v = realloc(w->v, cap * sizeof(*v));

		if (!v) {
			w->err = -ENOMEM;
			return;
		}
		w->v = v;
		w->cap = cap;
	}
	link_fill((struct rtnl_link *)obj, &w->v[w->n++]);
}

int hostnet_links(struct hostnet_link **out, size_t *count)
{
	struct nl_sock *sk = hostnet_nl_open();
	struct nl_cache *cache;
	struct link_walk w = { 0 };
	int r;

	*out = NULL;
	*count = 0;
	if (!sk)
		return -ENOMEM;
	r = hostnet_nl_errno(rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache));
	if (!r) {
		nl_cache_foreach(cache, add_link, &w);
		nl_cache_free(cache);
		r = w.err;
	}
	nl_socket_free(sk);
	if (r) {
		free(w.v);
		return r;
	}
	*out = w.v;
	*count = w.n;
	return 0;
}

int hostnet_link_get(const char *name, struct hostnet_link *out)
{
	struct nl_sock *sk;
	struct rtnl_link *link;
	int r;

	if (!hostnet_ifname_valid(name))
		return -ENODEV;
	sk = hostnet_nl_open();
	if (!sk)
		return -ENOMEM;
	r = hostnet_nl_get_link(sk, name, &link);
	if (!r) {
		link_fill(link, out);
		rtnl_link_put(link);
	}
	nl_socket_free(sk);
	return r;
}

int hostnet_bridge_set_stp(const char *bridge, bool stp, unsigned delay_cs)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct nlattr *info, *data;
	struct nl_sock *sk;
	struct nl_msg *msg;
	int r = -ENOMEM;

	ifi.ifi_index = (int)if_nametoindex(bridge);
	if (!ifi.ifi_index)
		return -ENODEV;
	/* With STP on the kernel takes 2..30 s only (BR_MIN/MAX_FORWARD_DELAY). */
	if (stp)
		delay_cs = MIN(MAX(delay_cs, 200u), 3000u);
	sk = hostnet_nl_open();
	if (!sk)
		return -ENOMEM;
	msg = nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK);
	if (!msg)
		goto out;
	if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    !(info = nla_nest_start(msg, IFLA_LINKINFO)) ||
	    nla_put_string(msg, IFLA_INFO_KIND, "bridge") < 0 ||
	    !(data = nla_nest_start(msg, IFLA_INFO_DATA)) ||
	    /* The delay first: the kernel checks it against the STP state. */
	    nla_put_u32(msg, IFLA_BR_FORWARD_DELAY, delay_cs) < 0 ||
	    nla_put_u32(msg, IFLA_BR_STP_STATE, stp) < 0) {
		nlmsg_free(msg);
		goto out;
	}
	nla_nest_end(msg, data);
	nla_nest_end(msg, info);
	r = hostnet_nl_errno(nl_send_sync(sk, msg));	/* frees msg */
out:
	nl_socket_free(sk);
	return r;
}

int hostnet_link_set_master(const char *port, const char *bridge)
{
	struct nl_sock *sk = hostnet_nl_open();
	struct rtnl_link *p = NULL, *b = NULL;
	int r;

	if (!sk)
		return -ENOMEM;
	r = hostnet_nl_get_link(sk, bridge, &b);
	if (!r)
		r = hostnet_nl_get_link(sk, port, &p);
	if (!r)
		r = hostnet_nl_errno(rtnl_link_enslave(sk, b, p));
	if (p)
		rtnl_link_put(p);
	if (b)
		rtnl_link_put(b);
	nl_socket_free(sk);
	return r;
}

int hostnet_addr_add(const char *ifname, uint32_t ip, unsigned prefix)
{
	struct nl_sock *sk = hostnet_nl_open();
	struct rtnl_addr *addr = NULL;
	struct nl_addr *local = NULL, *bcast = NULL;
	uint32_t be = htonl(ip);
	uint32_t bc = htonl(ip | ~ipv4_prefix_mask(prefix));
	int ifindex, r = -ENOMEM;

	if (!sk)
		return -ENOMEM;
	ifindex = (int)if_nametoindex(ifname);
	if (!ifindex) {
		r = -ENODEV;
		goto out;
	}
	addr = rtnl_addr_alloc();
	local = nl_addr_build(AF_INET, &be, 4);
	bcast = nl_addr_build(AF_INET, &bc, 4);
	if (!addr || !local || !bcast)
		goto out;
	nl_addr_set_prefixlen(local, (int)prefix);
	rtnl_addr_set_ifindex(addr, ifindex);
	rtnl_addr_set_family(addr, AF_INET);
	r = hostnet_nl_errno(rtnl_addr_set_local(addr, local));
	if (!r && prefix < 31)
		r = hostnet_nl_errno(rtnl_addr_set_broadcast(addr, bcast));
	if (!r)
		r = hostnet_nl_errno(rtnl_addr_add(sk, addr, 0));
out:
	if (local)
		nl_addr_put(local);
	if (bcast)
		nl_addr_put(bcast);
	if (addr)
		rtnl_addr_put(addr);
	nl_socket_free(sk);
	return r;
}

struct in_use_scan {
	uint32_t ip;
	unsigned prefix;
	int except_ifindex;
	bool found;
};

static void check_addr(struct nl_object *obj, void *arg)
{
	struct in_use_scan *s = arg;
	struct rtnl_addr *a = (struct rtnl_addr *)obj;
	struct nl_addr *local = rtnl_addr_get_local(a);
	uint32_t be;
	unsigned plen;

	if (rtnl_addr_get_family(a) != AF_INET || !local ||
	    nl_addr_get_len(local) != 4)
		return;
	if (s->except_ifindex && rtnl_addr_get_ifindex(a) == s->except_ifindex)
		return;
	memcpy(&be, nl_addr_get_binary_addr(local), 4);
	plen = (unsigned)rtnl_addr_get_prefixlen(a);
	/* Loopback's 127/8 cannot clash with a network we would define. */
	if ((ntohl(be) >> 24) == 127)
		return;
	if (ipv4_subnets_overlap(ntohl(be), plen, s->ip, s->prefix))
		s->found = true;
}

int hostnet_subnet_in_use(uint32_t ip, unsigned prefix, const char *except)
{
	struct nl_sock *sk = hostnet_nl_open();
	struct nl_cache *cache;
	struct in_use_scan s = { .ip = ip, .prefix = prefix };
	int r;

	if (!sk)
		return -ENOMEM;
	if (except)
		s.except_ifindex = (int)if_nametoindex(except);
	r = hostnet_nl_errno(rtnl_addr_alloc_cache(sk, &cache));
	if (!r) {
		nl_cache_foreach(cache, check_addr, &s);
		nl_cache_free(cache);
		r = s.found;
	}
	nl_socket_free(sk);
	return r;
}

int hostnet_tap_create(const char *tmpl, char out[IFNAMSIZ])
{
	struct ifreq ifr;
	int fd, r = 0;

	if (strlen(tmpl) >= IFNAMSIZ)
		return -EINVAL;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	memcpy(ifr.ifr_name, tmpl, strlen(tmpl));
	/* Persistent: the device outlives this fd until it is deleted. */
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0)
		r = -errno;
	else
		snprintf(out, IFNAMSIZ, "%s", ifr.ifr_name);
	close(fd);
	return r;
}

int hostnet_ipv4_forwarding(void)
{
	int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = write_all(fd, "1\n", 2);
	close(fd);
	return r;
}
