#include "x86_64/cpu_setup.h"

#include "x86_64/layout.h"

namespace tw::hyperlight::x86 {

namespace {

// Intel SDM Vol. 3A, 2.5 (control registers) and 2.2.1 (EFER).
constexpr uint64_t kCr0Pe = 1ull << 0;
constexpr uint64_t kCr0Mp = 1ull << 1;
constexpr uint64_t kCr0Et = 1ull << 4;
constexpr uint64_t kCr0Ne = 1ull << 5;
constexpr uint64_t kCr0Wp = 1ull << 16;  // ring 0 honours read-only pages too
constexpr uint64_t kCr0Am = 1ull << 18;  // ring 3 may enable alignment checks (#AC)
constexpr uint64_t kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1ull << 5;
constexpr uint64_t kCr4Osfxsr = 1ull << 9;
constexpr uint64_t kCr4Osxmmexcpt = 1ull << 10;
constexpr uint64_t kCr4Osxsave = 1ull << 18;
constexpr uint64_t kEferLme = 1ull << 8;
constexpr uint64_t kEferLma = 1ull << 10;
constexpr uint64_t kEferNxe = 1ull << 11;

constexpr uint32_t kCpuid1EcxXsave = 1u << 26;
// XCR0 state components a Linux process gets: x87, SSE, AVX and the AVX-512 states. MPX is
// obsolete, PKRU needs protection keys the guest kernel does not manage, AMX needs
// permission Linux grants per process.
constexpr uint64_t kXcr0Wanted = 0x7 | 0xe0;

kvm_segment CodeSegment() {
    return kvm_segment{.base = 0,
                       .limit = 0xffffffff,
                       .selector = TW_SEL_KERNEL_CODE,
                       .type = 11,  // execute/read, accessed
                       .present = 1,
                       .dpl = 0,
                       .db = 0,
                       .s = 1,
                       .l = 1,
                       .g = 1,
                       .avl = 0,
                       .unusable = 0,
                       .padding = 0};
}

kvm_segment DataSegment() {
    return kvm_segment{.base = 0,
                       .limit = 0xffffffff,
                       .selector = TW_SEL_KERNEL_DATA,
                       .type = 3,  // read/write, accessed
                       .present = 1,
                       .dpl = 0,
                       .db = 1,
                       .s = 1,
                       .l = 0,
                       .g = 1,
                       .avl = 0,
                       .unusable = 0,
                       .padding = 0};
}

const kvm_cpuid_entry2* FindLeaf(const std::vector<kvm_cpuid_entry2>& entries, uint32_t leaf,
                                 uint32_t index) {
    for (const kvm_cpuid_entry2& e : entries) {
        if (e.function == leaf && e.index == index) {
            return &e;
        }
    }
    return nullptr;
}

}  // namespace

Result<CpuFeatures> SetupVcpu(KvmMachine& machine, uint64_t entry, uint64_t stack_top) {
    TW_ASSIGN_OR_RETURN(std::vector<kvm_cpuid_entry2> cpuid, machine.SetupCpuid());
    const kvm_cpuid_entry2* leaf1 = FindLeaf(cpuid, 1, 0);
    const kvm_cpuid_entry2* leaf_d = FindLeaf(cpuid, 0xd, 0);
    bool xsave = leaf1 != nullptr && (leaf1->ecx & kCpuid1EcxXsave) != 0 && leaf_d != nullptr;

    TW_ASSIGN_OR_RETURN(kvm_sregs sregs, machine.GetSregs());
    sregs.cr0 = kCr0Pe | kCr0Mp | kCr0Et | kCr0Ne | kCr0Wp | kCr0Am | kCr0Pg;
    sregs.cr3 = layout::kPml4Gpa;
    sregs.cr4 = kCr4Pae | kCr4Osfxsr | kCr4Osxmmexcpt | (xsave ? kCr4Osxsave : 0);
    sregs.efer = kEferLme | kEferLma | kEferNxe;
    sregs.cs = CodeSegment();
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = DataSegment();
    // Placeholder task register until the guest kernel's ltr; KVM wants a busy 64-bit TSS.
    sregs.tr = kvm_segment{.base = 0,
                           .limit = 0x67,
                           .selector = TW_SEL_TSS,
                           .type = 11,
                           .present = 1,
                           .dpl = 0,
                           .db = 0,
                           .s = 0,
                           .l = 0,
                           .g = 0,
                           .avl = 0,
                           .unusable = 0,
                           .padding = 0};
    TW_RETURN_IF_ERROR(machine.SetSregs(sregs));

    if (xsave) {
        uint64_t supported = leaf_d->eax | (uint64_t{leaf_d->edx} << 32);
        TW_RETURN_IF_ERROR(machine.SetXcr0(supported & kXcr0Wanted));
    }

    kvm_regs regs{};
    regs.rip = entry;
    regs.rsp = stack_top;
    regs.rflags = 0x2;  // bit 1 is reserved and always set
    TW_RETURN_IF_ERROR(machine.SetRegs(regs));
    return CpuFeatures{.hwcap = leaf1 != nullptr ? leaf1->edx : 0};
}

}  // namespace tw::hyperlight::x86
