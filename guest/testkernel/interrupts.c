/*
 * The IDT: every exception prints where it happened and halts, so a bug in
 * the VMM shows up as a line on the console rather than a silent triple
 * fault. Plus the one device interrupt we take, the ACPI SCI, used to wait
 * for the power button (testkernel.wait=powerbutton).
 */
#include "tk.h"

#define IOAPIC_REGSEL	0x00
#define IOAPIC_WIN	0x10
#define IOAPIC_REDTBL	0x10
#define IOAPIC_REDIR_ACTIVE_LOW	(1u << 13)
#define IOAPIC_REDIR_LEVEL	(1u << 15)

#define PM1_PWRBTN	(1u << 8)
#define PM1_CNT_SCI_EN	(1u << 0)

struct idt_gate {
	u16 offset_lo;
	u16 selector;
	u8 ist;
	u8 type_attr;
	u16 offset_mid;
	u32 offset_hi;
	u32 zero;
} __attribute__((packed));

struct idt_ptr {
	u16 limit;
	u64 base;
} __attribute__((packed));

extern const u64 isr_exception_table[32];
extern const u64 isr_sci_stub, isr_spurious_stub;

static struct idt_gate idt[256];

static void set_gate(unsigned int vec, u64 handler)
{
	struct idt_gate *g = &idt[vec];

	g->offset_lo = (u16)handler;
	g->selector = 0x18;		/* SEL_CODE64 */
	g->ist = 0;
	g->type_attr = 0x8E;		/* present, DPL0, interrupt gate */
	g->offset_mid = (u16)(handler >> 16);
	g->offset_hi = (u32)(handler >> 32);
	g->zero = 0;
}

void idt_init(void)
{
	unsigned int i;

	for (i = 0; i < 32; i++)
		set_gate(i, isr_exception_table[i]);
	set_gate(VEC_SCI, isr_sci_stub);
	set_gate(VEC_SPURIOUS, isr_spurious_stub);
}

void idt_load(void)
{
	struct idt_ptr p = { sizeof(idt) - 1, (u64)(uintptr_t)idt };

	__asm__ volatile("lidt %0" : : "m"(p));
}

static void ioapic_write(u64 base, u32 reg, u32 v)
{
	mmio_write32(base + IOAPIC_REGSEL, reg);
	mmio_write32(base + IOAPIC_WIN, v);
}

static void sci_interrupt(void)
{
	u16 sts = inw(acpi.pm1a_evt);

	if (sts & PM1_PWRBTN) {
		outw(acpi.pm1a_evt, PM1_PWRBTN);	/* write 1 to clear */
		lapic_write(LAPIC_EOI, 0);
		kprintf("testkernel: power button\n");
		kprintf("testkernel: power off\n");
		acpi_power_off();
	}
	/* Something else: acknowledge it so a level SCI does not storm. */
	outw(acpi.pm1a_evt, sts);
	lapic_write(LAPIC_EOI, 0);
}

void isr_dispatch(struct isr_frame *f)
{
	if (f->vector == VEC_SCI) {
		sci_interrupt();
		return;
	}
	if (f->vector == VEC_SPURIOUS)
		return;			/* spurious: no EOI */
	kprintf_panic("testkernel: exception %lu at rip 0x%lx\n",
		      f->vector, f->rip);
	halt_forever();
}

/* Switch the chipset to ACPI mode if the firmware left it in legacy mode. */
static void acpi_enable_sci(void)
{
	if (inw(acpi.pm1a_cnt) & PM1_CNT_SCI_EN)
		return;
	if (!acpi.smi_cmd || !acpi.acpi_enable)
		return;
	outb((u16)acpi.smi_cmd, acpi.acpi_enable);
	for (unsigned int i = 0; i < 1000; i++) {
		if (inw(acpi.pm1a_cnt) & PM1_CNT_SCI_EN)
			return;
		acpi_wait(NULL, 0, 1);
	}
}

static u64 ioapic_for_gsi(u32 gsi, u32 *pin)
{
	u64 best = 0;
	u32 best_base = 0;
	unsigned int i;

	for (i = 0; i < acpi.nr_ioapics; i++) {
		if (acpi.ioapic[i].gsi_base <= gsi &&
		    (!best || acpi.ioapic[i].gsi_base >= best_base)) {
			best = acpi.ioapic[i].addr;
			best_base = acpi.ioapic[i].gsi_base;
		}
	}
	*pin = gsi - best_base;
	return best;
}

void power_button_wait(void)
{
	u32 gsi, pin, redir;
	u8 evt_len = acpi.pm1_evt_len >= 4 ? acpi.pm1_evt_len : 4;
	bool level, active_low;
	u64 ioapic;

	if (!acpi.pm1a_evt || !acpi.pm1a_cnt ||
	    !acpi_sci_route(&gsi, &level, &active_low) ||
	    !(ioapic = ioapic_for_gsi(gsi, &pin))) {
		kprintf("testkernel: no ACPI SCI, cannot wait\n");
		halt_forever();
	}
	acpi_enable_sci();

	outb(0x21, 0xFF);		/* mask both 8259s */
	outb(0xA1, 0xFF);
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS);

	redir = VEC_SCI;		/* fixed delivery, physical dest. */
	if (level)
		redir |= IOAPIC_REDIR_LEVEL;
	if (active_low)
		redir |= IOAPIC_REDIR_ACTIVE_LOW;
	ioapic_write(ioapic, IOAPIC_REDTBL + 2 * pin + 1,
		     (u32)lapic_id() << 24);
	ioapic_write(ioapic, IOAPIC_REDTBL + 2 * pin, redir);

	/*
	 * Enable only the power button event. A press that is already latched
	 * in PM1_STS is kept: it fires as soon as interrupts are on.
	 */
	outw((u16)(acpi.pm1a_evt + evt_len / 2), PM1_PWRBTN);
	for (;;)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
}

void triple_fault(void)
{
	struct idt_ptr empty = { 0, 0 };

	__asm__ volatile("lidt %0; int3" : : "m"(empty) : "memory");
	halt_forever();
}
