#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "block/block.h"
#include "boot/boot.h"
#include "cpu/emu/emu_hooks.h"
#include "hw/acpi_pm.h"
#include "hw/acpi_tables.h"
#include "hw/i8042.h"
#include "hw/pci.h"
#include "hw/rtc.h"
#include "hw/uart.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mem/layout.h"
#include "virtio/tap.h"
#include "virtio/virtio_devices.h"
#include "vmm/chardev.h"

static bool host_has_vmx_svm(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		found = strstr(line, " vmx") || strstr(line, " svm");
		break;
	}
	fclose(f);
	return found;
}

const struct engine_ops *vm_choose_engine(enum accel_kind accel, char *err, size_t errlen)
{
	char why[256] = "";

	switch (accel) {
	case ACCEL_KVM:
		if (!kvm_engine_ops.available(why, sizeof(why))) {
			snprintf(err, errlen, "--accel kvm: %s", why);
			return NULL;
		}
		return &kvm_engine_ops;
	case ACCEL_EMU:
		return &emu_engine_ops;
	case ACCEL_AUTO:
		if (host_has_vmx_svm() && kvm_engine_ops.available(why, sizeof(why)))
			return &kvm_engine_ops;
		return &emu_engine_ops;
	}
	return NULL;
}

static void machine_request(struct machine_ctl *ctl, enum machine_request req)
{
	struct vm *vm = (struct vm *)((char *)ctl - offsetof(struct vm, ctl));

	vm->eops->stop(vm->engine, req == MACHINE_RESET ? ENGINE_EXIT_RESET : ENGINE_EXIT_POWEROFF);
}

static void serial_tx(void *opaque, uint8_t byte)
{
	chardev_write(opaque, &byte, 1);
}

size_t vm_serial_input(void *opaque, const uint8_t *buf, size_t len)
{
	struct vm *vm = opaque;

	if (!vm->built)
		return len;
	/* --console virtio: typed input goes to hvc0 only. */
	return vm->vcon ? virtio_console_input(vm->vcon, buf, len)
			: uart_receive(vm->uart, buf, len);
}

void vm_power_button(struct vm *vm)
{
	if (vm->built)
		acpi_pm_power_button(vm->pm);
}

/* Open a boot file now, so that a missing one is an error before the VM is built. */
static int open_boot_file(const char *what, const char *path, int *fd, char *err, size_t errlen)
{
	const char *why = NULL;
	struct stat st;

	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0 || fstat(*fd, &st) < 0)
		why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	if (!why)
		return 0;
	snprintf(err, errlen, "%s '%s': %s", what, path, why);
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	return -1;
}

static int read_boot_file(const char *what, const char *path, int fd, uint8_t **data,
			  size_t *len, char *err, size_t errlen)
{
	int r = read_fd(fd, data, len);

	if (r < 0)
		snprintf(err, errlen, "%s '%s': %s", what, path, strerror(-r));
	return r;
}

/* Open every --disk image: missing, unreadable or locked is an error now. */
static int open_disks(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_options *o = vm->opts;

	for (unsigned i = 0; i < o->ndisks; i++) {
		const struct disk_options *d = &o->disks[i];
		struct blk_open_opts bo = {
			.format = d->format[0] ? d->format : NULL,
			.read_only = d->read_only,
			.direct = d->cache == DISK_CACHE_NONE,
		};
		char why[BLK_ERR_LEN] = "";

		if (blk_open(&vm->disks[i], d->path, &bo, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "--disk %s: %s", d->path, why);
			return -1;
		}
	}
	return 0;
}

static void console_output(void *opaque, const uint8_t *buf, size_t len)
{
	chardev_write(opaque, buf, len);
}

/* Attach every --net TAP: missing permission or a busy TAP fails now. */
static int open_taps(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_options *o = vm->opts;

	for (unsigned i = 0; i < o->nnets; i++) {
		char why[256] = "";
		int fd = tap_open(o->nets[i].tap, why, sizeof(why));

		if (fd < 0) {
			snprintf(err, errlen, "--net tap=%s: %s", o->nets[i].tap, why);
			return -1;
		}
		vm->taps[i] = fd;
	}
	return 0;
}

