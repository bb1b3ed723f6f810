#include "memory/memory_manager.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>

#include "x86_64/layout.h"

namespace tw::hyperlight {
namespace {

constexpr uint64_t kMemory = 16ull << 20;
constexpr uint64_t kP = kPageSize;
constexpr int kRw = PROT_READ | PROT_WRITE;
constexpr uint64_t kAnon = MAP_PRIVATE | MAP_ANONYMOUS;

class MemoryManagerTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto mem = GuestMemory::Create(kMemory);
        ASSERT_TRUE(mem.ok());
        memory_.emplace(std::move(*mem));
        mm_ = std::make_unique<MemoryManager>(*memory_, GuestPhysAddr(layout::kPml4Gpa),
                                              GuestPhysAddr(layout::kFramePoolGpa),
                                              GuestPhysAddr(kMemory));
    }

    // Walks the guest page tables the way the CPU would (tests may trust them; the VMM never
    // reads them). Returns the leaf entry, or 0 when a level is not present.
    uint64_t Pte(uint64_t va) {
        uint64_t table = layout::kPml4Gpa;
        for (int shift : {39, 30, 21, 12}) {
            uint64_t entry =
                *memory_->Read<uint64_t>(GuestPhysAddr(table + ((va >> shift) & 0x1ff) * 8));
            if (shift == 12 || (entry & x86::kPtePresent) == 0) {
                return entry;
            }
            table = entry & x86::kPteAddrMask;
        }
        return 0;
    }

    std::optional<GuestMemory> memory_;
    std::unique_ptr<MemoryManager> mm_;
};

TEST_F(MemoryManagerTest, MmapPlacesTopDownAndWritesPtes) {
    int64_t a = mm_->Mmap(0, 3 * kP, kRw, kAnon, -1, 0);
    ASSERT_GT(a, 0);
    EXPECT_EQ(static_cast<uint64_t>(a), layout::kMmapTop - 3 * kP);
    int64_t b = mm_->Mmap(0, kP, PROT_READ, kAnon, -1, 0);
    EXPECT_EQ(b, a - static_cast<int64_t>(kP));
    uint64_t pte = Pte(a);
    EXPECT_NE(pte & x86::kPtePresent, 0u);
    EXPECT_NE(pte & x86::kPteWritable, 0u);
    EXPECT_NE(pte & x86::kPteUser, 0u);
    EXPECT_NE(pte & x86::kPteNoExec, 0u);
    EXPECT_EQ(Pte(b) & x86::kPteWritable, 0u);
}

TEST_F(MemoryManagerTest, MmapArgumentErrorsMatchLinux) {
    EXPECT_EQ(mm_->Mmap(0, 0, kRw, kAnon, -1, 0), -EINVAL);
    EXPECT_EQ(mm_->Mmap(0, kP, kRw, MAP_ANONYMOUS, -1, 0), -EINVAL);  // neither shared nor private
    EXPECT_EQ(mm_->Mmap(0, kP, kRw, kAnon, -1, 1), -EINVAL);
    EXPECT_EQ(mm_->Mmap(0, kP, 0x100, kAnon, -1, 0), -EINVAL);
    EXPECT_EQ(mm_->Mmap(0, kP, kRw, MAP_PRIVATE, 3, 0), -ENODEV);
    EXPECT_EQ(mm_->Mmap(0x10001, kP, kRw, kAnon | MAP_FIXED, -1, 0), -EINVAL);
    EXPECT_EQ(mm_->Mmap(0x1000, kP, kRw, kAnon | MAP_FIXED, -1, 0), -EPERM);
    EXPECT_EQ(mm_->Mmap(0, ~0ull - kP, kRw, kAnon, -1, 0), -ENOMEM);
}

