/*
 * Host interface XML (see iface_xml.h). Accepted: <interface type=
 * 'ethernet|bridge' name=...> with start (mode), mac, mtu, link (live
 * state: ignored on input), one <protocol family='ipv4'> with ip (address,
 * prefix) and route (gateway) elements, and for bridges <bridge stp delay>
 * holding ethernet <interface> ports with their <mac>. What vireo does not
 * do (DHCP clients, IPv6, bonds, VLANs) is refused as unsupported.
 */
#include "daemon/iface_xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#include "daemon/protocol.h"
#include "daemon/xml_read.h"
#include "lib/util.h"
#include "net/mac.h"
#include "net/netlink.h"

#define X(s) ((const xmlChar *)(s))
#define NAME(n) ((const char *)(n)->name)

static int xml_err(struct vir_error *err, const char *fmt, const char *arg)
{
	vir_error_set(err, VIR_ERR_XML_ERROR, fmt, arg ? arg : "");
	return -1;
}

static int ifname_attr(xmlNode *n, char out[IFNAMSIZ], struct vir_error *err)
{
	char *v = dx_attr(n, "name");
	int r = 0;

	if (!v || !hostnet_ifname_valid(v))
		r = xml_err(err, "missing or invalid interface name '%s'", v);
	else
		snprintf(out, IFNAMSIZ, "%s", v);
	free(v);
	return r;
}

static int mac_elem(xmlNode *n, bool *has, uint8_t mac[6],
		    struct vir_error *err)
{
	char *v = dx_attr(n, "address");
	int r = 0;

	if (*has)
		r = xml_err(err, "more than one <mac>%s", NULL);
	else if (!v || mac_parse(v, mac))
		r = xml_err(err, "invalid MAC address '%s'", v);
	*has = true;
	free(v);
	return r ? r : dx_no_children(n, err);
}

static int parse_ip(struct iface_def *def, xmlNode *n, struct vir_error *err)
{
	char *addr = dx_attr(n, "address"), *prefix = dx_attr(n, "prefix");
	struct ipv4_cidr *c = &def->addrs[def->naddrs];
	uint64_t p = 32;
	int r = -1;

	if (def->naddrs == IFACE_ADDRS_MAX) {
		vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
			      "more than %d IPv4 addresses", IFACE_ADDRS_MAX);
		goto out;
	}
	if (!addr || ipv4_parse(addr, &c->ip)) {
		xml_err(err, "invalid IPv4 address '%s' in <ip>", addr);
		goto out;
	}
	if (prefix && parse_uint(prefix, 1, 32, &p)) {
		xml_err(err, "invalid prefix '%s' in <ip>", prefix);
		goto out;
	}
	c->prefix = (unsigned)p;
	for (size_t i = 0; i < def->naddrs; i++)
		if (def->addrs[i].ip == c->ip) {
			xml_err(err, "address %s is given twice", addr);
			goto out;
		}
	def->naddrs++;
	r = dx_no_children(n, err);
out:
	free(addr);
	free(prefix);
	return r;
}

static int parse_protocol(struct iface_def *def, xmlNode *n,
			  struct vir_error *err)
{
	char *family = dx_attr(n, "family");
	bool v4 = family && !strcmp(family, "ipv4");

	if (!v4) {
		vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
			      "<protocol family='%s'> is not supported by vireo (IPv4 only)",
			      family ? family : "");
		free(family);
		return -1;
	}
	free(family);
	if (def->has_ipv4)
		return xml_err(err, "more than one <protocol family='ipv4'>%s",
			       NULL);
	def->has_ipv4 = true;
	for (xmlNode *c = n->children; c; c = c->next) {
		if (!dx_is_elem(c))
			continue;
		if (!strcmp(NAME(c), "ip")) {
			if (parse_ip(def, c, err))
				return -1;
		} else if (!strcmp(NAME(c), "route")) {
			char *gw = dx_attr(c, "gateway");
			int bad = !gw || ipv4_parse(gw, &def->gateway) ||
				  !def->gateway;

			if (bad)
				xml_err(err, "invalid <route gateway='%s'>", gw);
			free(gw);
			if (bad || dx_no_children(c, err))
				return -1;
		} else if (!strcmp(NAME(c), "dhcp")) {
			vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
				      "DHCP clients on host interfaces are not supported by vireo");
			return -1;
		} else {
			return dx_unsupported(err, c);
		}
	}
	return 0;
}

