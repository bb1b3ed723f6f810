#include "memory/vma.h"

#include <gtest/gtest.h>

namespace tw::hyperlight {
namespace {

constexpr uint64_t kP = 0x1000;
constexpr int kRw = kProtRead | kProtWrite;

Vma Area(uint64_t start, uint64_t end, int prot = kRw, VmaKind kind = VmaKind::kAnonymous) {
    return Vma{.start = start, .end = end, .prot = prot, .kind = kind};
}

TEST(VmaSet, InsertMergesAdjacentEqualAreas) {
    VmaSet set;
    set.Insert(Area(10 * kP, 20 * kP));
    set.Insert(Area(20 * kP, 30 * kP));
    ASSERT_EQ(set.size(), 1u);
    EXPECT_EQ(set.All()[0], Area(10 * kP, 30 * kP));
}

TEST(VmaSet, InsertKeepsDifferentProtectionApart) {
    VmaSet set;
    set.Insert(Area(10 * kP, 20 * kP, kProtRead));
    set.Insert(Area(20 * kP, 30 * kP, kRw));
    EXPECT_EQ(set.size(), 2u);
}

TEST(VmaSet, FindReturnsContainingArea) {
    VmaSet set;
    set.Insert(Area(10 * kP, 20 * kP));
    EXPECT_EQ(set.Find(10 * kP - 1), nullptr);
    ASSERT_NE(set.Find(10 * kP), nullptr);
    ASSERT_NE(set.Find(20 * kP - 1), nullptr);
    EXPECT_EQ(set.Find(20 * kP), nullptr);
}

TEST(VmaSet, RemoveMiddleSplitsArea) {
    VmaSet set;
    set.Insert(Area(10 * kP, 30 * kP));
    std::vector<Vma> removed = set.Remove(15 * kP, 20 * kP);
    ASSERT_EQ(removed.size(), 1u);
    EXPECT_EQ(removed[0], Area(15 * kP, 20 * kP));
    std::vector<Vma> all = set.All();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0], Area(10 * kP, 15 * kP));
    EXPECT_EQ(all[1], Area(20 * kP, 30 * kP));
}

TEST(VmaSet, RemoveAcrossSeveralAreasTrimsEdges) {
    VmaSet set;
    set.Insert(Area(10 * kP, 20 * kP, kProtRead));
    set.Insert(Area(20 * kP, 30 * kP, kRw));
    set.Insert(Area(40 * kP, 50 * kP, kProtRead));
    std::vector<Vma> removed = set.Remove(15 * kP, 45 * kP);
    EXPECT_EQ(removed.size(), 3u);
    std::vector<Vma> all = set.All();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0], Area(10 * kP, 15 * kP, kProtRead));
    EXPECT_EQ(all[1], Area(45 * kP, 50 * kP, kProtRead));
}

TEST(VmaSet, RemoveOfUnmappedRangeIsNoOp) {
    VmaSet set;
    set.Insert(Area(10 * kP, 20 * kP));
    EXPECT_TRUE(set.Remove(30 * kP, 40 * kP).empty());
    EXPECT_EQ(set.size(), 1u);
}

TEST(VmaSet, ProtectSplitsAndReportsOldProtection) {
    VmaSet set;
    set.Insert(Area(10 * kP, 30 * kP, kRw));
    std::vector<Vma> changed = set.Protect(15 * kP, 20 * kP, kProtRead);
    ASSERT_EQ(changed.size(), 1u);
    EXPECT_EQ(changed[0], Area(15 * kP, 20 * kP, kRw));
    std::vector<Vma> all = set.All();
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[1], Area(15 * kP, 20 * kP, kProtRead));
}

TEST(VmaSet, ProtectBackMergesPieces) {
    VmaSet set;
    set.Insert(Area(10 * kP, 30 * kP, kRw));
    (void)set.Protect(15 * kP, 20 * kP, kProtRead);
    (void)set.Protect(15 * kP, 20 * kP, kRw);
    EXPECT_EQ(set.size(), 1u);
}

TEST(VmaSet, ProtectWithSameProtectionReportsNothing) {
    VmaSet set;
    set.Insert(Area(10 * kP, 30 * kP, kRw));
    EXPECT_TRUE(set.Protect(10 * kP, 30 * kP, kRw).empty());
}

TEST(VmaSet, IsFreeAndIsFullyMapped) {
    VmaSet set;
    set.Insert(Area(10 * kP, 20 * kP));
    set.Insert(Area(25 * kP, 30 * kP, kProtRead));
    EXPECT_TRUE(set.IsFree(0, 10 * kP));
    EXPECT_FALSE(set.IsFree(0, 10 * kP + 1));
    EXPECT_FALSE(set.IsFree(19 * kP, 21 * kP));
    EXPECT_TRUE(set.IsFree(20 * kP, 25 * kP));
    EXPECT_TRUE(set.IsFullyMapped(10 * kP, 20 * kP));
    EXPECT_FALSE(set.IsFullyMapped(10 * kP, 26 * kP));  // hole at 20..25
}

TEST(VmaSet, FindFreeTopDownTakesHighestGap) {
    VmaSet set;
    set.Insert(Area(90 * kP, 100 * kP));
    EXPECT_EQ(set.FindFreeTopDown(5 * kP, 0, 100 * kP), 85 * kP);
    EXPECT_EQ(set.FindFreeTopDown(5 * kP, 0, 120 * kP), 115 * kP);
}

TEST(VmaSet, FindFreeTopDownSkipsGapsTooSmall) {
    VmaSet set;
    set.Insert(Area(50 * kP, 60 * kP));
    set.Insert(Area(62 * kP, 100 * kP));
    // The gap 60..62 is too small for 5 pages; the next one down is below 50.
    EXPECT_EQ(set.FindFreeTopDown(5 * kP, 0, 100 * kP), 45 * kP);
}

TEST(VmaSet, FindFreeTopDownHandlesAreaStraddlingTheTop) {
    VmaSet set;
    set.Insert(Area(90 * kP, 110 * kP));
    EXPECT_EQ(set.FindFreeTopDown(5 * kP, 0, 100 * kP), 85 * kP);
}

TEST(VmaSet, FindFreeTopDownFailsWhenFull) {
    VmaSet set;
    set.Insert(Area(10 * kP, 100 * kP));
    EXPECT_FALSE(set.FindFreeTopDown(5 * kP, 10 * kP, 100 * kP).has_value());
    EXPECT_FALSE(set.FindFreeTopDown(0, 0, 100 * kP).has_value());
    EXPECT_EQ(set.FindFreeTopDown(5 * kP, 5 * kP, 100 * kP), 5 * kP);
}

}  // namespace
}  // namespace tw::hyperlight
