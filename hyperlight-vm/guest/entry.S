// The guest kernel's assembly: image header, entry, the syscall path, the exception stubs and
// the descriptor tables.
//
// Every instruction here runs in ring 0, which the machines this was built on emulate one
// instruction at a time (about 1 us each), so the hot paths are short, straight and free of
// loops: a forwarded system call is 23 instructions between the #PF entry and `iretq`.
//
// System calls arrive as a #PF at TW_SYSCALL_TRAP_VA (LSTAR points there; layout.h says why),
// so they share the #PF entry with real page faults and are told apart by the faulting rip.
#include "x86_64/guest_abi.h"
#include "x86_64/layout.h"

#define CALL_PAGE(off) (TW_CALL_PAGE_VA + (off))
#define BOOT_PAGE(off) (TW_BOOT_PAGE_VA + (off))

// The frame `iretq` returns to ring 3 with: rip, cs, rflags, rsp, ss. It sits at the top of
// the kernel stack, exactly where the CPU pushes the frame of a #PF (IST1) or of an exception
// taken in ring 3, so every path agrees on it.
#define IRET_FRAME (TW_KERNEL_STACK_TOP_VA - 40)
#define FRAME_RIP (IRET_FRAME + 0)
#define FRAME_CS (IRET_FRAME + 8)
#define FRAME_RFLAGS (IRET_FRAME + 16)
#define FRAME_RSP (IRET_FRAME + 24)
#define FRAME_SS (IRET_FRAME + 32)

#define MSR_FS_BASE 0xc0000100
// RFLAGS bits a program may hand back through r11: CF PF AF ZF SF TF IF DF OF AC ID. The rest
// (IOPL, NT, VM, ...) are never returned to ring 3, whatever r11 held.
#define USER_RFLAGS_MASK 0x240fd5
#define ARCH_SET_FS 0x1002
#define ENOSYS 38
#define EINVAL 22
#define EPERM 1

// System calls 0 .. LOCAL_TABLE_SIZE-1 go through local_table; larger numbers are forwarded.
#define LOCAL_TABLE_SIZE 335

    .section .image_header, "a"
    .quad TW_IMAGE_MAGIC
    .quad kernel_entry
    .quad text_end
    .quad image_end

    .text
// The VMM enters here in 64-bit mode with rsp at the top of the kernel stack.
    .globl kernel_entry
kernel_entry:
    call KernelMain
    ud2

// Called by KernelMain once the CPU is set up: builds the first iret frame from the boot page
// and enters the program with every general register zeroed, as Linux's execve does.
    .globl EnterUser
EnterUser:
    mov BOOT_PAGE(TW_BOOT_USER_RIP), %rax
    mov %rax, FRAME_RIP
    movq $TW_SEL_USER_CODE, FRAME_CS
    movq $0x202, FRAME_RFLAGS
    mov BOOT_PAGE(TW_BOOT_USER_RSP), %rax
    mov %rax, FRAME_RSP
    movq $TW_SEL_USER_DATA, FRAME_SS
    mov $IRET_FRAME, %rsp
    xor %eax, %eax
    xor %ebx, %ebx
    xor %ecx, %ecx
    xor %edx, %edx
    xor %esi, %esi
    xor %edi, %edi
    xor %ebp, %ebp
    xor %r8d, %r8d
    xor %r9d, %r9d
    xor %r10d, %r10d
    xor %r11d, %r11d
    xor %r12d, %r12d
    xor %r13d, %r13d
    xor %r14d, %r14d
    xor %r15d, %r15d
    iretq

// ---------------------------------------------------------------------------------------------
// #PF entry (IST1). A fetch fault at TW_SYSCALL_TRAP_VA is a system call: `syscall` left the
// user rip in rcx and rflags in r11 (the Linux ABI lets a call clobber both) and did not touch
// rsp, so the frame's rsp slot already holds the user stack pointer. Every other user register
// is preserved. Anything else is a page fault for the VMM.
    .globl page_fault_entry
page_fault_entry:
    cmpq $TW_SYSCALL_TRAP_VA, 8(%rsp)
    jne page_fault
    add $8, %rsp                  // drop the error code: rsp = IRET_FRAME
    mov %rcx, FRAME_RIP
    movq $TW_SEL_USER_CODE, FRAME_CS
    and $USER_RFLAGS_MASK, %r11d
    mov %r11, FRAME_RFLAGS
    movq $TW_SEL_USER_DATA, FRAME_SS
    cmp $LOCAL_TABLE_SIZE, %rax
    jae forward
    jmp *local_table(, %rax, 8)
