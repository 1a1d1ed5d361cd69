/*
 * Where the guest's serial console goes: the terminal (raw mode, Ctrl-A x
 * quits), a pseudo-terminal, a UNIX socket (one client at a time), a file,
 * or nowhere. Survives guest resets; the UART is re-attached each boot.
 */
#ifndef VIREO_VMM_CHARDEV_H
#define VIREO_VMM_CHARDEV_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/options.h"

struct loop;
struct chardev;

/* Called from the main loop with input for the guest; returns bytes taken. */
typedef size_t (*chardev_input_fn)(void *opaque, const uint8_t *buf, size_t len);

struct chardev *chardev_open(struct loop *loop, enum serial_kind kind, const char *path,
			     char *err, size_t errlen);
void chardev_close(struct chardev *ch);
void chardev_set_input(struct chardev *ch, chardev_input_fn fn, void *opaque);
/* Thread-safe (vCPU threads): output from the guest. */
void chardev_write(struct chardev *ch, const uint8_t *buf, size_t len);
/* Fired when the user types Ctrl-A x on the terminal. */
void chardev_set_quit(struct chardev *ch, void (*fn)(void *opaque), void *opaque);

#endif