TEST_F(MemoryManagerTest, MapFixedReplacesAndZeroes) {
    uint64_t at = 0x400000;
    ASSERT_EQ(mm_->Mmap(at, 2 * kP, kRw, kAnon | MAP_FIXED, -1, 0), static_cast<int64_t>(at));
    uint32_t value = 0xabcdef01;
    ASSERT_TRUE(mm_->CopyToUser(GuestVirtAddr(at + kP), std::as_bytes(std::span(&value, 1))).ok());
    ASSERT_EQ(mm_->Mmap(at + kP, kP, PROT_READ, kAnon | MAP_FIXED, -1, 0),
              static_cast<int64_t>(at + kP));
    uint32_t back = 1;
    ASSERT_TRUE(
        mm_->CopyFromUser(GuestVirtAddr(at + kP), std::as_writable_bytes(std::span(&back, 1)))
            .ok());
    EXPECT_EQ(back, 0u);
    ASSERT_EQ(mm_->vmas().size(), 2u);
    EXPECT_TRUE(mm_->TakeReloadRequest());
}

TEST_F(MemoryManagerTest, MapFixedNoReplaceRefusesOverlap) {
    uint64_t at = 0x400000;
    ASSERT_EQ(mm_->Mmap(at, 2 * kP, kRw, kAnon | MAP_FIXED, -1, 0), static_cast<int64_t>(at));
    EXPECT_EQ(mm_->Mmap(at + kP, 2 * kP, kRw, kAnon | MAP_FIXED_NOREPLACE, -1, 0), -EEXIST);
    EXPECT_EQ(mm_->Mmap(at + 2 * kP, kP, kRw, kAnon | MAP_FIXED_NOREPLACE, -1, 0),
              static_cast<int64_t>(at + 2 * kP));
}

TEST_F(MemoryManagerTest, HintIsUsedWhenFree) {
    EXPECT_EQ(mm_->Mmap(0x500000, kP, kRw, kAnon, -1, 0), 0x500000);
    int64_t second = mm_->Mmap(0x500000, kP, kRw, kAnon, -1, 0);
    EXPECT_NE(second, 0x500000);
    EXPECT_GT(second, 0);
}

TEST_F(MemoryManagerTest, MunmapMiddleSplitsAndFreesFrames) {
    int64_t a = mm_->Mmap(0, 8 * kP, kRw, kAnon, -1, 0);
    ASSERT_GT(a, 0);
    uint64_t free_before = mm_->stats().frames_free;
    EXPECT_EQ(mm_->Munmap(a + 2 * kP, 3 * kP), 0);
    EXPECT_EQ(mm_->stats().frames_free, free_before + 3);
    EXPECT_EQ(mm_->vmas().size(), 2u);
    EXPECT_EQ(Pte(a + 2 * kP), 0u);
    EXPECT_NE(Pte(a + 5 * kP), 0u);
    EXPECT_TRUE(mm_->TakeReloadRequest());
    EXPECT_FALSE(mm_->TakeReloadRequest());
    std::byte b{};
    EXPECT_FALSE(mm_->CopyFromUser(GuestVirtAddr(a + 3 * kP), std::span(&b, 1)).ok());
}

TEST_F(MemoryManagerTest, MunmapArgumentErrors) {
    EXPECT_EQ(mm_->Munmap(0x400001, kP), -EINVAL);
    EXPECT_EQ(mm_->Munmap(0x400000, 0), -EINVAL);
    EXPECT_EQ(mm_->Munmap(0x400000, kP), 0);  // nothing mapped there: fine
}

TEST_F(MemoryManagerTest, MprotectNeedsWholeRangeMapped) {
    int64_t a = mm_->Mmap(0, 2 * kP, kRw, kAnon, -1, 0);
    ASSERT_GT(a, 0);
    EXPECT_EQ(mm_->Mprotect(a, 3 * kP, PROT_READ), -ENOMEM);
    EXPECT_EQ(mm_->Mprotect(a + 1, kP, PROT_READ), -EINVAL);
    EXPECT_EQ(mm_->Mprotect(a, kP, PROT_READ), 0);
    EXPECT_EQ(Pte(a) & x86::kPteWritable, 0u);
    EXPECT_NE(Pte(a + kP) & x86::kPteWritable, 0u);
    EXPECT_TRUE(mm_->TakeReloadRequest());
}

