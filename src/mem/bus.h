/*
 * An I/O bus: the port-I/O space or the MMIO space. Devices claim ranges;
 * both CPU engines deliver accesses here, so devices never know which
 * engine runs them. Overlapping claims are refused (-EEXIST); a read of an
 * unclaimed address returns all-ones, a write to one is dropped.
 *
 * Accesses are 1, 2, 4 or 8 bytes, little-endian values. Ranges may be
 * added and removed while vCPUs run (PCI BAR programming): lookups take a
 * read lock. Device callbacks run on vCPU threads, outside the bus lock;
 * a device protects its own state.
 */
#ifndef VIREO_MEM_BUS_H
#define VIREO_MEM_BUS_H

#include <pthread.h>
#include <stdint.h>

struct bus_ops {
	/* off is relative to the range's base. */
	uint64_t (*read)(void *opaque, uint64_t off, unsigned size);
	void (*write)(void *opaque, uint64_t off, unsigned size, uint64_t val);
};

struct bus_range {
	uint64_t base, len;
	const struct bus_ops *ops;
	void *opaque;
	const char *name;
};

struct bus {
	const char *name;
	pthread_rwlock_t lock;
	struct bus_range *ranges;   /* sorted by base, non-overlapping */
	unsigned nr, cap;
	uint64_t unclaimed;         /* counter of accesses that hit nothing */
};

void bus_init(struct bus *b, const char *name);
void bus_destroy(struct bus *b);
/* Claim [base, base+len): 0, -EEXIST on overlap, -EINVAL, -ENOMEM. */
int bus_add(struct bus *b, uint64_t base, uint64_t len,
	    const struct bus_ops *ops, void *opaque, const char *name);
/* Release the range that starts at base and belongs to opaque; -ENOENT. */
int bus_remove(struct bus *b, uint64_t base, void *opaque);
/* Dispatch one access; returns all-ones (of size) where nothing is mapped. */
uint64_t bus_read(struct bus *b, uint64_t addr, unsigned size);
void bus_write(struct bus *b, uint64_t addr, unsigned size, uint64_t val);

#endif
