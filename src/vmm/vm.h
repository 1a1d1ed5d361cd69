/*
 * One virtual machine: guest memory, the buses, the PC devices, the loaded
 * kernel and a CPU engine. vm_boot() builds all of it; vm_teardown() takes
 * it apart again (a guest reset is teardown + boot).
 */
#ifndef VIREO_VMM_VM_H
#define VIREO_VMM_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/engine.h"
#include "hw/platform.h"
#include "mem/bus.h"
#include "mem/guest_mem.h"
#include "vmm/options.h"

struct uart;
struct rtc;
struct i8042;
struct pci_host;
struct acpi_pm;
struct chardev;
struct blk;
struct virtio_blk;
struct virtio_rng;
struct virtio_console;
struct virtio_net;
struct virtio_balloon;

struct vm {
	const struct vm_options *opts;
	const struct engine_ops *eops;
	struct chardev *serial;

	/*
	 * The kernel and initrd files, held open from vm_init() and read at
	 * each boot: their bytes live in guest RAM only, not twice (a 14 MiB
	 * bzImage kept in vireo's heap was a tenth of a Linux boot's RSS),
	 * and a reboot loads the same files even if they were renamed over.
	 */
	int kernel_fd, initrd_fd;

	/* Device backends, opened once by vm_init so a bad option fails early. */
	struct blk *disks[VM_MAX_DISKS];
	int taps[VM_MAX_NICS];		/* -1 when unused */

	/* Rebuilt on every boot. */
	struct guest_mem mem;
	struct bus pio, mmio;
	struct machine_ctl ctl;
	struct engine *engine;
	struct uart *uart;
	struct rtc *rtc;
	struct i8042 *kbc;
	struct pci_host *pci;
	struct acpi_pm *pm;
	struct virtio_blk *vblk[VM_MAX_DISKS];
	struct virtio_net *vnet[VM_MAX_NICS];
	struct virtio_rng *vrng;
	struct virtio_console *vcon;	/* --console virtio */
	struct virtio_balloon *vballoon;
	bool built;
};

/* Pick the engine --accel asks for; NULL with a reason in err. */
const struct engine_ops *vm_choose_engine(enum accel_kind accel, char *err, size_t errlen);

/* Read the kernel/initrd files and check what can be checked early. */
int vm_init(struct vm *vm, const struct vm_options *opts, struct chardev *serial,
	    char *err, size_t errlen);
/* Build memory, devices and engine and load the kernel. */
int vm_boot(struct vm *vm, char *err, size_t errlen);
void vm_teardown(struct vm *vm);
void vm_free(struct vm *vm);

/* Feed typed bytes to the serial port (chardev input callback). */
size_t vm_serial_input(void *opaque, const uint8_t *buf, size_t len);
/* Press the ACPI power button. */
void vm_power_button(struct vm *vm);

#endif
