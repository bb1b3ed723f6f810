// VmaSet: the VMM's record of the program's virtual memory areas, page-granular and
// non-overlapping, with the splitting and merging rules of Linux's mmap/munmap/mprotect.
//
// Pure bookkeeping: no guest memory and no page tables, so the rules can be tested alone.
// MemoryManager applies the changes this reports to the page tables and frames.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

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
    // The area containing `addr`, or null.
    const Vma* Find(uint64_t addr) const;

    // True when no area intersects [start, end).
    bool IsFree(uint64_t start, uint64_t end) const;
    // True when areas cover every page of [start, end) without a hole.
    bool IsFullyMapped(uint64_t start, uint64_t end) const;

    // The highest page-aligned start s with [s, s + len) free and inside [lowest, highest).
    std::optional<uint64_t> FindFreeTopDown(uint64_t len, uint64_t lowest, uint64_t highest) const;

    // Adds an area over a free range and merges it with equal neighbours.
    void Insert(const Vma& vma);

    // Removes [start, end) from every area it intersects, splitting areas that straddle an
    // edge. Returns the removed pieces, in address order.
    std::vector<Vma> Remove(uint64_t start, uint64_t end);

    // Sets the protection of [start, end), which must be fully mapped, splitting and merging
    // as needed. Returns the pieces whose protection changed, with their previous protection.
    std::vector<Vma> Protect(uint64_t start, uint64_t end, int prot);

    // Every area in address order (for tests and diagnostics).
    std::vector<Vma> All() const;
    size_t size() const { return by_start_.size(); }

private:
    // Splits the area containing `addr` so that an area starts exactly at `addr`.
    void SplitAt(uint64_t addr);
    void MergeAround(uint64_t addr);

    std::map<uint64_t, Vma> by_start_;
};

}  // namespace tw::hyperlight
