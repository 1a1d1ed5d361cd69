/*
 * The virtio-pci transport and the blk and rng devices, driven through
 * the PCI host and the MMIO bus as a guest driver would: capabilities,
 * feature negotiation, queue setup, INTx with ISR, MSI-X messages with
 * masking and the PBA, NEEDS_RESET on a bad chain and recovery by reset,
 * virtio-blk's request types against a raw image, virtio-console,
 * virtio-net (a socketpair standing in for the TAP) and virtio-balloon.
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "block/block.h"
#include "hw/pci.h"
#include "lib/util.h"
#include "mem/layout.h"
#include "virtio/virtio_devices.h"
#include "tap.h"

#define BAR_BASE	0xE0000000ULL
#define QS		8
#define RING_GPA	0x100000
#define DATA_GPA	0x20000

struct fake_irq {
	struct irq_chip chip;
	pthread_mutex_t lock;
	int level[24];
	unsigned nmsi;
	uint64_t msi_addr;
	uint32_t msi_data;
};

static void fake_set_level(struct irq_chip *c, unsigned gsi, int level)
{
	struct fake_irq *f = (struct fake_irq *)c;

	pthread_mutex_lock(&f->lock);
	if (gsi < 24)
		f->level[gsi] = level;
	pthread_mutex_unlock(&f->lock);
}

static void fake_msi(struct irq_chip *c, uint64_t addr, uint32_t data)
{
	struct fake_irq *f = (struct fake_irq *)c;

	pthread_mutex_lock(&f->lock);
	f->nmsi++;
	f->msi_addr = addr;
	f->msi_data = data;
	pthread_mutex_unlock(&f->lock);
}

static struct fake_irq irq = { .chip = { fake_set_level, fake_msi },
			       .lock = PTHREAD_MUTEX_INITIALIZER };
static struct guest_mem mem;
static struct bus pio, mmio;
static struct pci_host *host;

static unsigned nmsi(void)
{
	unsigned n;

	pthread_mutex_lock(&irq.lock);
	n = irq.nmsi;
	pthread_mutex_unlock(&irq.lock);
	return n;
}

static int level(unsigned gsi)
{
	int l;

	pthread_mutex_lock(&irq.lock);
	l = irq.level[gsi];
	pthread_mutex_unlock(&irq.lock);
	return l;
}

/* A device under test: its slot, BAR and queue 0 in guest RAM. */
struct drv {
	unsigned slot;
	uint64_t bar;
	uint64_t ring;			/* queue q's rings at ring + q * 0x4000 */
	unsigned cur;			/* the queue the helpers below act on */
	uint16_t idx[4];		/* avail idx per queue */
	void *priv;			/* the device object, for checks */
};

#define QRING(d) ((d)->ring + (d)->cur * 0x4000ULL)

static uint64_t rd(struct drv *d, uint64_t off, unsigned size)
{
	return bus_read(&mmio, d->bar + off, size);
}

static void wr(struct drv *d, uint64_t off, unsigned size, uint64_t v)
{
	bus_write(&mmio, d->bar + off, size, v);
}

static uint32_t cfg(struct drv *d, unsigned off, unsigned size)
{
	return pci_config_read(host, 0, d->slot << 3, off, size);
}

static void cfg_wr(struct drv *d, unsigned off, unsigned size, uint32_t v)
{
	pci_config_write(host, 0, d->slot << 3, off, size, v);
}

static void *gpa(uint64_t a)
{
	return gmem_ptr(&mem, a, 1);
}

