// Spins forever in ring 3 without a single system call: only the timeout can end it.
    .globl _start
_start:
1:  jmp 1b

    .section .note.GNU-stack, "", @progbits
