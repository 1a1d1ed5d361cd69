/* Internal interfaces between the files of the virtio-pci transport. */
#ifndef VIREO_VIRTIO_VIRTIO_PCI_PRIV_H
#define VIREO_VIRTIO_VIRTIO_PCI_PRIV_H

#include "virtio/virtio_pci.h"

/* virtio_pci_irq.c, all with vd->lock held. */
#define VIRTIO_ISR_QUEUE	0x1
#define VIRTIO_ISR_CONFIG	0x2

void vp_interrupt(struct virtio_dev *vd, uint16_t vector, uint8_t isr_bit);
uint8_t vp_isr_read(struct virtio_dev *vd);
uint64_t vp_msix_read(struct virtio_dev *vd, uint64_t off, unsigned size);
void vp_msix_write(struct virtio_dev *vd, uint64_t off, unsigned size, uint64_t val);
void vp_msix_control(struct virtio_dev *vd, uint16_t ctrl);
void vp_irq_reset(struct virtio_dev *vd);
int vp_msix_init(struct virtio_dev *vd);

/* virtio_io.c: NEEDS_RESET with vd->lock held; the I/O thread. */
void vp_device_error_locked(struct virtio_dev *vd, const char *what);
int vp_io_start(struct virtio_dev *vd);
void vp_io_stop(struct virtio_dev *vd);

#endif
