/*
 * Network XML parsing and formatting (see network_xml.h). Accepted:
 * <network> with name, uuid, forward (mode nat|route|bridge, dev),
 * bridge (name, stp, delay), mac, domain, dns (enable, host with its
 * hostnames, forwarder with addr and/or domain), one IPv4 <ip> (address
 * with netmask or prefix) with <dhcp> (range, host). Values are validated here
 * so a definition that parses can be started: the address lies in its
 * subnet, the DHCP range and hosts lie in it and avoid the network and
 * broadcast addresses.
 */
#include "daemon/network_xml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#include "daemon/xml_read.h"

#include "daemon/domain_xml.h"
#include "daemon/protocol.h"
#include "lib/util.h"
#include "net/ipv4.h"
#include "net/mac.h"
#include "net/netlink.h"

#define X(s) ((const xmlChar *)(s))
#define NAME(n) ((const char *)(n)->name)

static int ip_attr(xmlNode *n, const char *name, bool required,
		   uint32_t *out, bool *present, struct vir_error *err)
{
	char *v = dx_attr(n, name);
	int r = 0;

	if (present)
		*present = v != NULL;
	if (!v) {
		if (required) {
			vir_error_set(err, VIR_ERR_XML_ERROR,
				      "missing %s in <%s>", name, NAME(n));
			return -1;
		}
		return 0;
	}
	if (ipv4_parse(v, out)) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "invalid IPv4 address '%s' in <%s %s>", v,
			      NAME(n), name);
		r = -1;
	}
	free(v);
	return r;
}

static int mac_attr(xmlNode *n, uint8_t mac[6], struct vir_error *err)
{
	char *v = dx_attr(n, "address");
	int r = 0;

	if (!v)
		v = dx_attr(n, "mac");
	if (!v || mac_parse(v, mac) || !mac_valid_unicast(mac)) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "invalid MAC address '%s' in <%s>", v ? v : "",
			      NAME(n));
		r = -1;
	}
	free(v);
	return r;
}

/* A usable host address of def's subnet: not the network or broadcast. */
static bool host_addr_ok(const struct net_def *def, uint32_t a)
{
	uint32_t m = ipv4_prefix_mask(def->prefix);

	if (!ipv4_in_subnet(a, def->ip, def->prefix))
		return false;
	if (def->prefix >= 31)
		return true;
	return (a & ~m) != 0 && (a & ~m) != ~m;
}

static int parse_dhcp(struct net_def *def, xmlNode *dhcp,
		      struct vir_error *err)
{
	char a[IPV4_STR_MAX], b[IPV4_STR_MAX];

	for (xmlNode *c = dhcp->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (!strcmp(NAME(c), "range")) {
			if (def->has_dhcp) {
				vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
					      "only one DHCP <range> is supported");
				return -1;
			}
			if (ip_attr(c, "start", true, &def->range_start, NULL,
				    err) ||
			    ip_attr(c, "end", true, &def->range_end, NULL, err))
				return -1;
			if (!host_addr_ok(def, def->range_start) ||
			    !host_addr_ok(def, def->range_end) ||
			    def->range_start > def->range_end) {
				vir_error_set(err, VIR_ERR_XML_ERROR,
					      "DHCP range %s - %s is not an ordered range of host addresses in the network's subnet",
					      ipv4_format(def->range_start, a),
					      ipv4_format(def->range_end, b));
				return -1;
			}
			if (dx_no_children(c, err))
				return -1;
			def->has_dhcp = true;
		} else if (!strcmp(NAME(c), "host")) {
			struct net_dhcp_host *h = &def->hosts[def->nhosts];
			char *m;

			if (def->nhosts == NET_HOSTS_MAX) {
				vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
					      "more than %d DHCP hosts",
					      NET_HOSTS_MAX);
				return -1;
			}
			def->nhosts++;
			m = dx_attr(c, "mac");
			free(m);
			h->has_mac = m != NULL;
			if (h->has_mac && mac_attr(c, h->mac, err))
				return -1;
			h->name = dx_attr(c, "name");
			if (ip_attr(c, "ip", true, &h->ip, NULL, err))
				return -1;
			if (!h->has_mac && !h->name) {
				vir_error_set(err, VIR_ERR_XML_ERROR,
					      "a DHCP <host> needs a mac or a name");
				return -1;
			}
			if (h->name && strpbrk(h->name, ", \t\n#")) {
				vir_error_set(err, VIR_ERR_XML_ERROR,
					      "invalid DHCP host name '%s'",
					      h->name);
				return -1;
			}
			if (!host_addr_ok(def, h->ip)) {
				vir_error_set(err, VIR_ERR_XML_ERROR,
					      "DHCP host address %s is not a host address of the network",
					      ipv4_format(h->ip, a));
				return -1;
			}
			if (dx_no_children(c, err))
				return -1;
		} else {
			return dx_unsupported(err, c);
		}
	}
	return 0;
}

