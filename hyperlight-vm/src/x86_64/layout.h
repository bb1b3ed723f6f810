// The whole memory map of a Twinwall micro-VM, guest-physical and guest-virtual, in one place.
//
// Shared by the VMM (C++), the guest kernel (C++ and assembly) and the guest kernel's linker
// script (run through the C preprocessor), so every value is a plain macro; C++ code uses the
// typed constants at the end.
//
// Guest-physical map (one KVM memory slot, slot 0, at GPA 0, size = --memory):
//
//   0x0000_0000 .. 0x0000_0fff   unused; a null guest-physical page catches stray pointers
//   0x0000_1000                  PML4, the root of the only address space (CR3)
//   0x0000_2000                  PDPT of the kernel half (PML4[511])
//   0x0000_3000                  PD of the kernel half (PDPT[510])
//   0x0000_4000                  PT that maps the kernel region, 4 KiB pages (PD[0])
//   0x0000_5000                  boot page: written by the VMM before the first entry,
//                                read by the guest kernel (user entry state, ids)
//   0x0000_6000                  call page: the guest kernel writes requests and fault
//                                records, the VMM writes results (kernel-only mapping)
//   0x0000_7000                  guard: not mapped, so a kernel stack overflow faults
//   0x0000_8000 .. 0x0000_bfff   kernel stack (16 KiB); TSS.RSP0 and the syscall entry use
//                                its top
//   0x0010_0000 .. 0x001f_ffff   kernel image (flat binary: header, text, rodata, data, bss)
//   0x0020_0000 .. end of RAM    frame pool: user pages and user page-table pages, handed
//                                out and taken back by the VMM's frame allocator
//
// Guest-virtual map:
//
//   0x0000_0000_0000_0000 ..     user half (PML4[0..255]): the program, its brk heap, its
//   0x0000_7fff_ffff_ffff        mmap area and its stack; every page is mapped by the VMM's
//                                memory manager, which keeps the authoritative record
//   0xffff_ffff_8000_0000 ..     kernel region: the first 2 MiB of guest-physical memory,
//   0xffff_ffff_801f_ffff        supervisor-only; text read-only, everything else no-execute
//   0xffff_ffff_8040_0000        system call trap: LSTAR points here and it is never mapped,
//                                so every `syscall` ends in a #PF that the kernel's #PF entry
//                                recognizes by its address (see the note below)
//
// Why `syscall` traps instead of entering a handler: on the paravirtualized KVM this was built
// on (kvm_pvm), `syscall` from ring 3 jumps to LSTAR but stays at CPL 3 with Linux's user
// selectors (CS 0x33, SS 0x2b), whatever EFER.SCE, STAR and FMASK say; a handler there cannot
// use privileged instructions or supervisor pages, and its `out` costs a ring-3 exit. The
// instruction fetch at an unmapped LSTAR raises #PF, which is delivered through the IDT into
// real ring 0 on that host and on bare-metal KVM alike; the #PF gate uses IST1, so the
// handler always runs on the kernel stack even though `syscall` itself switches no stack.
//
// The kernel half maps only what the guest kernel touches. The kernel never reads or writes
// user memory or page tables itself: ring 0 is emulated instruction by instruction on the
// machines this was built on, so the VMM does all of that at native speed.
#pragma once

#define TW_PAGE_SIZE 0x1000

// Guest-physical addresses.
#define TW_PML4_GPA 0x1000
#define TW_KERNEL_PDPT_GPA 0x2000
#define TW_KERNEL_PD_GPA 0x3000
#define TW_KERNEL_PT_GPA 0x4000
#define TW_BOOT_PAGE_GPA 0x5000
#define TW_CALL_PAGE_GPA 0x6000
#define TW_KERNEL_STACK_GUARD_GPA 0x7000
#define TW_KERNEL_STACK_GPA 0x8000
#define TW_KERNEL_STACK_SIZE 0x4000
#define TW_KERNEL_IMAGE_GPA 0x100000
#define TW_KERNEL_IMAGE_MAX 0x100000
#define TW_KERNEL_REGION_SIZE 0x200000
#define TW_FRAME_POOL_GPA 0x200000

// Guest-virtual addresses of the kernel region (virtual = TW_KERNEL_VIRT_BASE + physical).
#define TW_KERNEL_VIRT_BASE 0xffffffff80000000
#define TW_KERNEL_PML4_INDEX 511
#define TW_KERNEL_PDPT_INDEX 510
#define TW_BOOT_PAGE_VA (TW_KERNEL_VIRT_BASE + TW_BOOT_PAGE_GPA)
#define TW_CALL_PAGE_VA (TW_KERNEL_VIRT_BASE + TW_CALL_PAGE_GPA)
#define TW_KERNEL_STACK_TOP_VA (TW_KERNEL_VIRT_BASE + TW_KERNEL_STACK_GPA + TW_KERNEL_STACK_SIZE)
#define TW_KERNEL_IMAGE_VA (TW_KERNEL_VIRT_BASE + TW_KERNEL_IMAGE_GPA)
#define TW_SYSCALL_TRAP_VA (TW_KERNEL_VIRT_BASE + 0x400000)

