#include "mem/bus.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *b, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->name = name;
	pthread_rwlock_init(&b->lock, NULL);
}

void bus_destroy(struct bus *b)
{
	free(b->ranges);
	pthread_rwlock_destroy(&b->lock);
	memset(b, 0, sizeof(*b));
}

/* Index of the first range whose end is above addr (caller holds lock). */
static unsigned lower_bound(const struct bus *b, uint64_t addr)
{
	unsigned lo = 0, hi = b->nr;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		const struct bus_range *r = &b->ranges[mid];

		if (r->base + r->len <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_add(struct bus *b, uint64_t base, uint64_t len,
	    const struct bus_ops *ops, void *opaque, const char *name)
{
	unsigned i;
	int err = 0;

	if (len == 0 || base + len < base || !ops)
		return -EINVAL;
	pthread_rwlock_wrlock(&b->lock);
	i = lower_bound(b, base);
	if (i < b->nr && b->ranges[i].base < base + len) {
		err = -EEXIST;
		goto out;
	}
	if (b->nr == b->cap) {
		unsigned cap = b->cap ? b->cap * 2 : 16;
		struct bus_range *r = realloc(b->ranges, cap * sizeof(*r));
		if (!r) {
			err = -ENOMEM;
			goto out;
		}
		b->ranges = r;
		b->cap = cap;
	}
	memmove(&b->ranges[i + 1], &b->ranges[i], (b->nr - i) * sizeof(b->ranges[0]));
	b->ranges[i] = (struct bus_range){ base, len, ops, opaque, name };
	b->nr++;
out:
	pthread_rwlock_unlock(&b->lock);
	return err;
}

int bus_remove(struct bus *b, uint64_t base, void *opaque)
{
	unsigned i;
	int err = -ENOENT;

	pthread_rwlock_wrlock(&b->lock);
	i = lower_bound(b, base);
	if (i < b->nr && b->ranges[i].base == base && b->ranges[i].opaque == opaque) {
		memmove(&b->ranges[i], &b->ranges[i + 1], (b->nr - i - 1) * sizeof(b->ranges[0]));
		b->nr--;
		err = 0;
	}
	pthread_rwlock_unlock(&b->lock);
	return err;
}

/*
 * Find the range holding the whole access. The callback runs after the lock
 * is dropped: a device may remap its own BARs from inside a config write.
 */
static bool bus_find(struct bus *b, uint64_t addr, unsigned size, struct bus_range *out)
{
	bool found = false;
	unsigned i;

	pthread_rwlock_rdlock(&b->lock);
	i = lower_bound(b, addr);
	if (i < b->nr) {
		const struct bus_range *r = &b->ranges[i];
		if (addr >= r->base && addr - r->base + size <= r->len) {
			*out = *r;
			found = true;
		}
	}
	pthread_rwlock_unlock(&b->lock);
	if (!found)
		__atomic_fetch_add(&b->unclaimed, 1, __ATOMIC_RELAXED);
	return found;
}

uint64_t bus_read(struct bus *b, uint64_t addr, unsigned size)
{
	struct bus_range r;

	if (!bus_find(b, addr, size, &r) || !r.ops->read)
		return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
	return r.ops->read(r.opaque, addr - r.base, size);
}

void bus_write(struct bus *b, uint64_t addr, unsigned size, uint64_t val)
{
	struct bus_range r;

	if (bus_find(b, addr, size, &r) && r.ops->write)
		r.ops->write(r.opaque, addr - r.base, size, val);
}
