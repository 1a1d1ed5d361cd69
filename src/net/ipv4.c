/* IPv4 address and subnet arithmetic (see ipv4.h). */
#include "net/ipv4.h"

#include <errno.h>
#include <stdio.h>

int ipv4_parse(const char *s, uint32_t *out)
{
	uint32_t v = 0;

	for (int part = 0; part < 4; part++) {
		unsigned n = 0, digits = 0;

		while (*s >= '0' && *s <= '9') {
			n = n * 10 + (unsigned)(*s++ - '0');
			if (++digits > 3 || n > 255)
				return -EINVAL;
		}
		if (!digits)
			return -EINVAL;
		v = v << 8 | n;
		if (part < 3 && *s++ != '.')
			return -EINVAL;
	}
	if (*s)
		return -EINVAL;
	*out = v;
	return 0;
}

char *ipv4_format(uint32_t a, char *out)
{
	snprintf(out, IPV4_STR_MAX, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
		 (a >> 8) & 255, a & 255);
	return out;
}

uint32_t ipv4_prefix_mask(unsigned prefix)
{
	return prefix == 0 ? 0 : prefix >= 32 ? 0xffffffffu :
	       ~((1u << (32 - prefix)) - 1);
}

int ipv4_netmask_prefix(uint32_t mask, unsigned *prefix)
{
	unsigned p = 0;

	while (p < 32 && (mask & (0x80000000u >> p)))
		p++;
	if (ipv4_prefix_mask(p) != mask)
		return -EINVAL;
	*prefix = p;
	return 0;
}

bool ipv4_in_subnet(uint32_t addr, uint32_t net, unsigned prefix)
{
	uint32_t m = ipv4_prefix_mask(prefix);

	return (addr & m) == (net & m);
}

bool ipv4_subnets_overlap(uint32_t a, unsigned pa, uint32_t b, unsigned pb)
{
	/* Two prefixes overlap iff they agree on the shorter one's bits. */
	unsigned p = pa < pb ? pa : pb;

	return ipv4_in_subnet(a, b, p);
}
