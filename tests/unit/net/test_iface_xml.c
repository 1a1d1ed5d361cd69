/*
 * The host interface XML parser and formatter: the documents virsh
 * iface-bridge and iface-unbridge build, the round trip, and each refusal
 * with libvirt's error code.
 */
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "daemon/iface_xml.h"
#include "daemon/protocol.h"

static int parse(const char *xml, struct iface_def *def, struct vir_error *err)
{
	vir_error_clear(err);
	memset(def, 0, sizeof(*def));
	return iface_def_parse(xml, strlen(xml), def, err);
}

static void refused(const char *xml, int code, const char *needle)
{
	struct iface_def def;
	struct vir_error err;

	CHECK_EQ(parse(xml, &def, &err), -1);
	CHECK_EQ(err.code, code);
	if (!strstr(err.message, needle)) {
		fprintf(stderr, "message '%s' lacks '%s'\n", err.message, needle);
		CHECK(0);
	}
}

/* What virsh iface-bridge sends: the NIC's XML, retyped, mac moved down. */
static const char bridge_doc[] =
	"<?xml version=\"1.0\"?>\n"
	"<interface type='bridge' name='br0'>\n"
	"  <mtu size='1500'/>\n"
	"  <protocol family='ipv4'>\n"
	"    <ip address='10.99.0.1' prefix='24'/>\n"
	"    <ip address='10.98.0.1' prefix='16'/>\n"
	"    <route gateway='10.99.0.2'/>\n"
	"  </protocol>\n"
	"  <bridge stp='on' delay='0'>\n"
	"    <interface type='ethernet' name='eth0'>\n"
	"      <mac address='52:54:00:AB:cd:01'/>\n"
	"    </interface>\n"
	"  </bridge>\n"
	"</interface>\n";

static void test_bridge(void)
{
	struct iface_def def, again;
	struct vir_error err;
	char *x1, *x2;

	CHECK_EQ(parse(bridge_doc, &def, &err), 0);
	CHECK(!strcmp(def.name, "br0"));
	CHECK_EQ(def.type, IFACE_BRIDGE);
	CHECK_EQ(def.mtu, 1500);
	CHECK_EQ(def.naddrs, 2);
	CHECK_EQ(def.addrs[0].ip, 0x0a630001);
	CHECK_EQ(def.addrs[0].prefix, 24);
	CHECK_EQ(def.addrs[1].prefix, 16);
	CHECK_EQ(def.gateway, 0x0a630002);
	CHECK(def.stp);
	CHECK_EQ(def.delay_ms, 0);
	CHECK_EQ(def.nports, 1);
	CHECK(!strcmp(def.ports[0].name, "eth0"));
	CHECK(def.ports[0].has_mac && def.ports[0].mac[3] == 0xab);
	CHECK(!def.has_mac);

	x1 = iface_def_format(&def, NULL);
	CHECK(x1 && strstr(x1, "<bridge stp='on' delay='0'>"));
	CHECK(x1 && strstr(x1, "<mac address='52:54:00:ab:cd:01'/>"));
	CHECK(x1 && !strstr(x1, "<link"));
	CHECK_EQ(parse(x1, &again, &err), 0);
	x2 = iface_def_format(&again, NULL);
	CHECK(x1 && x2 && !strcmp(x1, x2));
	free(x1);
	free(x2);

	x1 = iface_def_format(&def, "up");
	CHECK(x1 && strstr(x1, "<link state='up'/>"));
	free(x1);
}

/* What virsh iface-unbridge sends: retyped back, <bridge> left behind. */
static void test_unbridge_doc(void)
{
	static const char doc[] =
		"<interface type='ethernet' name='eth0'>\n"
		"  <protocol family='ipv4'><ip address='10.99.0.1' prefix='24'/>"
		"</protocol>\n"
		"  <bridge stp='on' delay='0'><interface type='ethernet' name='eth0'/>"
		"</bridge>\n"
		"  <mac address='52:54:00:ab:cd:01'/>\n"
		"</interface>\n";
	struct iface_def def;
	struct vir_error err;

	CHECK_EQ(parse(doc, &def, &err), 0);
	CHECK_EQ(def.type, IFACE_ETHERNET);
	CHECK(def.has_mac);
	CHECK_EQ(def.nports, 0);
	CHECK_EQ(def.naddrs, 1);
}

