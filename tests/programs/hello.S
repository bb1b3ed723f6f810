// The smallest static program: write(1, msg, len), then exit_group(7). No libc.
    .globl _start
_start:
    mov $1, %eax
    mov $1, %edi
    lea msg(%rip), %rsi
    mov $msg_len, %edx
    syscall
    mov $231, %eax
    mov $7, %edi
    syscall
    ud2

    .section .rodata
msg:
    .ascii "hello from a static program\n"
    .set msg_len, . - msg

    .section .note.GNU-stack, "", @progbits