TEST_F(MemoryManagerTest, CopyRespectsProtection) {
    int64_t ro = mm_->Mmap(0, kP, PROT_READ, kAnon, -1, 0);
    int64_t none = mm_->Mmap(0, kP, PROT_NONE, kAnon, -1, 0);
    std::byte b{1};
    EXPECT_TRUE(mm_->CopyFromUser(GuestVirtAddr(ro), std::span(&b, 1)).ok());
    auto write = mm_->CopyToUser(GuestVirtAddr(ro), std::span(&b, 1));
    ASSERT_FALSE(write.ok());
    EXPECT_EQ(write.error().err(), EFAULT);
    EXPECT_FALSE(mm_->CopyFromUser(GuestVirtAddr(none), std::span(&b, 1)).ok());
    EXPECT_TRUE(mm_->WriteIgnoringProtection(GuestVirtAddr(ro), std::span(&b, 1)).ok());
}

TEST_F(MemoryManagerTest, UserSpansCrossPagesAndRejectBadRanges) {
    int64_t a = mm_->Mmap(0, 4 * kP, kRw, kAnon, -1, 0);
    auto spans = mm_->UserSpans(GuestVirtAddr(a + 100), 3 * kP, Access::kRead);
    ASSERT_TRUE(spans.ok());
    size_t total = 0;
    for (auto s : *spans) {
        total += s.size();
    }
    EXPECT_EQ(total, 3 * kP);
    EXPECT_FALSE(mm_->UserSpans(GuestVirtAddr(a + 3 * kP), 2 * kP, Access::kRead).ok());
    EXPECT_FALSE(mm_->UserSpans(GuestVirtAddr(~0ull - 10), 100, Access::kRead).ok());
    EXPECT_FALSE(mm_->UserSpans(GuestVirtAddr(0xffff800000000000), 1, Access::kRead).ok());
    EXPECT_TRUE(mm_->UserSpans(GuestVirtAddr(0), 0, Access::kRead).ok());
}

TEST_F(MemoryManagerTest, ReadStringStopsAtNulAndLimit) {
    int64_t a = mm_->Mmap(0, 2 * kP, kRw, kAnon, -1, 0);
    // A string crossing a page boundary.
    const char text[] = "hello/world";
    uint64_t at = a + kP - 5;
    ASSERT_TRUE(mm_->CopyToUser(GuestVirtAddr(at), std::as_bytes(std::span(text))).ok());
    auto s = mm_->ReadString(GuestVirtAddr(at), 100);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(*s, "hello/world");
    auto too_long = mm_->ReadString(GuestVirtAddr(at), 5);
    ASSERT_FALSE(too_long.ok());
    EXPECT_EQ(too_long.error().err(), ENAMETOOLONG);
    // No NUL before the end of the mapping.
    std::vector<std::byte> fill(kP, std::byte{'x'});
    ASSERT_TRUE(mm_->CopyToUser(GuestVirtAddr(a + kP), fill).ok());
    auto unterminated = mm_->ReadString(GuestVirtAddr(a + kP), 1 << 20);
    ASSERT_FALSE(unterminated.ok());
    EXPECT_EQ(unterminated.error().err(), EFAULT);
}

TEST_F(MemoryManagerTest, BrkGrowsAndShrinks) {
    mm_->InitBrk(0x600000);
    EXPECT_EQ(mm_->Brk(0), 0x600000);
    EXPECT_EQ(mm_->Brk(0x600000 + 3 * kP + 10), static_cast<int64_t>(0x600000 + 3 * kP + 10));
    std::byte b{7};
    EXPECT_TRUE(mm_->CopyToUser(GuestVirtAddr(0x600000 + 3 * kP), std::span(&b, 1)).ok());
    EXPECT_EQ(mm_->Brk(0x600000 + kP), static_cast<int64_t>(0x600000 + kP));
    EXPECT_FALSE(mm_->CopyToUser(GuestVirtAddr(0x600000 + 2 * kP), std::span(&b, 1)).ok());
    // Below the start, or into another mapping: unchanged break.
    EXPECT_EQ(mm_->Brk(0x500000), static_cast<int64_t>(0x600000 + kP));
    ASSERT_EQ(mm_->Mmap(0x700000, kP, kRw, kAnon | MAP_FIXED, -1, 0), 0x700000);
    EXPECT_EQ(mm_->Brk(0x800000), static_cast<int64_t>(0x600000 + kP));
}