static void test_values(void)
{
	struct iface_def def;
	struct vir_error err;
	char *x;

	CHECK_EQ(parse("<interface type='bridge' name='b'><start mode='onboot'/>"
		       "<bridge stp='off' delay='1.5'/></interface>", &def, &err), 0);
	CHECK(!def.stp);
	CHECK_EQ(def.delay_ms, 1500);
	CHECK(def.has_start && def.start == IFACE_START_ONBOOT);
	x = iface_def_format(&def, NULL);
	CHECK(x && strstr(x, "delay='1.500'") && strstr(x, "<start mode='onboot'/>"));
	free(x);
	/* An address without a prefix is a host address. */
	CHECK_EQ(parse("<interface type='ethernet' name='e'><protocol family='ipv4'>"
		       "<ip address='10.1.1.1'/></protocol></interface>", &def, &err), 0);
	CHECK_EQ(def.addrs[0].prefix, 32);
	/* Live state in a dumped document is ignored. */
	CHECK_EQ(parse("<interface type='ethernet' name='e'><link state='up' speed='1000'/>"
		       "</interface>", &def, &err), 0);
}

static void test_refusals(void)
{
	refused("<interface type='bridge'", VIR_ERR_XML_ERROR, "XML error");
	refused("<network/>", VIR_ERR_XML_ERROR, "expecting <interface>");
	refused("<interface type='bond' name='b'/>", VIR_ERR_CONFIG_UNSUPPORTED, "bond");
	refused("<interface type='vlan' name='v'/>", VIR_ERR_CONFIG_UNSUPPORTED, "vlan");
	refused("<interface name='x'/>", VIR_ERR_XML_ERROR, "type");
	refused("<interface type='ethernet'/>", VIR_ERR_XML_ERROR, "interface name");
	refused("<interface type='ethernet' name='a/b'/>", VIR_ERR_XML_ERROR, "a/b");
	refused("<interface type='ethernet' name='abcdefghijklmnop'/>", VIR_ERR_XML_ERROR,
		"invalid interface name");
	refused("<interface type='ethernet' name='e'><mac address='zz'/></interface>",
		VIR_ERR_XML_ERROR, "MAC");
	refused("<interface type='ethernet' name='e'><mtu size='10'/></interface>",
		VIR_ERR_XML_ERROR, "mtu");
	refused("<interface type='ethernet' name='e'><protocol family='ipv6'/></interface>",
		VIR_ERR_CONFIG_UNSUPPORTED, "ipv6");
	refused("<interface type='ethernet' name='e'><protocol family='ipv4'><dhcp/>"
		"</protocol></interface>", VIR_ERR_CONFIG_UNSUPPORTED, "DHCP");
	refused("<interface type='ethernet' name='e'><protocol family='ipv4'>"
		"<ip address='300.1.1.1' prefix='24'/></protocol></interface>",
		VIR_ERR_XML_ERROR, "300.1.1.1");
	refused("<interface type='ethernet' name='e'><protocol family='ipv4'>"
		"<ip address='10.1.1.1' prefix='33'/></protocol></interface>",
		VIR_ERR_XML_ERROR, "prefix");
	refused("<interface type='ethernet' name='e'><protocol family='ipv4'>"
		"<ip address='10.1.1.1' prefix='24'/><ip address='10.1.1.1' prefix='16'/>"
		"</protocol></interface>", VIR_ERR_XML_ERROR, "twice");
	refused("<interface type='ethernet' name='e'><protocol family='ipv4'>"
		"<ip address='10.1.1.1' prefix='24'/><route gateway='10.2.0.1'/>"
		"</protocol></interface>", VIR_ERR_XML_ERROR, "gateway 10.2.0.1");
	refused("<interface type='bridge' name='b'><bridge delay='31'/></interface>",
		VIR_ERR_XML_ERROR, "delay");
	refused("<interface type='bridge' name='b'><bridge delay='0.0001'/></interface>",
		VIR_ERR_XML_ERROR, "delay");
	refused("<interface type='bridge' name='b'><bridge stp='maybe'/></interface>",
		VIR_ERR_XML_ERROR, "stp");
	refused("<interface type='bridge' name='b'><bridge><interface type='ethernet' "
		"name='b'/></bridge></interface>", VIR_ERR_XML_ERROR, "own port");
	refused("<interface type='bridge' name='b'><bridge><interface type='ethernet' "
		"name='e'/><interface type='ethernet' name='e'/></bridge></interface>",
		VIR_ERR_XML_ERROR, "twice");
	refused("<interface type='bridge' name='b'><bridge><interface type='bond' "
		"name='e'/></bridge></interface>", VIR_ERR_CONFIG_UNSUPPORTED, "bond");
	refused("<interface type='bridge' name='b'><bridge/><bridge/></interface>",
		VIR_ERR_XML_ERROR, "more than one <bridge>");
	refused("<interface type='ethernet' name='e'><vlan tag='5'/></interface>",
		VIR_ERR_CONFIG_UNSUPPORTED, "vlan");
	refused("<!DOCTYPE interface [<!ENTITY a 'x'>]><interface type='ethernet' "
		"name='e'/>", VIR_ERR_XML_ERROR, "DOCTYPE");
}

int main(void)
{
	test_bridge();
	test_unbridge_doc();
	test_values();
	test_refusals();
	return test_done();
}
