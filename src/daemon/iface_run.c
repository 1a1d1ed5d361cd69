/*
 * Starting and stopping host interfaces vireod defined (see iface.h), and
 * reading a link's live state as a definition. A bridge's start moves its
 * ports' IPv4 addresses and routes onto it; its stop moves them back to
 * its first port. A start that fails part-way puts everything back.
 */
#include "daemon/iface.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/protocol.h"
#include "lib/log.h"
#include "lib/util.h"

/* What a port had before it was enslaved: restored on failure. */
struct port_state {
	const char *name;
	struct ipv4_cidr addrs[HOSTNET_ADDRS_MAX];
	size_t naddrs;
	struct hostnet_route routes[HOSTNET_ROUTES_MAX];
	size_t nroutes;
	bool moved;		/* addresses taken off, enslaved */
};

static int sys_fail(struct vir_error *err, const char *what,
		    const char *name, int r)
{
	vir_error_set(err, VIR_ERR_SYSTEM_ERROR, "cannot %s '%s': %s", what,
		      name, strerror(-r));
	return -1;
}

/* A bridge's STP state and forward delay, from sysfs (libnl has no getter). */
static void read_bridge_params(const char *name, struct iface_def *def)
{
	static const char *const files[] = { "stp_state", "forward_delay" };
	unsigned long v[2] = { 0, 0 };

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char path[96], buf[32];
		ssize_t n;
		int fd;

		snprintf(path, sizeof(path), "/sys/class/net/%s/bridge/%s",
			 name, files[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			v[i] = strtoul(buf, NULL, 10);
		}
	}
	def->stp = v[0] != 0;
	/* forward_delay is in USER_HZ (centiseconds). */
	def->delay_ms = (unsigned)MIN(v[1] * 10, IFACE_DELAY_MAX_MS);
}

static uint32_t default_gateway(const char *name)
{
	struct hostnet_route rt[HOSTNET_ROUTES_MAX];
	size_t n = 0;

	hostnet_routes(name, rt, ARRAY_SIZE(rt), &n);
	for (size_t i = 0; i < n; i++)
		if (rt[i].dst.prefix == 0 && rt[i].gateway)
			return rt[i].gateway;
	return 0;
}

int iface_host_def(const char *name, struct iface_def *out)
{
	struct hostnet_link l, *links;
	size_t n;
	int r = hostnet_link_get(name, &l);

	if (r)
		return r;
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", l.name);
	out->type = l.is_bridge ? IFACE_BRIDGE : IFACE_ETHERNET;
	out->has_mac = l.has_mac && !l.is_bridge;
	memcpy(out->mac, l.mac, 6);
	out->mtu = l.mtu;
	r = hostnet_addrs(name, out->addrs, IFACE_ADDRS_MAX, &out->naddrs);
	if (r && r != -E2BIG)
		return r;
	out->has_ipv4 = out->naddrs > 0;
	out->gateway = default_gateway(name);
	if (!l.is_bridge)
		return 0;
	read_bridge_params(name, out);
	r = hostnet_links(&links, &n);
	if (r)
		return r;
	for (size_t i = 0; i < n && out->nports < IFACE_PORTS_MAX; i++) {
		struct iface_port *p = &out->ports[out->nports];

		if (links[i].master != l.ifindex)
			continue;
		snprintf(p->name, sizeof(p->name), "%s", links[i].name);
		p->has_mac = links[i].has_mac;
		memcpy(p->mac, links[i].mac, 6);
		out->nports++;
	}
	free(links);
	return 0;
}

static bool has_addr(const struct ipv4_cidr *v, size_t n, uint32_t ip)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].ip == ip)
			return true;
	return false;
}

