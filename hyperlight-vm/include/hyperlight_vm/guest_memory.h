// GuestMemory: the micro-VM's RAM, one anonymous host mapping that KVM sees as slot 0 at
// guest-physical address 0.
//
// Every access from VMM code goes through Bytes(), which fails with EFAULT when the range
// leaves guest RAM. Guest-controlled values (addresses read from the call page, ELF fields)
// can therefore never make the VMM touch host memory outside the mapping.
//
//   TW_ASSIGN_OR_RETURN(GuestMemory mem, GuestMemory::Create(64 << 20));
//   TW_ASSIGN_OR_RETURN(std::span<std::byte> page, mem.Bytes(GuestPhysAddr(0x5000), 4096));
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

#include "common/result.h"
#include "hyperlight_vm/addr.h"

namespace tw::hyperlight {

class GuestMemory {
public:
    // Maps `size` bytes (a multiple of the page size) of zeroed, private anonymous memory.
    static Result<GuestMemory> Create(uint64_t size);

    GuestMemory(GuestMemory&& other) noexcept;
    GuestMemory& operator=(GuestMemory&& other) noexcept;
    GuestMemory(const GuestMemory&) = delete;
    GuestMemory& operator=(const GuestMemory&) = delete;
    ~GuestMemory();

    uint64_t size() const { return size_; }
    // For KVM_SET_USER_MEMORY_REGION only.
    uint64_t host_address() const { return reinterpret_cast<uint64_t>(base_); }

    // The host view of [gpa, gpa + len); EFAULT when any of it lies outside guest RAM.
    Result<std::span<std::byte>> Bytes(GuestPhysAddr gpa, uint64_t len);

    // Copies a trivially copyable value out of / into guest RAM. Guest memory has no alignment
    // guarantees and may change under a running vCPU, so values are copied, never referenced.
    template <typename T>
    Result<T> Read(GuestPhysAddr gpa) {
        static_assert(std::is_trivially_copyable_v<T>);
        TW_ASSIGN_OR_RETURN(std::span<std::byte> src, Bytes(gpa, sizeof(T)));
        T value;
        std::memcpy(&value, src.data(), sizeof(T));
        return value;
    }
    template <typename T>
    Result<void> Write(GuestPhysAddr gpa, const T& value) {
        static_assert(std::is_trivially_copyable_v<T>);
        TW_ASSIGN_OR_RETURN(std::span<std::byte> dst, Bytes(gpa, sizeof(T)));
        std::memcpy(dst.data(), &value, sizeof(T));
        return Ok();
    }

    // Gives whole pages back to the host: they read as zero afterwards, and KVM drops every
    // translation the guest had cached for them (through the mmu notifier), which is what
    // makes freeing a frame safe even under shadow paging.
    Result<void> Discard(GuestPhysAddr gpa, uint64_t len);

    // Makes KVM forget the guest's cached translations of whole pages without changing their
    // contents: briefly write-protects the host mapping, which fires the mmu notifier. Needed
    // when a page loses rights (mprotect) under shadow paging, where the guest reloading CR3
    // does not make KVM re-read a page table the VMM wrote from the host side.
    Result<void> DropTranslations(GuestPhysAddr gpa, uint64_t len);

private:
    GuestMemory(std::byte* base, uint64_t size) : base_(base), size_(size) {}
    void Release();

    std::byte* base_ = nullptr;
    uint64_t size_ = 0;
};

}  // namespace tw::hyperlight
