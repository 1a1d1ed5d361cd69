/*
 * A tiny polling virtio-pci (modern) driver for vireo's device tests:
 * testkernel.virtio=basic drives every virtio-blk and virtio-rng it finds,
 * testkernel.virtio=hostile feeds one device broken descriptor chains and
 * checks that it reports NEEDS_RESET while another device keeps working.
 * No interrupts: queue vectors stay NO_VECTOR and completion is polled on
 * the used ring. Output lines are listed in README.md.
 */
#include "tk.h"

#define VIRTIO_VENDOR		0x1AF4
#define VIRTIO_DEV_MODERN	0x1040
#define VIRTIO_TYPE_NET		1
#define VIRTIO_TYPE_BLK		2
#define VIRTIO_TYPE_CONSOLE	3
#define VIRTIO_TYPE_RNG		4
#define VIRTIO_TYPE_BALLOON	5

#define ST_ACK			0x01
#define ST_DRIVER		0x02
#define ST_DRIVER_OK		0x04
#define ST_FEATURES_OK		0x08
#define ST_NEEDS_RESET		0x40

#define DESC_NEXT		1
#define DESC_WRITE		2

#define QSIZE			16
#define MAX_VDEVS		8
#define BAR_WINDOW		0xE0000000u	/* inside vireo's 32-bit PCI window */
#define WAIT_MS			500

/* common configuration offsets */
#define CC_DFSELECT	0x00
#define CC_DF		0x04
#define CC_GFSELECT	0x08
#define CC_GF		0x0C
#define CC_STATUS	0x14
#define CC_Q_SELECT	0x16
#define CC_Q_SIZE	0x18
#define CC_Q_MSIX	0x1A
#define CC_Q_ENABLE	0x1C
#define CC_Q_NOFF	0x1E
#define CC_Q_DESC	0x20
#define CC_Q_AVAIL	0x28
#define CC_Q_USED	0x30

struct desc {
	u64 addr;
	u32 len;
	u16 flags;
	u16 next;
};

struct vdev {
	u32 slot;
	u16 type;
	u64 common, isr, devcfg, notify;
	u32 notify_mult;
	u16 qnotify_off;
	struct desc *desc;
	u16 *avail;		/* flags, idx, ring[qsize] */
	volatile u32 *used;	/* flags | idx << 16, then {id, len}[qsize] */
	u16 qsize;		/* QSIZE, or less if the device offers less */
	u16 avail_idx;
};

static struct vdev vdevs[MAX_VDEVS];
static unsigned int nr_vdevs;
static u8 rings[MAX_VDEVS][3][4096] __attribute__((aligned(4096)));
static u8 bufs[MAX_VDEVS][2][4096] __attribute__((aligned(4096)));

static inline u8 rd8(u64 a) { return *(volatile u8 *)(uintptr_t)a; }
static inline u16 rd16m(u64 a) { return *(volatile u16 *)(uintptr_t)a; }
static inline void wr8(u64 a, u8 v) { *(volatile u8 *)(uintptr_t)a = v; }
static inline void wr16(u64 a, u16 v) { *(volatile u16 *)(uintptr_t)a = v; }

static u32 cfg_addr(u32 slot, u32 off)
{
	return 0x80000000u | slot << 11 | (off & 0xFC);
}

static u32 cfg_read32(u32 slot, u32 off)
{
	outl(0xCF8, cfg_addr(slot, off));
	return inl(0xCFC);
}

static void cfg_write32(u32 slot, u32 off, u32 v)
{
	outl(0xCF8, cfg_addr(slot, off));
	outl(0xCFC, v);
}

static u8 cfg_read8(u32 slot, u32 off)
{
	return cfg_read32(slot, off) >> (8 * (off & 3));
}