/* Add addresses and routes to ifname, skipping those already there. */
static int apply_config(const char *ifname, const struct ipv4_cidr *addrs,
			size_t naddrs, const struct hostnet_route *routes,
			size_t nroutes, uint32_t gateway)
{
	for (size_t i = 0; i < naddrs; i++) {
		int r = hostnet_addr_add(ifname, addrs[i].ip, addrs[i].prefix);

		if (r && r != -EEXIST)
			return r;
	}
	for (size_t i = 0; i < nroutes; i++) {
		int r = hostnet_route_add(ifname, &routes[i]);

		if (r && r != -EEXIST)
			return r;
	}
	if (gateway && hostnet_has_default_route() == 0) {
		struct hostnet_route def = { .gateway = gateway,
					     .protocol = RTPROT_STATIC,
					     .scope = RT_SCOPE_UNIVERSE };
		int r = hostnet_route_add(ifname, &def);

		if (r && r != -EEXIST)
			return r;
	}
	return 0;
}

static int start_ethernet(const struct iface_def *def, struct vir_error *err)
{
	struct ipv4_cidr had[HOSTNET_ADDRS_MAX];
	struct hostnet_link l;
	size_t nhad = 0;
	int r = hostnet_link_get(def->name, &l);

	if (r == -ENODEV) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "host interface '%s' does not exist", def->name);
		return -1;
	}
	if (r)
		return sys_fail(err, "read interface", def->name, r);
	if (l.master) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "interface '%s' is a port of a bridge", def->name);
		return -1;
	}
	r = hostnet_addrs(def->name, had, ARRAY_SIZE(had), &nhad);
	if (!r && def->mtu && def->mtu != l.mtu)
		r = hostnet_link_set_mtu(def->name, def->mtu);
	if (!r)
		r = hostnet_link_up(def->name);
	if (!r)
		r = apply_config(def->name, def->addrs, def->naddrs, NULL, 0,
				 def->gateway);
	if (r) {
		/* Take off what this start added. */
		for (size_t i = 0; i < def->naddrs; i++)
			if (!has_addr(had, nhad, def->addrs[i].ip))
				hostnet_addr_del(def->name, def->addrs[i].ip,
						 def->addrs[i].prefix);
		return sys_fail(err, "start interface", def->name, r);
	}
	log_info("interface '%s' started", def->name);
	return 0;
}

/* Check a port and record its addresses and routes. */
static int capture_port(const char *name, struct port_state *ps,
			struct vir_error *err)
{
	struct hostnet_link l;
	int r = hostnet_link_get(name, &l);

	ps->name = name;
	if (r == -ENODEV) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "host interface '%s' does not exist", name);
		return -1;
	}
	if (r)
		return sys_fail(err, "read interface", name, r);
	if (l.is_bridge || l.master || l.loopback) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "interface '%s' cannot be a bridge port: it is %s",
			      name, l.is_bridge ? "a bridge" : l.master ?
			      "already a bridge's port" : "the loopback");
		return -1;
	}
	r = hostnet_addrs(name, ps->addrs, ARRAY_SIZE(ps->addrs), &ps->naddrs);
	if (!r)
		r = hostnet_routes(name, ps->routes, ARRAY_SIZE(ps->routes),
				   &ps->nroutes);
	return r ? sys_fail(err, "read the configuration of", name, r) : 0;
}

/* Take the port's configuration off and enslave it. */
static int move_port(const char *bridge, struct port_state *ps)
{
	int r = 0;

	for (size_t i = ps->nroutes; i-- > 0;)
		hostnet_route_del(ps->name, &ps->routes[i]);
	ps->moved = true;
	for (size_t i = 0; i < ps->naddrs && !r; i++) {
		r = hostnet_addr_del(ps->name, ps->addrs[i].ip,
				     ps->addrs[i].prefix);
		if (r == -EADDRNOTAVAIL)
			r = 0;
	}
	if (!r)
		r = hostnet_link_set_master(ps->name, bridge);
	if (!r)
		r = hostnet_link_up(ps->name);
	return r;
}

