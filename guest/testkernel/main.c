/*
 * The test kernel's whole run: report what the machine looks like (memory
 * map, ACPI, CPUs, PCI) on COM1, then finish the way the command line asks
 * (power off by default). The output format is documented in README.md and
 * grepped by vireo's system tests: keep it stable.
 */
#include "tk.h"

static void finish(void) __attribute__((noreturn));

static void finish(void)
{
	bench_run();
	if (cmdline_has("testkernel.action=halt")) {
		kprintf("testkernel: halt\n");
		halt_forever();
	}
	if (cmdline_has("testkernel.action=reset")) {
		kprintf("testkernel: reset\n");
		acpi_reset();
	}
	if (cmdline_has("testkernel.action=triplefault")) {
		kprintf("testkernel: triple fault\n");
		triple_fault();
	}
	if (cmdline_has("testkernel.action=exception")) {
		/* Checks exception delivery and the handlers' report. */
		__asm__ volatile("ud2");
	}
	if (cmdline_has("testkernel.wait=powerbutton")) {
		kprintf("testkernel: waiting for power button\n");
		power_button_wait();
	}
	kprintf("testkernel: power off\n");
	acpi_power_off();
}

void kmain(void)
{
	/* First, before anything below 1 MiB gets reused. */
	bootinfo_collect();
	console_init();
	idt_init();
	idt_load();

	kprintf("testkernel: start (boot=%s)\n", boot.kind);
	bootinfo_print_memmap();

	acpi_init();
	kprintf("acpi: rsdp 0x%lx madt cpus %u ioapic 0x%lx\n", acpi.rsdp,
		acpi.nr_cpus, acpi.nr_ioapics ? acpi.ioapic[0].addr : 0);

	smp_boot();
	pci_scan();
	virtio_tests();
	kprintf("testkernel: done\n");
	finish();
}