/* Place the BAR a capability names, then find the four regions. */
static bool setup_regions(struct vdev *v)
{
	u64 base = BAR_WINDOW + (u64)v->slot * 0x10000;
	u32 cap = cfg_read8(v->slot, 0x34), hops = 0, bar_done = 0;

	while (cap && hops++ < 48) {
		u32 id = cfg_read8(v->slot, cap), bar, type, off;

		if (id == 0x09) {
			type = cfg_read8(v->slot, cap + 3);
			bar = cfg_read8(v->slot, cap + 4);
			off = cfg_read32(v->slot, cap + 8);
			if (bar > 5)
				return false;
			if (!(bar_done & 1u << bar)) {
				cfg_write32(v->slot, 0x10 + 4 * bar, (u32)base);
				if (cfg_read32(v->slot, 0x10 + 4 * bar) & 4)	/* 64-bit */
					cfg_write32(v->slot, 0x14 + 4 * bar, 0);
				bar_done |= 1u << bar;
			}
			switch (type) {
			case 1: v->common = base + off; break;
			case 2:
				v->notify = base + off;
				v->notify_mult = cfg_read32(v->slot, cap + 16);
				break;
			case 3: v->isr = base + off; break;
			case 4: v->devcfg = base + off; break;
			}
		}
		cap = cfg_read8(v->slot, cap + 1);
	}
	/* memory decoding and bus mastering */
	cfg_write32(v->slot, 0x04, (cfg_read32(v->slot, 0x04) & 0xFFFF) | 0x6);
	return v->common && v->notify && v->isr;
}

static void find_devices(void)
{
	for (u32 slot = 1; slot < 32 && nr_vdevs < MAX_VDEVS; slot++) {
		u32 id = cfg_read32(slot, 0);
		struct vdev *v = &vdevs[nr_vdevs];

		if ((id & 0xFFFF) != VIRTIO_VENDOR || (id >> 16) < VIRTIO_DEV_MODERN)
			continue;
		v->slot = slot;
		v->type = (id >> 16) - VIRTIO_DEV_MODERN;
		if (!setup_regions(v)) {
			kprintf("virtio 00:%02x.0: capabilities incomplete\n", slot);
			continue;
		}
		v->desc = (struct desc *)rings[nr_vdevs][0];
		v->avail = (u16 *)rings[nr_vdevs][1];
		v->used = (volatile u32 *)rings[nr_vdevs][2];
		nr_vdevs++;
	}
}

static const char *type_name(u16 type)
{
	switch (type) {
	case VIRTIO_TYPE_NET: return "net";
	case VIRTIO_TYPE_BLK: return "blk";
	case VIRTIO_TYPE_CONSOLE: return "console";
	case VIRTIO_TYPE_RNG: return "rng";
	case VIRTIO_TYPE_BALLOON: return "balloon";
	default: return "other";
	}
}

static u8 status(struct vdev *v)
{
	return rd8(v->common + CC_STATUS);
}