page_fault:
    push $14
    jmp fault_common

// Everything not answered locally: one exit to the VMM through the call page.
forward:
    mov %rax, CALL_PAGE(TW_CALL_NR)
    mov %rdi, CALL_PAGE(TW_CALL_ARGS + 0)
    mov %rsi, CALL_PAGE(TW_CALL_ARGS + 8)
    mov %rdx, CALL_PAGE(TW_CALL_ARGS + 16)
    mov %r10, CALL_PAGE(TW_CALL_ARGS + 24)
    mov %r8, CALL_PAGE(TW_CALL_ARGS + 32)
    mov %r9, CALL_PAGE(TW_CALL_ARGS + 40)
    out %al, $TW_PORT_HYPERCALL
    mov CALL_PAGE(TW_CALL_RESULT), %rax
    testb $TW_CALL_FLAG_RELOAD_CR3, CALL_PAGE(TW_CALL_FLAGS)
    jnz reload_cr3
    iretq
reload_cr3:
    mov %cr3, %rcx
    mov %rcx, %cr3
    mov FRAME_RIP, %rcx           // rcx holds the return address after a call, as on Linux
    iretq

// Calls answered in ring 0 from values the VMM put in the boot page.
sys_getpid:
    mov BOOT_PAGE(TW_BOOT_PID), %rax
    iretq
sys_getppid:
    mov BOOT_PAGE(TW_BOOT_PPID), %rax
    iretq
sys_getuid:
    mov BOOT_PAGE(TW_BOOT_UID), %rax
    iretq
sys_geteuid:
    mov BOOT_PAGE(TW_BOOT_EUID), %rax
    iretq
sys_getgid:
    mov BOOT_PAGE(TW_BOOT_GID), %rax
    iretq
sys_getegid:
    mov BOOT_PAGE(TW_BOOT_EGID), %rax
    iretq
// set_robust_list(head, len): the program has one thread and never exits a thread while
// holding a robust futex, so the list is never walked; the length is checked as Linux does.
sys_set_robust_list:
    cmp $24, %rsi
    jne ret_einval
    xor %eax, %eax
    iretq
sys_rseq:
    mov $-ENOSYS, %rax
    iretq
sys_sched_yield:
    xor %eax, %eax
    iretq
// arch_prctl(ARCH_SET_FS, addr) is what every libc does at startup, so it stays in ring 0;
// other codes go to the VMM. An address outside the user half fails with EPERM as on Linux
// (wrmsr of a non-canonical address would fault).
sys_arch_prctl:
    cmp $ARCH_SET_FS, %rdi
    jne forward
    mov %rsi, %rax
    shr $47, %rax
    jnz ret_eperm
    push %rdx
    mov $MSR_FS_BASE, %ecx
    mov %esi, %eax
    mov %rsi, %rdx
    shr $32, %rdx
    wrmsr
    pop %rdx
    mov FRAME_RIP, %rcx
    xor %eax, %eax
    iretq
ret_einval:
    mov $-EINVAL, %rax
    iretq
ret_eperm:
    mov $-EPERM, %rax
    iretq

// ---------------------------------------------------------------------------------------------
// Exception stubs, 16 bytes apart from isr_table so the IDT can be built at link time (the
// linker script computes the gate words from isr_table's address). Each pushes a 0 error code
// when the CPU does not push one, then its vector. Vector 14's gate points at page_fault_entry
// instead; its slot here is unused.
    .balign 4096
    .globl isr_table
isr_table:
    .irp vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .balign 16
    .if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
    .else
    push $0
    .endif
    push $\vec
    .byte 0xe9                    // jmp rel32, spelled out so every stub has a fixed size
    .long fault_common - . - 4
    .endr
    .balign 16
    .globl isr_table_end
isr_table_end:

// Writes the fault record and exits to the VMM. The VMM ends the run, or resumes the guest
// after populating the faulting page, in which case the stub returns to the faulting
// instruction with every register intact.
fault_common:
    push %rax
    mov 8(%rsp), %rax
    mov %rax, CALL_PAGE(TW_FAULT_VECTOR)
    mov 16(%rsp), %rax
    mov %rax, CALL_PAGE(TW_FAULT_ERROR)
    mov 24(%rsp), %rax
    mov %rax, CALL_PAGE(TW_FAULT_RIP)
    mov 32(%rsp), %rax
    mov %rax, CALL_PAGE(TW_FAULT_CS)
    mov %cr2, %rax
    mov %rax, CALL_PAGE(TW_FAULT_ADDR)
    out %al, $TW_PORT_FAULT
    testb $TW_CALL_FLAG_RELOAD_CR3, CALL_PAGE(TW_CALL_FLAGS)
    jz 1f
    mov %cr3, %rax
    mov %rax, %cr3
1:  pop %rax
    add $16, %rsp
    iretq

// ---------------------------------------------------------------------------------------------
    .section .rodata
    .balign 8
local_table:
    .set nr, 0
    .rept LOCAL_TABLE_SIZE
    .if nr == 39 || nr == 186 || nr == 218  // getpid, gettid, set_tid_address: one thread
    .quad sys_getpid
    .elseif nr == 110
    .quad sys_getppid
    .elseif nr == 102
    .quad sys_getuid
    .elseif nr == 107
    .quad sys_geteuid
    .elseif nr == 104
    .quad sys_getgid
    .elseif nr == 108
    .quad sys_getegid
    .elseif nr == 273
    .quad sys_set_robust_list
    .elseif nr == 334
    .quad sys_rseq
    .elseif nr == 24
    .quad sys_sched_yield
    .elseif nr == 158
    .quad sys_arch_prctl
    .else
    .quad forward
    .endif
    .set nr, nr + 1
    .endr

// IDT: vectors 0-31, interrupt gates on the kernel code segment. #BP and #OF have DPL 3 so
// int3 and into from ring 3 raise them (and SIGTRAP/SIGSEGV follow) rather than #GP. #PF runs
// on IST1 (the kernel stack top), because a `syscall` trapping there arrives on the user stack.
    .balign 16
idt:
    .irp vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .if (\vec == 3) || (\vec == 4)
    .quad isr_gate_lo_user + 16 * \vec
    .elseif \vec == 14
    .quad pf_gate_lo
    .else
    .quad isr_gate_lo + 16 * \vec
    .endif
    .if \vec == 14
    .quad pf_gate_hi
    .else
    .quad isr_gate_hi
    .endif
    .endr
idt_end:

    .balign 16
    .globl idt_pointer
idt_pointer:
    .word idt_end - idt - 1
    .quad idt

    .balign 16
    .globl gdt_pointer
gdt_pointer:
    .word gdt_end - gdt - 1
    .quad gdt

// ---------------------------------------------------------------------------------------------
    .data
// The GDT is writable: ltr sets the busy bit of the TSS descriptor.
    .balign 16
gdt:
    .quad 0                       // 0x00 null
    .quad 0x00af9a000000ffff      // 0x08 kernel code, 64-bit
    .quad 0x00cf92000000ffff      // 0x10 kernel data
    .quad 0x00cff2000000ffff      // 0x18 user data (selector 0x1b)
    .quad 0x00affa000000ffff      // 0x20 user code, 64-bit (selector 0x23)
    .quad tss_desc_lo             // 0x28 TSS, 16 bytes
    .quad tss_desc_hi
gdt_end:

// 64-bit TSS (Intel SDM Vol. 3A, 8.7). The I/O map base points past the limit: there is no
// I/O permission bitmap, so every port is closed to ring 3.
    .balign 16
    .globl tss
tss:
    .long 0
    .quad TW_KERNEL_STACK_TOP_VA  // rsp0
    .quad 0, 0                    // rsp1, rsp2
    .quad 0                       // reserved
    .quad TW_KERNEL_STACK_TOP_VA  // ist1: #PF
    .quad 0, 0, 0, 0, 0, 0        // ist2..ist7
    .quad 0                       // reserved
    .word 0                       // reserved
    .word tss_end - tss           // I/O map base: beyond the limit, no bitmap
tss_end:
    .globl tss_limit
    .set tss_limit, tss_end - tss - 1

    .section .note.GNU-stack, "", @progbits
