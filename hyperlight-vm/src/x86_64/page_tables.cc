#include "x86_64/page_tables.h"

#include "x86_64/layout.h"

namespace tw::hyperlight::x86 {

namespace {

// Flags of non-leaf user entries: rights are decided at the leaf.
constexpr uint64_t kUserTableFlags = kPtePresent | kPteWritable | kPteUser;
constexpr uint64_t kKernelTableFlags = kPtePresent | kPteWritable;
constexpr uint64_t kUserHalfEnd = 1ull << 47;

uint64_t IndexAt(uint64_t va, int shift) {
    return (va >> shift) & 0x1ff;
}

}  // namespace

uint64_t UserPteFlags(int prot) {
    if ((prot & 7) == 0) {
        return 0;
    }
    uint64_t flags = kPtePresent | kPteUser;
    if ((prot & 2) != 0) {
        flags |= kPteWritable;
    }
    if ((prot & 4) == 0) {
        flags |= kPteNoExec;
    }
    return flags;
}

UserPageTables::UserPageTables(GuestMemory& memory, GuestPhysAddr pml4,
                               TableAllocator allocate_table)
    : memory_(memory), pml4_(pml4), allocate_table_(std::move(allocate_table)) {}

Result<GuestPhysAddr> UserPageTables::LeafTable(uint64_t va, bool create) {
    uint64_t leaf_key = va >> 21;
    if (leaf_key == last_key_) {
        return GuestPhysAddr(last_table_);
    }
    // Level 3 (PDPT) keyed by va >> 39, level 2 (PD) by va >> 30, level 1 (PT) by va >> 21;
    // each table is linked from its parent, the root being the PML4.
    uint64_t parent = pml4_.value();
    constexpr int kShifts[3] = {39, 30, 21};
    for (int level = 0; level < 3; ++level) {
        uint64_t key = va >> kShifts[level];
        auto it = tables_[level].find(key);
        if (it != tables_[level].end()) {
            parent = it->second;
            continue;
        }
        if (!create) {
            return Error(ENOENT, "no page table");
        }
        TW_ASSIGN_OR_RETURN(GuestPhysAddr table, allocate_table_());
        ++table_pages_;
        uint64_t entry_gpa = parent + IndexAt(va, kShifts[level]) * 8;
        TW_RETURN_IF_ERROR(
            memory_.Write<uint64_t>(GuestPhysAddr(entry_gpa), table.value() | kUserTableFlags));
        tables_[level][key] = table.value();
        parent = table.value();
    }
    last_key_ = leaf_key;
    last_table_ = parent;
    return GuestPhysAddr(parent);
}

Result<void> UserPageTables::Set(GuestVirtAddr va, GuestPhysAddr frame, uint64_t flags) {
    if (va.value() >= kUserHalfEnd) {
        return Error(EINVAL, "page table entry outside the user half");
    }
    TW_ASSIGN_OR_RETURN(GuestPhysAddr table, LeafTable(va.value(), /*create=*/true));
    uint64_t entry = flags == 0 ? 0 : ((frame.value() & kPteAddrMask) | flags);
    return memory_.Write<uint64_t>(table + IndexAt(va.value(), 12) * 8, entry);
}

Result<void> UserPageTables::Clear(GuestVirtAddr va) {
    if (va.value() >= kUserHalfEnd) {
        return Error(EINVAL, "page table entry outside the user half");
    }
    auto table = LeafTable(va.value(), /*create=*/false);
    if (!table.ok()) {
        return Ok();  // No table, so no entry to clear.
    }
    return memory_.Write<uint64_t>(*table + IndexAt(va.value(), 12) * 8, uint64_t{0});
}

Result<void> BuildKernelMappings(GuestMemory& memory, const KernelImageLayout& image) {
    using layout::kKernelVirtBase;
    TW_RETURN_IF_ERROR(
        memory.Write<uint64_t>(GuestPhysAddr(layout::kPml4Gpa + TW_KERNEL_PML4_INDEX * 8),
                               layout::kKernelPdptGpa | kKernelTableFlags));
    TW_RETURN_IF_ERROR(
        memory.Write<uint64_t>(GuestPhysAddr(layout::kKernelPdptGpa + TW_KERNEL_PDPT_INDEX * 8),
                               layout::kKernelPdGpa | kKernelTableFlags));
    TW_RETURN_IF_ERROR(memory.Write<uint64_t>(GuestPhysAddr(layout::kKernelPdGpa),
                                              layout::kKernelPtGpa | kKernelTableFlags));
    static_assert(kKernelVirtBase % (2ull << 20) == 0, "the kernel PT must start a 2 MiB page");

    auto map = [&](uint64_t gpa, uint64_t flags) {
        return memory.Write<uint64_t>(GuestPhysAddr(layout::kKernelPtGpa + (gpa >> 12) * 8),
                                      gpa | flags);
    };
    constexpr uint64_t kData = kPtePresent | kPteWritable | kPteNoExec;
    // The boot page is read-only for the guest kernel; only the VMM writes it.
    TW_RETURN_IF_ERROR(map(layout::kBootPageGpa, kPtePresent | kPteNoExec));
    TW_RETURN_IF_ERROR(map(layout::kCallPageGpa, kData));
    for (uint64_t gpa = layout::kKernelStackGpa;
         gpa < layout::kKernelStackGpa + layout::kKernelStackSize; gpa += kPageSize) {
        TW_RETURN_IF_ERROR(map(gpa, kData));
    }
    for (uint64_t gpa = layout::kKernelImageGpa; gpa < image.image_end_gpa; gpa += kPageSize) {
        TW_RETURN_IF_ERROR(map(gpa, gpa < image.text_end_gpa ? kPtePresent : kData));
    }
    return Ok();
}

}  // namespace tw::hyperlight::x86
