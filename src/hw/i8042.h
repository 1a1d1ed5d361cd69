/*
 * i8042 keyboard controller, just enough for Linux to probe it and to
 * reset the machine through it (command 0xFE). No keyboard or mouse is
 * attached and no interrupts are raised.
 */
#ifndef VIREO_HW_I8042_H
#define VIREO_HW_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/platform.h"
#include "mem/bus.h"

#define I8042_OUTQ_SIZE 8

struct i8042 {
	pthread_mutex_t lock;
	struct bus *pio;
	struct machine_ctl *ctl;
	uint8_t cmd_byte;        /* controller configuration byte */
	uint8_t status;          /* SYS and A2 bits; OBF/AUXB derived */
	uint8_t pending_cmd;     /* command waiting for its data byte, or 0 */
	uint8_t outport;
	uint8_t outq[I8042_OUTQ_SIZE];
	bool outq_aux[I8042_OUTQ_SIZE];
	unsigned outq_head, outq_count;
};

/* Claim ports 0x60 and 0x64 on pio. 0 and *out, or -errno. */
int i8042_create(struct i8042 **out, struct bus *pio, struct machine_ctl *ctl);
void i8042_destroy(struct i8042 *k);

#endif