static void close_backends(struct vm *vm)
{
	for (unsigned i = 0; i < VM_MAX_DISKS; i++) {
		blk_close(vm->disks[i]);
		vm->disks[i] = NULL;
	}
	for (unsigned i = 0; i < VM_MAX_NICS; i++) {
		if (vm->taps[i] >= 0)
			close(vm->taps[i]);
		vm->taps[i] = -1;
	}
	if (vm->kernel_fd >= 0)
		close(vm->kernel_fd);
	if (vm->initrd_fd >= 0)
		close(vm->initrd_fd);
	vm->kernel_fd = vm->initrd_fd = -1;
}

/*
 * The virtio devices, in fixed PCI slots so the guest sees the same
 * machine on every boot: disks from slot 1, then NICs, the console, the
 * rng, the balloon.
 * With --console virtio, COM1's output still reaches the chardev (early
 * boot messages, firmware-less kernels), its input does not.
 */
static int create_virtio(struct vm *vm, struct irq_chip *irq, char *err, size_t errlen)
{
	const struct vm_options *o = vm->opts;
	struct virtio_attach at = { vm->pci, 1, &vm->mem, irq };
	int r;

	for (unsigned i = 0; i < o->ndisks; i++, at.slot++) {
		struct virtio_blk_opts bo = {
			.blk = vm->disks[i],
			.serial = o->disks[i].serial[0] ? o->disks[i].serial : NULL,
			.read_only = o->disks[i].read_only,
		};

		r = virtio_blk_create(&vm->vblk[i], &at, &bo);
		if (r < 0) {
			snprintf(err, errlen, "cannot create virtio-blk for %s: %s",
				 o->disks[i].path, strerror(-r));
			return r;
		}
	}
	for (unsigned i = 0; i < o->nnets; i++, at.slot++) {
		r = virtio_net_create(&vm->vnet[i], &at, vm->taps[i], o->nets[i].mac);
		if (r < 0) {
			snprintf(err, errlen, "cannot create virtio-net for %s: %s",
				 o->nets[i].tap, strerror(-r));
			return r;
		}
	}
	if (o->console == CONSOLE_VIRTIO) {
		r = virtio_console_create(&vm->vcon, &at, vm->serial ? console_output : NULL,
					  vm->serial);
		if (r < 0) {
			snprintf(err, errlen, "cannot create virtio-console: %s", strerror(-r));
			return r;
		}
		at.slot++;
	}
	if (o->rng) {
		r = virtio_rng_create(&vm->vrng, &at);
		if (r < 0) {
			snprintf(err, errlen, "cannot create virtio-rng: %s", strerror(-r));
			return r;
		}
		at.slot++;
	}
	if (o->balloon) {
		r = virtio_balloon_create(&vm->vballoon, &at);
		if (r < 0) {
			snprintf(err, errlen, "cannot create virtio-balloon: %s", strerror(-r));
			return r;
		}
	}
	return 0;
}

static void destroy_virtio(struct vm *vm)
{
	for (unsigned i = 0; i < VM_MAX_DISKS; i++) {
		virtio_blk_destroy(vm->vblk[i]);
		vm->vblk[i] = NULL;
	}
	for (unsigned i = 0; i < VM_MAX_NICS; i++) {
		virtio_net_destroy(vm->vnet[i]);
		vm->vnet[i] = NULL;
	}
	virtio_rng_destroy(vm->vrng);
	vm->vrng = NULL;
	virtio_console_destroy(vm->vcon);
	vm->vcon = NULL;
	virtio_balloon_destroy(vm->vballoon);
	vm->vballoon = NULL;
}

int vm_init(struct vm *vm, const struct vm_options *opts, struct chardev *serial,
	    char *err, size_t errlen)
{
	memset(vm, 0, sizeof(*vm));
	for (unsigned i = 0; i < VM_MAX_NICS; i++)
		vm->taps[i] = -1;
	vm->kernel_fd = vm->initrd_fd = -1;
	vm->opts = opts;
	vm->serial = serial;
	vm->ctl.request = machine_request;
	vm->eops = vm_choose_engine(opts->accel, err, errlen);
	if (!vm->eops)
		return -1;
	if (open_boot_file("kernel", opts->kernel, &vm->kernel_fd, err, errlen) < 0 ||
	    (opts->initrd &&
	     open_boot_file("initrd", opts->initrd, &vm->initrd_fd, err, errlen) < 0) ||
	    open_disks(vm, err, errlen) < 0 || open_taps(vm, err, errlen) < 0) {
		close_backends(vm);
		return -1;
	}
	return 0;
}