static void restore_ports(const char *bridge, struct port_state *ps,
			  size_t n, bool made_bridge)
{
	if (made_bridge)
		hostnet_link_del(bridge);	/* releases the ports */
	for (size_t i = 0; i < n; i++)
		if (ps[i].moved &&
		    apply_config(ps[i].name, ps[i].addrs, ps[i].naddrs,
				 ps[i].routes, ps[i].nroutes, 0))
			log_warn("could not restore the addresses of '%s'",
				 ps[i].name);
}

/* The bridge's own addresses refused if another interface has them. */
static int check_subnets(const struct iface_def *def,
			 const struct port_state *ps, struct vir_error *err)
{
	char a[IPV4_STR_MAX];

	for (size_t i = 0; i < def->naddrs; i++) {
		bool on_port = false;

		for (size_t p = 0; p < def->nports && !on_port; p++)
			on_port = has_addr(ps[p].addrs, ps[p].naddrs,
					   def->addrs[i].ip);
		if (on_port || hostnet_subnet_in_use(def->addrs[i].ip,
						     def->addrs[i].prefix,
						     def->nports ? ps[0].name :
						     NULL) <= 0)
			continue;
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "address %s/%u overlaps an address already on the host",
			      ipv4_format(def->addrs[i].ip, a),
			      def->addrs[i].prefix);
		return -1;
	}
	return 0;
}

static int start_bridge(const struct iface_def *def, struct vir_error *err)
{
	struct port_state *ps = calloc(IFACE_PORTS_MAX, sizeof(*ps));
	struct ipv4_cidr addrs[IFACE_ADDRS_MAX + IFACE_PORTS_MAX * HOSTNET_ADDRS_MAX];
	const uint8_t *mac = def->has_mac ? def->mac : NULL;
	struct hostnet_link l;
	bool made = false;
	size_t naddrs = 0;
	int r = 0;

	if (!ps) {
		vir_error_set(err, VIR_ERR_NO_MEMORY, "bridge ports");
		return -1;
	}
	if (hostnet_link_exists(def->name) > 0) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "bridge name '%s' already in use", def->name);
		goto fail;
	}
	for (size_t i = 0; i < def->nports; i++)
		if (capture_port(def->ports[i].name, &ps[i], err))
			goto fail;
	if (check_subnets(def, ps, err))
		goto fail;
	/* The bridge keeps its first port's MAC (DHCP leases stay valid). */
	if (!mac && def->nports && def->ports[0].has_mac)
		mac = def->ports[0].mac;
	else if (!mac && def->nports &&
		 !hostnet_link_get(def->ports[0].name, &l) && l.has_mac)
		mac = l.mac;
	r = hostnet_bridge_add(def->name, mac);
	if (r == -EEXIST) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "bridge name '%s' already in use", def->name);
		goto fail;
	}
	made = r == 0;
	if (!r)
		r = hostnet_bridge_set_stp(def->name, def->stp,
					   def->delay_ms / 10);
	if (!r && def->mtu)
		r = hostnet_link_set_mtu(def->name, def->mtu);
	for (size_t i = 0; i < def->nports && !r; i++)
		r = move_port(def->name, &ps[i]);
	if (!r)
		r = hostnet_link_up(def->name);
	/* Its own addresses, then what its ports had. */
	for (size_t i = 0; i < def->naddrs; i++)
		addrs[naddrs++] = def->addrs[i];
	for (size_t p = 0; p < def->nports; p++)
		for (size_t i = 0; i < ps[p].naddrs; i++)
			if (!has_addr(addrs, naddrs, ps[p].addrs[i].ip))
				addrs[naddrs++] = ps[p].addrs[i];
	if (!r)
		r = apply_config(def->name, addrs, naddrs, NULL, 0, 0);
	for (size_t p = 0; p < def->nports && !r; p++)
		r = apply_config(def->name, NULL, 0, ps[p].routes,
				 ps[p].nroutes, 0);
	if (!r)
		r = apply_config(def->name, NULL, 0, NULL, 0, def->gateway);
	if (r) {
		sys_fail(err, "start bridge", def->name, r);
		goto fail;
	}
	log_info("bridge '%s' started with %zu port(s), %zu address(es)",
		 def->name, def->nports, naddrs);
	free(ps);
	return 0;
