/*
 * Entry points of the test kernel, its GDT and page tables, and the
 * interrupt stubs.
 *
 * The image is linked at 0x100000 and not relocatable. Two ways in:
 *   0x100000  pvh_entry   32-bit protected mode, paging off, EBX = the PVH
 *                         struct hvm_start_info (Xen PHYS32_ENTRY note).
 *   0x100200  bz_entry64  64-bit mode, the loader's identity map, RSI = the
 *                         Linux zero page (64-bit boot protocol: the
 *                         protected-mode part is loaded at pref_address and
 *                         entered at +0x200, like Linux's startup_64).
 * Both record which loader ran and where its data is, then meet in
 * long_entry, which switches to our own GDT, page tables and stack so nothing
 * depends on what the loader set up.
 */

#define TK_MAX_CPUS	64		/* as in tk.h */
#define TK_AP_STACK_SIZE 2048		/* as in smp.c */

#define BOOT_PVH	1
#define BOOT_BZIMAGE	2

#define SEL_CODE32	0x08
#define SEL_DATA	0x10
#define SEL_CODE64	0x18

#define MSR_EFER	0xC0000080
#define EFER_LME	0x100
#define CR0_PE		0x1
#define CR0_PG		0x80000000
#define CR4_PAE		0x20

	.section .head, "ax"
	.code32
	.globl pvh_entry
pvh_entry:
	cli
	cld
	movl	%ebx, boot_ptr
	movl	$BOOT_PVH, boot_kind
	lgdt	gdt_desc
	ljmp	$SEL_CODE32, $1f
1:	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	$pml4, %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$(CR0_PG | CR0_PE), %eax
	movl	%eax, %cr0
	ljmp	$SEL_CODE64, $long_entry

	/* The 64-bit boot protocol enters at load address + 0x200. */
	.org	0x200
	.code64
	.globl bz_entry64
bz_entry64:
	cli
	cld
	movq	%rsi, boot_ptr(%rip)
	movl	$BOOT_BZIMAGE, boot_kind(%rip)
	lgdt	gdt_desc(%rip)
	movl	$pml4, %eax
	movq	%rax, %cr3
	/* fall through */

long_entry:
	lgdt	gdt_desc(%rip)
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	xorl	%eax, %eax
	movl	%eax, %fs
	movl	%eax, %gs
	leaq	bsp_stack_top(%rip), %rsp
	/* Reload CS with our 64-bit selector. */
	pushq	$SEL_CODE64
	leaq	1f(%rip), %rax
	pushq	%rax
	lretq
1:	/* .bss is ours to clear: the bzImage loader does not. */
	leaq	__bss_start(%rip), %rdi
	leaq	__bss_end(%rip), %rcx
	subq	%rdi, %rcx
	shrq	$3, %rcx
	xorl	%eax, %eax
	rep stosq
	call	kmain
2:	cli
	hlt
	jmp	2b

/*
 * Application processors arrive here from the real-mode trampoline, already
 * in long mode on our page tables but on the trampoline's copy of the GDT.
 * The BSP starts them one at a time and sets ap_stack_top before each SIPI.
 */
	.text
	.globl ap_entry64
ap_entry64:
	lgdt	gdt_desc(%rip)
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	xorl	%eax, %eax
	movl	%eax, %fs
	movl	%eax, %gs
	movq	ap_stack_top(%rip), %rsp
	pushq	$SEL_CODE64
	leaq	1f(%rip), %rax
	pushq	%rax
	lretq
1:	cld
	call	ap_main
2:	cli
	hlt
	jmp	2b

/*
 * Interrupt stubs: each pushes a zero error code where the CPU pushes none,
 * then its vector, so isr_dispatch sees one frame layout (struct isr_frame).
 */
.macro ISR_NOERR vec
	.balign 16
isr_\vec:
	pushq	$0
	pushq	$\vec
	jmp	isr_common
.endm
.macro ISR_ERR vec
	.balign 16
isr_\vec:
	pushq	$\vec
	jmp	isr_common
