/*
 * Real-mode trampoline for application processors, the same walk Linux's
 * realmode/rm/trampoline_64.S takes: 16-bit real mode -> 32-bit protected
 * mode -> long mode, then a far jump into the kernel image (ap_entry64).
 *
 * The BSP copies tramp_start..tramp_end to a 4 KiB-aligned page below 1 MiB
 * and sends SIPI with vector = page >> 12, so the AP starts at CS = page >> 4,
 * IP = 0. Everything here is addressed relative to tramp_start; the two
 * linear addresses that depend on the page (the GDT base and the 32-bit
 * far-jump target) are patched by the BSP through tramp_gdt_base_off and
 * tramp_jmp32_off (smp.c).
 */

#define SEL_CODE32	0x08
#define SEL_DATA	0x10
#define SEL_CODE64	0x18

	.section .rodata.trampoline, "a"
	.globl tramp_start, tramp_end
	.globl tramp_gdt_base_off, tramp_jmp32_off, tramp_gdt_off, tramp_32_off

	.code16
tramp_start:
	cli
	cld
	movw	%cs, %ax
	movw	%ax, %ds
	lgdtl	tramp_gdt_desc - tramp_start
	movl	%cr0, %eax
	orl	$1, %eax
	movl	%eax, %cr0
	/* ljmpl $SEL_CODE32, $<linear address of tramp_32>, patched */
	.byte	0x66, 0xea
tramp_jmp32:
	.long	0
	.word	SEL_CODE32

	.code32
tramp_32:
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%cr4, %eax
	orl	$0x20, %eax		/* PAE */
	movl	%eax, %cr4
	movl	$pml4, %eax		/* the BSP's tables, below 4 GiB */
	movl	%eax, %cr3
	movl	$0xC0000080, %ecx	/* EFER.LME */
	rdmsr
	orl	$0x100, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$0x80000001, %eax	/* PG | PE */
	movl	%eax, %cr0
	ljmp	$SEL_CODE64, $ap_entry64

	.balign 8
tramp_gdt:
	.quad	0
	.quad	0x00cf9a000000ffff	/* SEL_CODE32 */
	.quad	0x00cf92000000ffff	/* SEL_DATA */
	.quad	0x00af9a000000ffff	/* SEL_CODE64 */
tramp_gdt_desc:
	.word	tramp_gdt_desc - tramp_gdt - 1
tramp_gdt_base:
	.long	0			/* patched: linear address of tramp_gdt */
tramp_end:

	.balign 4
tramp_gdt_base_off:
	.long	tramp_gdt_base - tramp_start
tramp_jmp32_off:
	.long	tramp_jmp32 - tramp_start
tramp_gdt_off:
	.long	tramp_gdt - tramp_start
tramp_32_off:
	.long	tramp_32 - tramp_start