static int parse_ip(struct net_def *def, xmlNode *n, struct vir_error *err)
{
	char *family = dx_attr(n, "family"), *prefix = dx_attr(n, "prefix");
	uint32_t mask = 0;
	bool has_mask;
	int r = -1;

	if (def->has_ip) {
		vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
			      "only one <ip> per network is supported");
		goto out;
	}
	if (family && strcmp(family, "ipv4")) {
		vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
			      "<ip family='%s'> is not supported by vireo",
			      family);
		goto out;
	}
	if (ip_attr(n, "address", true, &def->ip, NULL, err) ||
	    ip_attr(n, "netmask", false, &mask, &has_mask, err))
		goto out;
	if (has_mask == (prefix != NULL)) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "<ip> needs exactly one of netmask and prefix");
		goto out;
	}
	if (has_mask && ipv4_netmask_prefix(mask, &def->prefix)) {
		vir_error_set(err, VIR_ERR_XML_ERROR, "invalid netmask");
		goto out;
	}
	if (prefix) {
		uint64_t p;

		if (parse_uint(prefix, 1, 32, &p)) {
			vir_error_set(err, VIR_ERR_XML_ERROR,
				      "invalid prefix '%s'", prefix);
			goto out;
		}
		def->prefix = (unsigned)p;
	}
	if (def->prefix > 30) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "a network's subnet needs a prefix of 30 or less");
		goto out;
	}
	def->has_ip = true;
	if (!host_addr_ok(def, def->ip)) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "<ip address> is the network or broadcast address");
		goto out;
	}
	r = 0;
	for (xmlNode *c = n->children; c && !r; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (!strcmp(NAME(c), "dhcp"))
			r = parse_dhcp(def, c, err);
		else
			r = dx_unsupported(err, c);
	}
out:
	free(family);
	free(prefix);
	return r;
}

static int parse_forward(struct net_def *def, xmlNode *n,
			 struct vir_error *err)
{
	char *mode = dx_attr(n, "mode");
	int r = 0;

	if (!mode || !strcmp(mode, "nat"))
		def->forward = NET_FWD_NAT;
	else if (!strcmp(mode, "route"))
		def->forward = NET_FWD_ROUTE;
	else if (!strcmp(mode, "bridge"))
		def->forward = NET_FWD_BRIDGE;
	else {
		vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
			      "<forward mode='%s'> is not supported by vireo",
			      mode);
		r = -1;
	}
	free(mode);
	def->forward_dev = dx_attr(n, "dev");
	if (!r && def->forward_dev && !hostnet_ifname_valid(def->forward_dev)) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "invalid forward device '%s'", def->forward_dev);
		r = -1;
	}
	return r ? r : dx_no_children(n, err);
}

static int parse_bridge(struct net_def *def, xmlNode *n,
			struct vir_error *err)
{
	char *stp = dx_attr(n, "stp");

	def->bridge = dx_attr(n, "name");
	def->stp = stp && !strcmp(stp, "on");
	free(stp);
	if (def->bridge && !hostnet_ifname_valid(def->bridge)) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "invalid bridge name '%s'", def->bridge);
		return -1;
	}
	return dx_no_children(n, err);
}

