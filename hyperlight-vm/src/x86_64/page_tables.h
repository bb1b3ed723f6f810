// 4-level x86-64 page tables (Intel SDM Vol. 3A, 4.5), written by the VMM into guest memory.
//
// The VMM never reads an entry back: a guest that took over ring 0 can rewrite its page
// tables, so the addresses of the tables are kept on the host side (a map per level) and the
// guest's copy is write-only from here. Host safety never depends on guest page tables; the
// memory manager's own page record is the authority on what a user address means.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>

#include "common/result.h"
#include "hyperlight_vm/addr.h"
#include "hyperlight_vm/guest_memory.h"

namespace tw::hyperlight::x86 {

inline constexpr uint64_t kPtePresent = 1ull << 0;
inline constexpr uint64_t kPteWritable = 1ull << 1;
inline constexpr uint64_t kPteUser = 1ull << 2;
inline constexpr uint64_t kPteNoExec = 1ull << 63;
inline constexpr uint64_t kPteAddrMask = 0x000ffffffffff000ull;

// Leaf flags for a user page with PROT_* rights `prot`; 0 (not present) for PROT_NONE. x86
// cannot express write-only or execute-only pages: both imply read, as on Linux.
uint64_t UserPteFlags(int prot);

// The user half (PML4 entries 0-255) of the address space rooted at `pml4`. Intermediate
// tables come from `allocate_table`, which returns a zeroed frame.
class UserPageTables {
public:
    using TableAllocator = std::function<Result<GuestPhysAddr>()>;

    UserPageTables(GuestMemory& memory, GuestPhysAddr pml4, TableAllocator allocate_table);

    // Points the PTE of `va` at `frame` with `flags` (0 makes it not present), creating the
    // intermediate tables on the way. EINVAL for an address outside the user half.
    Result<void> Set(GuestVirtAddr va, GuestPhysAddr frame, uint64_t flags);
    // Clears the PTE of `va` if its table exists.
    Result<void> Clear(GuestVirtAddr va);

    uint64_t table_pages() const { return table_pages_; }

private:
    // The guest-physical address of the page table (level 1) covering `va`.
    Result<GuestPhysAddr> LeafTable(uint64_t va, bool create);

    GuestMemory& memory_;
    GuestPhysAddr pml4_;
    TableAllocator allocate_table_;
    // Keyed by va >> 39 (PDPTs), va >> 30 (PDs) and va >> 21 (PTs).
    std::unordered_map<uint64_t, uint64_t> tables_[3];
    uint64_t table_pages_ = 0;
    // The last leaf table used: consecutive pages nearly always share one.
    uint64_t last_key_ = ~0ull;
    uint64_t last_table_ = 0;
};

// The kernel region's permissions, by page range of the kernel image.
struct KernelImageLayout {
    uint64_t text_end_gpa;   // [image start, text_end) is read-only and executable
    uint64_t image_end_gpa;  // [text_end, image_end) is writable and not executable
};

// Writes the kernel half: PML4[511] -> PDPT[510] -> PD[0] -> one PT of 4 KiB pages over the
// kernel region, supervisor-only, as described in layout.h.
Result<void> BuildKernelMappings(GuestMemory& memory, const KernelImageLayout& image);

}  // namespace tw::hyperlight::x86
