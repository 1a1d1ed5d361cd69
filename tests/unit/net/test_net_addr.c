/*
 * IPv4 parsing and subnet arithmetic (overlap), MAC parsing and the
 * conflict-free 52:54:00 allocator.
 */
#include <errno.h>
#include <string.h>

#include "../tap.h"
#include "net/ipv4.h"
#include "net/mac.h"

static void test_ipv4(void)
{
	uint32_t a;
	unsigned p;
	char buf[IPV4_STR_MAX];

	CHECK_EQ(ipv4_parse("192.168.122.1", &a), 0);
	CHECK_EQ(a, 0xc0a87a01);
	CHECK(!strcmp(ipv4_format(a, buf), "192.168.122.1"));
	CHECK_EQ(ipv4_parse("0.0.0.0", &a), 0);
	CHECK_EQ(ipv4_parse("255.255.255.255", &a), 0);
	CHECK_EQ(a, 0xffffffff);
	CHECK(ipv4_parse("256.0.0.1", &a) < 0);
	CHECK(ipv4_parse("1.2.3", &a) < 0);
	CHECK(ipv4_parse("1.2.3.4.5", &a) < 0);
	CHECK(ipv4_parse("1.2.3.4 ", &a) < 0);
	CHECK(ipv4_parse("1..3.4", &a) < 0);
	CHECK(ipv4_parse("0001.2.3.4", &a) < 0);
	CHECK(ipv4_parse("", &a) < 0);
	CHECK(ipv4_parse("a.b.c.d", &a) < 0);

	CHECK_EQ(ipv4_netmask_prefix(0xffffff00, &p), 0);
	CHECK_EQ(p, 24);
	CHECK_EQ(ipv4_netmask_prefix(0, &p), 0);
	CHECK_EQ(p, 0);
	CHECK_EQ(ipv4_netmask_prefix(0xffffffff, &p), 0);
	CHECK_EQ(p, 32);
	CHECK(ipv4_netmask_prefix(0xff00ff00, &p) < 0);
	CHECK(ipv4_netmask_prefix(0x00ffffff, &p) < 0);
	CHECK_EQ(ipv4_prefix_mask(0), 0);
	CHECK_EQ(ipv4_prefix_mask(25), 0xffffff80);
	CHECK_EQ(ipv4_prefix_mask(32), 0xffffffff);
}

static void test_overlap(void)
{
	uint32_t a = 0x0a000000;	/* 10.0.0.0 */

	CHECK(ipv4_subnets_overlap(a, 8, 0x0a4d0001, 24));
	CHECK(ipv4_subnets_overlap(0x0a4d0001, 24, a, 8));
	CHECK(ipv4_subnets_overlap(0xc0a87a01, 24, 0xc0a87aff, 24));
	CHECK(!ipv4_subnets_overlap(0xc0a87a01, 24, 0xc0a87b01, 24));
	CHECK(!ipv4_subnets_overlap(0x0a4d0001, 25, 0x0a4d0081, 25));
	CHECK(ipv4_subnets_overlap(0x0a4d0001, 24, 0x0a4d0081, 25));
	CHECK(ipv4_subnets_overlap(0, 0, 0x01020304, 32));
	CHECK(ipv4_in_subnet(0x0a4d00fe, 0x0a4d0001, 24));
	CHECK(!ipv4_in_subnet(0x0a4d01fe, 0x0a4d0001, 24));
}

static void test_mac(void)
{
	uint8_t m[6];
	char buf[MAC_STR_MAX];

	CHECK_EQ(mac_parse("52:54:00:AB:cd:0f", m), 0);
	CHECK(!strcmp(mac_format(m, buf), "52:54:00:ab:cd:0f"));
	CHECK(mac_valid_unicast(m));
	CHECK(mac_parse("52:54:00:ab:cd", m) < 0);
	CHECK(mac_parse("52:54:00:ab:cd:0f:", m) < 0);
	CHECK(mac_parse("52-54-00-ab-cd-0f", m) < 0);
	CHECK(mac_parse("5:54:00:ab:cd:0f", m) < 0);
	CHECK(mac_parse("g2:54:00:ab:cd:0f", m) < 0);
	CHECK_EQ(mac_parse("01:00:5e:00:00:01", m), 0);
	CHECK(!mac_valid_unicast(m));
	CHECK_EQ(mac_parse("00:00:00:00:00:00", m), 0);
	CHECK(!mac_valid_unicast(m));
}

/* A generator that repeats a short cycle, to force collisions. */
static uint32_t cycle_rnd(void *opaque)
{
	unsigned *i = opaque;

	return 0x000100 + (*i)++ % 3;
}

static uint32_t fixed_rnd(void *opaque)
{
	return 7;
}

static void test_mac_alloc(void)
{
	uint8_t used[3][6], m[6];
	unsigned i = 0;

	CHECK_EQ(mac_alloc(NULL, 0, NULL, NULL, m), 0);
	CHECK(m[0] == 0x52 && m[1] == 0x54 && m[2] == 0x00);
	/* Each new address avoids the ones handed out before. */
	for (int k = 0; k < 3; k++) {
		CHECK_EQ(mac_alloc((const uint8_t (*)[6])used, (size_t)k,
				   cycle_rnd, &i, used[k]), 0);
		for (int j = 0; j < k; j++)
			CHECK(memcmp(used[j], used[k], 6) != 0);
	}
	/* All three cycle values taken: the allocator gives up cleanly. */
	CHECK_EQ(mac_alloc((const uint8_t (*)[6])used, 3, cycle_rnd, &i, m),
		 -EAGAIN);
	CHECK_EQ(mac_alloc(NULL, 0, fixed_rnd, NULL, m), 0);
	CHECK(!memcmp(m, "\x52\x54\x00\x00\x00\x07", 6));
}

int main(void)
{
	test_ipv4();
	test_overlap();
	test_mac();
	test_mac_alloc();
	return test_done();
}
