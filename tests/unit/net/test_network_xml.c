/*
 * The network XML parser and formatter: a full definition, generated
 * defaults, the round trip, and each refusal with libvirt's error code.
 */
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "daemon/network_xml.h"
#include "daemon/protocol.h"

static int parse(const char *xml, struct net_def **def,
		 struct vir_error *err)
{
	vir_error_clear(err);
	*def = NULL;
	return network_def_parse(xml, strlen(xml), def, err);
}

static void refused(const char *xml, int code, const char *needle)
{
	struct net_def *def;
	struct vir_error err;

	CHECK_EQ(parse(xml, &def, &err), -1);
	CHECK(def == NULL);
	CHECK_EQ(err.code, code);
	if (!strstr(err.message, needle)) {
		fprintf(stderr, "message '%s' lacks '%s'\n", err.message,
			needle);
		CHECK(0);
	}
}

static const char full[] =
	"<network>\n"
	"  <name>lab</name>\n"
	"  <uuid>0f0e0d0c-0b0a-0908-0706-050403020100</uuid>\n"
	"  <forward mode='route' dev='eth0'/>\n"
	"  <bridge name='vbr-lab' stp='on' delay='0'/>\n"
	"  <mac address='52:54:00:12:34:56'/>\n"
	"  <domain name='lab.test'/>\n"
	"  <dns>\n"
	"    <forwarder addr='10.9.0.53'/>\n"
	"    <forwarder domain='corp.test' addr='10.9.0.54'/>\n"
	"    <forwarder domain='local.test'/>\n"
	"    <host ip='10.9.8.5'><hostname>db</hostname>"
	"<hostname>db.lab.test</hostname></host>\n"
	"    <host ip='192.0.2.7'><hostname>outside</hostname></host>\n"
	"  </dns>\n"
	"  <ip address='10.9.8.1' netmask='255.255.255.0'>\n"
	"    <dhcp>\n"
	"      <range start='10.9.8.100' end='10.9.8.199'/>\n"
	"      <host mac='52:54:00:00:00:01' name='a' ip='10.9.8.10'/>\n"
	"      <host name='b' ip='10.9.8.11'/>\n"
	"    </dhcp>\n"
	"  </ip>\n"
	"</network>\n";

static void test_full(void)
{
	struct net_def *def, *again;
	struct vir_error err;
	char *x1, *x2;

	CHECK_EQ(parse(full, &def, &err), 0);
	if (!def)
		return;
	CHECK(!strcmp(def->name, "lab"));
	CHECK_EQ(def->uuid[0], 0x0f);
	CHECK_EQ(def->forward, NET_FWD_ROUTE);
	CHECK(!strcmp(def->forward_dev, "eth0"));
	CHECK(!strcmp(def->bridge, "vbr-lab"));
	CHECK(def->stp);
	CHECK_EQ(def->mac[5], 0x56);
	CHECK(!strcmp(def->domain, "lab.test"));
	CHECK_EQ(def->ip, 0x0a090801);
	CHECK_EQ(def->prefix, 24);
	CHECK(def->has_dhcp);
	CHECK_EQ(def->range_start, 0x0a090864);
	CHECK_EQ(def->range_end, 0x0a0908c7);
	CHECK_EQ(def->nhosts, 2);
	CHECK(def->hosts[0].has_mac && !def->hosts[1].has_mac);
	CHECK(!strcmp(def->hosts[1].name, "b"));
	CHECK(def->has_dns && !def->dns_disabled);
	CHECK_EQ(def->nforwarders, 3);
	CHECK(def->forwarders[0].has_addr && !def->forwarders[0].domain);
	CHECK(!def->forwarders[2].has_addr &&
	      !strcmp(def->forwarders[2].domain, "local.test"));
	CHECK_EQ(def->ndns_hosts, 2);
	CHECK_EQ(def->dns_hosts[0].nnames, 2);
	CHECK(!strcmp(def->dns_hosts[0].names[1], "db.lab.test"));
	CHECK_EQ(def->dns_hosts[1].ip, 0xc0000207);
	x1 = network_def_format(def);
	CHECK_EQ(parse(x1, &again, &err), 0);
	x2 = again ? network_def_format(again) : NULL;
	CHECK(x1 && x2 && !strcmp(x1, x2));
	CHECK(x1 && strstr(x1, "<forward mode='route' dev='eth0'/>"));
	CHECK(x1 && strstr(x1, "<range start='10.9.8.100' end='10.9.8.199'/>"));
	CHECK(x1 && strstr(x1, "<forwarder addr='10.9.0.54' domain='corp.test'/>"));
	CHECK(x1 && strstr(x1, "<host ip='10.9.8.5'>"));
	CHECK(x1 && strstr(x1, "<hostname>db.lab.test</hostname>"));
	free(x1);
	free(x2);
	net_def_free(again);
	net_def_free(def);
}

