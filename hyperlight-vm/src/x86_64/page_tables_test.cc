#include "x86_64/page_tables.h"

#include <gtest/gtest.h>

#include "x86_64/layout.h"

namespace tw::hyperlight::x86 {
namespace {

constexpr uint64_t kMemory = 4ull << 20;

class PageTablesTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto mem = GuestMemory::Create(kMemory);
        ASSERT_TRUE(mem.ok());
        memory_.emplace(std::move(*mem));
    }
    uint64_t Entry(uint64_t table, uint64_t index) {
        return *memory_->Read<uint64_t>(GuestPhysAddr(table + index * 8));
    }
    UserPageTables MakeTables() {
        return UserPageTables(*memory_, GuestPhysAddr(layout::kPml4Gpa),
                              [this]() -> Result<GuestPhysAddr> {
                                  uint64_t frame = next_table_;
                                  next_table_ += kPageSize;
                                  return GuestPhysAddr(frame);
                              });
    }

    std::optional<GuestMemory> memory_;
    uint64_t next_table_ = 0x200000;
};

TEST(UserPteFlags, MatchesProtection) {
    EXPECT_EQ(UserPteFlags(0), 0u);
    EXPECT_EQ(UserPteFlags(1), kPtePresent | kPteUser | kPteNoExec);
    EXPECT_EQ(UserPteFlags(3), kPtePresent | kPteUser | kPteWritable | kPteNoExec);
    EXPECT_EQ(UserPteFlags(5), kPtePresent | kPteUser);
    EXPECT_EQ(UserPteFlags(2), kPtePresent | kPteUser | kPteWritable | kPteNoExec);
}

TEST_F(PageTablesTest, SetBuildsFourLevels) {
    UserPageTables tables = MakeTables();
    uint64_t va = 0x00007f1234567000;
    ASSERT_TRUE(tables.Set(GuestVirtAddr(va), GuestPhysAddr(0x345000), UserPteFlags(3)).ok());
    EXPECT_EQ(tables.table_pages(), 3u);
    uint64_t pml4e = Entry(layout::kPml4Gpa, (va >> 39) & 0x1ff);
    ASSERT_EQ(pml4e & 7, 7u);
    uint64_t pdpte = Entry(pml4e & kPteAddrMask, (va >> 30) & 0x1ff);
    ASSERT_EQ(pdpte & 7, 7u);
    uint64_t pde = Entry(pdpte & kPteAddrMask, (va >> 21) & 0x1ff);
    ASSERT_EQ(pde & 7, 7u);
    uint64_t pte = Entry(pde & kPteAddrMask, (va >> 12) & 0x1ff);
    EXPECT_EQ(pte, 0x345000 | UserPteFlags(3));

    // A neighbour in the same 2 MiB reuses the tables.
    ASSERT_TRUE(
        tables.Set(GuestVirtAddr(va + 0x1000), GuestPhysAddr(0x346000), UserPteFlags(1)).ok());
    EXPECT_EQ(tables.table_pages(), 3u);
    ASSERT_TRUE(tables.Clear(GuestVirtAddr(va)).ok());
    EXPECT_EQ(Entry(pde & kPteAddrMask, (va >> 12) & 0x1ff), 0u);
}

TEST_F(PageTablesTest, RefusesKernelHalf) {
    UserPageTables tables = MakeTables();
    EXPECT_FALSE(tables.Set(GuestVirtAddr(0xffff800000000000), GuestPhysAddr(0x345000), 7).ok());
    EXPECT_FALSE(tables.Set(GuestVirtAddr(1ull << 47), GuestPhysAddr(0x345000), 7).ok());
    EXPECT_TRUE(tables.Clear(GuestVirtAddr(0x400000)).ok());  // no table: nothing to clear
}

TEST_F(PageTablesTest, KernelMappingsAreSupervisorOnlyWithSectionRights) {
    KernelImageLayout image{.text_end_gpa = layout::kKernelImageGpa + 0x3000,
                            .image_end_gpa = layout::kKernelImageGpa + 0x5000};
    ASSERT_TRUE(BuildKernelMappings(*memory_, image).ok());
    uint64_t pml4e = Entry(layout::kPml4Gpa, 511);
    EXPECT_EQ(pml4e & kPteAddrMask, layout::kKernelPdptGpa);
    EXPECT_EQ(pml4e & kPteUser, 0u);
    EXPECT_EQ(Entry(layout::kKernelPdptGpa, 510) & kPteAddrMask, layout::kKernelPdGpa);
    EXPECT_EQ(Entry(layout::kKernelPdGpa, 0) & kPteAddrMask, layout::kKernelPtGpa);

    auto pte = [&](uint64_t gpa) { return Entry(layout::kKernelPtGpa, gpa >> 12); };
    uint64_t text = pte(layout::kKernelImageGpa);
    EXPECT_EQ(text, layout::kKernelImageGpa | kPtePresent);  // read-only, executable
    uint64_t data = pte(layout::kKernelImageGpa + 0x3000);
    EXPECT_EQ(data, (layout::kKernelImageGpa + 0x3000) | kPtePresent | kPteWritable | kPteNoExec);
    EXPECT_EQ(pte(layout::kKernelImageGpa + 0x5000), 0u);  // past the image
    EXPECT_EQ(pte(layout::kCallPageGpa) & (kPteWritable | kPteNoExec), kPteWritable | kPteNoExec);
    EXPECT_EQ(pte(layout::kBootPageGpa) & kPteWritable, 0u);
    EXPECT_EQ(pte(TW_KERNEL_STACK_GUARD_GPA), 0u);
    EXPECT_EQ(pte(0), 0u);
    EXPECT_EQ(pte(layout::kPml4Gpa), 0u);  // the page tables are not mapped at all
    for (uint64_t i = 0; i < 512; ++i) {
        EXPECT_EQ(Entry(layout::kKernelPtGpa, i) & kPteUser, 0u);
    }
}

}  // namespace
}  // namespace tw::hyperlight::x86
