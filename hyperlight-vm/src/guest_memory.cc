#include "hyperlight_vm/guest_memory.h"

#include <sys/mman.h>

#include <utility>

namespace tw::hyperlight {

Result<GuestMemory> GuestMemory::Create(uint64_t size) {
    if (size == 0 || !IsPageAligned(size)) {
        return Error(EINVAL, "guest memory size must be a non-zero multiple of the page size");
    }
    // Private and anonymous: MADV_DONTNEED then reads back zeros, which Discard relies on.
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        return Error::FromErrno("mmap guest memory");
    }
    // Guest RAM never belongs in a core dump of the VMM.
    madvise(p, size, MADV_DONTDUMP);
    return GuestMemory(static_cast<std::byte*>(p), size);
}

GuestMemory::GuestMemory(GuestMemory&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)), size_(std::exchange(other.size_, 0)) {}

GuestMemory& GuestMemory::operator=(GuestMemory&& other) noexcept {
    if (this != &other) {
        Release();
        base_ = std::exchange(other.base_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

GuestMemory::~GuestMemory() {
    Release();
}

void GuestMemory::Release() {
    if (base_ != nullptr) {
        munmap(base_, size_);
        base_ = nullptr;
        size_ = 0;
    }
}

Result<std::span<std::byte>> GuestMemory::Bytes(GuestPhysAddr gpa, uint64_t len) {
    // Written so that no sum can overflow: both bounds compare against size_ directly.
    if (gpa.value() > size_ || len > size_ - gpa.value()) {
        return Error(EFAULT, "guest-physical range outside guest memory");
    }
    return std::span<std::byte>(base_ + gpa.value(), len);
}

Result<void> GuestMemory::Discard(GuestPhysAddr gpa, uint64_t len) {
    if (!gpa.IsPageAligned() || !IsPageAligned(len)) {
        return Error(EINVAL, "discard of a partial page");
    }
    TW_ASSIGN_OR_RETURN(std::span<std::byte> bytes, Bytes(gpa, len));
    if (len != 0 && madvise(bytes.data(), len, MADV_DONTNEED) != 0) {
        return Error::FromErrno("madvise(MADV_DONTNEED) guest pages");
    }
    return Ok();
}

Result<void> GuestMemory::DropTranslations(GuestPhysAddr gpa, uint64_t len) {
    if (!gpa.IsPageAligned() || !IsPageAligned(len)) {
        return Error(EINVAL, "translation drop of a partial page");
    }
    TW_ASSIGN_OR_RETURN(std::span<std::byte> bytes, Bytes(gpa, len));
    if (len == 0) {
        return Ok();
    }
    if (mprotect(bytes.data(), len, PROT_READ) != 0 ||
        mprotect(bytes.data(), len, PROT_READ | PROT_WRITE) != 0) {
        return Error::FromErrno("mprotect guest pages");
    }
    return Ok();
}

}  // namespace tw::hyperlight
