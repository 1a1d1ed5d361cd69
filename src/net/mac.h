/*
 * Ethernet MAC addresses: parsing, formatting and allocating guest
 * addresses under 52:54:00 (the prefix libvirt and QEMU use) without
 * colliding with addresses already in use.
 */
#ifndef VIREO_NET_MAC_H
#define VIREO_NET_MAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAC_STR_MAX 18		/* "52:54:00:12:34:56" + NUL */

/* "xx:xx:xx:xx:xx:xx" (hex, either case); 0 or -EINVAL. */
int mac_parse(const char *s, uint8_t mac[6]);
/* Lower-case form; out needs MAC_STR_MAX bytes; returns out. */
char *mac_format(const uint8_t mac[6], char *out);
/* Unicast and not all zero: usable by a NIC. */
bool mac_valid_unicast(const uint8_t mac[6]);
/*
 * Pick 52:54:00:xx:xx:xx not among used[0..n). rnd supplies randomness
 * (NULL: getrandom); 0, or -EAGAIN if no free address was found.
 */
int mac_alloc(const uint8_t (*used)[6], size_t n,
	      uint32_t (*rnd)(void *opaque), void *opaque, uint8_t out[6]);

#endif