/* "0", "2", "0.5", "1.25" seconds to milliseconds. */
static int parse_delay(const char *s, unsigned *ms)
{
	uint64_t whole = 0, frac = 0;
	const char *dot = strchr(s, '.');
	char buf[16];
	size_t n = dot ? (size_t)(dot - s) : strlen(s);

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	if (parse_uint(buf, 0, IFACE_DELAY_MAX_MS / 1000, &whole))
		return -1;
	if (dot) {
		size_t digits = strlen(dot + 1);

		if (digits == 0 || digits > 3 ||
		    parse_uint(dot + 1, 0, 999, &frac))
			return -1;
		while (digits++ < 3)
			frac *= 10;
	}
	if (whole * 1000 + frac > IFACE_DELAY_MAX_MS)
		return -1;
	*ms = (unsigned)(whole * 1000 + frac);
	return 0;
}

static int parse_port(struct iface_def *def, xmlNode *n, struct vir_error *err)
{
	struct iface_port *p = &def->ports[def->nports];
	char *type = dx_attr(n, "type");
	bool eth = type && !strcmp(type, "ethernet");

	if (!eth) {
		vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
			      "bridge ports of type '%s' are not supported by vireo",
			      type ? type : "");
		free(type);
		return -1;
	}
	free(type);
	if (def->nports == IFACE_PORTS_MAX) {
		vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
			      "more than %d bridge ports", IFACE_PORTS_MAX);
		return -1;
	}
	if (ifname_attr(n, p->name, err))
		return -1;
	if (!strcmp(p->name, def->name))
		return xml_err(err, "bridge '%s' cannot be its own port", p->name);
	for (size_t i = 0; i < def->nports; i++)
		if (!strcmp(def->ports[i].name, p->name))
			return xml_err(err, "port '%s' is given twice", p->name);
	def->nports++;
	for (xmlNode *c = n->children; c; c = c->next) {
		if (!dx_is_elem(c))
			continue;
		if (!strcmp(NAME(c), "mac")) {
			if (mac_elem(c, &p->has_mac, p->mac, err))
				return -1;
		} else {
			return dx_unsupported(err, c);
		}
	}
	return 0;
}

static int parse_bridge(struct iface_def *def, xmlNode *n,
			struct vir_error *err)
{
	char *stp = dx_attr(n, "stp"), *delay = dx_attr(n, "delay");
	int r = -1;

	/*
	 * `virsh iface-unbridge` turns the bridge's document into the
	 * port's by changing type and name only: the <bridge> element stays
	 * behind, and libvirt ignores it in an ethernet interface. So do we.
	 */
	if (def->type != IFACE_BRIDGE) {
		r = 0;
		goto out;
	}
	def->stp = !stp || !strcmp(stp, "on");
	if (stp && strcmp(stp, "on") && strcmp(stp, "off")) {
		xml_err(err, "invalid <bridge stp='%s'>", stp);
		goto out;
	}
	if (delay && parse_delay(delay, &def->delay_ms)) {
		xml_err(err, "invalid <bridge delay='%s'> (seconds, at most 30)",
			delay);
		goto out;
	}
	for (xmlNode *c = n->children; c; c = c->next) {
		if (!dx_is_elem(c))
			continue;
		if (strcmp(NAME(c), "interface")) {
			dx_unsupported(err, c);
			goto out;
		}
		if (parse_port(def, c, err))
			goto out;
	}
	r = 0;
out:
	free(stp);
	free(delay);
	return r;
}