/* Reset and negotiate VERSION_1 plus want_lo of the low feature word. */
static bool vdev_begin(struct vdev *v, u32 want_lo)
{
	u32 hi, lo;

	wr8(v->common + CC_STATUS, 0);
	if (status(v) != 0)
		return false;
	wr8(v->common + CC_STATUS, ST_ACK);
	wr8(v->common + CC_STATUS, ST_ACK | ST_DRIVER);
	mmio_write32(v->common + CC_DFSELECT, 1);
	hi = mmio_read32(v->common + CC_DF);
	mmio_write32(v->common + CC_DFSELECT, 0);
	lo = mmio_read32(v->common + CC_DF);
	if (!(hi & 1))
		return false;		/* no VERSION_1 */
	mmio_write32(v->common + CC_GFSELECT, 0);
	mmio_write32(v->common + CC_GF, lo & want_lo);
	mmio_write32(v->common + CC_GFSELECT, 1);
	mmio_write32(v->common + CC_GF, 1);
	wr8(v->common + CC_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	return status(v) & ST_FEATURES_OK;
}

/* Queue q with up to QSIZE entries at v's rings (used ring at used_gpa). */
static bool vdev_queue(struct vdev *v, u16 q, u64 used_gpa)
{
	memset(v->desc, 0, 4096);
	memset(v->avail, 0, 4096);
	memset((void *)v->used, 0, 4096);
	v->avail_idx = 0;
	wr16(v->common + CC_Q_SELECT, q);
	v->qsize = rd16m(v->common + CC_Q_SIZE);
	if (v->qsize == 0 || (v->qsize & (v->qsize - 1)))
		return false;
	if (v->qsize > QSIZE)
		v->qsize = QSIZE;
	wr16(v->common + CC_Q_SIZE, v->qsize);
	wr16(v->common + CC_Q_MSIX, 0xFFFF);
	/* 64-bit addresses as two 32-bit halves, as the spec allows. */
	mmio_write32(v->common + CC_Q_DESC, (u32)(uintptr_t)v->desc);
	mmio_write32(v->common + CC_Q_DESC + 4, 0);
	mmio_write32(v->common + CC_Q_AVAIL, (u32)(uintptr_t)v->avail);
	mmio_write32(v->common + CC_Q_AVAIL + 4, 0);
	mmio_write32(v->common + CC_Q_USED, (u32)used_gpa);
	mmio_write32(v->common + CC_Q_USED + 4, (u32)(used_gpa >> 32));
	v->qnotify_off = rd16m(v->common + CC_Q_NOFF);
	wr16(v->common + CC_Q_ENABLE, 1);
	return true;
}

static bool vdev_finish(struct vdev *v)
{
	wr8(v->common + CC_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	return (status(v) & (ST_DRIVER_OK | ST_NEEDS_RESET)) == ST_DRIVER_OK;
}

/* The usual one-queue bring-up; used_gpa lets the hostile test lie. */
static bool vdev_init(struct vdev *v, u32 want_lo, u64 used_gpa)
{
	return vdev_begin(v, want_lo) && vdev_queue(v, 0, used_gpa) && vdev_finish(v);
}

static bool vdev_start(struct vdev *v, u32 want_lo)
{
	return vdev_init(v, want_lo, (u64)(uintptr_t)v->used);
}

/* Make head available and kick queue 0. */
static void post(struct vdev *v, u16 head)
{
	v->avail[2 + v->avail_idx % v->qsize] = head;
	__asm__ volatile("" ::: "memory");
	v->avail_idx++;
	*(volatile u16 *)&v->avail[1] = v->avail_idx;
	__asm__ volatile("mfence" ::: "memory");
	wr16(v->notify + (u64)v->qnotify_off * v->notify_mult, 0);
}

/* Wait for the device to return what we posted; its used length or -1. */
static long wait_used(struct vdev *v)
{
	u16 idx = v->avail_idx;

	if (!acpi_wait(v->used, (u32)idx << 16, WAIT_MS))
		return -1;
	return v->used[1 + 2 * ((u16)(idx - 1) % v->qsize) + 1];
}

/* Wait until the device reports NEEDS_RESET. */
static bool wait_needs_reset(struct vdev *v)
{
	for (unsigned int i = 0; i < 50; i++) {
		if (status(v) & ST_NEEDS_RESET)
			return true;
		acpi_wait(NULL, 0, 10);
	}
	return false;
}

static void set_desc(struct vdev *v, u16 i, const void *addr, u32 len, u16 flags, u16 next)
{
	v->desc[i] = (struct desc){ (u64)(uintptr_t)addr, len, flags, next };
}

/* ---- virtio-blk ---- */

struct blk_req {
	u32 type;
	u32 reserved;
	u64 sector;
};

/* One request: header, optional data, status. The status, or 0xFF. */
static u8 blk_rw(struct vdev *v, u32 type, u64 sector, void *data, u32 len, bool dev_writes)
{
	u8 *b = bufs[v - vdevs][0];
	struct blk_req *h = (struct blk_req *)b;
	u8 *st = b + 64;

	h->type = type;
	h->reserved = 0;
	h->sector = sector;
	*st = 0xFF;
	set_desc(v, 0, h, sizeof(*h), DESC_NEXT, 1);
	if (len) {
		set_desc(v, 1, data, len, DESC_NEXT | (dev_writes ? DESC_WRITE : 0), 2);
		set_desc(v, 2, st, 1, DESC_WRITE, 0);
	} else {
		set_desc(v, 1, st, 1, DESC_WRITE, 0);
	}
	post(v, 0);
	if (wait_used(v) < 0)
		return 0xFE;
	return *(volatile u8 *)st;
}

static bool blk_read0(struct vdev *v)
{
	u8 *data = bufs[v - vdevs][1];

	return blk_rw(v, 0, 0, data, 512, true) == 0;
}

static void test_blk(struct vdev *v)
{
	u8 *data = bufs[v - vdevs][1];
	u64 cap;
	u8 s;
	char id[21];

	if (!vdev_start(v, 1u << 9)) {		/* FLUSH */
		kprintf("virtio-blk: init failed (status 0x%x)\n", status(v));
		return;
	}
	cap = mmio_read32(v->devcfg) | (u64)mmio_read32(v->devcfg + 4) << 32;
	kprintf("virtio-blk: capacity %lu sectors\n", cap);
	s = blk_rw(v, 0, 0, data, 512, true);
	kprintf("virtio-blk: read sector 0: status %u data %02x%02x%02x%02x%02x%02x%02x%02x\n",
		s, data[0], data[1], data[2], data[3], data[4], data[5], data[6], data[7]);
	for (unsigned int i = 0; i < 512; i++)
		data[i] = (u8)(i * 7 + 3);
	s = blk_rw(v, 1, 1, data, 512, false);
	kprintf("virtio-blk: write sector 1: status %u\n", s);
	memset(data, 0, 512);
	s = blk_rw(v, 0, 1, data, 512, true);
	{
		bool match = true;

		for (unsigned int i = 0; i < 512; i++)
			match &= data[i] == (u8)(i * 7 + 3);
		kprintf("virtio-blk: read back sector 1: status %u %s\n", s,
			match ? "match" : "MISMATCH");
	}
	kprintf("virtio-blk: flush: status %u\n", blk_rw(v, 4, 0, NULL, 0, false));
	memset(id, 0, sizeof(id));
	s = blk_rw(v, 8, 0, id, 20, true);
	kprintf("virtio-blk: get-id: status %u id '%s'\n", s, id);
	s = blk_rw(v, 0, cap, data, 512, true);
	kprintf("virtio-blk: read past the end: status %u\n", s);
	s = blk_rw(v, 0, cap - 1, data, 1024, true);
	kprintf("virtio-blk: read across the end: status %u\n", s);
	s = blk_rw(v, 99, 0, NULL, 0, false);
	kprintf("virtio-blk: unknown request: status %u\n", s);
	/* INTx: no MSI-X enabled, so completions set ISR bit 0. */
	kprintf("virtio-blk: isr 0x%x\n", rd8(v->isr));
}

/* ---- virtio-rng ---- */

static bool rng_read(struct vdev *v, unsigned int n, long *got)
{
	u8 *data = bufs[v - vdevs][1];

	memset(data, 0, n);
	set_desc(v, 0, data, n, DESC_WRITE, 0);
	post(v, 0);
	*got = wait_used(v);
	return *got == (long)n;
}

static bool rng_looks_random(struct vdev *v, unsigned int n)
{
	u8 *data = bufs[v - vdevs][1];
	unsigned int zeros = 0;

	for (unsigned int i = 0; i < n; i++)
		zeros += data[i] == 0;
	return zeros < n / 4;
}

static void test_rng(struct vdev *v)
{
	long got;
	bool ok;

	if (!vdev_start(v, 0)) {
		kprintf("virtio-rng: init failed (status 0x%x)\n", status(v));
		return;
	}
	ok = rng_read(v, 64, &got);
	kprintf("virtio-rng: read 64 bytes: got %ld %s\n", got,
		ok && rng_looks_random(v, 64) ? "random" : "NOT RANDOM");
}

/* ---- virtio-net ---- */

#define NET_HDR		12
#define ETH_TEST_TYPE	0x88B5		/* IEEE local experimental */

static u8 net_tx_rings[3][4096] __attribute__((aligned(4096)));

static void test_net(struct vdev *v)
{
	static const char payload[] = "vireo virtio-net test frame";
	struct vdev tx = *v;
	u8 *out = bufs[v - vdevs][0], *in = bufs[v - vdevs][1], mac[6];
	long got = -1;
	unsigned int len, tries;

	tx.desc = (struct desc *)net_tx_rings[0];
	tx.avail = (u16 *)net_tx_rings[1];
	tx.used = (volatile u32 *)net_tx_rings[2];
	if (!vdev_begin(v, 1u << 5 | 1u << 16) ||	/* MAC, STATUS */
	    !vdev_queue(v, 0, (u64)(uintptr_t)v->used) ||
	    !vdev_queue(&tx, 1, (u64)(uintptr_t)tx.used) || !vdev_finish(v)) {
		kprintf("virtio-net: init failed (status 0x%x)\n", status(v));
		return;
	}
	for (unsigned int i = 0; i < 6; i++)
		mac[i] = rd8(v->devcfg + i);
	kprintf("virtio-net: mac %02x:%02x:%02x:%02x:%02x:%02x link %s\n", mac[0], mac[1],
		mac[2], mac[3], mac[4], mac[5], rd16m(v->devcfg + 6) & 1 ? "up" : "down");

	/* A broadcast frame: header, dst, src, type, payload. */
	memset(out, 0, NET_HDR);
	memset(out + NET_HDR, 0xFF, 6);
	memcpy(out + NET_HDR + 6, mac, 6);
	out[NET_HDR + 12] = ETH_TEST_TYPE >> 8;
	out[NET_HDR + 13] = ETH_TEST_TYPE & 0xFF;
	memcpy(out + NET_HDR + 14, payload, sizeof(payload));
	len = NET_HDR + 14 + sizeof(payload);
	set_desc(&tx, 0, out, len < NET_HDR + 60 ? NET_HDR + 60 : len, 0, 0);
	post(&tx, 0);
	kprintf("virtio-net: sent %s\n", wait_used(&tx) < 0 ? "TIMEOUT" : "frame");

	/* Receive until our test frame arrives (the host may send others). */
	kprintf("virtio-net: waiting for a frame\n");
	for (tries = 0; tries < 16; tries++) {
		memset(in, 0, 2048);
		set_desc(v, 0, in, NET_HDR + 1514, DESC_WRITE, 0);
		post(v, 0);
		got = -1;
		for (unsigned int i = 0; i < 10 && got < 0; i++)
			got = wait_used(v);
		if (got < 0)
			break;
		if (got > NET_HDR + 14 &&
		    (in[NET_HDR + 12] << 8 | in[NET_HDR + 13]) == ETH_TEST_TYPE)
			break;
	}
	if (got > NET_HDR + 14) {
		in[got < 2047 ? got : 2047] = 0;
		kprintf("virtio-net: received %ld bytes num_buffers %u '%s'\n", got,
			in[10] | in[11] << 8, (char *)in + NET_HDR + 14);
	} else {
		kprintf("virtio-net: received nothing\n");
	}
}

/* ---- virtio-balloon ---- */

static u8 balloon_rings[3][3][4096] __attribute__((aligned(4096)));
static u8 victim[64 * 1024] __attribute__((aligned(4096)));

static bool all_zero(const u8 *p, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void test_balloon(struct vdev *v)
{
	struct vdev q[3];
	u32 *pfns = (u32 *)bufs[v - vdevs][0];
	u8 *stats = bufs[v - vdevs][1];
	bool ok;

	ok = vdev_begin(v, 1u << 1 | 1u << 5) &&	/* STATS_VQ, PAGE_REPORTING */
	     vdev_queue(v, 0, (u64)(uintptr_t)v->used);
	for (unsigned int i = 0; i < 3 && ok; i++) {
		q[i] = *v;
		q[i].desc = (struct desc *)balloon_rings[i][0];
		q[i].avail = (u16 *)balloon_rings[i][1];
		q[i].used = (volatile u32 *)balloon_rings[i][2];
		ok = vdev_queue(&q[i], (u16)(i + 1), (u64)(uintptr_t)q[i].used);
	}
	if (!ok || !vdev_finish(v)) {
		kprintf("virtio-balloon: init failed (status 0x%x)\n", status(v));
		return;
	}
	/* Inflate one page: its memory goes back to the host, it reads zero. */
	memset(victim, 0xAB, 4096);
	pfns[0] = (u32)((uintptr_t)victim >> 12);
	set_desc(v, 0, pfns, 4, 0, 0);
	post(v, 0);
	ok = wait_used(v) >= 0;
	kprintf("virtio-balloon: inflate 1 page: %s\n",
		!ok ? "TIMEOUT" : all_zero(victim, 4096) ? "zeroed" : "NOT ZEROED");
	set_desc(&q[0], 0, pfns, 4, 0, 0);
	post(&q[0], 0);
	kprintf("virtio-balloon: deflate 1 page: %s\n", wait_used(&q[0]) >= 0 ? "ok" : "TIMEOUT");
	pfns[0] = 0x0FFFFFFF;				/* not RAM: skipped */
	post(v, 0);
	kprintf("virtio-balloon: inflate a page outside RAM: %s\n",
		wait_used(v) >= 0 ? "ignored" : "TIMEOUT");
	mmio_write32(v->devcfg + 4, 1);
	kprintf("virtio-balloon: actual %u\n", mmio_read32(v->devcfg + 4));

	/* Statistics: the device keeps the buffer until it wants more. */
	memset(stats, 0, 20);
	stats[0] = 4;					/* MEMFREE */
	*(u32 *)(stats + 2) = 123456;
	stats[10] = 5;					/* MEMTOT */
	*(u32 *)(stats + 12) = 654321;
	set_desc(&q[1], 0, stats, 20, 0, 0);
	post(&q[1], 0);
	acpi_wait(NULL, 0, 50);
	kprintf("virtio-balloon: stats buffer %s\n",
		(q[1].used[0] >> 16) == 0 ? "held" : "RETURNED");

	/* Free page reporting: 60 KiB the driver will not touch. */
	memset(victim + 4096, 0xCD, sizeof(victim) - 4096);
	set_desc(&q[2], 0, victim + 4096, sizeof(victim) - 4096, DESC_WRITE, 0);
	post(&q[2], 0);
	ok = wait_used(&q[2]) >= 0;
	kprintf("virtio-balloon: report 60 KiB: %s\n",
		!ok ? "TIMEOUT" : all_zero(victim + 4096, sizeof(victim) - 4096) ? "zeroed" :
		"NOT ZEROED");
}

/* ---- virtio-console (hvc0) ---- */

static u8 tx_rings[3][4096] __attribute__((aligned(4096)));

static void test_console(struct vdev *v)
{
	static const char hello[] = "hvc0: hello from the test kernel\n";
	struct vdev tx = *v;
	u8 *out = bufs[v - vdevs][0], *in = bufs[v - vdevs][1];
	long got;

	tx.desc = (struct desc *)tx_rings[0];
	tx.avail = (u16 *)tx_rings[1];
	tx.used = (volatile u32 *)tx_rings[2];
	if (!vdev_begin(v, 0) || !vdev_queue(v, 0, (u64)(uintptr_t)v->used) ||
	    !vdev_queue(&tx, 1, (u64)(uintptr_t)tx.used) || !vdev_finish(v)) {
		kprintf("virtio-console: init failed (status 0x%x)\n", status(v));
		return;
	}
	memcpy(out, hello, sizeof(hello) - 1);
	set_desc(&tx, 0, out, sizeof(hello) - 1, 0, 0);
	post(&tx, 0);
	kprintf("virtio-console: sent %ld\n", wait_used(&tx) < 0 ? -1L : (long)sizeof(hello) - 1);

	memset(in, 0, 64);
	set_desc(v, 0, in, 63, DESC_WRITE, 0);
	post(v, 0);
	kprintf("virtio-console: waiting for input\n");
	for (unsigned int i = 0; i < 20 && (v->used[0] >> 16) != v->avail_idx; i++)
		acpi_wait(v->used, (u32)v->avail_idx << 16, 500);
	got = (v->used[0] >> 16) == v->avail_idx ? (long)v->used[2] : -1;
	for (long i = 0; i < got; i++)
		if (in[i] == '\n' || in[i] == '\r')
			in[i] = 0;
	kprintf("virtio-console: got %ld '%s'\n", got, got > 0 ? (char *)in : "");
}

/* ---- hostile driver ---- */

static struct vdev *find_type(u16 type)
{
	for (unsigned int i = 0; i < nr_vdevs; i++)
		if (vdevs[i].type == type)
			return &vdevs[i];
	return NULL;
}

/* After a bad chain on victim: NEEDS_RESET, config interrupt, other works. */
static void report(const char *what, struct vdev *victim, struct vdev *other, u32 used_before)
{
	bool reset = wait_needs_reset(victim);
	u8 isr = rd8(victim->isr);
	bool untouched = (victim->used[0] >> 16) == used_before;
	bool other_ok;

	if (other->type == VIRTIO_TYPE_BLK) {
		other_ok = blk_read0(other);
	} else {
		long got;

		other_ok = rng_read(other, 16, &got);
	}
	kprintf("virtio-hostile: %s: %s%s, used ring %s, other device %s\n", what,
		reset ? "needs-reset" : "NO RESET", isr & 2 ? " config-irq" : "",
		untouched ? "untouched" : "WRITTEN", other_ok ? "ok" : "FAILED");
}

static void hostile(void)
{
	struct vdev *rng = find_type(VIRTIO_TYPE_RNG), *blk = find_type(VIRTIO_TYPE_BLK);
	u8 *data;
	long got;

	if (!rng || !blk) {
		kprintf("virtio-hostile: needs one rng and one blk device\n");
		return;
	}
	data = bufs[rng - vdevs][1];
	if (!vdev_start(blk, 0)) {
		kprintf("virtio-hostile: blk init failed\n");
		return;
	}

	vdev_start(rng, 0);
	set_desc(rng, 0, data, 16, DESC_WRITE | DESC_NEXT, 1);
	set_desc(rng, 1, data, 16, DESC_WRITE | DESC_NEXT, 0);
	post(rng, 0);
	report("looping chain", rng, blk, 0);

	vdev_start(rng, 0);
	set_desc(rng, 0, data, 16, DESC_WRITE | DESC_NEXT, 0);
	post(rng, 0);
	report("self loop", rng, blk, 0);

	vdev_start(rng, 0);
	set_desc(rng, 0, data, 16, DESC_WRITE | DESC_NEXT, 200);
	post(rng, 0);
	report("next index out of range", rng, blk, 0);

	vdev_start(rng, 0);
	set_desc(rng, 0, data, 16, DESC_WRITE, 0);
	post(rng, 300);
	report("head index out of range", rng, blk, 0);

	vdev_start(rng, 0);
	rng->desc[0] = (struct desc){ 0xF0000000ull, 16, DESC_WRITE, 0 };
	post(rng, 0);
	report("address outside RAM", rng, blk, 0);

	vdev_start(rng, 0);
	rng->desc[0] = (struct desc){ 0x1000000000ull, 16, DESC_WRITE, 0 };
	post(rng, 0);
	report("address above RAM", rng, blk, 0);

	vdev_start(rng, 0);
	set_desc(rng, 0, data, 0xFFFFFFF0u, DESC_WRITE, 0);
	post(rng, 0);
	report("huge length", rng, blk, 0);

	vdev_start(rng, 0);
	set_desc(rng, 0, data, 16, 0, 0);	/* device-readable for the rng */
	post(rng, 0);
	report("wrong direction", rng, blk, 0);

	vdev_start(rng, 0);
	set_desc(rng, 0, data, 16, DESC_WRITE | DESC_NEXT, 1);
	set_desc(rng, 1, data, 16, 0, 0);	/* readable after writable */
	post(rng, 0);
	report("readable after writable", rng, blk, 0);

	vdev_start(rng, 0);
	rng->avail[1] = 40;			/* more than the ring holds */
	wr16(rng->notify + (u64)rng->qnotify_off * rng->notify_mult, 0);
	report("avail index too far ahead", rng, blk, 0);

	vdev_init(rng, 0, 0xF0000000ull);
	report("used ring outside RAM", rng, blk, 0);

	/* The other way round: a bad blk request, and the rng still works. */
	vdev_start(blk, 0);
	vdev_start(rng, 0);
	{
		u8 *b = bufs[blk - vdevs][0];
		struct blk_req *h = (struct blk_req *)b;

		h->type = 0;			/* read, but data device-readable */
		h->sector = 0;
		set_desc(blk, 0, h, 16, DESC_NEXT, 1);
		set_desc(blk, 1, b + 512, 512, DESC_NEXT, 2);
		set_desc(blk, 2, b + 64, 1, DESC_WRITE, 0);
		post(blk, 0);
		report("blk read with wrong direction", blk, rng, 0);
	}

	/* After a reset both devices serve again. */
	vdev_start(rng, 0);
	vdev_start(blk, 0);
	kprintf("virtio-hostile: recovered: rng %s, blk %s\n",
		rng_read(rng, 32, &got) ? "ok" : "FAILED", blk_read0(blk) ? "ok" : "FAILED");
}

void virtio_tests(void)
{
	bool basic = cmdline_has("testkernel.virtio=basic");
	bool bad = cmdline_has("testkernel.virtio=hostile");

	if (!basic && !bad)
		return;
	find_devices();
	kprintf("virtio: %u devices\n", nr_vdevs);
	for (unsigned int i = 0; i < nr_vdevs; i++)
		kprintf("virtio 00:%02x.0 %s\n", vdevs[i].slot, type_name(vdevs[i].type));
	if (basic) {
		for (unsigned int i = 0; i < nr_vdevs; i++) {
			if (vdevs[i].type == VIRTIO_TYPE_BLK)
				test_blk(&vdevs[i]);
			else if (vdevs[i].type == VIRTIO_TYPE_RNG)
				test_rng(&vdevs[i]);
			else if (vdevs[i].type == VIRTIO_TYPE_CONSOLE)
				test_console(&vdevs[i]);
			else if (vdevs[i].type == VIRTIO_TYPE_NET)
				test_net(&vdevs[i]);
			else if (vdevs[i].type == VIRTIO_TYPE_BALLOON)
				test_balloon(&vdevs[i]);
		}
	}
	if (bad)
		hostile();
	kprintf("virtio: done\n");
}
