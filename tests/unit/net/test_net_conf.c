/*
 * Generated configuration: dnsmasq's file for a network (DHCP range,
 * static hosts, bound to the bridge, isolated networks without upstream
 * DNS), the nftables table per forward mode, and lease-file parsing.
 */
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "net/dnsmasq_conf.h"
#include "net/nft_rules.h"

static void has(const char *text, const char *needle, bool want)
{
	if (!text || (strstr(text, needle) != NULL) != want) {
		fprintf(stderr, "text %s '%s':\n%s\n",
			want ? "lacks" : "has", needle, text ? text : "(null)");
		CHECK(0);
		return;
	}
	CHECK(1);
}

static struct net_def *sample(int forward)
{
	struct net_def *d = calloc(1, sizeof(*d));

	d->name = strdup("n1");
	d->bridge = strdup("virbr7");
	d->forward = forward;
	d->has_ip = true;
	d->ip = 0xc0a87a01;	/* 192.168.122.1/24 */
	d->prefix = 24;
	d->has_dhcp = true;
	d->range_start = 0xc0a87a02;
	d->range_end = 0xc0a87afe;
	d->nhosts = 2;
	d->hosts[0].has_mac = true;
	memcpy(d->hosts[0].mac, "\x52\x54\x00\x01\x02\x03", 6);
	d->hosts[0].ip = 0xc0a87a0a;
	d->hosts[0].name = strdup("web");
	d->hosts[1].ip = 0xc0a87a0b;
	d->hosts[1].name = strdup("db");
	return d;
}

static void test_dnsmasq(void)
{
	struct net_def *d = sample(NET_FWD_NAT);
	char *c = dnsmasq_conf(d, "/s/n1.pid", "/s/n1.leases");

	has(c, "interface=virbr7\n", true);
	has(c, "bind-dynamic\n", true);
	has(c, "except-interface=lo\n", true);
	has(c, "pid-file=/s/n1.pid\n", true);
	has(c, "dhcp-leasefile=/s/n1.leases\n", true);
	has(c, "listen-address=192.168.122.1\n", true);
	has(c, "dhcp-range=192.168.122.2,192.168.122.254,255.255.255.0\n",
	    true);
	has(c, "dhcp-lease-max=255\n", true);
	has(c, "dhcp-host=52:54:00:01:02:03,192.168.122.10,web\n", true);
	has(c, "dhcp-host=192.168.122.11,db\n", true);
	has(c, "no-resolv", false);
	has(c, "dhcp-option=3", false);
	free(c);
	d->forward = NET_FWD_NONE;
	d->has_dhcp = false;
	d->domain = strdup("lab");
	c = dnsmasq_conf(d, "/p", "/l");
	has(c, "no-resolv\n", true);
	has(c, "dhcp-option=3\n", true);
	has(c, "dhcp-range", false);
	has(c, "dhcp-host", false);
	has(c, "domain=lab\n", true);
	has(c, "local=/lab/\n", true);
	free(c);
	/* <dns>: forwarders, host records; enable='no' turns DNS off. */
	d->forward = NET_FWD_NAT;
	d->has_dns = true;
	d->forwarders[0].has_addr = true;
	d->forwarders[0].addr = 0x0a000035;
	d->forwarders[0].domain = strdup("corp");
	d->nforwarders = 1;
	d->dns_hosts[0].ip = 0xc0a87a05;
	d->dns_hosts[0].names[0] = strdup("db");
	d->dns_hosts[0].names[1] = strdup("db.lab");
	d->dns_hosts[0].nnames = 2;
	d->ndns_hosts = 1;
	c = dnsmasq_conf(d, "/p", "/l");
	has(c, "server=/corp/10.0.0.53\n", true);
	has(c, "no-resolv", false);		/* only one domain forwarded */
	has(c, "host-record=db,db.lab,192.168.122.5\n", true);
	has(c, "port=0", false);
	free(c);
	d->forwarders[1].domain = strdup("www.corp");
	d->forwarders[2].has_addr = true;
	d->forwarders[2].addr = 0x0a000036;
	d->nforwarders = 3;
	c = dnsmasq_conf(d, "/p", "/l");
	has(c, "server=/www.corp/#\n", true);
	has(c, "server=10.0.0.54\nno-resolv\n", true);	/* replaces resolv.conf */
	free(c);
	d->dns_disabled = true;
	c = dnsmasq_conf(d, "/p", "/l");
	has(c, "port=0\n", true);
	has(c, "server=", false);
	has(c, "host-record", false);
	free(c);
	net_def_free(d);
}