int vm_boot(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_options *o = vm->opts;
	struct engine_config ecfg = { &vm->mem, &vm->pio, &vm->mmio, o->ncpus };
	struct acpi_config acfg = { .ncpus = o->ncpus };
	struct boot_config bcfg = { .cmdline = o->cmdline };
	uint8_t *kernel = NULL, *initrd = NULL;
	struct cpu_boot_state st;
	enum boot_format fmt;
	struct irq_chip *irq;
	int r;

	r = gmem_init(&vm->mem, o->mem_size, (o->hugepages ? GMEM_HUGEPAGES : 0) |
					      (o->merge ? GMEM_MERGE : 0));
	if (r < 0) {
		snprintf(err, errlen, "cannot map %llu MiB of guest memory: %s",
			 (unsigned long long)(o->mem_size >> 20), strerror(-r));
		return r;
	}
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	vm->built = false;

	vm->engine = vm->eops->create(&ecfg);
	if (!vm->engine) {
		snprintf(err, errlen, "the %s engine could not create the VM", vm->eops->name);
		goto fail;
	}
	irq = vm->eops->irq_chip(vm->engine);
	/* emu caches decoded code per page: device writes must drop it. */
	if (vm->eops == &emu_engine_ops)
		vm->mem.on_dma_write = emu_code_invalidate;

	if ((r = uart_create(&vm->uart, &vm->pio, PORT_COM1, irq, IRQ_COM1, -1)) < 0 ||
	    (r = rtc_create(&vm->rtc, &vm->pio, &vm->mem)) < 0 ||
	    (r = i8042_create(&vm->kbc, &vm->pio, &vm->ctl)) < 0 ||
	    (r = pci_host_create(&vm->pci, &vm->pio, &vm->mmio, irq)) < 0 ||
	    (r = acpi_pm_create(&vm->pm, &vm->pio, irq, &vm->ctl, vm->pci)) < 0) {
		snprintf(err, errlen, "cannot create the PC devices: %s", strerror(-r));
		goto fail;
	}
	if (vm->serial)
		uart_set_tx_hook(vm->uart, serial_tx, vm->serial);
	if (create_virtio(vm, irq, err, errlen) < 0)
		goto fail;

	r = acpi_build_tables(&vm->mem, &acfg, &bcfg.rsdp_gpa);
	if (r < 0) {
		snprintf(err, errlen, "cannot build the ACPI tables: %s", strerror(-r));
		goto fail;
	}
	r = read_boot_file("kernel", o->kernel, vm->kernel_fd, &kernel, &bcfg.kernel_len,
			   err, errlen);
	if (r == 0 && vm->initrd_fd >= 0)
		r = read_boot_file("initrd", o->initrd, vm->initrd_fd, &initrd,
				   &bcfg.initrd_len, err, errlen);
	if (r == 0) {
		bcfg.kernel = kernel;
		bcfg.initrd = initrd;
		r = boot_load(&vm->mem, &bcfg, &st, &fmt, err, errlen);
	}
	free(kernel);
	free(initrd);
	if (r < 0)
		goto fail;
	r = vm->eops->set_boot_state(vm->engine, &st);
	if (r < 0) {
		snprintf(err, errlen, "the %s engine refused the boot CPU state: %s",
			 vm->eops->name, strerror(-r));
		goto fail;
	}
	log_info("booting %s (%s) on %s with %u vCPU(s), %llu MiB", o->kernel,
		 fmt == BOOT_PVH ? "PVH" : "bzImage", vm->eops->name, o->ncpus,
		 (unsigned long long)(o->mem_size >> 20));
	vm->built = true;
	return 0;
fail:
	vm_teardown(vm);
	return -1;
}

void vm_teardown(struct vm *vm)
{
	vm->built = false;
	destroy_virtio(vm);
	acpi_pm_destroy(vm->pm);
	pci_host_destroy(vm->pci);
	i8042_destroy(vm->kbc);
	rtc_destroy(vm->rtc);
	uart_destroy(vm->uart);
	vm->pm = NULL;
	vm->pci = NULL;
	vm->kbc = NULL;
	vm->rtc = NULL;
	vm->uart = NULL;
	if (vm->engine)
		vm->eops->destroy(vm->engine);
	vm->engine = NULL;
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	gmem_destroy(&vm->mem);
}

void vm_free(struct vm *vm)
{
	if (vm->built)
		vm_teardown(vm);
	close_backends(vm);
}
