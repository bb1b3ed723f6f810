#include "memory/memory_manager.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "x86_64/layout.h"

namespace tw::hyperlight {

namespace {

// mmap flags and protection bits, x86-64 values from <linux/mman.h>.
constexpr uint64_t kMapTypeMask = 0x0f;
constexpr uint64_t kMapFixed = 0x10;
constexpr uint64_t kMapAnonymous = 0x20;
constexpr uint64_t kMap32Bit = 0x40;
constexpr uint64_t kMapPopulate = 0x8000;
constexpr uint64_t kMapFixedNoReplace = 0x100000;
constexpr uint64_t kProtSem = 0x8;
constexpr uint64_t kProtValid = kProtRead | kProtWrite | kProtExec | kProtSem;
// Where MAP_32BIT mappings go, as on Linux: the second GiB.
constexpr uint64_t kMap32BitLow = 0x40000000;
constexpr uint64_t kMap32BitHigh = 0x80000000;

// Page-fault error code bits (Intel SDM Vol. 3A, 4.7).
constexpr uint64_t kPfWrite = 1u << 1;
constexpr uint64_t kPfUser = 1u << 2;
constexpr uint64_t kPfFetch = 1u << 4;

bool Allows(int prot, Access access) {
    return access == Access::kWrite ? (prot & kProtWrite) != 0 : (prot & 7) != 0;
}

// Calls fn(start, len) for every run of physically contiguous frames in `frames`.
template <typename Fn>
Result<void> ForEachFrameRun(std::vector<uint64_t>& frames, Fn&& fn) {
    std::sort(frames.begin(), frames.end());
    size_t i = 0;
    while (i < frames.size()) {
        size_t j = i + 1;
        while (j < frames.size() && frames[j] == frames[j - 1] + kPageSize) {
            ++j;
        }
        TW_RETURN_IF_ERROR(fn(GuestPhysAddr(frames[i]), (j - i) * kPageSize));
        i = j;
    }
    return Ok();
}

}  // namespace

MemoryManager::MemoryManager(GuestMemory& memory, GuestPhysAddr pml4, GuestPhysAddr pool_start,
                             GuestPhysAddr pool_end)
    : memory_(memory),
      frames_(pool_start, pool_end),
      tables_(memory, pml4, [this]() -> Result<GuestPhysAddr> {
          std::optional<GuestPhysAddr> frame = frames_.Allocate();
          if (!frame) {
              return Error(ENOMEM, "no frame left for a page table");
          }
          return *frame;
      }) {}

Result<GuestPhysAddr> MemoryManager::PageFrame(const Vma& vma, uint64_t page) {
    auto it = pages_.find(page);
    if (it != pages_.end()) {
        return GuestPhysAddr(it->second);
    }
    std::optional<GuestPhysAddr> frame = frames_.Allocate();
    if (!frame) {
        return Error(ENOMEM, "guest memory exhausted");
    }
    auto set = tables_.Set(GuestVirtAddr(page), *frame, x86::UserPteFlags(vma.prot));
    if (!set.ok()) {
        frames_.Free(*frame);
        return set.take_error();
    }
    pages_.emplace(page, frame->value());
    return *frame;
}

Result<void> MemoryManager::Populate(const Vma& vma, uint64_t start, uint64_t end) {
    for (uint64_t page = start; page < end; page += kPageSize) {
        TW_RETURN_IF_ERROR(PageFrame(vma, page));
    }
    return Ok();
}

Result<void> MemoryManager::ReleasePages(uint64_t start, uint64_t end) {
    std::vector<uint64_t> freed;
    for (auto it = pages_.lower_bound(start); it != pages_.end() && it->first < end;) {
        TW_RETURN_IF_ERROR(tables_.Clear(GuestVirtAddr(it->first)));
        freed.push_back(it->second);
        it = pages_.erase(it);
    }
    if (freed.empty()) {
        return Ok();
    }
    reload_requested_ = true;
    // Discarding zeroes the frames for their next user and drops KVM's cached translations.
    TW_RETURN_IF_ERROR(ForEachFrameRun(
        freed, [&](GuestPhysAddr run, uint64_t len) { return memory_.Discard(run, len); }));
    for (uint64_t frame : freed) {
        frames_.Free(GuestPhysAddr(frame));
    }
    return Ok();
}

Result<void> MemoryManager::ReprotectPages(uint64_t start, uint64_t end, int prot,
                                           bool rights_removed) {
    std::vector<uint64_t> touched;
    uint64_t flags = x86::UserPteFlags(prot);
    for (auto it = pages_.lower_bound(start); it != pages_.end() && it->first < end; ++it) {
        TW_RETURN_IF_ERROR(tables_.Set(GuestVirtAddr(it->first), GuestPhysAddr(it->second), flags));
        touched.push_back(it->second);
    }
    if (!rights_removed || touched.empty()) {
        return Ok();
    }
    reload_requested_ = true;
    return ForEachFrameRun(touched, [&](GuestPhysAddr run, uint64_t len) {
        return memory_.DropTranslations(run, len);
    });
}

int64_t MemoryManager::MapAnonymous(uint64_t start, uint64_t len, int prot, VmaKind kind,
                                    bool populate, bool replace) {
    Vma vma{.start = start, .end = start + len, .prot = prot, .kind = kind};
    // The area count is checked before anything changes, so hitting the cap leaves the old
    // mapping in place.
    if (!(replace ? vmas_.Replace(vma) : vmas_.Insert(vma)).ok()) {
        return -ENOMEM;
    }
    if (replace && !ReleasePages(start, start + len).ok()) {
        return -ENOMEM;
    }
    if (populate && (prot & 7) != 0) {
        if (!Populate(vma, start, start + len).ok()) {
            (void)ReleasePages(start, start + len);
            // Cannot hit the cap: the count goes back to what it was before the insert, or
            // after the removal that Replace checked.
            (void)vmas_.Remove(start, start + len);
            return -ENOMEM;
        }
    }
    return static_cast<int64_t>(start);
}

int64_t MemoryManager::Mmap(uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags, int64_t fd,
                            uint64_t offset) {
    (void)fd;  // Anonymous mappings ignore it, as Linux does.
    if ((prot & ~kProtValid) != 0 || (flags & kMapTypeMask) == 0 || len == 0 ||
        !IsPageAligned(offset)) {
        return -EINVAL;
    }
    if ((flags & kMapAnonymous) == 0) {
        // File-backed mappings are not served yet: the program sees ENODEV, as for a file
        // system that cannot be mapped, and libc falls back to read().
        return -ENODEV;
    }
    if (len > layout::kUserEnd) {
        return -ENOMEM;
    }
    len = PageUp(len);
    int p = static_cast<int>(prot & 7);
    bool populate = len <= kEagerPopulateLimit || (flags & kMapPopulate) != 0;

    if ((flags & (kMapFixed | kMapFixedNoReplace)) != 0) {
        if (!IsPageAligned(addr)) {
            return -EINVAL;
        }
        if (addr < layout::kUserMin) {
            return -EPERM;
        }
        if (addr > layout::kUserEnd || len > layout::kUserEnd - addr) {
            return -ENOMEM;
        }
        bool replace = !vmas_.IsFree(addr, addr + len);
        if (replace && (flags & kMapFixedNoReplace) != 0) {
            return -EEXIST;
        }
        return MapAnonymous(addr, len, p, VmaKind::kAnonymous, populate, replace);
    }

    // A hint is taken when the range is free, as Linux does; otherwise search top-down.
    uint64_t hint = PageUp(std::min(addr, layout::kUserEnd));
    if (addr != 0 && hint >= layout::kUserMin && len <= layout::kUserEnd - hint &&
        vmas_.IsFree(hint, hint + len) && (flags & kMap32Bit) == 0) {
        return MapAnonymous(hint, len, p, VmaKind::kAnonymous, populate, /*replace=*/false);
    }
    std::optional<uint64_t> start =
        (flags & kMap32Bit) != 0 ? vmas_.FindFreeTopDown(len, kMap32BitLow, kMap32BitHigh)
                                 : vmas_.FindFreeTopDown(len, layout::kUserMin, layout::kMmapTop);
    if (!start) {
        return -ENOMEM;
    }
    return MapAnonymous(*start, len, p, VmaKind::kAnonymous, populate, /*replace=*/false);
}

int64_t MemoryManager::Munmap(uint64_t addr, uint64_t len) {
    if (!IsPageAligned(addr) || len == 0 || addr > layout::kUserEnd ||
        len > layout::kUserEnd - addr) {
        return -EINVAL;
    }
    uint64_t end = addr + PageUp(len);
    // Splitting an area can hit the area cap: fail before any page is released.
    if (!vmas_.Remove(addr, end).ok() || !ReleasePages(addr, end).ok()) {
        return -ENOMEM;
    }
    return 0;
}

int64_t MemoryManager::Mprotect(uint64_t addr, uint64_t len, uint64_t prot) {
    if (!IsPageAligned(addr) || (prot & ~kProtValid) != 0) {
        return -EINVAL;
    }
    if (len == 0) {
        return 0;
    }
    if (addr > layout::kUserEnd || len > layout::kUserEnd - addr) {
        return -ENOMEM;
    }
    uint64_t end = addr + PageUp(len);
    if (!vmas_.IsFullyMapped(addr, end)) {
        return -ENOMEM;
    }
    int p = static_cast<int>(prot & 7);
    auto changed = vmas_.Protect(addr, end, p);
    if (!changed.ok()) {
        return -ENOMEM;
    }
    for (const Vma& old : *changed) {
        bool removed = (old.prot & ~p & 7) != 0;
        if (!ReprotectPages(old.start, old.end, p, removed).ok()) {
            return -ENOMEM;
        }
    }
    return 0;
}

int64_t MemoryManager::Madvise(uint64_t addr, uint64_t len, uint64_t advice) {
    constexpr uint64_t kMadvDontNeed = 4;
    constexpr uint64_t kMadvFree = 8;
    if (!IsPageAligned(addr) || addr > layout::kUserEnd || len > layout::kUserEnd - addr) {
        return -EINVAL;
    }
    uint64_t end = addr + PageUp(len);
    if (!vmas_.IsFullyMapped(addr, end)) {
        return -ENOMEM;
    }
    if (advice == kMadvDontNeed || advice == kMadvFree) {
        if (!ReleasePages(addr, end).ok()) {
            return -ENOMEM;
        }
    }
    return 0;
}

void MemoryManager::InitBrk(uint64_t start) {
    brk_start_ = start;
    brk_end_ = start;
}

int64_t MemoryManager::Brk(uint64_t addr) {
    // Linux answers every failure with the unchanged break.
    auto current = static_cast<int64_t>(brk_end_);
    if (addr < brk_start_ || addr > layout::kMmapTop) {
        return current;
    }
    uint64_t old_top = PageUp(brk_end_);
    uint64_t new_top = PageUp(addr);
    if (new_top > old_top) {
        if (!vmas_.IsFree(old_top, new_top)) {
            return current;
        }
        uint64_t grow = new_top - old_top;
        if (MapAnonymous(old_top, grow, kProtRead | kProtWrite, VmaKind::kBrk,
                         grow <= kEagerPopulateLimit, /*replace=*/false) < 0) {
            return current;
        }
    } else if (new_top < old_top) {
        if (!vmas_.Remove(new_top, old_top).ok() || !ReleasePages(new_top, old_top).ok()) {
            return current;
        }
    }
    brk_end_ = addr;
    return static_cast<int64_t>(brk_end_);
}

Result<void> MemoryManager::MapRegion(uint64_t start, uint64_t len, int prot, VmaKind kind,
                                      uint64_t populate_start, uint64_t populate_end) {
    if (!IsPageAligned(start) || !IsPageAligned(len) || len == 0 || start < layout::kUserMin ||
        start > layout::kUserEnd || len > layout::kUserEnd - start) {
        return Error(EINVAL, "region outside the user half");
    }
    if (!vmas_.IsFree(start, start + len)) {
        return Error(EEXIST, "region overlaps an existing mapping");
    }
    Vma vma{.start = start, .end = start + len, .prot = prot & 7, .kind = kind};
    TW_RETURN_IF_ERROR(vmas_.Insert(vma));
    populate_start = std::max(populate_start, start);
    populate_end = std::min(populate_end, start + len);
    if (populate_start < populate_end) {
        TW_RETURN_IF_ERROR(Populate(vma, PageDown(populate_start), PageUp(populate_end)));
    }
    return Ok();
}

template <typename Fn>
Result<void> MemoryManager::ForEachUserChunk(uint64_t va, uint64_t len, Access access,
                                             bool check_prot, Fn&& fn) {
    if (len == 0) {
        return Ok();
    }
    if (va >= layout::kUserEnd || len > layout::kUserEnd - va) {
        return Error(EFAULT, "user range outside the user half");
    }
    uint64_t cursor = va;
    uint64_t end = va + len;
    const Vma* vma = nullptr;
    while (cursor < end) {
        if (vma == nullptr || cursor >= vma->end) {
            vma = vmas_.Find(cursor);
            if (vma == nullptr || (check_prot && !Allows(vma->prot, access))) {
                return Error(EFAULT, "user address not mapped with the needed rights");
            }
        }
        uint64_t page = PageDown(cursor);
        uint64_t chunk_end = std::min(end, page + kPageSize);
        auto frame = PageFrame(*vma, page);
        if (!frame.ok()) {
            return Error(EFAULT, "user page cannot be backed: " + frame.error().message());
        }
        TW_ASSIGN_OR_RETURN(std::span<std::byte> bytes,
                            memory_.Bytes(*frame + (cursor - page), chunk_end - cursor));
        fn(bytes);
        cursor = chunk_end;
    }
    return Ok();
}

Result<std::vector<std::span<std::byte>>> MemoryManager::UserSpans(GuestVirtAddr va, uint64_t len,
                                                                   Access access) {
    std::vector<std::span<std::byte>> spans;
    TW_RETURN_IF_ERROR(ForEachUserChunk(
        va.value(), len, access, /*check_prot=*/true, [&](std::span<std::byte> bytes) {
            if (!spans.empty() && spans.back().data() + spans.back().size() == bytes.data()) {
                spans.back() =
                    std::span<std::byte>(spans.back().data(), spans.back().size() + bytes.size());
            } else {
                spans.push_back(bytes);
            }
        }));
    return spans;
}

uint64_t MemoryManager::AccessiblePrefix(GuestVirtAddr va, uint64_t len, Access access) const {
    uint64_t start = va.value();
    if (start >= layout::kUserEnd) {
        return 0;
    }
    uint64_t end = start + std::min(len, layout::kUserEnd - start);
    uint64_t cursor = start;
    while (cursor < end) {
        const Vma* vma = vmas_.Find(cursor);
        if (vma == nullptr || !Allows(vma->prot, access)) {
            break;
        }
        cursor = std::min(vma->end, end);
    }
    return cursor - start;
}

Result<void> MemoryManager::CopyFromUser(GuestVirtAddr va, std::span<std::byte> out) {
    size_t done = 0;
    return ForEachUserChunk(va.value(), out.size(), Access::kRead, /*check_prot=*/true,
                            [&](std::span<std::byte> bytes) {
                                std::memcpy(out.data() + done, bytes.data(), bytes.size());
                                done += bytes.size();
                            });
}

Result<void> MemoryManager::CopyToUser(GuestVirtAddr va, std::span<const std::byte> in) {
    size_t done = 0;
    return ForEachUserChunk(va.value(), in.size(), Access::kWrite, /*check_prot=*/true,
                            [&](std::span<std::byte> bytes) {
                                std::memcpy(bytes.data(), in.data() + done, bytes.size());
                                done += bytes.size();
                            });
}

Result<void> MemoryManager::WriteIgnoringProtection(GuestVirtAddr va,
                                                    std::span<const std::byte> in) {
    size_t done = 0;
    return ForEachUserChunk(va.value(), in.size(), Access::kWrite, /*check_prot=*/false,
                            [&](std::span<std::byte> bytes) {
                                std::memcpy(bytes.data(), in.data() + done, bytes.size());
                                done += bytes.size();
                            });
}

Result<std::string> MemoryManager::ReadString(GuestVirtAddr va, size_t max_len) {
    std::string s;
    uint64_t cursor = va.value();
    // Page by page, so a string that ends just before an unmapped page is still read.
    while (s.size() <= max_len) {
        uint64_t chunk = kPageSize - (cursor & (kPageSize - 1));
        std::string_view piece;
        TW_RETURN_IF_ERROR(ForEachUserChunk(
            cursor, chunk, Access::kRead, /*check_prot=*/true, [&](std::span<std::byte> bytes) {
                piece = std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
            }));
        size_t nul = piece.find('\0');
        if (nul != std::string_view::npos) {
            s.append(piece.substr(0, nul));
            if (s.size() > max_len) {
                break;
            }
            return s;
        }
        s.append(piece);
        cursor += chunk;
    }
    return Error(ENAMETOOLONG, "user string too long");
}

FaultOutcome MemoryManager::HandlePageFault(uint64_t addr, uint64_t error) {
    if ((error & kPfUser) == 0 || addr >= layout::kUserEnd) {
        return FaultOutcome::kSegv;
    }
    const Vma* vma = vmas_.Find(addr);
    if (vma == nullptr) {
        return FaultOutcome::kSegv;
    }
    bool allowed = (error & kPfWrite) != 0   ? (vma->prot & kProtWrite) != 0
                   : (error & kPfFetch) != 0 ? (vma->prot & kProtExec) != 0
                                             : (vma->prot & 7) != 0;
    if (!allowed) {
        return FaultOutcome::kSegv;
    }
    uint64_t page = PageDown(addr);
    auto it = pages_.find(page);
    if (it != pages_.end()) {
        // The record says the access is fine, so the guest ran on a stale translation (rights
        // were just raised) or rewrote its own page table. Restore the entry from the record
        // and have the guest reload CR3; a fault that keeps coming back is the guest's doing.
        if (page == last_spurious_addr_) {
            if (++spurious_repeats_ > 2) {
                return FaultOutcome::kSegv;
            }
        } else {
            last_spurious_addr_ = page;
            spurious_repeats_ = 1;
        }
        if (!tables_
                 .Set(GuestVirtAddr(page), GuestPhysAddr(it->second), x86::UserPteFlags(vma->prot))
                 .ok()) {
            return FaultOutcome::kOutOfMemory;
        }
        reload_requested_ = true;
        return FaultOutcome::kResolved;
    }
    last_spurious_addr_ = ~0ull;
    if (!PageFrame(*vma, page).ok()) {
        return FaultOutcome::kOutOfMemory;
    }
    ++demand_faults_;
    // Fault around: most programs touch a fresh mapping sequentially, and every fault is a VM
    // exit. Running out of frames here only ends the window early.
    uint64_t window = page & ~(kFaultAroundBytes - 1);
    uint64_t start = std::max(vma->start, window);
    uint64_t end = std::min(vma->end, window + kFaultAroundBytes);
    (void)Populate(*vma, start, end);
    return FaultOutcome::kResolved;
}

bool MemoryManager::TakeReloadRequest() {
    return std::exchange(reload_requested_, false);
}

MemoryStats MemoryManager::stats() const {
    return MemoryStats{.pages_populated = pages_.size(),
                       .demand_faults = demand_faults_,
                       .frames_free = frames_.free_frames(),
                       .table_pages = tables_.table_pages()};
}

}  // namespace tw::hyperlight
