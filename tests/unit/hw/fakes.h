/* Fake machine around the devices under test: an irq_chip that records
 * line levels and edges, and a machine_ctl that counts requests. */
#ifndef VIREO_TESTS_HW_FAKES_H
#define VIREO_TESTS_HW_FAKES_H

#include <string.h>

#include "hw/platform.h"

#define FAKE_NR_GSI 24

struct fake_irq {
	struct irq_chip chip;
	int level[FAKE_NR_GSI];
	unsigned rises[FAKE_NR_GSI];   /* 0 -> 1 transitions seen */
	unsigned calls;
	unsigned bad_gsi;
};

static inline void fake_set_level(struct irq_chip *chip, unsigned gsi, int level)
{
	struct fake_irq *f = (struct fake_irq *)chip;

	f->calls++;
	if (gsi >= FAKE_NR_GSI) {
		f->bad_gsi++;
		return;
	}
	if (level && !f->level[gsi])
		f->rises[gsi]++;
	f->level[gsi] = level;
}

static inline void fake_irq_init(struct fake_irq *f)
{
	memset(f, 0, sizeof(*f));
	f->chip.set_level = fake_set_level;
}

struct fake_ctl {
	struct machine_ctl ctl;
	unsigned poweroff, reset;
};

static inline void fake_request(struct machine_ctl *ctl, enum machine_request req)
{
	struct fake_ctl *f = (struct fake_ctl *)ctl;

	if (req == MACHINE_POWEROFF)
		f->poweroff++;
	else if (req == MACHINE_RESET)
		f->reset++;
}

static inline void fake_ctl_init(struct fake_ctl *f)
{
	memset(f, 0, sizeof(*f));
	f->ctl.request = fake_request;
}

/* A cheap deterministic generator for the "random access" tests. */
static inline uint64_t fake_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#endif
