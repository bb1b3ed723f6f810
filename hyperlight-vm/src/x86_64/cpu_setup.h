// Puts the vCPU in 64-bit long mode at the guest kernel's entry point: control registers,
// segments, CPUID, XCR0. The guest kernel then loads its own GDT, IDT and TSS.
#pragma once

#include <cstdint>

#include "common/result.h"
#include "kvm.h"

namespace tw::hyperlight::x86 {

struct CpuFeatures {
    uint64_t hwcap = 0;  // CPUID.1:EDX, what Linux reports as AT_HWCAP
};

Result<CpuFeatures> SetupVcpu(KvmMachine& machine, uint64_t entry, uint64_t stack_top);

}  // namespace tw::hyperlight::x86