/* A DNS name as dnsmasq's configuration can carry it. */
static bool dns_name_ok(const char *name)
{
	if (!name || !name[0] || strlen(name) > 253 || name[0] == '.' ||
	    name[0] == '-')
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		      *p == '_'))
			return false;
	return true;
}

static int parse_dns_host(struct net_def *def, xmlNode *n,
			  struct vir_error *err)
{
	struct net_dns_host *h;

	if (def->ndns_hosts == NET_DNS_HOSTS_MAX) {
		vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
			      "more than %d DNS hosts", NET_DNS_HOSTS_MAX);
		return -1;
	}
	h = &def->dns_hosts[def->ndns_hosts++];
	if (ip_attr(n, "ip", true, &h->ip, NULL, err))
		return -1;
	for (xmlNode *c = n->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (strcmp(NAME(c), "hostname"))
			return dx_unsupported(err, c);
		if (h->nnames == NET_DNS_NAMES_MAX) {
			vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
				      "more than %d host names for one DNS host",
				      NET_DNS_NAMES_MAX);
			return -1;
		}
		if (dx_take_text(c, &h->names[h->nnames], err))
			return -1;
		if (!dns_name_ok(h->names[h->nnames++])) {
			vir_error_set(err, VIR_ERR_XML_ERROR,
				      "invalid DNS host name '%s'",
				      h->names[h->nnames - 1]);
			return -1;
		}
	}
	if (!h->nnames) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "a DNS <host> needs at least one <hostname>");
		return -1;
	}
	return 0;
}

static int parse_forwarder(struct net_def *def, xmlNode *n,
			   struct vir_error *err)
{
	struct net_dns_forwarder *fw;

	if (def->nforwarders == NET_DNS_FWD_MAX) {
		vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
			      "more than %d DNS forwarders", NET_DNS_FWD_MAX);
		return -1;
	}
	fw = &def->forwarders[def->nforwarders++];
	if (ip_attr(n, "addr", false, &fw->addr, &fw->has_addr, err))
		return -1;
	fw->domain = dx_attr(n, "domain");
	if (fw->domain && !dns_name_ok(fw->domain)) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "invalid DNS forwarder domain '%s'", fw->domain);
		return -1;
	}
	if (!fw->has_addr && !fw->domain) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "a DNS <forwarder> needs an addr or a domain");
		return -1;
	}
	return dx_no_children(n, err);
}

static int parse_dns(struct net_def *def, xmlNode *n, struct vir_error *err)
{
	char *enable = dx_attr(n, "enable");
	bool bad = enable && strcmp(enable, "yes") && strcmp(enable, "no");

	if (def->has_dns || bad) {
		vir_error_set(err, VIR_ERR_XML_ERROR, bad ?
			      "invalid <dns enable='%s'>" : "more than one <dns>",
			      enable);
		free(enable);
		return -1;
	}
	def->has_dns = true;
	def->dns_disabled = enable && !strcmp(enable, "no");
	free(enable);
	for (xmlNode *c = n->children; c; c = c->next) {
		int r;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (!strcmp(NAME(c), "host"))
			r = parse_dns_host(def, c, err);
		else if (!strcmp(NAME(c), "forwarder"))
			r = parse_forwarder(def, c, err);
		else
			r = dx_unsupported(err, c);
		if (r)
			return -1;
	}
	if (def->dns_disabled && (def->ndns_hosts || def->nforwarders)) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "<dns enable='no'> takes no hosts or forwarders");
		return -1;
	}
	return 0;
}

static int parse_elem(struct net_def *def, xmlNode *c, char **uuid,
		      struct vir_error *err)
{
	const char *e = NAME(c);

