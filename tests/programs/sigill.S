// Executes an undefined instruction: Linux delivers SIGILL (status 132).
    .globl _start
_start:
    ud2

    .section .note.GNU-stack, "", @progbits
