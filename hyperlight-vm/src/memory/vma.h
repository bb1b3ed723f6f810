// VmaSet: the VMM's record of the program's virtual memory areas, page-granular and
// non-overlapping, with the splitting and merging rules of Linux's mmap/munmap/mprotect.
//
// Pure bookkeeping: no guest memory and no page tables, so the rules can be tested alone.
// MemoryManager applies the changes this reports to the page tables and frames.
//
// The number of areas is capped, as Linux caps it with vm.max_map_count: every area costs VMM
// memory, and a program that splits one mapping page by page could otherwise grow the VMM
// without bound. A change that would leave more areas than the cap fails with ENOMEM and
// changes nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "common/result.h"

namespace tw::hyperlight {

// Page protection, PROT_* bits as in <sys/mman.h>.
inline constexpr int kProtRead = 1;
inline constexpr int kProtWrite = 2;
inline constexpr int kProtExec = 4;

enum class VmaKind : uint8_t {
    kAnonymous,  // mmap(MAP_ANONYMOUS)
    kProgram,    // a PT_LOAD segment of the program
    kBrk,        // the brk heap
    kStack,      // the initial stack
};

struct Vma {
    uint64_t start = 0;  // page aligned
    uint64_t end = 0;    // page aligned, exclusive
    int prot = 0;
    VmaKind kind = VmaKind::kAnonymous;

    friend bool operator==(const Vma&, const Vma&) = default;
};

class VmaSet {
public:
    // Linux's default vm.max_map_count.
    static constexpr size_t kDefaultMaxAreas = 65530;

    explicit VmaSet(size_t max_areas = kDefaultMaxAreas) : max_areas_(max_areas) {}

    // The area containing `addr`, or null.
    const Vma* Find(uint64_t addr) const;

    // True when no area intersects [start, end).
    bool IsFree(uint64_t start, uint64_t end) const;
    // True when areas cover every page of [start, end) without a hole.
    bool IsFullyMapped(uint64_t start, uint64_t end) const;

    // The highest page-aligned start s with [s, s + len) free and inside [lowest, highest).
    std::optional<uint64_t> FindFreeTopDown(uint64_t len, uint64_t lowest, uint64_t highest) const;

    // Each change below fails with ENOMEM, leaving the set as it was, when it would leave
    // more than max_areas() areas.

    // Adds an area over a free range and merges it with equal neighbours.
    Result<void> Insert(const Vma& vma);

    // Puts `vma` in place of whatever intersects its range (MAP_FIXED). The removal on its
    // own must fit under the cap too, as Linux unmaps the old range before it maps the new one.
    Result<void> Replace(const Vma& vma);

    // Removes [start, end) from every area it intersects, splitting areas that straddle an
    // edge. Returns the removed pieces, in address order.
    Result<std::vector<Vma>> Remove(uint64_t start, uint64_t end);

    // Sets the protection of [start, end), which must be fully mapped, splitting and merging
    // as needed. Returns the pieces whose protection changed, with their previous protection.
    Result<std::vector<Vma>> Protect(uint64_t start, uint64_t end, int prot);

    // Every area in address order (for tests and diagnostics).
    std::vector<Vma> All() const;
    size_t size() const { return by_start_.size(); }
    size_t max_areas() const { return max_areas_; }

private:
    // The number of areas once [start, end) holds exactly `inside` (areas within the range,
    // in address order) and everything outside it is kept, counting the merges that Insert
    // and Protect make between touching areas that are alike.
    size_t CountAfter(uint64_t start, uint64_t end, const std::vector<Vma>& inside) const;
    Result<void> CheckCount(size_t count) const;

    // Splits the area containing `addr` so that an area starts exactly at `addr`.
    void SplitAt(uint64_t addr);
    void MergeAround(uint64_t addr);

    std::map<uint64_t, Vma> by_start_;
    size_t max_areas_;
};

}  // namespace tw::hyperlight