static int parse_start(struct iface_def *def, xmlNode *n,
		       struct vir_error *err)
{
	static const char *const modes[] = { "none", "onboot", "hotplug" };
	char *mode = dx_attr(n, "mode");
	int r = -1;

	for (size_t i = 0; mode && i < ARRAY_SIZE(modes); i++)
		if (!strcmp(mode, modes[i])) {
			def->start = (int)i;
			r = 0;
		}
	if (r)
		xml_err(err, "invalid <start mode='%s'>", mode);
	free(mode);
	def->has_start = true;
	return r ? r : dx_no_children(n, err);
}

static int parse_elem(struct iface_def *def, xmlNode *c, bool *seen_bridge,
		      struct vir_error *err)
{
	const char *e = NAME(c);

	if (!strcmp(e, "start"))
		return parse_start(def, c, err);
	if (!strcmp(e, "mac"))
		return mac_elem(c, &def->has_mac, def->mac, err);
	if (!strcmp(e, "mtu")) {
		char *size = dx_attr(c, "size");
		uint64_t v;
		int bad = !size || parse_uint(size, 68, 65535, &v);

		if (bad)
			xml_err(err, "invalid <mtu size='%s'>", size);
		else
			def->mtu = (unsigned)v;
		free(size);
		return bad ? -1 : dx_no_children(c, err);
	}
	if (!strcmp(e, "link"))
		return 0;	/* live state in a dumped definition */
	if (!strcmp(e, "protocol"))
		return parse_protocol(def, c, err);
	if (!strcmp(e, "bridge")) {
		if (*seen_bridge)
			return xml_err(err, "more than one <bridge>%s", NULL);
		*seen_bridge = true;
		return parse_bridge(def, c, err);
	}
	return dx_unsupported(err, c);
}

/* The gateway must be reachable through one of the addresses. */
static int check_def(const struct iface_def *def, struct vir_error *err)
{
	char a[IPV4_STR_MAX];
	bool ok = !def->gateway;

	for (size_t i = 0; i < def->naddrs && !ok; i++)
		ok = ipv4_in_subnet(def->gateway, def->addrs[i].ip,
				    def->addrs[i].prefix);
	if (!ok)
		return xml_err(err, "gateway %s is not in the subnet of any of the interface's addresses",
			       ipv4_format(def->gateway, a));
	return 0;
}

int iface_def_parse(const char *xml, size_t len, struct iface_def *out,
		    struct vir_error *err)
{
	struct iface_def *def = calloc(1, sizeof(*def));
	xmlDocPtr doc;
	xmlNode *root;
	bool seen_bridge = false;
	char *type = NULL;
	int r = -1;

	if (!def) {
		vir_error_set(err, VIR_ERR_NO_MEMORY, "interface definition");
		return -1;
	}
	doc = xml_read_hostile(xml, len, 256 * 1024, "interface", &root, err);
	if (!doc)
		goto out;
	type = dx_attr(root, "type");
	if (type && !strcmp(type, "ethernet")) {
		def->type = IFACE_ETHERNET;
	} else if (type && !strcmp(type, "bridge")) {
		def->type = IFACE_BRIDGE;
		def->stp = true;	/* libvirt's default */
	} else {
		vir_error_set(err, type ? VIR_ERR_CONFIG_UNSUPPORTED :
			      VIR_ERR_XML_ERROR,
			      "interface type '%s' is not supported by vireo (ethernet and bridge are)",
			      type ? type : "");
		goto out;
	}
	if (ifname_attr(root, def->name, err))
		goto out;
	for (xmlNode *c = root->children; c; c = c->next)
		if (dx_is_elem(c) && parse_elem(def, c, &seen_bridge, err))
			goto out;
	if (check_def(def, err))
		goto out;
	*out = *def;
	r = 0;
out:
	free(type);
	free(def);
	xmlFreeDoc(doc);
	return r;
}