fail:
	restore_ports(def->name, ps, def->nports, made);
	free(ps);
	return -1;
}

static const struct iface_def *need_def(const char *name,
					struct vir_error *err)
{
	const struct iface_def *def = iface_find_def(name);
	struct iface_view v;

	if (def || iface_lookup(name, &v, err))
		return def;
	vir_error_set(err, VIR_ERR_OPERATION_INVALID,
		      "interface '%s' was not defined through vireod: it only starts and stops interfaces it has a definition of",
		      name);
	return NULL;
}

int iface_create(const char *name, struct vir_error *err)
{
	const struct iface_def *def = need_def(name, err);
	struct hostnet_link l;

	if (!def)
		return -1;
	/*
	 * Starting a NIC that is up applies its definition again (what
	 * `virsh iface-unbridge` does after the bridge gave its addresses
	 * back); a bridge is made only once.
	 */
	if (def->type == IFACE_BRIDGE && !hostnet_link_get(name, &l) &&
	    l.is_bridge) {
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "interface '%s' is already active", name);
		return -1;
	}
	return def->type == IFACE_BRIDGE ? start_bridge(def, err)
					 : start_ethernet(def, err);
}

/* Delete the bridge; its addresses and routes go to its first port. */
static int stop_bridge(const struct iface_def *def, struct vir_error *err)
{
	struct port_state *back = calloc(1, sizeof(*back));
	struct iface_def live;
	const char *port = NULL;
	int r;

	if (!back) {
		vir_error_set(err, VIR_ERR_NO_MEMORY, "bridge state");
		return -1;
	}
	r = iface_host_def(def->name, &live);
	if (!r)
		r = hostnet_addrs(def->name, back->addrs,
				  ARRAY_SIZE(back->addrs), &back->naddrs);
	if (!r)
		r = hostnet_routes(def->name, back->routes,
				   ARRAY_SIZE(back->routes), &back->nroutes);
	if (r) {
		free(back);
		return sys_fail(err, "read the configuration of", def->name, r);
	}
	/* The defined port that is still a port, else any port. */
	for (size_t i = 0; i < def->nports && !port; i++)
		for (size_t k = 0; k < live.nports && !port; k++)
			if (!strcmp(def->ports[i].name, live.ports[k].name))
				port = def->ports[i].name;
	r = hostnet_link_del(def->name);
	if (r) {
		free(back);
		return sys_fail(err, "delete bridge", def->name, r);
	}
	if (port) {
		r = hostnet_link_up(port);
		if (!r)
			r = apply_config(port, back->addrs, back->naddrs,
					 back->routes, back->nroutes, 0);
		if (r) {
			free(back);
			return sys_fail(err, "move the addresses back onto",
					port, r);
		}
	}
	log_info("bridge '%s' stopped; its configuration is back on %s",
		 def->name, port ? port : "(no port)");
	free(back);
	return 0;
}

int iface_destroy(const char *name, struct vir_error *err)
{
	const struct iface_def *def = need_def(name, err);
	struct hostnet_link l;
	int r;

	if (!def)
		return -1;
	if (hostnet_link_get(name, &l) ||
	    (def->type == IFACE_BRIDGE && !l.is_bridge)) {
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "interface '%s' is not active", name);
		return -1;
	}
	if (def->type == IFACE_BRIDGE)
		return stop_bridge(def, err);
	r = hostnet_link_down(name);
	if (r)
		return sys_fail(err, "stop interface", name, r);
	log_info("interface '%s' stopped", name);
	return 0;
}
