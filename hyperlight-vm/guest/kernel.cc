// The guest kernel's C++ part: CPU setup on boot. The descriptor tables themselves are static
// data built at link time (entry.S, kernel.ld.S), because every ring-0 instruction is
// expensive on the machines this was built on; this function runs once per micro-VM.
//
// Freestanding: no library, no exceptions, no RTTI, no static constructors.
#include <stdint.h>

#include "x86_64/layout.h"

extern "C" {
extern const char gdt_pointer[];
extern const char idt_pointer[];
[[noreturn]] void EnterUser();
[[noreturn]] void KernelMain();
}

namespace {

constexpr uint32_t kMsrEfer = 0xc0000080;
constexpr uint32_t kMsrStar = 0xc0000081;
constexpr uint32_t kMsrLstar = 0xc0000082;
constexpr uint32_t kMsrFmask = 0xc0000084;
constexpr uint64_t kEferSce = 1;
// RFLAGS bits cleared on syscall entry: TF, IF, DF, NT and AC, so the entry path runs without
// single-stepping, interrupts or alignment checks, and with string operations going up.
constexpr uint64_t kSyscallMask = (1u << 8) | (1u << 9) | (1u << 10) | (1u << 14) | (1u << 18);

uint64_t ReadMsr(uint32_t msr) {
    uint32_t lo, hi;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t{hi} << 32) | lo;
}

void WriteMsr(uint32_t msr, uint64_t value) {
    asm volatile("wrmsr" ::"c"(msr), "a"(static_cast<uint32_t>(value)),
                 "d"(static_cast<uint32_t>(value >> 32)));
}

}  // namespace

extern "C" [[noreturn]] void KernelMain() {
    // The VMM entered with hidden segment state that already matches these selectors, so only
    // the data segments are reloaded; CS and SS get reloaded by the first iretq.
    asm volatile("lgdt %0" ::"m"(*gdt_pointer));
    asm volatile("ltr %w0" ::"r"(uint16_t{TW_SEL_TSS}));
    asm volatile("lidt %0" ::"m"(*idt_pointer));
    asm volatile("mov %w0, %%ds; mov %w0, %%es" ::"r"(uint16_t{TW_SEL_KERNEL_DATA}));

    WriteMsr(kMsrStar, (uint64_t{TW_STAR_USER_BASE} << 48) | (uint64_t{TW_SEL_KERNEL_CODE} << 32));
    // `syscall` jumps to an unmapped address and so traps into the #PF entry (layout.h).
    WriteMsr(kMsrLstar, TW_SYSCALL_TRAP_VA);
    WriteMsr(kMsrFmask, kSyscallMask);
    WriteMsr(kMsrEfer, ReadMsr(kMsrEfer) | kEferSce);

    EnterUser();
}
