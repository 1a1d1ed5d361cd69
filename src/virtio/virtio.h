/*
 * Constants of the virtio 1.x specification that the transport, the
 * virtqueue and the devices share: device status bits, feature bits and
 * device type ids. Everything on the wire is little-endian.
 */
#ifndef VIREO_VIRTIO_VIRTIO_H
#define VIREO_VIRTIO_VIRTIO_H

/* Device status (common configuration, device_status). */
#define VIRTIO_STATUS_ACKNOWLEDGE	0x01
#define VIRTIO_STATUS_DRIVER		0x02
#define VIRTIO_STATUS_DRIVER_OK		0x04
#define VIRTIO_STATUS_FEATURES_OK	0x08
#define VIRTIO_STATUS_NEEDS_RESET	0x40
#define VIRTIO_STATUS_FAILED		0x80

/* Transport and ring feature bits (numbers, not masks). */
#define VIRTIO_F_RING_INDIRECT_DESC	28
#define VIRTIO_F_RING_EVENT_IDX		29
#define VIRTIO_F_VERSION_1		32

#define VIRTIO_BIT(n)			(1ULL << (n))

/* Device types (PCI device id 0x1040 + type for modern devices). */
#define VIRTIO_ID_NET			1
#define VIRTIO_ID_BLOCK			2
#define VIRTIO_ID_CONSOLE		3
#define VIRTIO_ID_RNG			4
#define VIRTIO_ID_BALLOON		5

#define VIRTIO_PCI_VENDOR		0x1AF4
#define VIRTIO_PCI_DEVICE_MODERN(id)	(0x1040 + (id))

/* "No MSI-X vector" in config_msix_vector / queue_msix_vector. */
#define VIRTIO_MSI_NO_VECTOR		0xFFFF

#endif