static void test_nft(void)
{
	struct net_def *d = sample(NET_FWD_NAT);
	char table[NFT_TABLE_MAX], *r;

	nft_table_name("br-x.1", table);
	CHECK(!strcmp(table, "vireo_br_x_1"));
	nft_table_name("virbr7", table);
	CHECK(!strcmp(table, "vireo_virbr7"));

	r = nft_ruleset(d);
	/* Replaced atomically: declare, delete, then define afresh. */
	has(r, "table ip vireo_virbr7 {}\ndelete table ip vireo_virbr7\n"
	    "table ip vireo_virbr7 {\n", true);
	has(r, "ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 masquerade",
	    true);
	has(r, "iifname \"virbr7\" ip saddr 192.168.122.0/24 accept", true);
	has(r, "oifname \"virbr7\" ip daddr 192.168.122.0/24 ct state related,established accept",
	    true);
	has(r, "iifname \"virbr7\" reject", true);
	free(r);

	d->forward = NET_FWD_ROUTE;
	r = nft_ruleset(d);
	has(r, "masquerade", false);
	has(r, "type nat", false);
	has(r, "oifname \"virbr7\" ip daddr 192.168.122.0/24 accept", true);
	free(r);

	d->forward = NET_FWD_NONE;
	r = nft_ruleset(d);
	has(r, "masquerade", false);
	has(r, "ip saddr", false);
	has(r, "iifname \"virbr7\" oifname \"virbr7\" accept", true);
	has(r, "iifname \"virbr7\" reject", true);
	has(r, "oifname \"virbr7\" reject", true);
	free(r);

	d->forward = NET_FWD_NAT;
	d->forward_dev = strdup("eth9");
	r = nft_ruleset(d);
	has(r, "oifname \"eth9\" masquerade", true);
	free(r);

	r = nft_delete_script(d);
	CHECK(!strcmp(r, "table ip vireo_virbr7 {}\ndelete table ip vireo_virbr7\n"));
	free(r);

	d->forward = NET_FWD_BRIDGE;
	r = nft_ruleset(d);
	CHECK(r && !r[0]);
	free(r);
	net_def_free(d);
}

static void test_leases(void)
{
	struct dnsmasq_lease l[4];
	const char *text =
		"1795632171 52:54:00:aa:bb:cc 10.77.0.5 fixed 01:52:54:00:aa:bb:cc\n"
		"duid 00:01:00:01:2c:aa\n"
		"0 52:54:00:00:00:01 10.77.0.6 * *\n"
		"garbage line\n"
		"12 zz:54:00:00:00:01 10.77.0.7 * *\n"
		"13 52:54:00:00:00:02 10.77.0.888 * *\n"
		"14 52:54:00:00:00:03 10.77.0.9";

	size_t n = dnsmasq_parse_leases(text, l, 4);

	CHECK_EQ(n, 3);
	CHECK_EQ(l[0].expiry, 1795632171);
	CHECK_EQ(l[0].ip, 0x0a4d0005);
	CHECK(!strcmp(l[0].hostname, "fixed"));
	CHECK(!strcmp(l[0].clientid, "01:52:54:00:aa:bb:cc"));
	CHECK_EQ(l[1].expiry, 0);
	CHECK(!l[1].hostname[0] && !l[1].clientid[0]);
	CHECK_EQ(l[2].mac[5], 3);
	CHECK_EQ(dnsmasq_parse_leases(text, l, 1), 1);
	CHECK_EQ(dnsmasq_parse_leases("", l, 4), 0);
}

int main(void)
{
	test_dnsmasq();
	test_nft();
	test_leases();
	return test_done();
}