	if (!strcmp(e, "name"))
		return dx_take_text(c, &def->name, err);
	if (!strcmp(e, "uuid"))
		return dx_take_text(c, uuid, err);
	if (!strcmp(e, "forward"))
		return parse_forward(def, c, err);
	if (!strcmp(e, "bridge"))
		return parse_bridge(def, c, err);
	if (!strcmp(e, "mac")) {
		def->has_mac = true;
		return mac_attr(c, def->mac, err) ? -1 : dx_no_children(c, err);
	}
	if (!strcmp(e, "domain")) {
		free(def->domain);
		def->domain = dx_attr(c, "name");
		if (!def->domain || !def->domain[0] ||
		    strpbrk(def->domain, "/, \t\n#")) {
			vir_error_set(err, VIR_ERR_XML_ERROR,
				      "invalid <domain name>");
			return -1;
		}
		return dx_no_children(c, err);
	}
	if (!strcmp(e, "dns"))
		return parse_dns(def, c, err);
	if (!strcmp(e, "ip"))
		return parse_ip(def, c, err);
	return dx_unsupported(err, c);
}

static int check_def(struct net_def *def, const char *uuid,
		     struct vir_error *err)
{
	if (!def->name || !network_name_valid(def->name)) {
		vir_error_set(err, VIR_ERR_XML_ERROR, "%s network name%s%s%s",
			      def->name ? "invalid" : "missing",
			      def->name ? " '" : "", def->name ? def->name : "",
			      def->name ? "'" : "");
		return -1;
	}
	if (uuid ? uuid_parse(uuid, def->uuid) : uuid_generate(def->uuid)) {
		vir_error_set(err, VIR_ERR_XML_ERROR, "malformed uuid '%s'",
			      uuid ? uuid : "");
		return -1;
	}
	if (def->forward == NET_FWD_BRIDGE) {
		if (!def->bridge || def->has_ip || def->has_mac ||
		    def->domain || def->has_dns) {
			vir_error_set(err, VIR_ERR_XML_ERROR,
				      "a <forward mode='bridge'> network needs a <bridge name> and takes no <ip>, <mac>, <domain> or <dns>");
			return -1;
		}
		return 0;
	}
	if ((def->forward == NET_FWD_NAT || def->forward == NET_FWD_ROUTE) &&
	    !def->has_ip) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "a %s network needs an <ip> address",
			      net_forward_name(def->forward));
		return -1;
	}
	if (!def->has_mac) {
		if (mac_alloc(NULL, 0, NULL, NULL, def->mac)) {
			vir_error_set(err, VIR_ERR_INTERNAL_ERROR,
				      "cannot generate a MAC address");
			return -1;
		}
		def->has_mac = true;
	}
	return 0;
}

bool network_name_valid(const char *name)
{
	return domain_name_valid(name) && strlen(name) <= NET_NAME_MAX;
}

int network_def_parse(const char *xml, size_t len, struct net_def **out,
		      struct vir_error *err)
{
	xmlDocPtr doc;
	xmlNode *root;
	struct net_def *def = NULL;
	char *uuid = NULL;
	int ret = -1;

	doc = xml_read_hostile(xml, len, 1024 * 1024, "network", &root, err);
	if (!doc)
		return -1;
	def = calloc(1, sizeof(*def));
	if (!def) {
		vir_error_set(err, VIR_ERR_NO_MEMORY, "network definition");
		goto out;
	}
	def->forward = NET_FWD_NONE;
	for (xmlNode *c = root->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && parse_elem(def, c, &uuid, err))
			goto out;
	if (check_def(def, uuid, err))
		goto out;
	*out = def;
	def = NULL;
	ret = 0;
out:
	if (ret && !vir_error_isset(err))
		vir_error_set(err, VIR_ERR_NO_MEMORY, "network definition");
	free(uuid);
	net_def_free(def);
	xmlFreeDoc(doc);
	return ret;
}

static void wattr(xmlTextWriterPtr w, const char *name, const char *value)
{
	if (value)
		xmlTextWriterWriteAttribute(w, X(name), X(value));
}

