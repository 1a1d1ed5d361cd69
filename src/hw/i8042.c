/*
 * i8042 keyboard controller without devices behind it. It answers the
 * controller commands an OS uses to probe it (read/write the command
 * byte, self tests, enable/disable ports, output port) and resets the
 * machine when the guest pulses the reset line (0xFE, or writes the output
 * port with bit 0 clear). Bytes written to the keyboard or mouse go
 * nowhere, so drivers time out and conclude that nothing is attached.
 */
#include "hw/i8042.h"

#include <errno.h>
#include <stdlib.h>

#include "lib/log.h"
#include "mem/layout.h"

#define STS_OBF   0x01   /* output buffer full */
#define STS_SYS   0x04   /* system flag: self test passed */
#define STS_A2    0x08   /* last write was to the command port */
#define STS_INH   0x10   /* 1 = keyboard not inhibited */
#define STS_AUXB  0x20   /* output buffer holds mouse data */

#define CTR_KBDINT  0x01
#define CTR_AUXINT  0x02
#define CTR_SYS     0x04
#define CTR_KBDDIS  0x10
#define CTR_AUXDIS  0x20
#define CTR_XLATE   0x40

#define OUTPORT_RESET 0x01   /* 0 = CPU held in reset */
#define OUTPORT_A20   0x02

enum {
	CMD_READ_CTR = 0x20,
	CMD_WRITE_CTR = 0x60,
	CMD_AUX_DISABLE = 0xA7,
	CMD_AUX_ENABLE = 0xA8,
	CMD_AUX_TEST = 0xA9,
	CMD_SELF_TEST = 0xAA,
	CMD_KBD_TEST = 0xAB,
	CMD_KBD_DISABLE = 0xAD,
	CMD_KBD_ENABLE = 0xAE,
	CMD_READ_INPUT = 0xC0,
	CMD_READ_OUTPORT = 0xD0,
	CMD_WRITE_OUTPORT = 0xD1,
	CMD_WRITE_KBD_OBUF = 0xD2,
	CMD_WRITE_AUX_OBUF = 0xD3,
	CMD_WRITE_AUX = 0xD4,
	CMD_PULSE_FIRST = 0xF0,
};

static void push(struct i8042 *k, uint8_t byte, bool aux)
{
	unsigned slot;

	if (k->outq_count >= I8042_OUTQ_SIZE)
		return;   /* a real controller holds one byte; drop extras */
	slot = (k->outq_head + k->outq_count) % I8042_OUTQ_SIZE;
	k->outq[slot] = byte;
	k->outq_aux[slot] = aux;
	k->outq_count++;
}

static uint8_t read_status(struct i8042 *k)
{
	uint8_t s = k->status | STS_INH;

	if (k->outq_count) {
		s |= STS_OBF;
		if (k->outq_aux[k->outq_head])
			s |= STS_AUXB;
	}
	return s;
}

static uint8_t read_data(struct i8042 *k)
{
	uint8_t byte;

	if (!k->outq_count)
		return 0;
	byte = k->outq[k->outq_head];
	k->outq_head = (k->outq_head + 1) % I8042_OUTQ_SIZE;
	k->outq_count--;
	return byte;
}

/* Returns true if the guest asked for a machine reset. */
static bool write_command(struct i8042 *k, uint8_t cmd)
{
	k->status |= STS_A2;
	k->pending_cmd = 0;
	if (cmd >= CMD_PULSE_FIRST)
		return !(cmd & OUTPORT_RESET);   /* bit 0 clear pulses reset */
	if (cmd >= 0x20 && cmd < 0x40) {
		/* Read controller RAM; byte 0 is the command byte. */
		push(k, cmd == CMD_READ_CTR ? k->cmd_byte : 0, false);
		return false;
	}
	if (cmd >= 0x60 && cmd < 0x80) {
		k->pending_cmd = cmd;
		return false;
	}
	switch (cmd) {
	case CMD_AUX_DISABLE:
		k->cmd_byte |= CTR_AUXDIS;
		break;
	case CMD_AUX_ENABLE:
		k->cmd_byte &= ~CTR_AUXDIS;
		break;
	case CMD_AUX_TEST:
	case CMD_KBD_TEST:
		push(k, 0x00, false);   /* no clock or data line stuck */
		break;
	case CMD_SELF_TEST:
		k->status |= STS_SYS;
		push(k, 0x55, false);
		break;
	case CMD_KBD_DISABLE:
		k->cmd_byte |= CTR_KBDDIS;
		break;
	case CMD_KBD_ENABLE:
		k->cmd_byte &= ~CTR_KBDDIS;
		break;
	case CMD_READ_INPUT:
		push(k, 0x00, false);
		break;
	case CMD_READ_OUTPORT:
		push(k, k->outport, false);
		break;
	case CMD_WRITE_OUTPORT:
	case CMD_WRITE_KBD_OBUF:
	case CMD_WRITE_AUX_OBUF:
	case CMD_WRITE_AUX:
		k->pending_cmd = cmd;
		break;
	default:
		break;   /* A20 gate, LEDs, vendor commands: nothing to do */
	}
	return false;
}

