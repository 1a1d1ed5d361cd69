/* TAP backend for virtio-net: open, vnet header, offloads. */
#include "virtio/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int tap_open(const char *name, char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd, hdr = TAP_VNET_HDR_LEN, r;
	unsigned features = 0;

	if (strlen(name) >= IFNAMSIZ) {
		snprintf(err, errlen, "TAP name '%s' is too long", name);
		return -EINVAL;
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "/dev/net/tun: %s", strerror(errno));
		return r;
	}
	if (ioctl(fd, TUNGETFEATURES, &features) == 0 && !(features & IFF_VNET_HDR)) {
		snprintf(err, errlen, "the host's TAP driver lacks IFF_VNET_HDR");
		close(fd);
		return -ENOTSUP;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		r = -errno;
		if (errno == EPERM)
			snprintf(err, errlen, "TAP '%s': not permitted (needs CAP_NET_ADMIN, or a "
				 "persistent TAP owned by this user)", name);
		else if (errno == EBUSY)
			snprintf(err, errlen, "TAP '%s' is in use by another process", name);
		else
			snprintf(err, errlen, "TAP '%s': %s", name, strerror(errno));
		close(fd);
		return r;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		r = -errno;
		snprintf(err, errlen, "TAP '%s': cannot set the vnet header size: %s", name,
			 strerror(errno));
		close(fd);
		return r;
	}
	/* Until the driver negotiates offloads, only plain frames. */
	tap_set_offloads(fd, false, false, false, false);
	return fd;
}

int tap_set_offloads(int fd, bool csum, bool tso4, bool tso6, bool ecn)
{
	unsigned long f = 0;

	if (csum) {
		f |= TUN_F_CSUM;
		if (tso4)
			f |= TUN_F_TSO4;
		if (tso6)
			f |= TUN_F_TSO6;
		if ((tso4 || tso6) && ecn)
			f |= TUN_F_TSO_ECN;
	}
	return ioctl(fd, TUNSETOFFLOAD, f) < 0 ? -errno : 0;
}