static void format_ip(xmlTextWriterPtr w, const struct net_def *def)
{
	char a[IPV4_STR_MAX], m[MAC_STR_MAX];

	xmlTextWriterStartElement(w, X("ip"));
	wattr(w, "address", ipv4_format(def->ip, a));
	wattr(w, "netmask", ipv4_format(ipv4_prefix_mask(def->prefix), a));
	if (def->has_dhcp || def->nhosts) {
		xmlTextWriterStartElement(w, X("dhcp"));
		if (def->has_dhcp) {
			xmlTextWriterStartElement(w, X("range"));
			wattr(w, "start", ipv4_format(def->range_start, a));
			wattr(w, "end", ipv4_format(def->range_end, a));
			xmlTextWriterEndElement(w);
		}
		for (size_t i = 0; i < def->nhosts; i++) {
			const struct net_dhcp_host *h = &def->hosts[i];

			xmlTextWriterStartElement(w, X("host"));
			if (h->has_mac)
				wattr(w, "mac", mac_format(h->mac, m));
			wattr(w, "name", h->name);
			wattr(w, "ip", ipv4_format(h->ip, a));
			xmlTextWriterEndElement(w);
		}
		xmlTextWriterEndElement(w);
	}
	xmlTextWriterEndElement(w);
}

static void format_dns(xmlTextWriterPtr w, const struct net_def *def)
{
	char a[IPV4_STR_MAX];

	xmlTextWriterStartElement(w, X("dns"));
	if (def->dns_disabled)
		wattr(w, "enable", "no");
	for (size_t i = 0; i < def->nforwarders; i++) {
		const struct net_dns_forwarder *fw = &def->forwarders[i];

		xmlTextWriterStartElement(w, X("forwarder"));
		if (fw->has_addr)
			wattr(w, "addr", ipv4_format(fw->addr, a));
		wattr(w, "domain", fw->domain);
		xmlTextWriterEndElement(w);
	}
	for (size_t i = 0; i < def->ndns_hosts; i++) {
		const struct net_dns_host *h = &def->dns_hosts[i];

		xmlTextWriterStartElement(w, X("host"));
		wattr(w, "ip", ipv4_format(h->ip, a));
		for (size_t j = 0; j < h->nnames; j++)
			xmlTextWriterWriteElement(w, X("hostname"),
						  X(h->names[j]));
		xmlTextWriterEndElement(w);
	}
	xmlTextWriterEndElement(w);
}

char *network_def_format(const struct net_def *def)
{
	xmlBufferPtr buf = xmlBufferCreate();
	xmlTextWriterPtr w;
	char uuid[37], m[MAC_STR_MAX], *out = NULL;

	if (!buf)
		return NULL;
	w = xmlNewTextWriterMemory(buf, 0);
	if (!w) {
		xmlBufferFree(buf);
		return NULL;
	}
	xmlTextWriterSetIndent(w, 1);
	xmlTextWriterSetIndentString(w, X("  "));
	xmlTextWriterSetQuoteChar(w, '\'');
	xmlTextWriterStartElement(w, X("network"));
	xmlTextWriterWriteElement(w, X("name"), X(def->name));
	uuid_format(def->uuid, uuid);
	xmlTextWriterWriteElement(w, X("uuid"), X(uuid));
	if (def->forward != NET_FWD_NONE) {
		xmlTextWriterStartElement(w, X("forward"));
		wattr(w, "mode", net_forward_name(def->forward));
		wattr(w, "dev", def->forward_dev);
		xmlTextWriterEndElement(w);
	}
	if (def->bridge) {
		xmlTextWriterStartElement(w, X("bridge"));
		wattr(w, "name", def->bridge);
		if (net_def_owns_bridge(def)) {
			wattr(w, "stp", def->stp ? "on" : "off");
			wattr(w, "delay", "0");
		}
		xmlTextWriterEndElement(w);
	}
	if (def->has_mac) {
		xmlTextWriterStartElement(w, X("mac"));
		wattr(w, "address", mac_format(def->mac, m));
		xmlTextWriterEndElement(w);
	}
	if (def->domain) {
		xmlTextWriterStartElement(w, X("domain"));
		wattr(w, "name", def->domain);
		xmlTextWriterEndElement(w);
	}
	if (def->has_dns)
		format_dns(w, def);
	if (def->has_ip)
		format_ip(w, def);
	xmlTextWriterEndElement(w);
	if (xmlTextWriterEndDocument(w) >= 0)
		out = strdup((const char *)xmlBufferContent(buf));
	xmlFreeTextWriter(w);
	xmlBufferFree(buf);
	return out;
}