static void drv_attach(struct drv *d, unsigned slot)
{
	d->slot = slot;
	d->bar = BAR_BASE + slot * 0x10000ULL;
	d->ring = RING_GPA + slot * 0x10000ULL;
	cfg_wr(d, PCI_BAR0 + 4 * VIRTIO_PCI_BAR, 4, (uint32_t)d->bar);
	cfg_wr(d, PCI_BAR0 + 4 * VIRTIO_PCI_BAR + 4, 4, 0);
	cfg_wr(d, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

/* Reset and bring queues 0..nq-1 up with QS entries; the final status. */
static uint8_t drv_init_n(struct drv *d, uint32_t feat_lo, uint32_t feat_hi, unsigned nq)
{
	wr(d, 0x14, 1, 0);
	memset(gpa(d->ring), 0, 0x10000);
	memset(d->idx, 0, sizeof(d->idx));
	d->cur = 0;
	wr(d, 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(d, 0x08, 4, 0);
	wr(d, 0x0C, 4, feat_lo);
	wr(d, 0x08, 4, 1);
	wr(d, 0x0C, 4, feat_hi);
	wr(d, 0x14, 1, rd(d, 0x14, 1) | VIRTIO_STATUS_FEATURES_OK);
	if (!(rd(d, 0x14, 1) & VIRTIO_STATUS_FEATURES_OK))
		return rd(d, 0x14, 1);
	for (unsigned q = 0; q < nq; q++) {
		uint64_t r = d->ring + q * 0x4000ULL;

		wr(d, 0x16, 2, q);
		wr(d, 0x18, 2, QS);
		wr(d, 0x20, 8, r);			/* one 64-bit write */
		wr(d, 0x28, 4, (uint32_t)(r + 0x1000));	/* two halves */
		wr(d, 0x2C, 4, 0);
		wr(d, 0x30, 8, r + 0x2000);
		wr(d, 0x1C, 2, 1);
	}
	wr(d, 0x16, 2, 0);
	wr(d, 0x14, 1, rd(d, 0x14, 1) | VIRTIO_STATUS_DRIVER_OK);
	return rd(d, 0x14, 1);
}

static uint8_t drv_init(struct drv *d, uint32_t feat_lo, uint32_t feat_hi)
{
	return drv_init_n(d, feat_lo, feat_hi, 1);
}

static void set_desc(struct drv *d, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct vring_desc *t = gpa(QRING(d));

	t[i] = (struct vring_desc){ addr, len, flags, next };
}

static void post(struct drv *d, uint16_t head)
{
	uint16_t *avail = gpa(QRING(d) + 0x1000);

	avail[2 + d->idx[d->cur] % QS] = head;
	__atomic_store_n(&avail[1], ++d->idx[d->cur], __ATOMIC_RELEASE);
	wr(d, VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * d->cur, 2, d->cur);
}

static bool wait_until(bool (*cond)(struct drv *), struct drv *d)
{
	for (int i = 0; i < 2000; i++) {
		if (cond(d))
			return true;
		usleep(1000);
	}
	return false;
}

static bool all_used(struct drv *d)
{
	uint16_t *used = gpa(QRING(d) + 0x2000);

	return __atomic_load_n(&used[1], __ATOMIC_ACQUIRE) == d->idx[d->cur];
}

static bool needs_reset(struct drv *d)
{
	return rd(d, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET;
}

static uint32_t used_len(struct drv *d)
{
	struct vring_used_elem *e = gpa(QRING(d) + 0x2000 + 4);

	return e[(uint16_t)(d->idx[d->cur] - 1) % QS].len;
}

static void test_caps(struct drv *d, unsigned nq, bool devcfg)
{
	unsigned off = cfg(d, PCI_CAPABILITY_LIST, 1), seen = 0, hops = 0;

	CHECK_EQ(cfg(d, PCI_VENDOR_ID, 2), 0x1AF4);
	CHECK_EQ(cfg(d, PCI_REVISION_ID, 1), 1);
	CHECK(cfg(d, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	while (off && hops++ < 16) {
		unsigned id = cfg(d, off, 1);

		if (id == PCI_CAP_ID_VNDR) {
			unsigned type = cfg(d, off + 3, 1);

			CHECK_EQ(cfg(d, off + 4, 1), VIRTIO_PCI_BAR);
			seen |= 1u << type;
			if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
				CHECK_EQ(cfg(d, off + 2, 1), 20);
				CHECK_EQ(cfg(d, off + 16, 4), VIRTIO_PCI_NOTIFY_MULT);
			}
			if (type == VIRTIO_PCI_CAP_COMMON_CFG)
				CHECK_EQ(cfg(d, off + 12, 4), VIRTIO_PCI_COMMON_LEN);
		} else if (id == PCI_CAP_ID_MSIX) {
			CHECK_EQ(cfg(d, off + 2, 2) & 0x7FF, nq);	/* N-1 = queues */
			CHECK_EQ(cfg(d, off + 4, 4), VIRTIO_PCI_MSIX_OFF | VIRTIO_PCI_BAR);
			CHECK_EQ(cfg(d, off + 8, 4), VIRTIO_PCI_PBA_OFF | VIRTIO_PCI_BAR);
			seen |= 1u << 16;
		}
		off = cfg(d, off + 1, 1);
	}
	/* common, notify, ISR (and device config if any), MSI-X */
	CHECK_EQ(seen, 0x1000Eu | (devcfg ? 1u << VIRTIO_PCI_CAP_DEVICE_CFG : 0));
}

static unsigned msix_cap(struct drv *d)
{
	unsigned off = cfg(d, PCI_CAPABILITY_LIST, 1);

	while (off && cfg(d, off, 1) != PCI_CAP_ID_MSIX)
		off = cfg(d, off + 1, 1);
	return off;
}

static void test_rng(struct drv *d)
{
	unsigned gsi = PCI_INTX_GSI_BASE + (d->slot & 3), cap = msix_cap(d), n;
	uint8_t *buf = gpa(DATA_GPA);

	test_caps(d, 1, false);
	/* Features: VERSION_1 offered; refusing it, or an unknown bit, fails. */
	wr(d, 0x00, 4, 1);
	CHECK(rd(d, 0x04, 4) & 1);
	CHECK(!(drv_init(d, 0, 0) & VIRTIO_STATUS_FEATURES_OK));
	CHECK(!(drv_init(d, 1u << 5, 1) & VIRTIO_STATUS_FEATURES_OK));
	CHECK_EQ(rd(d, 0x12, 2), 1);			/* num_queues */
	wr(d, 0x16, 2, 0);
	CHECK_EQ(rd(d, 0x18, 2), 64);			/* queue_size: the maximum */
	wr(d, 0x16, 2, 5);
	CHECK_EQ(rd(d, 0x18, 2), 0);			/* no such queue */
	CHECK_EQ(drv_init(d, 0, 1), 0x0F);
	CHECK_EQ(rd(d, 0x20, 8), d->ring);
	CHECK_EQ(rd(d, 0x28, 8), d->ring + 0x1000);

	/* INTx: completion sets ISR bit 0 and the line; reading ISR clears. */
	memset(buf, 0, 64);
	set_desc(d, 0, DATA_GPA, 64, VRING_DESC_F_WRITE, 0);
	post(d, 0);
	CHECK(wait_until(all_used, d));
	CHECK_EQ(used_len(d), 64);
	CHECK(memcmp(buf, (uint8_t[64]){ 0 }, 64) != 0);
	CHECK_EQ(level(gsi), 1);
	CHECK_EQ(rd(d, VIRTIO_PCI_ISR_OFF, 1), 1);
	CHECK_EQ(level(gsi), 0);
	CHECK_EQ(rd(d, VIRTIO_PCI_ISR_OFF, 1), 0);

	/* MSI-X: vector 0 for the queue, 1 for config; 7 does not exist. */
	cfg_wr(d, cap + 2, 2, 0x8000);
	wr(d, VIRTIO_PCI_MSIX_OFF + 0, 4, 0xFEE00000);
	wr(d, VIRTIO_PCI_MSIX_OFF + 4, 4, 0);
	wr(d, VIRTIO_PCI_MSIX_OFF + 8, 4, 0x41);
	wr(d, VIRTIO_PCI_MSIX_OFF + 12, 4, 0);
	wr(d, VIRTIO_PCI_MSIX_OFF + 16, 8, 0xFEE00000);
	wr(d, VIRTIO_PCI_MSIX_OFF + 24, 8, 0x42);		/* data, ctrl 0 */
	CHECK_EQ(rd(d, VIRTIO_PCI_MSIX_OFF + 8, 4), 0x41);
	wr(d, 0x16, 2, 0);
	wr(d, 0x1A, 2, 7);
	CHECK_EQ(rd(d, 0x1A, 2), VIRTIO_MSI_NO_VECTOR);
	wr(d, 0x1A, 2, 0);
	CHECK_EQ(rd(d, 0x1A, 2), 0);
	wr(d, 0x10, 2, 1);
	CHECK_EQ(rd(d, 0x10, 2), 1);
	n = nmsi();
	post(d, 0);
	CHECK(wait_until(all_used, d));
	CHECK_EQ(nmsi(), n + 1);
	CHECK_EQ(irq.msi_addr, 0xFEE00000);
	CHECK_EQ(irq.msi_data, 0x41);
	CHECK_EQ(level(gsi), 0);			/* no INTx with MSI-X on */

	/* Masked: pending bit instead of a message, sent on unmask. */
	wr(d, VIRTIO_PCI_MSIX_OFF + 12, 4, 1);
	post(d, 0);
	CHECK(wait_until(all_used, d));
	CHECK_EQ(nmsi(), n + 1);
	CHECK_EQ(rd(d, VIRTIO_PCI_PBA_OFF, 8), 1);
	wr(d, VIRTIO_PCI_MSIX_OFF + 12, 4, 0);
	CHECK_EQ(nmsi(), n + 2);
	CHECK_EQ(rd(d, VIRTIO_PCI_PBA_OFF, 8), 0);
	/* Function mask works the same way. */
	cfg_wr(d, cap + 2, 2, 0xC000);
	post(d, 0);
	CHECK(wait_until(all_used, d));
	CHECK_EQ(nmsi(), n + 2);
	cfg_wr(d, cap + 2, 2, 0x8000);
	CHECK_EQ(nmsi(), n + 3);

	/* A looping chain: NEEDS_RESET and a config message on vector 1. */
	set_desc(d, 0, DATA_GPA, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(d, 1, DATA_GPA, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
	post(d, 0);
	CHECK(wait_until(needs_reset, d));
	CHECK_EQ(nmsi(), n + 4);
	CHECK_EQ(irq.msi_data, 0x42);
	CHECK(!all_used(d));
	/* The driver cannot clear NEEDS_RESET but by resetting. */
	wr(d, 0x14, 1, 0x0F);
	CHECK(rd(d, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(drv_init(d, 0, 1), 0x0F);
	CHECK_EQ(rd(d, 0x10, 2), VIRTIO_MSI_NO_VECTOR);	/* reset unassigned it */
	set_desc(d, 0, DATA_GPA, 32, VRING_DESC_F_WRITE, 0);
	post(d, 0);
	CHECK(wait_until(all_used, d));
	CHECK_EQ(used_len(d), 32);
	cfg_wr(d, cap + 2, 2, 0);

	/* Rings outside RAM are refused at queue_enable. */
	wr(d, 0x14, 1, 0);
	wr(d, 0x14, 1, 3);
	wr(d, 0x08, 4, 1);
	wr(d, 0x0C, 4, 1);
	wr(d, 0x14, 1, 0x0B);
	wr(d, 0x30, 8, 0xF0000000);
	wr(d, 0x1C, 2, 1);
	CHECK_EQ(rd(d, 0x1C, 2), 0);
	CHECK(needs_reset(d));
}

/* One blk request: header, data (dir), status. Returns the status byte. */
static uint8_t blk_req(struct drv *d, uint32_t type, uint64_t sector, uint32_t len, bool dev_writes)
{
	uint8_t *hdr = gpa(DATA_GPA);

	memcpy(hdr, &type, 4);
	memset(hdr + 4, 0, 4);
	memcpy(hdr + 8, &sector, 8);
	hdr[0x100] = 0xFF;
	set_desc(d, 0, DATA_GPA, 16, VRING_DESC_F_NEXT, 1);
	if (len) {
		set_desc(d, 1, DATA_GPA + 0x1000, len,
			 VRING_DESC_F_NEXT | (dev_writes ? VRING_DESC_F_WRITE : 0), 2);
		set_desc(d, 2, DATA_GPA + 0x100, 1, VRING_DESC_F_WRITE, 0);
	} else {
		set_desc(d, 1, DATA_GPA + 0x100, 1, VRING_DESC_F_WRITE, 0);
	}
	post(d, 0);
	if (!wait_until(all_used, d))
		return 0xEE;
	return hdr[0x100];
}

static void test_blk(struct drv *d, struct blk *img)
{
	uint8_t *data = gpa(DATA_GPA + 0x1000), *seg = gpa(DATA_GPA + 0x1000), back[512];
	uint32_t feat;

	test_caps(d, 1, true);
	wr(d, 0x00, 4, 0);
	feat = rd(d, 0x04, 4);
	CHECK(feat & (1u << 9));			/* FLUSH */
	CHECK(feat & (1u << 13));			/* DISCARD */
	CHECK(!(feat & (1u << 5)));			/* not RO */
	CHECK_EQ(rd(d, VIRTIO_PCI_DEVICE_OFF, 8), 128);	/* capacity in sectors */
	CHECK_EQ(drv_init(d, 1u << 9, 1), 0x0F);

	memset(data, 0x5A, 512);
	CHECK_EQ(blk_req(d, 1, 3, 512, false), 0);
	CHECK_EQ(blk_pread(img, 3 * 512, back, 512), 0);
	CHECK_EQ(back[0], 0x5A);
	CHECK_EQ(back[511], 0x5A);
	memset(data, 0, 512);
	CHECK_EQ(blk_req(d, 0, 3, 512, true), 0);
	CHECK_EQ(used_len(d), 513);
	CHECK_EQ(data[100], 0x5A);
	CHECK_EQ(blk_req(d, 4, 0, 0, false), 0);		/* flush */
	CHECK_EQ(blk_req(d, 8, 0, 20, true), 0);		/* get-id */
	CHECK(!memcmp(data, "unit-serial", 11));
	/* write-zeroes and discard: one segment {sector, count, flags} */
	memcpy(seg, &(uint64_t){ 3 }, 8);
	memcpy(seg + 8, &(uint32_t){ 1 }, 4);
	memcpy(seg + 12, &(uint32_t){ 0 }, 4);
	CHECK_EQ(blk_req(d, 13, 0, 16, false), 0);
	CHECK_EQ(blk_pread(img, 3 * 512, back, 512), 0);
	CHECK_EQ(back[0], 0);
	CHECK_EQ(blk_req(d, 11, 0, 16, false), 0);
	memcpy(seg, &(uint64_t){ 128 }, 8);			/* past the end */
	CHECK_EQ(blk_req(d, 13, 0, 16, false), 1);
	memcpy(seg + 12, &(uint32_t){ 4 }, 4);			/* unknown flag */
	CHECK_EQ(blk_req(d, 11, 0, 16, false), 2);
	/* Bounds: the last sector is fine, one beyond or across is not. */
	CHECK_EQ(blk_req(d, 0, 127, 512, true), 0);
	CHECK_EQ(blk_req(d, 0, 128, 512, true), 1);
	CHECK_EQ(blk_req(d, 1, 127, 1024, false), 1);
	CHECK_EQ(blk_req(d, 0, UINT64_MAX, 512, true), 1);	/* overflow */
	CHECK_EQ(blk_req(d, 0, 0, 100, true), 1);		/* not whole sectors */
	CHECK_EQ(blk_req(d, 42, 0, 0, false), 2);		/* unknown type */
	/* A write whose data the device would write: a broken driver. */
	CHECK_EQ(blk_req(d, 1, 0, 512, true), 0xEE);
	CHECK(needs_reset(d));
}

/* ---- console, net (a socketpair stands in for the TAP), balloon ---- */

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static char console_out[256];
static size_t console_out_len;

static void console_output(void *opaque, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&out_lock);
	len = MIN(len, sizeof(console_out) - console_out_len);
	memcpy(console_out + console_out_len, buf, len);
	console_out_len += len;
	pthread_mutex_unlock(&out_lock);
}

static bool console_has_hello(struct drv *d)
{
	bool r;

	pthread_mutex_lock(&out_lock);
	r = console_out_len == 5 && !memcmp(console_out, "hello", 5);
	pthread_mutex_unlock(&out_lock);
	return r;
}

static void test_console(struct drv *d, struct virtio_console *con)
{
	uint8_t *buf = gpa(DATA_GPA + 0x3000), big[5000];

	CHECK_EQ(drv_init_n(d, 0, 1, 2), 0x0F);
	CHECK_EQ(rd(d, 0x12, 2), 2);
	d->cur = 1;					/* transmitq */
	memcpy(buf, "hello", 5);
	set_desc(d, 0, DATA_GPA + 0x3000, 5, 0, 0);
	post(d, 0);
	CHECK(wait_until(all_used, d));
	CHECK(console_has_hello(d));
	/* Input before any receive buffer waits, then fills the first one. */
	CHECK_EQ(virtio_console_input(con, (const uint8_t *)"abc", 3), 3);
	d->cur = 0;					/* receiveq */
	memset(buf, 0, 16);
	set_desc(d, 0, DATA_GPA + 0x3000, 16, VRING_DESC_F_WRITE, 0);
	post(d, 0);
	CHECK(wait_until(all_used, d));
	CHECK_EQ(used_len(d), 3);
	CHECK(!memcmp(buf, "abc", 3));
	memset(big, 'x', sizeof(big));
	CHECK_EQ(virtio_console_input(con, big, sizeof(big)), 4096);	/* pushes back */
	/* A writable transmit buffer is a driver bug. */
	d->cur = 1;
	set_desc(d, 0, DATA_GPA + 0x3000, 5, VRING_DESC_F_WRITE, 0);
	post(d, 0);
	CHECK(wait_until(needs_reset, d));
}

static void test_net(struct drv *d, struct virtio_net *net, int peer)
{
	uint8_t *tx = gpa(DATA_GPA + 0x3000), *rx = gpa(DATA_GPA + 0x4000), frame[72], got[128];
	ssize_t n;

	wr(d, 0x00, 4, 0);
	CHECK(rd(d, 0x04, 4) & (1u << 5));		/* MAC */
	CHECK(rd(d, 0x04, 4) & (1u << 16));		/* STATUS */
	CHECK_EQ(drv_init_n(d, 1u << 5 | 1u << 16, 1, 2), 0x0F);
	CHECK_EQ(rd(d, VIRTIO_PCI_DEVICE_OFF, 4), 0x12005452);	/* 52:54:00:12 */
	CHECK_EQ(rd(d, VIRTIO_PCI_DEVICE_OFF + 4, 2), 0x0201);
	CHECK_EQ(rd(d, VIRTIO_PCI_DEVICE_OFF + 6, 2), 1);		/* link up */

	for (unsigned i = 0; i < sizeof(frame); i++)
		frame[i] = i < 12 ? 0 : (uint8_t)i;
	memcpy(tx, frame, sizeof(frame));
	d->cur = 1;
	set_desc(d, 0, DATA_GPA + 0x3000, 30, VRING_DESC_F_NEXT, 1);	/* split frame */
	set_desc(d, 1, DATA_GPA + 0x3000 + 30, sizeof(frame) - 30, 0, 0);
	post(d, 0);
	CHECK(wait_until(all_used, d));
	n = recv(peer, got, sizeof(got), MSG_DONTWAIT);
	CHECK_EQ(n, sizeof(frame));
	CHECK(!memcmp(got, frame, sizeof(frame)));

	/* A frame that arrives with no buffer waits for the next kick. */
	CHECK_EQ(send(peer, frame, sizeof(frame), 0), sizeof(frame));
	usleep(20000);
	d->cur = 0;
	memset(rx, 0xEE, 2048);
	set_desc(d, 0, DATA_GPA + 0x4000, 2048, VRING_DESC_F_WRITE, 0);
	post(d, 0);
	CHECK(wait_until(all_used, d));
	CHECK_EQ(used_len(d), sizeof(frame));
	CHECK_EQ(rx[10] | rx[11] << 8, 1);			/* num_buffers */
	CHECK(!memcmp(rx + 12, frame + 12, sizeof(frame) - 12));
	/* With a buffer waiting, a frame goes straight in. */
	post(d, 0);
	CHECK_EQ(send(peer, frame, 50, 0), 50);
	CHECK(wait_until(all_used, d));
	CHECK_EQ(used_len(d), 50);

	/* Link down: status 0 and a config interrupt (INTx, ISR bit 1). */
	rd(d, VIRTIO_PCI_ISR_OFF, 1);
	virtio_net_set_link(net, false);
	CHECK_EQ(rd(d, VIRTIO_PCI_DEVICE_OFF + 6, 2), 0);
	CHECK_EQ(rd(d, VIRTIO_PCI_ISR_OFF, 1), 2);
}

static bool stats_arrived(struct drv *d)
{
	struct virtio_balloon_info info;

	virtio_balloon_info(d->priv, &info);
	return info.stats_updates == 1;
}

static void test_balloon(struct drv *d, struct virtio_balloon *b)
{
	uint8_t *page = gmem_ptr(&mem, 0x400000, 4096), *list = gpa(DATA_GPA + 0x3000);
	uint32_t pfns[2] = { 0x400, 0xFFFFFF };
	struct virtio_balloon_info info;

	d->priv = b;
	CHECK_EQ(drv_init_n(d, 1u << 1, 1, 3), 0x0F);	/* STATS_VQ: inflate, deflate, stats */
	memset(page, 0xAB, 4096);
	memcpy(list, pfns, sizeof(pfns));
	set_desc(d, 0, DATA_GPA + 0x3000, sizeof(pfns), 0, 0);
	post(d, 0);
	CHECK(wait_until(all_used, d));
	CHECK_EQ(page[0], 0);				/* returned to the host */
	CHECK_EQ(page[4095], 0);

	d->cur = 2;
	memset(list, 0, 20);
	list[0] = 4;					/* MEMFREE */
	memcpy(list + 2, &(uint64_t){ 123456 }, 8);
	list[10] = 5;					/* MEMTOT */
	memcpy(list + 12, &(uint64_t){ 654321 }, 8);
	set_desc(d, 0, DATA_GPA + 0x3000, 20, 0, 0);
	post(d, 0);
	CHECK(wait_until(stats_arrived, d));
	virtio_balloon_info(b, &info);
	CHECK_EQ(info.stats[4], 123456);
	CHECK_EQ(info.stats[5], 654321);
	CHECK_EQ(info.stats_valid, 0x30);
	CHECK(!all_used(d));				/* held for the next request */
	virtio_balloon_request_stats(b);
	CHECK(wait_until(all_used, d));

	wr(d, VIRTIO_PCI_DEVICE_OFF + 4, 4, 77);	/* actual */
	wr(d, VIRTIO_PCI_DEVICE_OFF, 4, 99);		/* num_pages: not the driver's */
	virtio_balloon_set_target(b, 100);
	virtio_balloon_info(b, &info);
	CHECK_EQ(info.actual_pages, 77);
	CHECK_EQ(info.target_pages, 100);
	CHECK_EQ(rd(d, VIRTIO_PCI_DEVICE_OFF, 4), 100);
}

int main(void)
{
	struct virtio_attach at;
	struct virtio_rng *rng = NULL;
	struct virtio_blk *vblk = NULL;
	struct blk *img = NULL;
	struct blk_open_opts bo = { .format = "raw" };
	struct drv d_rng, d_blk;
	char path[] = "/tmp/vireo-virtio-test-XXXXXX", err[256];
	int fd;

	CHECK_EQ(gmem_init(&mem, 16 * MiB, 0), 0);
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	CHECK_EQ(pci_host_create(&host, &pio, &mmio, &irq.chip), 0);
	at = (struct virtio_attach){ host, 3, &mem, &irq.chip };
	CHECK_EQ(virtio_rng_create(&rng, &at), 0);

	fd = mkstemp(path);
	CHECK(fd >= 0 && ftruncate(fd, 64 * KiB) == 0);
	close(fd);
	CHECK_EQ(blk_open(&img, path, &bo, err, sizeof(err)), 0);
	at.slot = 4;
	CHECK_EQ(virtio_blk_create(&vblk, &at,
				   &(struct virtio_blk_opts){ img, "unit-serial", false }), 0);
	at.slot = 3;		/* taken */
	CHECK(virtio_rng_create(&(struct virtio_rng *){ NULL }, &at) < 0);

	drv_attach(&d_rng, 3);
	drv_attach(&d_blk, 4);
	test_rng(&d_rng);
	test_blk(&d_blk, img);

	{
		struct virtio_console *con;
		struct virtio_net *net;
		struct virtio_balloon *bal;
		struct drv d_con, d_net, d_bal;
		int sv[2];

		at.slot = 5;
		CHECK_EQ(virtio_console_create(&con, &at, console_output, NULL), 0);
		CHECK_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
		at.slot = 6;
		CHECK_EQ(virtio_net_create(&net, &at, sv[0],
					   (const uint8_t[6]){ 0x52, 0x54, 0, 0x12, 1, 2 }), 0);
		at.slot = 7;
		CHECK_EQ(virtio_balloon_create(&bal, &at), 0);
		drv_attach(&d_con, 5);
		drv_attach(&d_net, 6);
		drv_attach(&d_bal, 7);
		test_console(&d_con, con);
		test_net(&d_net, net, sv[1]);
		test_balloon(&d_bal, bal);
		virtio_balloon_destroy(bal);
		virtio_net_destroy(net);
		virtio_console_destroy(con);
		close(sv[0]);
		close(sv[1]);
	}
	virtio_blk_destroy(vblk);
	virtio_rng_destroy(rng);
	blk_close(img);
	unlink(path);
	pci_host_destroy(host);
	bus_destroy(&mmio);
	bus_destroy(&pio);
	gmem_destroy(&mem);
	return test_done();
}
