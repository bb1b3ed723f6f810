// MemoryManager: the program's address space, served by the VMM at native speed.
//
// It keeps the VMAs (VmaSet), the frame allocator and its own record of which frame backs each
// user page, and writes 4 KiB PTEs into the guest page tables. brk, mmap, munmap and mprotect
// are answered here with Linux's results; pages of large mappings are populated on demand,
// from the page faults the guest kernel forwards.
//
// The page record, never the guest's page tables, is what user pointers are translated
// through, so a guest that rewrites its page tables can only confuse itself. Every host access
// to user memory goes through UserSpans/CopyFromUser/CopyToUser, which check the VMA's
// protection the way Linux's copy_{from,to}_user would and fail with EFAULT.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "hyperlight_vm/addr.h"
#include "hyperlight_vm/guest_memory.h"
#include "memory/frame_allocator.h"
#include "memory/vma.h"
#include "x86_64/page_tables.h"

namespace tw::hyperlight {

enum class Access { kRead, kWrite };

enum class FaultOutcome {
    kResolved,     // the page is now mapped: resume the guest
    kSegv,         // no mapping, or not the rights the access needed: SIGSEGV
    kOutOfMemory,  // the mapping is valid but no frame is left: the program is killed
};

struct MemoryStats {
    uint64_t pages_populated = 0;
    uint64_t demand_faults = 0;
    uint64_t frames_free = 0;
    uint64_t table_pages = 0;
};

class MemoryManager {
public:
    // Mappings larger than this are populated on demand, in windows of kFaultAroundBytes.
    static constexpr uint64_t kEagerPopulateLimit = 1ull << 20;
    static constexpr uint64_t kFaultAroundBytes = 256ull << 10;

    MemoryManager(GuestMemory& memory, GuestPhysAddr pml4, GuestPhysAddr pool_start,
                  GuestPhysAddr pool_end);

    // The system calls, with Linux's argument checks and results (a value or -errno).
    int64_t Mmap(uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags, int64_t fd,
                 uint64_t offset);
    int64_t Munmap(uint64_t addr, uint64_t len);
    int64_t Mprotect(uint64_t addr, uint64_t len, uint64_t prot);
    int64_t Brk(uint64_t addr);
    // MADV_DONTNEED and MADV_FREE drop the pages (they read as zero afterwards); other advice
    // is accepted without effect, as it has none on results.
    int64_t Madvise(uint64_t addr, uint64_t len, uint64_t advice);

    // Maps [start, start + len) (page aligned, free) for the loader and the initial stack;
    // populates [populate_start, populate_end) of it at once.
    Result<void> MapRegion(uint64_t start, uint64_t len, int prot, VmaKind kind,
                           uint64_t populate_start, uint64_t populate_end);
    // Sets where the brk heap starts (page aligned, just above the program).
    void InitBrk(uint64_t start);

    // Host views of user memory [va, va + len), page by page, adjacent host ranges merged.
    // EFAULT when a page is unmapped or lacks the rights `access` needs; pages of a valid
    // mapping that were never touched are populated first.
    Result<std::vector<std::span<std::byte>>> UserSpans(GuestVirtAddr va, uint64_t len,
                                                        Access access);
    // How many bytes from `va` on, at most `len`, lie in mappings with the rights `access`
    // needs: the part of a buffer a copy would reach before it faults. Populates nothing.
    uint64_t AccessiblePrefix(GuestVirtAddr va, uint64_t len, Access access) const;
    Result<void> CopyFromUser(GuestVirtAddr va, std::span<std::byte> out);
    Result<void> CopyToUser(GuestVirtAddr va, std::span<const std::byte> in);
    // A NUL-terminated string of at most max_len bytes before the NUL: EFAULT, or
    // ENAMETOOLONG when no NUL comes in time.
    Result<std::string> ReadString(GuestVirtAddr va, size_t max_len);
    // Writes regardless of protection (the loader filling read-only segments).
    Result<void> WriteIgnoringProtection(GuestVirtAddr va, std::span<const std::byte> in);

    // A #PF the guest kernel forwarded: `error` is the CPU's page-fault error code.
    FaultOutcome HandlePageFault(uint64_t addr, uint64_t error);

    // True once if translations were removed or reduced since the last call: the guest must
    // reload CR3 before running user code again.
    bool TakeReloadRequest();

    uint64_t brk() const { return brk_end_; }
    const VmaSet& vmas() const { return vmas_; }
    MemoryStats stats() const;

private:
    struct Range {
        uint64_t start;
        uint64_t end;
    };

    // Populates every page of [start, end) that has no frame yet; all of it lies in `vma`.
    Result<void> Populate(const Vma& vma, uint64_t start, uint64_t end);
    // Backs one page, or returns its existing frame; the page lies in `vma`.
    Result<GuestPhysAddr> PageFrame(const Vma& vma, uint64_t page);
    // Unmaps and frees the frames of [start, end); VMAs are the caller's business.
    Result<void> ReleasePages(uint64_t start, uint64_t end);
    // Rewrites the PTEs of the populated pages of [start, end) for `prot`.
    Result<void> ReprotectPages(uint64_t start, uint64_t end, int prot, bool rights_removed);
    // Maps a new anonymous area over a free range, or over whatever is there when `replace`,
    // and populates it if asked.
    int64_t MapAnonymous(uint64_t start, uint64_t len, int prot, VmaKind kind, bool populate,
                         bool replace);
    // Checks every page of [va, va + len) and yields its host bytes.
    template <typename Fn>
    Result<void> ForEachUserChunk(uint64_t va, uint64_t len, Access access, bool check_prot,
                                  Fn&& fn);

    GuestMemory& memory_;
    FrameAllocator frames_;
    x86::UserPageTables tables_;
    VmaSet vmas_;
    std::map<uint64_t, uint64_t> pages_;  // user page address -> frame gpa
    uint64_t brk_start_ = 0;
    uint64_t brk_end_ = 0;
    bool reload_requested_ = false;
    uint64_t demand_faults_ = 0;
    uint64_t last_spurious_addr_ = ~0ull;
    int spurious_repeats_ = 0;
};

}  // namespace tw::hyperlight
