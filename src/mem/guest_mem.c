#include "mem/guest_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/util.h"
#include "mem/layout.h"

int gmem_init(struct guest_mem *m, uint64_t ram_size, unsigned flags)
{
	size_t guard = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t low;
	uint8_t *p;

	memset(m, 0, sizeof(*m));
	if (ram_size == 0 || ram_size % 4096)
		return -EINVAL;
	/*
	 * Reserve guard pages on both sides so that an off-by-one in a device
	 * faults instead of touching other host memory.
	 */
	m->map_size = ram_size + 2 * guard;
	p = mmap(NULL, m->map_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (mprotect(p + guard, ram_size, PROT_READ | PROT_WRITE) < 0) {
		int err = -errno;
		munmap(p, m->map_size);
		return err;
	}
	m->base = p;
	m->ram_size = ram_size;
	if (flags & GMEM_HUGEPAGES)
		madvise(p + guard, ram_size, MADV_HUGEPAGE);
	if (flags & GMEM_MERGE)
		madvise(p + guard, ram_size, MADV_MERGEABLE);

	low = MIN(ram_size, LOW_RAM_END);
	m->region[0] = (struct guest_region){ 0, low, p + guard };
	m->nr_regions = 1;
	if (ram_size > low) {
		m->region[1] = (struct guest_region){ HIGH_RAM_BASE, ram_size - low, p + guard + low };
		m->nr_regions = 2;
	}
	return 0;
}

void gmem_destroy(struct guest_mem *m)
{
	if (m->base)
		munmap(m->base, m->map_size);
	memset(m, 0, sizeof(*m));
}

void *gmem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < m->nr_regions; i++) {
		const struct guest_region *r = &m->region[i];

		if (gpa >= r->gpa && range_within(gpa - r->gpa, len, r->size))
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

int gmem_read(const struct guest_mem *m, uint64_t gpa, void *buf, size_t len)
{
	void *p = gmem_ptr(m, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

int gmem_write(const struct guest_mem *m, uint64_t gpa, const void *buf, size_t len)
{
	void *p = gmem_ptr(m, gpa, len);

	if (!p)
		return -EFAULT;
	gmem_dma_write_notice(m, gpa, len);
	memcpy(p, buf, len);
	return 0;
}
