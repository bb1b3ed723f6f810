/* Linker script of the guest kernel, run through the C preprocessor for the memory map.
   The output is a flat binary loaded at TW_KERNEL_IMAGE_GPA and run at TW_KERNEL_IMAGE_VA. */
#include "x86_64/layout.h"

ENTRY(kernel_entry)

SECTIONS
{
    . = TW_KERNEL_IMAGE_VA;
    .text : {
        KEEP(*(.image_header))
        *(.text .text.*)
        *(.rodata .rodata.*)
    }
    . = ALIGN(TW_PAGE_SIZE);
    text_end = .;
    .data : { *(.data .data.*) }
    .bss : { *(.bss .bss.*) *(COMMON) }
    . = ALIGN(TW_PAGE_SIZE);
    image_end = .;
    /DISCARD/ : { *(.comment) *(.note .note.*) *(.eh_frame .eh_frame_hdr) }
}

ASSERT(image_end - TW_KERNEL_IMAGE_VA <= TW_KERNEL_IMAGE_MAX, "guest kernel image too large")
ASSERT((ABSOLUTE(isr_table) & 0xfff) == 0, "isr_table must be page aligned")
ASSERT(isr_table_end - isr_table == 32 * 16, "exception stubs must be 16 bytes apart")

/* IDT gate words (Intel SDM Vol. 3A, 6.14.1): offset[15:0], selector, IST 0, type 0xE
   (64-bit interrupt gate), DPL, present, offset[31:16]; the second quadword is offset[63:32].
   The stubs are 16 bytes apart inside one page, so adding 16 * vector to the low quadword
   never carries out of offset[15:0]. */
isr_gate_lo = (ABSOLUTE(isr_table) & 0xffff) | (TW_SEL_KERNEL_CODE << 16) | (0x8e << 40)
              | (((ABSOLUTE(isr_table) >> 16) & 0xffff) << 48);
isr_gate_lo_user = isr_gate_lo | (0x60 << 40);
isr_gate_hi = ABSOLUTE(isr_table) >> 32;
/* #PF: its own handler, IST 1. */
pf_gate_lo = (ABSOLUTE(page_fault_entry) & 0xffff) | (TW_SEL_KERNEL_CODE << 16) | (1 << 32)
             | (0x8e << 40) | (((ABSOLUTE(page_fault_entry) >> 16) & 0xffff) << 48);
pf_gate_hi = ABSOLUTE(page_fault_entry) >> 32;

/* 64-bit TSS descriptor (Intel SDM Vol. 3A, 8.2.3): limit, base, type 9 (available), present. */
tss_desc_lo = (tss_limit & 0xffff) | ((ABSOLUTE(tss) & 0xffffff) << 16) | (0x89 << 40)
              | (((tss_limit >> 16) & 0xf) << 48) | (((ABSOLUTE(tss) >> 24) & 0xff) << 56);
tss_desc_hi = ABSOLUTE(tss) >> 32;
