/*
 * libFuzzer target for the virtqueue chain walker. The input becomes a
 * fake guest memory of two RAM regions, each allocated to its exact size
 * so the sanitizers catch any access past an edge: byte 0 picks the queue
 * size and the negotiated ring features, the rest is copied over the
 * first region, which holds the descriptor table at 0x0, the available
 * ring at 0x1000 and the used ring at 0x2000. Every chain vq_pop accepts
 * must lie wholly in RAM; the device side then writes into its writable
 * buffers and returns it, as a device would.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtqueue.h"

#define LOW_SIZE   0x10000u
#define HIGH_GPA   0x100000u
#define HIGH_SIZE  0x4000u

static bool inside(const struct guest_mem *m, const uint8_t *p, uint32_t len)
{
	for (unsigned i = 0; i < m->nr_regions; i++) {
		const struct guest_region *r = &m->region[i];

		if (p >= r->host && p <= r->host + r->size &&
		    len <= (uint64_t)(r->host + r->size - p))
			return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vq_chain chain;
	struct guest_mem mem = { 0 };
	struct virtqueue vq;
	uint8_t *low, *high;
	unsigned rounds;

	if (size < 1)
		return 0;
	low = calloc(1, LOW_SIZE);
	high = calloc(1, HIGH_SIZE);
	if (!low || !high)
		abort();
	memcpy(low, data + 1, size - 1 < LOW_SIZE ? size - 1 : LOW_SIZE);
	mem.region[0] = (struct guest_region){ 0, LOW_SIZE, low };
	mem.region[1] = (struct guest_region){ HIGH_GPA, HIGH_SIZE, high };
	mem.nr_regions = 2;
	mem.ram_size = LOW_SIZE + HIGH_SIZE;

	vq_init(&vq, &mem);
	vq.size = 1u << ((data[0] >> 2) % 9);
	vq.indirect = data[0] & 1;
	vq.event_idx = data[0] & 2;
	vq.desc_gpa = 0;
	vq.avail_gpa = 0x1000;
	vq.used_gpa = 0x2000;
	if (vq_enable(&vq) < 0)
		abort();	/* these rings always fit */

	for (rounds = 0; rounds < 2u * vq.size + 2; rounds++) {
		int r = vq_pop(&vq, &chain);

		if (r <= 0)
			break;
		if (chain.n_out + chain.n_in > VQ_MAX_SIZE || chain.head >= vq.size)
			abort();
		for (unsigned i = 0; i < chain.n_out + chain.n_in; i++)
			if (!inside(&mem, chain.buf[i].ptr, chain.buf[i].len))
				abort();
		if (chain.n_in) {
			uint8_t fill[64];

			memset(fill, 0xA5, sizeof(fill));
			vq_chain_write(&chain, chain.in_len > 32 ? chain.in_len - 32 : 0,
				       fill, sizeof(fill));
		}
		if (chain.n_out) {
			uint8_t sink[64];

			vq_chain_read(&chain, 0, sink, sizeof(sink));
		}
		vq_push(&vq, chain.head, (uint32_t)chain.in_len);
		vq_should_notify(&vq);
	}
	free(low);
	free(high);
	return 0;
}
