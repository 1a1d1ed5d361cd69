/*
 * A TAP device (/dev/net/tun) as the backend of virtio-net: frames carry
 * a 12-byte virtio_net_hdr (IFF_VNET_HDR), so checksum and segmentation
 * offloads pass between the guest and the host kernel untouched.
 */
#ifndef VIREO_VIRTIO_TAP_H
#define VIREO_VIRTIO_TAP_H

#include <stdbool.h>
#include <stddef.h>

#define TAP_VNET_HDR_LEN 12	/* struct virtio_net_hdr_v1 */

/*
 * Attach to TAP device name (created if we may and it does not exist),
 * non-blocking, with the vnet header. Returns the fd, or -errno with a
 * one-line reason in err.
 */
int tap_open(const char *name, char *err, size_t errlen);

/* Which offloads the host may hand us in received frames (TUNSETOFFLOAD). */
int tap_set_offloads(int fd, bool csum, bool tso4, bool tso6, bool ecn);

#endif