static bool write_data(struct i8042 *k, uint8_t val)
{
	uint8_t cmd = k->pending_cmd;

	k->status &= ~STS_A2;
	k->pending_cmd = 0;
	switch (cmd) {
	case CMD_WRITE_CTR:
		k->cmd_byte = val;
		k->status = (k->status & ~STS_SYS) | (val & CTR_SYS);
		break;
	case CMD_WRITE_OUTPORT:
		k->outport = val;
		return !(val & OUTPORT_RESET);
	case CMD_WRITE_KBD_OBUF:
		push(k, val, false);
		break;
	case CMD_WRITE_AUX_OBUF:
		push(k, val, true);
		break;
	default:
		break;   /* to the keyboard or mouse: nobody is there */
	}
	return false;
}

static uint64_t i8042_data_read(void *opaque, uint64_t off, unsigned size)
{
	struct i8042 *k = opaque;
	uint64_t val;

	pthread_mutex_lock(&k->lock);
	val = read_data(k);
	pthread_mutex_unlock(&k->lock);
	return val;
}

static uint64_t i8042_status_read(void *opaque, uint64_t off, unsigned size)
{
	struct i8042 *k = opaque;
	uint64_t val;

	pthread_mutex_lock(&k->lock);
	val = read_status(k);
	pthread_mutex_unlock(&k->lock);
	return val;
}

static void request_reset(struct i8042 *k)
{
	log_info("i8042: guest requested a reset");
	if (k->ctl)
		k->ctl->request(k->ctl, MACHINE_RESET);
}

static void i8042_data_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct i8042 *k = opaque;
	bool reset;

	pthread_mutex_lock(&k->lock);
	reset = write_data(k, val & 0xFF);
	pthread_mutex_unlock(&k->lock);
	if (reset)
		request_reset(k);
}

static void i8042_cmd_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct i8042 *k = opaque;
	bool reset;

	pthread_mutex_lock(&k->lock);
	reset = write_command(k, val & 0xFF);
	pthread_mutex_unlock(&k->lock);
	if (reset)
		request_reset(k);
}

/*
 * Each port is one byte wide: a wider access reaching past it is not
 * claimed by the bus and reads all-ones.
 */
static const struct bus_ops data_ops = {
	.read = i8042_data_read,
	.write = i8042_data_write,
};

static const struct bus_ops cmd_ops = {
	.read = i8042_status_read,
	.write = i8042_cmd_write,
};

int i8042_create(struct i8042 **out, struct bus *pio, struct machine_ctl *ctl)
{
	struct i8042 *k = calloc(1, sizeof(*k));
	int err;

	if (!k)
		return -ENOMEM;
	pthread_mutex_init(&k->lock, NULL);
	k->pio = pio;
	k->ctl = ctl;
	k->cmd_byte = CTR_KBDINT | CTR_AUXINT | CTR_SYS | CTR_XLATE;
	k->status = STS_SYS;
	k->outport = OUTPORT_RESET | OUTPORT_A20;
	err = bus_add(pio, PORT_I8042_DATA, 1, &data_ops, k, "i8042-data");
	if (err)
		goto fail;
	err = bus_add(pio, PORT_I8042_CMD, 1, &cmd_ops, k, "i8042-cmd");
	if (err) {
		bus_remove(pio, PORT_I8042_DATA, k);
		goto fail;
	}
	*out = k;
	return 0;
fail:
	log_err("i8042: ports 0x60/0x64: %d", err);
	pthread_mutex_destroy(&k->lock);
	free(k);
	return err;
}

void i8042_destroy(struct i8042 *k)
{
	if (!k)
		return;
	bus_remove(k->pio, PORT_I8042_DATA, k);
	bus_remove(k->pio, PORT_I8042_CMD, k);
	pthread_mutex_destroy(&k->lock);
	free(k);
}
