/*
 * rtnetlink through libnl-route-3 (see netlink.h). Each call opens its own
 * socket: network operations are rare, and a shared socket would have to
 * survive errors and namespaces for no gain.
 */
#include "net/netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <netlink/addr.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "net/ipv4.h"

static int nl_errno(int nlerr)
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

static struct nl_sock *open_route(void)
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

/* Look a link up; *link must be put with rtnl_link_put(). */
static int get_link(struct nl_sock *sk, const char *name,
		    struct rtnl_link **link)
{
	return nl_errno(rtnl_link_get_kernel(sk, 0, name, link));
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
	struct nl_sock *sk = open_route();
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
	r = nl_errno(rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL));
	rtnl_link_put(link);
	nl_socket_free(sk);
	return r;
}

int hostnet_link_del(const char *name)
{
	struct nl_sock *sk = open_route();
	struct rtnl_link *link;
	int r;

	if (!sk)
		return -ENOMEM;
	r = get_link(sk, name, &link);
	if (!r) {
		r = nl_errno(rtnl_link_delete(sk, link));
		rtnl_link_put(link);
	}
	nl_socket_free(sk);
	return r;
}

static int link_query(const char *name, bool want_bridge)
{
	struct nl_sock *sk = open_route();
	struct rtnl_link *link;
	int r;

	if (!sk)
		return -ENOMEM;
	r = get_link(sk, name, &link);
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
	struct nl_sock *sk = open_route();
	struct rtnl_link *link, *change;
	int r;

	if (!sk)
		return -ENOMEM;
	r = get_link(sk, name, &link);
	if (r) {
		nl_socket_free(sk);
		return r;
	}
	change = rtnl_link_alloc();
	if (!change) {
		r = -ENOMEM;
	} else {
		fill(change, arg);
		r = nl_errno(rtnl_link_change(sk, link, change, 0));
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

int hostnet_link_set_master(const char *port, const char *bridge)
{
	struct nl_sock *sk = open_route();
	struct rtnl_link *p = NULL, *b = NULL;
	int r;

	if (!sk)
		return -ENOMEM;
	r = get_link(sk, bridge, &b);
	if (!r)
		r = get_link(sk, port, &p);
	if (!r)
		r = nl_errno(rtnl_link_enslave(sk, b, p));
	if (p)
		rtnl_link_put(p);
	if (b)
		rtnl_link_put(b);
	nl_socket_free(sk);
	return r;
}

int hostnet_addr_add(const char *ifname, uint32_t ip, unsigned prefix)
{
	struct nl_sock *sk = open_route();
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
	r = nl_errno(rtnl_addr_set_local(addr, local));
	if (!r && prefix < 31)
		r = nl_errno(rtnl_addr_set_broadcast(addr, bcast));
	if (!r)
		r = nl_errno(rtnl_addr_add(sk, addr, 0));
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
	struct nl_sock *sk = open_route();
	struct nl_cache *cache;
	struct in_use_scan s = { .ip = ip, .prefix = prefix };
	int r;

	if (!sk)
		return -ENOMEM;
	if (except)
		s.except_ifindex = (int)if_nametoindex(except);
	r = nl_errno(rtnl_addr_alloc_cache(sk, &cache));
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