TEST_F(MemoryManagerTest, LargeMappingIsPopulatedOnDemand) {
    uint64_t len = 8 * MemoryManager::kEagerPopulateLimit;
    int64_t a = mm_->Mmap(0, len, kRw, kAnon, -1, 0);
    ASSERT_GT(a, 0);
    EXPECT_EQ(Pte(a + len / 2) & x86::kPtePresent, 0u);
    uint64_t populated = mm_->stats().pages_populated;
    // A user-mode write fault in the middle.
    EXPECT_EQ(mm_->HandlePageFault(a + len / 2 + 8, 0x6), FaultOutcome::kResolved);
    EXPECT_NE(Pte(a + len / 2) & x86::kPtePresent, 0u);
    EXPECT_EQ(mm_->stats().pages_populated - populated,
              MemoryManager::kFaultAroundBytes / kPageSize);
    // The host side populates too, when it touches the mapping for a system call.
    EXPECT_TRUE(mm_->UserSpans(GuestVirtAddr(a), 16, Access::kWrite).ok());
    EXPECT_NE(Pte(a) & x86::kPtePresent, 0u);
}

TEST_F(MemoryManagerTest, FaultsThatLinuxWouldSignal) {
    int64_t ro = mm_->Mmap(0, kP, PROT_READ, kAnon, -1, 0);
    int64_t none = mm_->Mmap(0, kP, PROT_NONE, kAnon, -1, 0);
    EXPECT_EQ(mm_->HandlePageFault(0x1234, 0x4), FaultOutcome::kSegv);  // unmapped
    EXPECT_EQ(mm_->HandlePageFault(ro, 0x7), FaultOutcome::kSegv);      // write to read-only
    EXPECT_EQ(mm_->HandlePageFault(ro, 0x15), FaultOutcome::kSegv);     // execute, no PROT_EXEC
    EXPECT_EQ(mm_->HandlePageFault(none, 0x4), FaultOutcome::kSegv);    // PROT_NONE
    EXPECT_EQ(mm_->HandlePageFault(ro, 0x1), FaultOutcome::kSegv);      // from ring 0
    EXPECT_EQ(mm_->HandlePageFault(~0ull, 0x4), FaultOutcome::kSegv);
}

TEST_F(MemoryManagerTest, RepeatedSpuriousFaultEndsInSegv) {
    int64_t a = mm_->Mmap(0, kP, kRw, kAnon, -1, 0);
    // The page is mapped with the rights asked for: a fault there is a stale translation,
    // fixed once; a guest that keeps faulting there has broken its own page tables.
    EXPECT_EQ(mm_->HandlePageFault(a, 0x7), FaultOutcome::kResolved);
    EXPECT_TRUE(mm_->TakeReloadRequest());
    EXPECT_EQ(mm_->HandlePageFault(a, 0x7), FaultOutcome::kResolved);
    EXPECT_EQ(mm_->HandlePageFault(a, 0x7), FaultOutcome::kSegv);
}

TEST_F(MemoryManagerTest, EagerMappingBeyondMemoryFailsWithEnomem) {
    uint64_t frames = mm_->stats().frames_free;
    EXPECT_EQ(mm_->Mmap(0, (frames + 10) * kP, kRw, kAnon | MAP_POPULATE, -1, 0), -ENOMEM);
    EXPECT_EQ(mm_->vmas().size(), 0u);
    // Everything comes back but the page tables (one per 2 MiB, plus a PD and a PDPT).
    EXPECT_GE(mm_->stats().frames_free + 16, frames);
}

TEST_F(MemoryManagerTest, LazyMappingBeyondMemoryEndsInOutOfMemory) {
    uint64_t frames = mm_->stats().frames_free;
    uint64_t len = (frames + 64) * kP;
    int64_t a = mm_->Mmap(0, len, kRw, kAnon, -1, 0);
    ASSERT_GT(a, 0);
    FaultOutcome last = FaultOutcome::kResolved;
    for (uint64_t off = 0; off < len && last == FaultOutcome::kResolved; off += kP) {
        if ((Pte(a + off) & x86::kPtePresent) == 0) {
            last = mm_->HandlePageFault(a + off, 0x6);
        }
    }
    EXPECT_EQ(last, FaultOutcome::kOutOfMemory);
}

