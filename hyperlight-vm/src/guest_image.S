// Embeds the guest kernel's flat binary (built by the guest/ rules in CMakeLists.txt).
    .section .rodata
    .balign 4096
    .globl tw_guest_kernel_image
tw_guest_kernel_image:
    .incbin TW_GUEST_KERNEL_BIN
    .globl tw_guest_kernel_image_end
tw_guest_kernel_image_end:

    .section .note.GNU-stack, "", @progbits
