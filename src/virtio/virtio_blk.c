/*
 * virtio-blk (virtio 1.x 5.2) over vireo's block layer (raw and qcow2).
 *
 * Parse, then act: every request's layout is checked first (a 16-byte
 * device-readable header; a device-writable status byte at the very end;
 * data in the direction the request type needs), then its sector range
 * against the capacity, and only then does any I/O start. A layout that
 * breaks the specification is a driver bug and puts the device in
 * NEEDS_RESET; a well-formed request the disk cannot serve (beyond the
 * end, read-only, an I/O error) completes with IOERR or UNSUPP.
 *
 * Requests run on the device's I/O thread (virtio_io.c), never on a vCPU:
 * a slow disk delays only this disk's requests.
 */
#include "virtio/virtio_devices.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "block/block.h"
#include "lib/log.h"
#include "lib/util.h"

#define BLK_QUEUE_SIZE	256
#define SECTOR		512ULL

/* Feature bits. */
#define VIRTIO_BLK_F_SEG_MAX		2
#define VIRTIO_BLK_F_RO			5
#define VIRTIO_BLK_F_BLK_SIZE		6
#define VIRTIO_BLK_F_FLUSH		9
#define VIRTIO_BLK_F_DISCARD		13
#define VIRTIO_BLK_F_WRITE_ZEROES	14

/* Request types and status values. */
#define VIRTIO_BLK_T_IN			0
#define VIRTIO_BLK_T_OUT		1
#define VIRTIO_BLK_T_FLUSH		4
#define VIRTIO_BLK_T_GET_ID		8
#define VIRTIO_BLK_T_DISCARD		11
#define VIRTIO_BLK_T_WRITE_ZEROES	13

#define VIRTIO_BLK_S_OK			0
#define VIRTIO_BLK_S_IOERR		1
#define VIRTIO_BLK_S_UNSUPP		2

#define DISCARD_MAX_SECTORS	0x3FFFFF	/* 2 GiB per segment */
#define DISCARD_SEG_FLAG_UNMAP	1

/* struct virtio_blk_config, the fields we fill. */
enum {
	CFG_CAPACITY = 0, CFG_SEG_MAX = 12, CFG_BLK_SIZE = 20,
	CFG_MAX_DISCARD_SECTORS = 36, CFG_MAX_DISCARD_SEG = 40,
	CFG_DISCARD_ALIGN = 44, CFG_MAX_WZ_SECTORS = 48, CFG_MAX_WZ_SEG = 52,
	CFG_WZ_MAY_UNMAP = 56, CFG_LEN = 60,
};

struct virtio_blk {
	struct virtio_dev *vd;
	struct blk *blk;
	bool read_only;
	uint64_t sectors;
	char id[VIRTIO_BLK_ID_BYTES];
	uint8_t config[CFG_LEN];
	struct iovec iov[VQ_MAX_SIZE];	/* one request's data, for transfer() */
};

struct req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct discard_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

static void put_le(uint8_t *p, uint64_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		p[i] = v >> (8 * i);
}

/* [sector, +bytes) inside the disk, without overflow. */
static bool in_range(const struct virtio_blk *b, uint64_t sector, uint64_t bytes)
{
	return bytes % SECTOR == 0 && range_within(sector, bytes / SECTOR, b->sectors);
}

/*
 * Move len bytes between the disk at off and the chain's data buffers:
 * for a read the writable buffers from byte 0, for a write the readable
 * ones from byte 16 (after the header). One vectored call for the whole
 * request: the guest gives a buffer per page, and a system call per page
 * made O_DIRECT I/O latency-bound.
 */
static int transfer(struct virtio_blk *b, const struct vq_chain *c, bool to_disk,
		    uint64_t off, uint64_t len)
{
	unsigned first = to_disk ? 0 : c->n_out, end = to_disk ? c->n_out : c->n_out + c->n_in;
	uint64_t skip = to_disk ? sizeof(struct req_hdr) : 0;
	int cnt = 0;

	for (unsigned i = first; i < end && len; i++) {
		const struct vq_buf *buf = &c->buf[i];
		uint64_t n;

		if (skip >= buf->len) {
			skip -= buf->len;
			continue;
		}
		n = MIN((uint64_t)buf->len - skip, len);
		b->iov[cnt++] = (struct iovec){ buf->ptr + skip, n };
		len -= n;
		skip = 0;
	}
	if (!cnt)
		return 0;
	return to_disk ? blk_pwritev(b->blk, off, b->iov, cnt) : blk_preadv(b->blk, off, b->iov, cnt);
}