static void test_defaults(void)
{
	struct net_def *def;
	struct vir_error err;

	/* Isolated (no <forward>), prefix form, uuid and mac generated. */
	CHECK_EQ(parse("<network><name>iso</name>"
		       "<ip address='10.1.2.1' prefix='16'/></network>",
		       &def, &err), 0);
	if (!def)
		return;
	CHECK_EQ(def->forward, NET_FWD_NONE);
	CHECK_EQ(def->prefix, 16);
	CHECK(def->bridge == NULL);
	CHECK(def->has_mac && def->mac[0] == 0x52 && def->mac[1] == 0x54);
	CHECK(!def->has_dhcp);
	CHECK(net_def_wants_dnsmasq(def));
	net_def_free(def);

	/* <forward/> alone is NAT, as in libvirt. */
	CHECK_EQ(parse("<network><name>n</name><forward/>"
		       "<ip address='10.1.2.1' prefix='24'/></network>",
		       &def, &err), 0);
	CHECK(def && def->forward == NET_FWD_NAT);
	net_def_free(def);

	/* A host bridge: no address, no dnsmasq, no mac of its own. */
	CHECK_EQ(parse("<network><name>hb</name><forward mode='bridge'/>"
		       "<bridge name='br0'/></network>", &def, &err), 0);
	CHECK(def && def->forward == NET_FWD_BRIDGE && !def->has_mac &&
	      !net_def_wants_dnsmasq(def) && !net_def_owns_bridge(def));
	net_def_free(def);
}

#define IP24 "<ip address='10.0.0.1' netmask='255.255.255.0'>"