static void wattr(xmlTextWriterPtr w, const char *name, const char *value)
{
	xmlTextWriterWriteAttribute(w, X(name), X(value));
}

static void wmac(xmlTextWriterPtr w, const uint8_t mac[6])
{
	char m[MAC_STR_MAX];

	xmlTextWriterStartElement(w, X("mac"));
	wattr(w, "address", mac_format(mac, m));
	xmlTextWriterEndElement(w);
}

static void format_protocol(xmlTextWriterPtr w, const struct iface_def *def)
{
	char a[IPV4_STR_MAX], p[8];

	xmlTextWriterStartElement(w, X("protocol"));
	wattr(w, "family", "ipv4");
	for (size_t i = 0; i < def->naddrs; i++) {
		xmlTextWriterStartElement(w, X("ip"));
		wattr(w, "address", ipv4_format(def->addrs[i].ip, a));
		snprintf(p, sizeof(p), "%u", def->addrs[i].prefix);
		wattr(w, "prefix", p);
		xmlTextWriterEndElement(w);
	}
	if (def->gateway) {
		xmlTextWriterStartElement(w, X("route"));
		wattr(w, "gateway", ipv4_format(def->gateway, a));
		xmlTextWriterEndElement(w);
	}
	xmlTextWriterEndElement(w);
}

static void format_bridge(xmlTextWriterPtr w, const struct iface_def *def)
{
	char d[16];

	xmlTextWriterStartElement(w, X("bridge"));
	wattr(w, "stp", def->stp ? "on" : "off");
	if (def->delay_ms % 1000)
		snprintf(d, sizeof(d), "%u.%03u", def->delay_ms / 1000,
			 def->delay_ms % 1000);
	else
		snprintf(d, sizeof(d), "%u", def->delay_ms / 1000);
	wattr(w, "delay", d);
	for (size_t i = 0; i < def->nports; i++) {
		xmlTextWriterStartElement(w, X("interface"));
		wattr(w, "type", "ethernet");
		wattr(w, "name", def->ports[i].name);
		if (def->ports[i].has_mac)
			wmac(w, def->ports[i].mac);
		xmlTextWriterEndElement(w);
	}
	xmlTextWriterEndElement(w);
}

char *iface_def_format(const struct iface_def *def, const char *link_state)
{
	static const char *const modes[] = { "none", "onboot", "hotplug" };
	xmlBufferPtr buf = xmlBufferCreate();
	xmlTextWriterPtr w;
	char *out = NULL, n[16];

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
	xmlTextWriterStartElement(w, X("interface"));
	wattr(w, "type", def->type == IFACE_BRIDGE ? "bridge" : "ethernet");
	wattr(w, "name", def->name);
	if (def->has_start && def->start >= 0 && def->start < 3) {
		xmlTextWriterStartElement(w, X("start"));
		wattr(w, "mode", modes[def->start]);
		xmlTextWriterEndElement(w);
	}
	if (def->has_mac)
		wmac(w, def->mac);
	if (def->mtu) {
		xmlTextWriterStartElement(w, X("mtu"));
		snprintf(n, sizeof(n), "%u", def->mtu);
		wattr(w, "size", n);
		xmlTextWriterEndElement(w);
	}
	if (link_state) {
		xmlTextWriterStartElement(w, X("link"));
		wattr(w, "state", link_state);
		xmlTextWriterEndElement(w);
	}
	if (def->has_ipv4 || def->naddrs || def->gateway)
		format_protocol(w, def);
	if (def->type == IFACE_BRIDGE)
		format_bridge(w, def);
	xmlTextWriterEndElement(w);
	if (xmlTextWriterEndDocument(w) >= 0)
		out = strdup((const char *)xmlBufferContent(buf));
	xmlFreeTextWriter(w);
	xmlBufferFree(buf);
	return out;
}
