/*
 * Guest memory: one anonymous mapping holding all guest RAM, seen by the
 * guest as up to two regions (below the PCI hole and above 4 GiB).
 *
 * gmem_ptr() is THE checked translation: every guest-supplied address and
 * length goes through it (or gmem_read/gmem_write) before use.
 */
#ifndef VIREO_MEM_GUEST_MEM_H
#define VIREO_MEM_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GMEM_MAX_REGIONS 2

enum {
	GMEM_HUGEPAGES = 1 << 0,   /* madvise(MADV_HUGEPAGE) */
	GMEM_MERGE     = 1 << 1,   /* madvise(MADV_MERGEABLE): KSM */
};

struct guest_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

struct guest_mem {
	struct guest_region region[GMEM_MAX_REGIONS];
	unsigned nr_regions;
	uint64_t ram_size;      /* total bytes of RAM */
	uint8_t *base;          /* start of the host mapping (guard page before) */
	size_t map_size;
	/*
	 * Set by an engine that caches decoded guest code (emu): told about
	 * every range a device is about to write behind the vCPUs' backs (DMA),
	 * so that code in those pages is decoded again. Lock-free, any thread.
	 */
	void (*on_dma_write)(struct guest_mem *m, uint64_t gpa, uint64_t len);
};

/* Map ram_size bytes of guest RAM; -errno. */
int gmem_init(struct guest_mem *m, uint64_t ram_size, unsigned flags);
void gmem_destroy(struct guest_mem *m);

/*
 * Host pointer for [gpa, gpa+len), or NULL unless the whole range lies in
 * one RAM region. len == 0 is allowed (gpa must still be inside or at the
 * end of a region). Overflow-safe.
 */
void *gmem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* Copy to/from guest RAM; -EFAULT if any byte is not RAM. */
int gmem_read(const struct guest_mem *m, uint64_t gpa, void *buf, size_t len);
int gmem_write(const struct guest_mem *m, uint64_t gpa, const void *buf, size_t len);

/* A device will write [gpa, gpa+len) of guest RAM (see on_dma_write). */
static inline void gmem_dma_write_notice(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	if (m->on_dma_write)
		m->on_dma_write((struct guest_mem *)m, gpa, len);
}

/* True if gpa is a RAM address. */
static inline bool gmem_is_ram(const struct guest_mem *m, uint64_t gpa)
{
	return gmem_ptr(m, gpa, 1) != NULL;
}

#endif