static void test_refusals(void)
{
	refused("<network><name>x</name>", VIR_ERR_XML_ERROR,
		"(network_definition):1:");
	refused("<domain/>", VIR_ERR_XML_ERROR, "expecting <network>");
	refused("<!DOCTYPE network [<!ENTITY a 'b'>]><network><name>x</name>"
		"</network>", VIR_ERR_XML_ERROR, "DOCTYPE");
	refused("<network><ip address='10.0.0.1' prefix='24'/></network>",
		VIR_ERR_XML_ERROR, "missing network name");
	refused("<network><name>a/b</name></network>", VIR_ERR_XML_ERROR,
		"invalid network name");
	refused("<network><name>x</name><uuid>nope</uuid></network>",
		VIR_ERR_XML_ERROR, "malformed uuid");
	refused("<network><name>x</name><portgroup/></network>",
		VIR_ERR_CONFIG_UNSUPPORTED, "<portgroup> in <network>");
	refused("<network><name>x</name><forward mode='hostdev'/></network>",
		VIR_ERR_CONFIG_UNSUPPORTED, "hostdev");
	refused("<network><name>x</name><forward mode='nat'/></network>",
		VIR_ERR_XML_ERROR, "needs an <ip>");
	refused("<network><name>x</name><forward mode='nat'><nat/></forward>"
		IP24 "</ip></network>", VIR_ERR_CONFIG_UNSUPPORTED,
		"<nat> in <forward>");
	refused("<network><name>x</name><bridge name='this-name-is-too-long'/>"
		"</network>", VIR_ERR_XML_ERROR, "invalid bridge name");
	refused("<network><name>x</name><forward mode='bridge'/>"
		"<bridge name='br0'/>" IP24 "</ip></network>",
		VIR_ERR_XML_ERROR, "takes no <ip>");
	refused("<network><name>x</name><forward mode='bridge'/></network>",
		VIR_ERR_XML_ERROR, "needs a <bridge name>");
	refused("<network><name>x</name><mac address='01:00:5e:00:00:01'/>"
		"</network>", VIR_ERR_XML_ERROR, "invalid MAC");
	refused("<network><name>x</name><ip family='ipv6' address='fd00::1' "
		"prefix='64'/></network>", VIR_ERR_CONFIG_UNSUPPORTED, "ipv6");
	refused("<network><name>x</name><ip address='10.0.0.300' prefix='24'/>"
		"</network>", VIR_ERR_XML_ERROR, "invalid IPv4 address");
	refused("<network><name>x</name><ip address='10.0.0.1' "
		"netmask='255.0.255.0'/></network>", VIR_ERR_XML_ERROR,
		"invalid netmask");
	refused("<network><name>x</name><ip address='10.0.0.1'/></network>",
		VIR_ERR_XML_ERROR, "exactly one of netmask and prefix");
	refused("<network><name>x</name><ip address='10.0.0.1' prefix='33'/>"
		"</network>", VIR_ERR_XML_ERROR, "invalid prefix");
	refused("<network><name>x</name><ip address='10.0.0.0' prefix='24'/>"
		"</network>", VIR_ERR_XML_ERROR, "network or broadcast");
	refused("<network><name>x</name>" IP24 "<dhcp><range start='10.0.1.2' "
		"end='10.0.1.9'/></dhcp></ip></network>", VIR_ERR_XML_ERROR,
		"DHCP range");
	refused("<network><name>x</name>" IP24 "<dhcp><range start='10.0.0.9' "
		"end='10.0.0.2'/></dhcp></ip></network>", VIR_ERR_XML_ERROR,
		"DHCP range");
	refused("<network><name>x</name>" IP24 "<dhcp><range start='10.0.0.2' "
		"end='10.0.0.255'/></dhcp></ip></network>", VIR_ERR_XML_ERROR,
		"DHCP range");
	refused("<network><name>x</name>" IP24 "<dhcp><host mac='52:54:00:0:0:1'"
		" ip='10.0.0.5'/></dhcp></ip></network>", VIR_ERR_XML_ERROR,
		"invalid MAC");
	refused("<network><name>x</name>" IP24 "<dhcp><host name='h' "
		"ip='10.0.9.5'/></dhcp></ip></network>", VIR_ERR_XML_ERROR,
		"not a host address");
	refused("<network><name>x</name>" IP24 "<dhcp><host ip='10.0.0.5'/>"
		"</dhcp></ip></network>", VIR_ERR_XML_ERROR,
		"needs a mac or a name");
	refused("<network><name>x</name>" IP24 "<dhcp><host name='a,b' "
		"ip='10.0.0.5'/></dhcp></ip></network>", VIR_ERR_XML_ERROR,
		"invalid DHCP host name");
	refused("<network><name>x</name>" IP24 "</ip>" IP24 "</ip></network>",
		VIR_ERR_CONFIG_UNSUPPORTED, "only one <ip>");
	refused("<network><name>x</name><dns><host ip='10.0.0.5'/></dns>"
		"</network>", VIR_ERR_XML_ERROR, "at least one <hostname>");
	refused("<network><name>x</name><dns><host><hostname>a</hostname>"
		"</host></dns></network>", VIR_ERR_XML_ERROR, "missing ip");
	refused("<network><name>x</name><dns><host ip='10.0.0.5'><hostname>"
		"a,b</hostname></host></dns></network>", VIR_ERR_XML_ERROR,
		"invalid DNS host name 'a,b'");
	refused("<network><name>x</name><dns><host ip='10.0.0.5'><hostname>"
		"a\nserver=1.2.3.4</hostname></host></dns></network>",
		VIR_ERR_XML_ERROR, "invalid DNS host name");
	refused("<network><name>x</name><dns><host ip='10.0.0.5'><hostname>"
		"</hostname></host></dns></network>", VIR_ERR_XML_ERROR, "");
	refused("<network><name>x</name><dns><host ip='10.0.0.5'><alias/>"
		"</host></dns></network>", VIR_ERR_CONFIG_UNSUPPORTED, "alias");
	refused("<network><name>x</name><dns><forwarder/></dns></network>",
		VIR_ERR_XML_ERROR, "needs an addr or a domain");
	refused("<network><name>x</name><dns><forwarder addr='1.2.3'/></dns>"
		"</network>", VIR_ERR_XML_ERROR, "invalid IPv4 address");
	refused("<network><name>x</name><dns><forwarder domain='a/b'/></dns>"
		"</network>", VIR_ERR_XML_ERROR, "invalid DNS forwarder domain");
	refused("<network><name>x</name><dns enable='maybe'/></network>",
		VIR_ERR_XML_ERROR, "invalid <dns enable='maybe'>");
	refused("<network><name>x</name><dns/><dns/></network>",
		VIR_ERR_XML_ERROR, "more than one <dns>");
	refused("<network><name>x</name><dns enable='no'><host ip='10.0.0.5'>"
		"<hostname>a</hostname></host></dns></network>",
		VIR_ERR_XML_ERROR, "takes no hosts or forwarders");
	refused("<network><name>x</name><dns><srv service='x'/></dns>"
		"</network>", VIR_ERR_CONFIG_UNSUPPORTED, "srv");
	refused("<network><name>x</name><forward mode='bridge'/>"
		"<bridge name='br0'/><dns/></network>", VIR_ERR_XML_ERROR,
		"takes no <ip>, <mac>, <domain> or <dns>");
}

int main(void)
{
	test_full();
	test_defaults();
	test_refusals();
	return test_done();
}
