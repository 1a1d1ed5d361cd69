/* MAC address parsing and conflict-free allocation (see mac.h). */
#include "net/mac.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "lib/util.h"

int mac_parse(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		int hi = hex_value(s[0]), lo = hi < 0 ? -1 : hex_value(s[1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (i < 5 && *s++ != ':')
			return -EINVAL;
	}
	return *s ? -EINVAL : 0;
}

char *mac_format(const uint8_t m[6], char *out)
{
	snprintf(out, MAC_STR_MAX, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1],
		 m[2], m[3], m[4], m[5]);
	return out;
}

bool mac_valid_unicast(const uint8_t m[6])
{
	static const uint8_t zero[6];

	return !(m[0] & 1) && memcmp(m, zero, 6) != 0;
}

static uint32_t sys_random(void *opaque)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = 0;
	return v;
}

int mac_alloc(const uint8_t (*used)[6], size_t n,
	      uint32_t (*rnd)(void *opaque), void *opaque, uint8_t out[6])
{
	if (!rnd)
		rnd = sys_random;
	/* 2^24 addresses: random tries find a free one almost always. */
	for (int tries = 0; tries < 1000; tries++) {
		uint32_t r = rnd(opaque);
		uint8_t m[6] = { 0x52, 0x54, 0x00, (uint8_t)(r >> 16),
				 (uint8_t)(r >> 8), (uint8_t)r };
		bool taken = false;

		for (size_t i = 0; i < n && !taken; i++)
			taken = !memcmp(used[i], m, 6);
		if (!taken) {
			memcpy(out, m, 6);
			return 0;
		}
	}
	return -EAGAIN;
}
