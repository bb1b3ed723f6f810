# The smallest static Linux program that does observable work: write "hello\n" to stdout and
# exit 0, with no libc, so a run measures the sandbox and not the C runtime.
    .globl _start
    .text
_start:
    mov $1, %eax            # write(1, msg, 6)
    mov $1, %edi
    lea msg(%rip), %rsi
    mov $6, %edx
    syscall
    mov $231, %eax          # exit_group(0)
    xor %edi, %edi
    syscall
    hlt
    .section .rodata
msg:
    .ascii "hello\n"
    .section .note.GNU-stack,"",@progbits
