#include "kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cstddef>
#include <vector>

namespace tw::hyperlight {

Result<std::unique_ptr<KvmMachine>> KvmMachine::Create(GuestMemory& memory) {
    std::unique_ptr<KvmMachine> m(new KvmMachine());
    m->kvm_.Reset(open("/dev/kvm", O_RDWR | O_CLOEXEC));
    if (!m->kvm_) {
        return Error::FromErrno("open /dev/kvm");
    }
    int version = ioctl(m->kvm_.get(), KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        return Error(ENOTSUP, "unexpected KVM API version " + std::to_string(version));
    }
    m->vm_.Reset(ioctl(m->kvm_.get(), KVM_CREATE_VM, 0));
    if (!m->vm_) {
        return Error::FromErrno("KVM_CREATE_VM");
    }
    kvm_userspace_memory_region region{.slot = 0,
                                       .flags = 0,
                                       .guest_phys_addr = 0,
                                       .memory_size = memory.size(),
                                       .userspace_addr = memory.host_address()};
    if (ioctl(m->vm_.get(), KVM_SET_USER_MEMORY_REGION, &region) != 0) {
        return Error::FromErrno("KVM_SET_USER_MEMORY_REGION");
    }
    m->vcpu_.Reset(ioctl(m->vm_.get(), KVM_CREATE_VCPU, 0));
    if (!m->vcpu_) {
        return Error::FromErrno("KVM_CREATE_VCPU");
    }
    int size = ioctl(m->kvm_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
    if (size < static_cast<int>(sizeof(kvm_run))) {
        return Error::FromErrno("KVM_GET_VCPU_MMAP_SIZE");
    }
    void* run = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, m->vcpu_.get(), 0);
    if (run == MAP_FAILED) {
        return Error::FromErrno("mmap kvm_run");
    }
    m->run_ = static_cast<kvm_run*>(run);
    m->run_size_ = static_cast<size_t>(size);
    return m;
}

KvmMachine::~KvmMachine() {
    if (run_ != nullptr) {
        munmap(run_, run_size_);
    }
}

Result<void> KvmMachine::Run() {
    for (;;) {
        if (ioctl(vcpu_.get(), KVM_RUN, 0) == 0) {
            return Ok();
        }
        if (errno == EAGAIN) {
            continue;
        }
        return Error::FromErrno("KVM_RUN");
    }
}

Result<kvm_regs> KvmMachine::GetRegs() {
    kvm_regs regs{};
    if (ioctl(vcpu_.get(), KVM_GET_REGS, &regs) != 0) {
        return Error::FromErrno("KVM_GET_REGS");
    }
    return regs;
}

Result<void> KvmMachine::SetRegs(const kvm_regs& regs) {
    if (ioctl(vcpu_.get(), KVM_SET_REGS, &regs) != 0) {
        return Error::FromErrno("KVM_SET_REGS");
    }
    return Ok();
}

Result<kvm_sregs> KvmMachine::GetSregs() {
    kvm_sregs sregs{};
    if (ioctl(vcpu_.get(), KVM_GET_SREGS, &sregs) != 0) {
        return Error::FromErrno("KVM_GET_SREGS");
    }
    return sregs;
}

Result<void> KvmMachine::SetSregs(const kvm_sregs& sregs) {
    if (ioctl(vcpu_.get(), KVM_SET_SREGS, &sregs) != 0) {
        return Error::FromErrno("KVM_SET_SREGS");
    }
    return Ok();
}

namespace {

// struct kvm_cpuid2 as the kernel lays it out. The UAPI header declares its flexible array
// through __DECLARE_FLEX_ARRAY, which in C++ adds a one-byte member and moves the array to
// offset 12 (and changes sizeof, hence the ioctl numbers), so this file spells both out.
struct CpuidHeader {
    uint32_t nent;
    uint32_t padding;
};
constexpr size_t kMaxCpuidEntries = 256;
struct CpuidBuffer {
    CpuidHeader header;
    kvm_cpuid_entry2 entries[kMaxCpuidEntries];
};
static_assert(offsetof(CpuidBuffer, entries) == 8);
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);

}  // namespace

Result<std::vector<kvm_cpuid_entry2>> KvmMachine::SetupCpuid() {
    auto cpuid = std::make_unique<CpuidBuffer>();
    cpuid->header.nent = kMaxCpuidEntries;
    if (ioctl(kvm_.get(), kGetSupportedCpuid, cpuid.get()) != 0) {
        return Error::FromErrno("KVM_GET_SUPPORTED_CPUID");
    }
    if (ioctl(vcpu_.get(), kSetCpuid2, cpuid.get()) != 0) {
        return Error::FromErrno("KVM_SET_CPUID2");
    }
    return std::vector<kvm_cpuid_entry2>(cpuid->entries, cpuid->entries + cpuid->header.nent);
}

Result<void> KvmMachine::SetXcr0(uint64_t value) {
    kvm_xcrs xcrs{};
    xcrs.nr_xcrs = 1;
    xcrs.xcrs[0].xcr = 0;
    xcrs.xcrs[0].value = value;
    if (ioctl(vcpu_.get(), KVM_SET_XCRS, &xcrs) != 0) {
        return Error::FromErrno("KVM_SET_XCRS");
    }
    return Ok();
}

}  // namespace tw::hyperlight
