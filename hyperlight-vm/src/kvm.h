// KvmMachine: one KVM VM with one vCPU, on raw ioctls (linux/kvm.h). Owns the /dev/kvm, VM and
// vCPU descriptors and the vCPU's shared kvm_run page.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "hyperlight_vm/guest_memory.h"

namespace tw::hyperlight {

class KvmMachine {
public:
    // Creates the VM, registers `memory` as slot 0 at guest-physical 0 and creates vCPU 0.
    // `memory` must outlive the machine.
    static Result<std::unique_ptr<KvmMachine>> Create(GuestMemory& memory);
    ~KvmMachine();
    KvmMachine(const KvmMachine&) = delete;
    KvmMachine& operator=(const KvmMachine&) = delete;

    // Enters the guest until the next exit. EINTR when a signal (the timeout) interrupted it.
    Result<void> Run();
    kvm_run& run() { return *run_; }

    // Makes a KVM_RUN in progress return (with a signal) or the next one return at once.
    // Safe to call from another thread.
    void RequestImmediateExit() { __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST); }

    Result<kvm_regs> GetRegs();
    Result<void> SetRegs(const kvm_regs& regs);
    Result<kvm_sregs> GetSregs();
    Result<void> SetSregs(const kvm_sregs& sregs);
    // KVM's supported CPUID entries, installed unchanged on the vCPU; returns them.
    Result<std::vector<kvm_cpuid_entry2>> SetupCpuid();
    // Sets XCR0; EOPNOTSUPP when the host KVM has no XCR support.
    Result<void> SetXcr0(uint64_t value);

private:
    KvmMachine() = default;

    UniqueFd kvm_;
    UniqueFd vm_;
    UniqueFd vcpu_;
    kvm_run* run_ = nullptr;
    size_t run_size_ = 0;
};

}  // namespace tw::hyperlight