.endm

	ISR_NOERR 0
	ISR_NOERR 1
	ISR_NOERR 2
	ISR_NOERR 3
	ISR_NOERR 4
	ISR_NOERR 5
	ISR_NOERR 6
	ISR_NOERR 7
	ISR_ERR   8
	ISR_NOERR 9
	ISR_ERR   10
	ISR_ERR   11
	ISR_ERR   12
	ISR_ERR   13
	ISR_ERR   14
	ISR_NOERR 15
	ISR_NOERR 16
	ISR_ERR   17
	ISR_NOERR 18
	ISR_NOERR 19
	ISR_NOERR 20
	ISR_ERR   21
	ISR_NOERR 22
	ISR_NOERR 23
	ISR_NOERR 24
	ISR_NOERR 25
	ISR_NOERR 26
	ISR_NOERR 27
	ISR_NOERR 28
	ISR_ERR   29
	ISR_ERR   30
	ISR_NOERR 31
	ISR_NOERR 48		/* VEC_SCI */
	ISR_NOERR 255		/* VEC_SPURIOUS */

isr_common:
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	cld
	movq	%rsp, %rdi
	call	isr_dispatch
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rax
	addq	$16, %rsp
	iretq

	.section .rodata
	.balign 8
	.globl isr_exception_table
isr_exception_table:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	.quad	isr_\n
	.endr
	.irp n, 16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad	isr_\n
	.endr
	.globl isr_sci_stub, isr_spurious_stub
isr_sci_stub:
	.quad	isr_48
isr_spurious_stub:
	.quad	isr_255

	.data
	.globl boot_ptr, boot_kind, ap_stack_top
	.balign 8
boot_ptr:
	.quad	0
ap_stack_top:
	.quad	0
boot_kind:
	.long	0

/* Flat segments; the trampoline carries an identical copy. */
	.balign 16
	.globl gdt
gdt:
	.quad	0
	.quad	0x00cf9a000000ffff	/* SEL_CODE32 */
	.quad	0x00cf92000000ffff	/* SEL_DATA */
	.quad	0x00af9a000000ffff	/* SEL_CODE64 */
gdt_end:
	.balign 8
	.word	0
gdt_desc:
	.word	gdt_end - gdt - 1
	.quad	gdt			/* 32-bit lgdt reads 4 bytes */

/*
 * Identity map of 0-4 GiB with 2 MiB pages, built by the assembler so no
 * guest instructions are spent on it. 3-4 GiB (PCI, IOAPIC, LAPIC) is
 * mapped uncached.
 */
	.balign 4096
	.globl pml4
pml4:
	.quad	pdpt + 0x3
	.fill	511, 8, 0
pdpt:
	.quad	pd + 0x0000 + 0x3
	.quad	pd + 0x1000 + 0x3
	.quad	pd + 0x2000 + 0x3
	.quad	pd + 0x3000 + 0x3
	.fill	508, 8, 0
pd:
	.set	pd_addr, 0
	.rept	1536
	.quad	pd_addr + 0x83		/* present, writable, 2 MiB */
	.set	pd_addr, pd_addr + 0x200000
	.endr
	.rept	512
	.quad	pd_addr + 0x9b		/* ... + PWT + PCD */
	.set	pd_addr, pd_addr + 0x200000
	.endr

/* The Xen PVH note: QEMU's -kernel and vireo's ELF loader look for it. */
	.section .note.Xen, "a"
	.balign 4
	.long	4			/* name size: "Xen\0" */
	.long	4			/* desc size */
	.long	18			/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz	"Xen"
	.balign 4
	.long	pvh_entry
	.balign 4

/* Stacks are not cleared, so they live outside .bss. */
	.section .stack, "aw", @nobits
	.balign 16
	.skip	16384
	.globl bsp_stack_top
bsp_stack_top:
	/* One small stack per AP: it only formats and prints a line. */
	.globl ap_stacks
ap_stacks:
	.skip	TK_MAX_CPUS * TK_AP_STACK_SIZE