static uint8_t discard_or_zero(struct virtio_blk *b, const struct vq_chain *c, uint32_t type)
{
	uint64_t nseg = (c->out_len - sizeof(struct req_hdr)) / sizeof(struct discard_seg);
	struct discard_seg s;
	int r;

	if (b->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (nseg != 1)
		return VIRTIO_BLK_S_UNSUPP;	/* we advertise max_*_seg = 1 */
	vq_chain_read(c, sizeof(struct req_hdr), &s, sizeof(s));
	if (s.num_sectors > DISCARD_MAX_SECTORS ||
	    (s.flags & ~(uint32_t)DISCARD_SEG_FLAG_UNMAP) ||
	    (type == VIRTIO_BLK_T_DISCARD && s.flags))
		return VIRTIO_BLK_S_UNSUPP;
	if (!in_range(b, s.sector, (uint64_t)s.num_sectors * SECTOR))
		return VIRTIO_BLK_S_IOERR;
	if (type == VIRTIO_BLK_T_DISCARD)
		r = blk_discard(b->blk, s.sector * SECTOR, s.num_sectors * SECTOR);
	else
		r = blk_write_zeroes(b->blk, s.sector * SECTOR, s.num_sectors * SECTOR,
				     (s.flags & DISCARD_SEG_FLAG_UNMAP) ? BLK_ZERO_MAY_UNMAP : 0);
	return r < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
}

/*
 * The layout each request type needs (5.2.6): false for a driver bug.
 * out_len counts the header; in_len counts the status byte.
 */
static bool layout_ok(const struct vq_chain *c, uint32_t type, const char **why)
{
	switch (type) {
	case VIRTIO_BLK_T_IN:
		*why = "read request with device-readable data";
		return c->out_len == sizeof(struct req_hdr);
	case VIRTIO_BLK_T_OUT:
		*why = "write request with device-writable data";
		return c->in_len == 1;
	case VIRTIO_BLK_T_FLUSH:
		*why = "flush request with data";
		return c->out_len == sizeof(struct req_hdr) && c->in_len == 1;
	case VIRTIO_BLK_T_GET_ID:
		*why = "get-id request with device-readable data";
		return c->out_len == sizeof(struct req_hdr);
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		*why = "discard/write-zeroes request layout";
		return c->in_len == 1 && c->out_len > sizeof(struct req_hdr) &&
		       (c->out_len - sizeof(struct req_hdr)) % sizeof(struct discard_seg) == 0;
	default:
		return true;	/* answered with UNSUPP */
	}
}

/* Serve one validated chain; false if the driver broke the protocol. */
static bool handle(struct virtio_blk *b, const struct vq_chain *c, uint32_t *used)
{
	struct req_hdr h;
	uint8_t status = VIRTIO_BLK_S_OK;
	const char *why = NULL;
	uint64_t len;

	*used = 1;
	if (c->out_len < sizeof(h) || c->in_len < 1) {
		virtio_device_error(b->vd, "request without a header or a status byte");
		return false;
	}
	vq_chain_read(c, 0, &h, sizeof(h));
	if (!layout_ok(c, h.type, &why)) {
		virtio_device_error(b->vd, "%s", why);
		return false;
	}
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
		len = c->in_len - 1;
		if (!in_range(b, h.sector, len))
			status = VIRTIO_BLK_S_IOERR;
		else if (transfer(b, c, false, h.sector * SECTOR, len) < 0)
			status = VIRTIO_BLK_S_IOERR;
		else
			*used += len;
		break;
	case VIRTIO_BLK_T_OUT:
		len = c->out_len - sizeof(h);
		if (b->read_only || !in_range(b, h.sector, len) ||
		    transfer(b, c, true, h.sector * SECTOR, len) < 0)
			status = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (!b->read_only && blk_flush(b->blk) < 0)
			status = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_GET_ID:
		len = MIN(c->in_len - 1, (uint64_t)VIRTIO_BLK_ID_BYTES);
		vq_chain_write(c, 0, b->id, len);
		*used += len;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		status = discard_or_zero(b, c, h.type);
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	if (status == VIRTIO_BLK_S_IOERR && h.type <= VIRTIO_BLK_T_OUT)
		log_debug("virtio-blk: request %u sector %llu failed: %s", h.type,
			  (unsigned long long)h.sector, blk_errmsg(b->blk));
	vq_chain_write(c, c->in_len - 1, &status, 1);
	return true;
}

static void blk_notify(struct virtio_dev *vd, unsigned q)
{
	struct virtio_blk *b = vd->priv;
	struct vq_chain *c = &vd->chain;
	uint32_t used;

	while (virtio_pop(vd, q, c) > 0) {
		if (!handle(b, c, &used))
			return;
		virtio_push(vd, q, c->head, used);
	}
}

static const struct virtio_dev_ops blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.class_code = 0x010000,
	.num_queues = 1,
	.queue_max = BLK_QUEUE_SIZE,
	.queue_notify = blk_notify,
};

int virtio_blk_create(struct virtio_blk **out, const struct virtio_attach *at,
		      const struct virtio_blk_opts *o)
{
	struct virtio_blk *b = calloc(1, sizeof(*b));
	uint64_t features = VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
			    VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
	int r;

	if (!b)
		return -ENOMEM;
	b->blk = o->blk;
	b->read_only = o->read_only || o->blk->read_only;
	b->sectors = o->blk->size / SECTOR;
	if (o->serial)
		memcpy(b->id, o->serial, strnlen(o->serial, sizeof(b->id)));
	if (b->read_only)
		features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	else
		features |= VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |
			    VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	put_le(b->config + CFG_CAPACITY, b->sectors, 8);
	put_le(b->config + CFG_SEG_MAX, BLK_QUEUE_SIZE - 2, 4);
	put_le(b->config + CFG_BLK_SIZE, SECTOR, 4);
	put_le(b->config + CFG_MAX_DISCARD_SECTORS, DISCARD_MAX_SECTORS, 4);
	put_le(b->config + CFG_MAX_DISCARD_SEG, 1, 4);
	put_le(b->config + CFG_DISCARD_ALIGN, 8, 4);
	put_le(b->config + CFG_MAX_WZ_SECTORS, DISCARD_MAX_SECTORS, 4);
	put_le(b->config + CFG_MAX_WZ_SEG, 1, 4);
	b->config[CFG_WZ_MAY_UNMAP] = 1;
	r = virtio_pci_create(&b->vd, &blk_ops, b, features, b->config, sizeof(b->config),
			      at->pci, at->slot, at->mem, at->irq);
	if (r < 0) {
		free(b);
		return r;
	}
	*out = b;
	return 0;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b)
		return;
	virtio_pci_destroy(b->vd);
	free(b);
}

struct virtio_dev *virtio_blk_dev(struct virtio_blk *b)
{
	return b->vd;
}
