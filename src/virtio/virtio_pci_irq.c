/*
 * virtio-pci interrupts: MSI-X (table and PBA in the device's BAR, the
 * capability's Enable and Function Mask bits in config space) and the
 * INTx fallback with the ISR status register.
 *
 * A message goes out through irq_chip->msi: KVM_SIGNAL_MSI on kvm, the
 * emulated LAPICs on emu. A masked vector (entry or whole function) sets
 * its pending bit instead, and the message is sent when it is unmasked.
 * Everything here runs with vd->lock held.
 */
#include "virtio/virtio_pci_priv.h"

#include <string.h>

#define MSIX_CTRL_MASKED	1u
#define MSIX_FLAG_ENABLE	0x8000
#define MSIX_FLAG_MASKALL	0x4000

static void send_vector(struct virtio_dev *vd, unsigned v)
{
	struct msix_entry *e = &vd->msix[v];

	if (vd->msix_masked || (e->ctrl & MSIX_CTRL_MASKED)) {
		vd->pba |= 1u << v;
		return;
	}
	vd->pba &= ~(1u << v);
	vd->irq->msi(vd->irq, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
}

/* Raise INTx for ISR bit isr_bit, or send vector on MSI-X. */
void vp_interrupt(struct virtio_dev *vd, uint16_t vector, uint8_t isr_bit)
{
	if (vd->msix_enabled) {
		if (vector < vd->nr_vectors)
			send_vector(vd, vector);
		return;
	}
	vd->isr |= isr_bit;
	pci_set_irq(&vd->pci, 1);
}

uint8_t vp_isr_read(struct virtio_dev *vd)
{
	uint8_t isr = vd->isr;

	/* Reading ISR acknowledges it (4.1.4.5). */
	vd->isr = 0;
	pci_set_irq(&vd->pci, 0);
	return isr;
}

/* Unmasking delivers what was held back. */
static void flush_pending(struct virtio_dev *vd)
{
	if (!vd->msix_enabled || vd->msix_masked)
		return;
	for (unsigned v = 0; v < vd->nr_vectors; v++)
		if ((vd->pba & (1u << v)) && !(vd->msix[v].ctrl & MSIX_CTRL_MASKED))
			send_vector(vd, v);
}

uint64_t vp_msix_read(struct virtio_dev *vd, uint64_t off, unsigned size)
{
	uint8_t bytes[VIRTIO_MAX_VECTORS * 16];
	uint64_t val = 0;

	if (off >= VIRTIO_PCI_PBA_OFF - VIRTIO_PCI_MSIX_OFF) {
		off -= VIRTIO_PCI_PBA_OFF - VIRTIO_PCI_MSIX_OFF;
		return off < 8 ? (uint64_t)vd->pba >> (8 * off) : 0;
	}
	memcpy(bytes, vd->msix, sizeof(bytes));
	for (unsigned i = 0; i < size; i++)
		if (off + i < vd->nr_vectors * 16u)
			val |= (uint64_t)bytes[off + i] << (8 * i);
	/* Sizes other than 1..8 never reach us; mask to the access size. */
	return size >= 8 ? val : val & ((1ULL << (8 * size)) - 1);
}

void vp_msix_write(struct virtio_dev *vd, uint64_t off, unsigned size, uint64_t val)
{
	uint8_t bytes[VIRTIO_MAX_VECTORS * 16];

	if (off >= VIRTIO_PCI_PBA_OFF - VIRTIO_PCI_MSIX_OFF)
		return;		/* the PBA is read-only */
	memcpy(bytes, vd->msix, sizeof(bytes));
	for (unsigned i = 0; i < size; i++)
		if (off + i < vd->nr_vectors * 16u)
			bytes[off + i] = val >> (8 * i);
	memcpy(vd->msix, bytes, sizeof(bytes));
	for (unsigned v = 0; v < vd->nr_vectors; v++)
		vd->msix[v].ctrl &= MSIX_CTRL_MASKED;	/* other bits reserved */
	flush_pending(vd);
}

/*
 * The MSI-X capability's Message Control changed (PCI host's config hook):
 * pick up Enable and Function Mask. Switching to MSI-X drops INTx.
 */
void vp_msix_control(struct virtio_dev *vd, uint16_t ctrl)
{
	bool enable = ctrl & MSIX_FLAG_ENABLE;

	vd->msix_masked = ctrl & MSIX_FLAG_MASKALL;
	if (enable != vd->msix_enabled) {
		vd->msix_enabled = enable;
		if (enable) {
			vd->isr = 0;
			pci_set_irq(&vd->pci, 0);
		}
	}
	flush_pending(vd);
}

/* Reset: vectors unassigned, entries masked, nothing pending (PCI 6.8.2). */
void vp_irq_reset(struct virtio_dev *vd)
{
	vd->isr = 0;
	pci_set_irq(&vd->pci, 0);
	vd->pba = 0;
}

/* Build the MSI-X capability: table and PBA in our BAR. */
int vp_msix_init(struct virtio_dev *vd)
{
	int off = pci_add_capability(&vd->pci, PCI_CAP_ID_MSIX, 12);

	if (off < 0)
		return off;
	vd->msix_cap = off;
	pci_set16(vd->pci.config, off + 2, vd->nr_vectors - 1);
	pci_set16(vd->pci.wmask, off + 2, MSIX_FLAG_ENABLE | MSIX_FLAG_MASKALL);
	pci_set32(vd->pci.config, off + 4, VIRTIO_PCI_MSIX_OFF | VIRTIO_PCI_BAR);
	pci_set32(vd->pci.config, off + 8, VIRTIO_PCI_PBA_OFF | VIRTIO_PCI_BAR);
	for (unsigned v = 0; v < vd->nr_vectors; v++)
		vd->msix[v].ctrl = MSIX_CTRL_MASKED;
	return 0;
}
