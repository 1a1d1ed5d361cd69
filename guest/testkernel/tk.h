/*
 * Shared declarations of the freestanding test kernel (guest code: it runs
 * inside the VM, not in vireo). Only compiler-provided headers are used.
 */
#ifndef TK_H
#define TK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define TK_MAX_CPUS	64
#define TK_MAX_MEMMAP	64
#define TK_MAX_IOAPICS	4
#define TK_MAX_ISOS	16
#define TK_CMDLINE_MAX	1024

/* Interrupt vectors we use besides the exceptions. */
#define VEC_SCI		48
#define VEC_SPURIOUS	255

/* ---- port and memory-mapped I/O ---- */

static inline void outb(u16 port, u8 v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(u16 port, u16 v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(u16 port, u32 v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline u8 inb(u16 port)
{
	u8 v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u16 inw(u16 port)
{
	u16 v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u32 inl(u16 port)
{
	u32 v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u32 mmio_read32(u64 addr)
{
	return *(volatile u32 *)(uintptr_t)addr;
}

static inline void mmio_write32(u64 addr, u32 v)
{
	*(volatile u32 *)(uintptr_t)addr = v;
}

static inline void cpu_pause(void)
{
	__asm__ volatile("pause" ::: "memory");
}

static inline __attribute__((noreturn)) void halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
}

/* ---- lib.c ---- */

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

static inline u16 rd16(const void *p)
{
	u16 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

static inline u32 rd32(const void *p)
{
	u32 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

static inline u64 rd64(const void *p)
{
	u64 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

/* ---- console.c: COM1, whole lines under one spinlock ---- */

void console_init(void);
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* For the exception handler: does not wait forever for the lock. */
void kprintf_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- bootinfo.c: what the loader told us, in one shape ---- */

enum { E820_RAM = 1, E820_RESERVED = 2, E820_ACPI = 3, E820_NVS = 4 };

struct mem_range {
	u64 start;
	u64 size;
	u32 type;
};

struct boot_info {
	const char *kind;		/* "bzimage" or "pvh" */
	struct mem_range map[TK_MAX_MEMMAP];
	unsigned int nr_map;
	u64 rsdp;			/* 0 if the loader gave none */
	char cmdline[TK_CMDLINE_MAX];
};

extern struct boot_info boot;

void bootinfo_collect(void);
void bootinfo_print_memmap(void);
bool bootinfo_is_ram(u64 start, u64 len);
bool cmdline_has(const char *word);
void bench_run(void);

/* ---- acpi.c ---- */

struct acpi_gas {
	u8 space;			/* 0 memory, 1 I/O, 2 PCI config */
	u64 addr;
};

struct acpi_info {
	u64 rsdp;
	u64 lapic_base;
	unsigned int nr_cpus;		/* enabled MADT local APICs */
	u8 apic_ids[TK_MAX_CPUS];
	unsigned int nr_ioapics;
	struct {
		u64 addr;
		u32 gsi_base;
	} ioapic[TK_MAX_IOAPICS];
	unsigned int nr_isos;
	struct {
		u8 source;
		u32 gsi;
		u16 flags;
	} iso[TK_MAX_ISOS];

	bool have_fadt;
	u16 sci_irq;
	u32 smi_cmd;
	u8 acpi_enable;
	u16 pm1a_evt, pm1b_evt, pm1a_cnt, pm1b_cnt, pm_tmr;
	u8 pm1_evt_len;
	u32 fadt_flags;
	bool have_reset_reg;
	struct acpi_gas reset_reg;
	u8 reset_value;
	const u8 *dsdt;
	u32 dsdt_len;
};

extern struct acpi_info acpi;

void acpi_init(void);
/* Busy-wait up to ms milliseconds (ACPI PM timer) or until *flag >= want. */
bool acpi_wait(volatile u32 *flag, u32 want, unsigned int ms);
void acpi_power_off(void) __attribute__((noreturn));
void acpi_reset(void) __attribute__((noreturn));
bool acpi_sci_route(u32 *gsi, bool *level, bool *active_low);

/* ---- apic: local APIC and IOAPIC registers (interrupts.c) ---- */

#define LAPIC_ID	0x020
#define LAPIC_TPR	0x080
#define LAPIC_EOI	0x0B0
#define LAPIC_SVR	0x0F0
#define LAPIC_ICR_LO	0x300
#define LAPIC_ICR_HI	0x310

static inline u32 lapic_read(u32 reg)
{
	return mmio_read32(acpi.lapic_base + reg);
}

static inline void lapic_write(u32 reg, u32 v)
{
	mmio_write32(acpi.lapic_base + reg, v);
}

static inline u8 lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

/* ---- interrupts.c ---- */

struct isr_frame {
	u64 r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
	u64 vector, error;
	u64 rip, cs, rflags, rsp, ss;
};

void idt_init(void);
void idt_load(void);
void power_button_wait(void) __attribute__((noreturn));
void triple_fault(void) __attribute__((noreturn));

/* ---- smp.c, pci.c ---- */

void smp_boot(void);
void pci_scan(void);

/* ---- virtio.c: testkernel.virtio=basic|hostile ---- */

void virtio_tests(void);

#endif
