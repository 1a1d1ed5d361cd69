/*
 * Bring up the application processors listed in the MADT, one at a time,
 * with INIT / INIT deassert / SIPI / SIPI through the xAPIC ICR. Each AP runs
 * the real-mode trampoline (trampoline.S) into long mode, prints its own
 * "cpu <i> online" line and counts itself in cpus_online, then parks.
 */
#include "tk.h"

#define TK_AP_STACK_SIZE	2048		/* as in head.S */
#define TRAMP_PREFERRED		0x8000
#define TRAMP_PAGE		0x1000

#define ICR_BUSY		(1u << 12)
#define ICR_INIT_ASSERT		0x0000C500 /* INIT, level, assert */
#define ICR_INIT_DEASSERT	0x00008500 /* INIT, level, deassert */
#define ICR_STARTUP		0x00000600

#define AP_TIMEOUT_MS		1000

extern const u8 tramp_start[], tramp_end[];
extern const u32 tramp_gdt_base_off, tramp_jmp32_off, tramp_gdt_off,
	tramp_32_off;
extern u8 ap_stacks[];
extern volatile u64 ap_stack_top;

static volatile u32 cpus_online;
static volatile u32 ap_index;

void ap_main(void)
{
	idt_load();
	kprintf("cpu %u online (apic %u)\n", ap_index, lapic_id());
	__atomic_fetch_add(&cpus_online, 1, __ATOMIC_SEQ_CST);
	halt_forever();
}

static bool send_ipi(u8 apic_id, u32 icr_lo)
{
	unsigned int i;

	lapic_write(LAPIC_ICR_HI, (u32)apic_id << 24);
	lapic_write(LAPIC_ICR_LO, icr_lo);
	for (i = 0; i < 100000; i++) {
		if (!(lapic_read(LAPIC_ICR_LO) & ICR_BUSY))
			return true;
		cpu_pause();
	}
	return false;
}

/* A free page below 1 MiB that the memory map calls RAM. */
static u64 pick_trampoline(void)
{
	u64 a;

	if (bootinfo_is_ram(TRAMP_PREFERRED, TRAMP_PAGE))
		return TRAMP_PREFERRED;
	for (a = TRAMP_PAGE; a < 0xA0000; a += TRAMP_PAGE)
		if (bootinfo_is_ram(a, TRAMP_PAGE))
			return a;
	return 0;
}

static void install_trampoline(u64 base)
{
	u8 *dst = (u8 *)(uintptr_t)base;
	u32 gdt = (u32)base + tramp_gdt_off, entry32 = (u32)base + tramp_32_off;

	memcpy(dst, tramp_start, (size_t)(tramp_end - tramp_start));
	__builtin_memcpy(dst + tramp_gdt_base_off, &gdt, 4);
	__builtin_memcpy(dst + tramp_jmp32_off, &entry32, 4);
}

static bool start_ap(u8 apic_id, u32 index, u8 vector)
{
	u32 want = cpus_online + 1;

	ap_index = index;
	ap_stack_top = (u64)(uintptr_t)(ap_stacks +
					(u64)(index + 1) * TK_AP_STACK_SIZE);
	if (!send_ipi(apic_id, ICR_INIT_ASSERT) ||
	    !send_ipi(apic_id, ICR_INIT_DEASSERT) ||
	    !send_ipi(apic_id, ICR_STARTUP | vector) ||
	    !send_ipi(apic_id, ICR_STARTUP | vector))
		return false;
	return acpi_wait(&cpus_online, want, AP_TIMEOUT_MS);
}

void smp_boot(void)
{
	u8 bsp = lapic_id();
	u64 tramp = pick_trampoline();
	u8 vector = (u8)(tramp >> 12);
	u32 next = 1;
	unsigned int i;

	cpus_online = 1;
	kprintf("cpu 0 online (apic %u)\n", bsp);
	if (tramp && acpi.nr_cpus > 1) {
		install_trampoline(tramp);
		for (i = 0; i < acpi.nr_cpus && next < TK_MAX_CPUS; i++) {
			if (acpi.apic_ids[i] == bsp)
				continue;
			/*
			 * An AP that missed its deadline may still wake up and
			 * use the shared stack/index: start no more after it.
			 */
			if (!start_ap(acpi.apic_ids[i], next, vector)) {
				kprintf("cpu %u (apic %u) did not start\n",
					next, acpi.apic_ids[i]);
				break;
			}
			next++;
		}
	}
	kprintf("cpus: %u online\n", cpus_online);
}
