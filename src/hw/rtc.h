/*
 * MC146818 CMOS real-time clock and its 128 bytes of CMOS RAM, at ports
 * 0x70 (index, bit 7 = NMI disable) and 0x71 (data).
 */
#ifndef VIREO_HW_RTC_H
#define VIREO_HW_RTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "mem/bus.h"
#include "mem/guest_mem.h"

#define RTC_CMOS_SIZE    128
#define RTC_REG_CENTURY  0x32   /* FADT CENTURY points here */

struct rtc {
	pthread_mutex_t lock;
	struct bus *pio;
	uint8_t index;           /* bits 6:0 of the last index write */
	bool nmi_disabled;       /* bit 7 of the last index write */
	uint8_t cmos[RTC_CMOS_SIZE];
	int64_t offset_s;        /* guest clock = host UTC + offset_s */
	uint64_t last_c_read_ns; /* for the lazily computed flags of reg C */
};

/*
 * Create the RTC on pio at PORT_RTC. mem, if not NULL, fills the memory
 * size bytes (0x15-0x18, 0x30/0x31, 0x34/0x35, 0x5b-0x5d) as a PC BIOS
 * would. 0 and *out, or -errno.
 */
int rtc_create(struct rtc **out, struct bus *pio, const struct guest_mem *mem);
void rtc_destroy(struct rtc *r);

/* NMI mask bit the guest last wrote to port 0x70. */
bool rtc_nmi_disabled(struct rtc *r);

#endif