// User half. The top page below the canonical hole stays unmapped, as on Linux.
#define TW_USER_END 0x00007ffffffff000
// The initial stack: its VMA ends at TW_STACK_TOP and reserves TW_STACK_RESERVE bytes (the
// RLIMIT_STACK the program is told about). Only the top pages are populated up front.
#define TW_STACK_TOP 0x00007ffffffde000
#define TW_STACK_RESERVE 0x800000
// mmap() without a hint places mappings top-down below this address, leaving a gap under the
// stack reserve as Linux does.
#define TW_MMAP_TOP 0x00007ffff7fff000
// Lowest address any mapping may use (vm.mmap_min_addr on Linux).
#define TW_USER_MIN 0x10000
// Load address of a -static-pie program (ET_DYN): 2/3 of the user half, as Linux without ASLR.
#define TW_PIE_BASE 0x0000555555554000

// Segment selectors of the guest kernel's GDT. The order is the one SYSCALL/SYSRET require
// (Intel SDM Vol. 2B, SYSRET): STAR[47:32] = kernel CS, kernel SS = +8; STAR[63:48] + 8 =
// user SS, + 16 = user CS. The guest returns with iretq, but the layout stays compatible.
#define TW_SEL_KERNEL_CODE 0x08
#define TW_SEL_KERNEL_DATA 0x10
#define TW_SEL_USER_DATA 0x1b
#define TW_SEL_USER_CODE 0x23
#define TW_SEL_TSS 0x28
#define TW_STAR_USER_BASE 0x10

// I/O ports. They are below 0x100 so the guest kernel can use `out %al, $imm8` and keep every
// user register intact. The TSS has no I/O permission bitmap, so ring 3 cannot use them (an
// `out` there raises #GP); the VMM still treats every exit as hostile.
#define TW_PORT_HYPERCALL 0x10
#define TW_PORT_FAULT 0x11

#ifndef __ASSEMBLER__
#include <stdint.h>

namespace tw::hyperlight::layout {

inline constexpr uint64_t kPageSize = TW_PAGE_SIZE;
inline constexpr uint64_t kPml4Gpa = TW_PML4_GPA;
inline constexpr uint64_t kKernelPdptGpa = TW_KERNEL_PDPT_GPA;
inline constexpr uint64_t kKernelPdGpa = TW_KERNEL_PD_GPA;
inline constexpr uint64_t kKernelPtGpa = TW_KERNEL_PT_GPA;
inline constexpr uint64_t kBootPageGpa = TW_BOOT_PAGE_GPA;
inline constexpr uint64_t kCallPageGpa = TW_CALL_PAGE_GPA;
inline constexpr uint64_t kKernelStackGpa = TW_KERNEL_STACK_GPA;
inline constexpr uint64_t kKernelStackSize = TW_KERNEL_STACK_SIZE;
inline constexpr uint64_t kKernelImageGpa = TW_KERNEL_IMAGE_GPA;
inline constexpr uint64_t kKernelImageMax = TW_KERNEL_IMAGE_MAX;
inline constexpr uint64_t kKernelRegionSize = TW_KERNEL_REGION_SIZE;
inline constexpr uint64_t kFramePoolGpa = TW_FRAME_POOL_GPA;

inline constexpr uint64_t kKernelVirtBase = TW_KERNEL_VIRT_BASE;
inline constexpr uint64_t kKernelStackTopVa = TW_KERNEL_STACK_TOP_VA;
inline constexpr uint64_t kKernelImageVa = TW_KERNEL_IMAGE_VA;
inline constexpr uint64_t kSyscallTrapVa = TW_SYSCALL_TRAP_VA;

inline constexpr uint64_t kUserEnd = TW_USER_END;
inline constexpr uint64_t kUserMin = TW_USER_MIN;
inline constexpr uint64_t kStackTop = TW_STACK_TOP;
inline constexpr uint64_t kStackReserve = TW_STACK_RESERVE;
inline constexpr uint64_t kMmapTop = TW_MMAP_TOP;
inline constexpr uint64_t kPieBase = TW_PIE_BASE;

inline constexpr uint16_t kPortHypercall = TW_PORT_HYPERCALL;
inline constexpr uint16_t kPortFault = TW_PORT_FAULT;

// The guest needs the kernel region plus some room for the program.
inline constexpr uint64_t kMinGuestMemory = 8ull << 20;

static_assert(kKernelImageGpa + kKernelImageMax <= kKernelRegionSize);
static_assert(kFramePoolGpa >= kKernelRegionSize);
static_assert(kKernelVirtBase == (0xffffull << 48 | uint64_t{TW_KERNEL_PML4_INDEX} << 39 |
                                  uint64_t{TW_KERNEL_PDPT_INDEX} << 30));
static_assert(kStackTop + kPageSize <= kUserEnd && kMmapTop + kStackReserve < kStackTop);

}  // namespace tw::hyperlight::layout
#endif