TEST_F(MemoryManagerTest, FreedFramesComeBackZeroed) {
    int64_t a = mm_->Mmap(0, kP, kRw, kAnon, -1, 0);
    std::vector<std::byte> ones(kP, std::byte{0xff});
    ASSERT_TRUE(mm_->CopyToUser(GuestVirtAddr(a), ones).ok());
    ASSERT_EQ(mm_->Munmap(a, kP), 0);
    int64_t b = mm_->Mmap(0, kP, kRw, kAnon, -1, 0);
    std::vector<std::byte> back(kP, std::byte{1});
    ASSERT_TRUE(mm_->CopyFromUser(GuestVirtAddr(b), back).ok());
    EXPECT_EQ(back, std::vector<std::byte>(kP, std::byte{0}));
}

TEST_F(MemoryManagerTest, MadviseDontNeedZeroesButKeepsMapping) {
    int64_t a = mm_->Mmap(0, kP, kRw, kAnon, -1, 0);
    std::byte b{9};
    ASSERT_TRUE(mm_->CopyToUser(GuestVirtAddr(a), std::span(&b, 1)).ok());
    EXPECT_EQ(mm_->Madvise(a, kP, MADV_DONTNEED), 0);
    ASSERT_TRUE(mm_->CopyFromUser(GuestVirtAddr(a), std::span(&b, 1)).ok());
    EXPECT_EQ(b, std::byte{0});
    EXPECT_EQ(mm_->Madvise(a + kP, kP, MADV_DONTNEED), -ENOMEM);
}

// A program that splits one PROT_NONE mapping by making every other page readable: once the
// areas reach Linux's vm.max_map_count the split fails with ENOMEM and changes nothing.
TEST_F(MemoryManagerTest, SplittingStopsAtTheAreaCap) {
    constexpr uint64_t kPages = 2 * VmaSet::kDefaultMaxAreas;
    int64_t base = mm_->Mmap(0, kPages * kP, PROT_NONE, kAnon, -1, 0);
    ASSERT_GT(base, 0);
    auto at = [&](uint64_t page) { return static_cast<uint64_t>(base) + page * kP; };
    uint64_t page = 1;
    int64_t r = 0;
    for (; page < kPages; page += 2) {
        r = mm_->Mprotect(at(page), kP, PROT_READ);
        if (r != 0) {
            break;
        }
    }
    EXPECT_EQ(r, -ENOMEM);
    EXPECT_EQ(mm_->vmas().Find(at(page))->prot, 0);
    // Each split adds two areas; one more mapping of its own takes the count to the cap.
    ASSERT_EQ(mm_->vmas().size(), VmaSet::kDefaultMaxAreas - 1);
    ASSERT_GT(mm_->Mmap(0, kP, PROT_READ, kAnon, -1, 0), 0);
    ASSERT_EQ(mm_->vmas().size(), VmaSet::kDefaultMaxAreas);
    const std::vector<Vma> before = mm_->vmas().All();

    // Other calls that would split are refused too, without effect.
    EXPECT_EQ(mm_->Munmap(at(page + 2), kP), -ENOMEM);
    EXPECT_EQ(mm_->Mmap(at(page + 2), kP, PROT_READ, kAnon | MAP_FIXED, -1, 0), -ENOMEM);
    EXPECT_EQ(mm_->Mmap(0, kP, kRw, kAnon, -1, 0), -ENOMEM);
    EXPECT_EQ(mm_->vmas().All(), before);

    // Calls that add no area still work, and unmapping everything brings the count back.
    EXPECT_EQ(mm_->Mprotect(at(1), kP, PROT_NONE), 0);
    EXPECT_EQ(mm_->Munmap(static_cast<uint64_t>(base), kPages * kP), 0);
    EXPECT_EQ(mm_->vmas().size(), 1u);
    EXPECT_GT(mm_->Mmap(0, kP, PROT_READ, kAnon, -1, 0), 0);
}

}  // namespace
}  // namespace tw::hyperlight
