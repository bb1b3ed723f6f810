#include "memory/vma.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <random>

namespace tw::hyperlight {
namespace {

constexpr uint64_t kP = 0x1000;
constexpr int kRw = kProtRead | kProtWrite;

Vma Area(uint64_t start, uint64_t end, int prot = kRw, VmaKind kind = VmaKind::kAnonymous) {
    return Vma{.start = start, .end = end, .prot = prot, .kind = kind};
}

TEST(VmaSet, InsertMergesAdjacentEqualAreas) {
    VmaSet set;
    ASSERT_TRUE(set.Insert(Area(10 * kP, 20 * kP)).ok());
    ASSERT_TRUE(set.Insert(Area(20 * kP, 30 * kP)).ok());
    ASSERT_EQ(set.size(), 1u);
    EXPECT_EQ(set.All()[0], Area(10 * kP, 30 * kP));
}

TEST(VmaSet, InsertKeepsDifferentProtectionApart) {
    VmaSet set;
    ASSERT_TRUE(set.Insert(Area(10 * kP, 20 * kP, kProtRead)).ok());
    ASSERT_TRUE(set.Insert(Area(20 * kP, 30 * kP, kRw)).ok());
    EXPECT_EQ(set.size(), 2u);
}

TEST(VmaSet, FindReturnsContainingArea) {
    VmaSet set;
    ASSERT_TRUE(set.Insert(Area(10 * kP, 20 * kP)).ok());
    EXPECT_EQ(set.Find(10 * kP - 1), nullptr);
    ASSERT_NE(set.Find(10 * kP), nullptr);
    ASSERT_NE(set.Find(20 * kP - 1), nullptr);
    EXPECT_EQ(set.Find(20 * kP), nullptr);
}

TEST(VmaSet, RemoveMiddleSplitsArea) {
    VmaSet set;
    ASSERT_TRUE(set.Insert(Area(10 * kP, 30 * kP)).ok());
    std::vector<Vma> removed = set.Remove(15 * kP, 20 * kP).value();
    ASSERT_EQ(removed.size(), 1u);
    EXPECT_EQ(removed[0], Area(15 * kP, 20 * kP));
    std::vector<Vma> all = set.All();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0], Area(10 * kP, 15 * kP));
    EXPECT_EQ(all[1], Area(20 * kP, 30 * kP));
}

TEST(VmaSet, RemoveAcrossSeveralAreasTrimsEdges) {
    VmaSet set;
    ASSERT_TRUE(set.Insert(Area(10 * kP, 20 * kP, kProtRead)).ok());
    ASSERT_TRUE(set.Insert(Area(20 * kP, 30 * kP, kRw)).ok());
    ASSERT_TRUE(set.Insert(Area(40 * kP, 50 * kP, kProtRead)).ok());
    std::vector<Vma> removed = set.Remove(15 * kP, 45 * kP).value();
    EXPECT_EQ(removed.size(), 3u);
    std::vector<Vma> all = set.All();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0], Area(10 * kP, 15 * kP, kProtRead));
    EXPECT_EQ(all[1], Area(45 * kP, 50 * kP, kProtRead));
}

TEST(VmaSet, RemoveOfUnmappedRangeIsNoOp) {
    VmaSet set;
    ASSERT_TRUE(set.Insert(Area(10 * kP, 20 * kP)).ok());
    EXPECT_TRUE(set.Remove(30 * kP, 40 * kP)->empty());
    EXPECT_EQ(set.size(), 1u);
}

TEST(VmaSet, ProtectSplitsAndReportsOldProtection) {
    VmaSet set;
    ASSERT_TRUE(set.Insert(Area(10 * kP, 30 * kP, kRw)).ok());
    std::vector<Vma> changed = set.Protect(15 * kP, 20 * kP, kProtRead).value();
    ASSERT_EQ(changed.size(), 1u);
    EXPECT_EQ(changed[0], Area(15 * kP, 20 * kP, kRw));
    std::vector<Vma> all = set.All();
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[1], Area(15 * kP, 20 * kP, kProtRead));
}

TEST(VmaSet, ProtectBackMergesPieces) {
    VmaSet set;
    ASSERT_TRUE(set.Insert(Area(10 * kP, 30 * kP, kRw)).ok());
    ASSERT_TRUE(set.Protect(15 * kP, 20 * kP, kProtRead).ok());
    ASSERT_TRUE(set.Protect(15 * kP, 20 * kP, kRw).ok());
    EXPECT_EQ(set.size(), 1u);
}

TEST(VmaSet, ProtectWithSameProtectionReportsNothing) {
    VmaSet set;
    ASSERT_TRUE(set.Insert(Area(10 * kP, 30 * kP, kRw)).ok());
    EXPECT_TRUE(set.Protect(10 * kP, 30 * kP, kRw)->empty());
}

TEST(VmaSet, IsFreeAndIsFullyMapped) {
    VmaSet set;
    ASSERT_TRUE(set.Insert(Area(10 * kP, 20 * kP)).ok());
    ASSERT_TRUE(set.Insert(Area(25 * kP, 30 * kP, kProtRead)).ok());
    EXPECT_TRUE(set.IsFree(0, 10 * kP));
    EXPECT_FALSE(set.IsFree(0, 10 * kP + 1));
    EXPECT_FALSE(set.IsFree(19 * kP, 21 * kP));
    EXPECT_TRUE(set.IsFree(20 * kP, 25 * kP));
    EXPECT_TRUE(set.IsFullyMapped(10 * kP, 20 * kP));
    EXPECT_FALSE(set.IsFullyMapped(10 * kP, 26 * kP));  // hole at 20..25
}

TEST(VmaSet, FindFreeTopDownTakesHighestGap) {
    VmaSet set;
    ASSERT_TRUE(set.Insert(Area(90 * kP, 100 * kP)).ok());
    EXPECT_EQ(set.FindFreeTopDown(5 * kP, 0, 100 * kP), 85 * kP);
    EXPECT_EQ(set.FindFreeTopDown(5 * kP, 0, 120 * kP), 115 * kP);
}

TEST(VmaSet, FindFreeTopDownSkipsGapsTooSmall) {
    VmaSet set;
    ASSERT_TRUE(set.Insert(Area(50 * kP, 60 * kP)).ok());
    ASSERT_TRUE(set.Insert(Area(62 * kP, 100 * kP)).ok());
    // The gap 60..62 is too small for 5 pages; the next one down is below 50.
    EXPECT_EQ(set.FindFreeTopDown(5 * kP, 0, 100 * kP), 45 * kP);
}

TEST(VmaSet, FindFreeTopDownHandlesAreaStraddlingTheTop) {
    VmaSet set;
    ASSERT_TRUE(set.Insert(Area(90 * kP, 110 * kP)).ok());
    EXPECT_EQ(set.FindFreeTopDown(5 * kP, 0, 100 * kP), 85 * kP);
}

TEST(VmaSet, FindFreeTopDownFailsWhenFull) {
    VmaSet set;
    ASSERT_TRUE(set.Insert(Area(10 * kP, 100 * kP)).ok());
    EXPECT_FALSE(set.FindFreeTopDown(5 * kP, 10 * kP, 100 * kP).has_value());
    EXPECT_FALSE(set.FindFreeTopDown(0, 0, 100 * kP).has_value());
    EXPECT_EQ(set.FindFreeTopDown(5 * kP, 5 * kP, 100 * kP), 5 * kP);
}

TEST(VmaSet, CapRefusesSplitsAndLeavesTheSetAsItWas) {
    VmaSet set(/*max_areas=*/4);
    ASSERT_TRUE(set.Insert(Area(0, 100 * kP, 0)).ok());
    ASSERT_TRUE(set.Protect(10 * kP, 11 * kP, kProtRead).ok());  // 3 areas
    const std::vector<Vma> before = set.All();

    // Each of these would leave 5 areas.
    auto prot = set.Protect(20 * kP, 21 * kP, kProtRead);
    ASSERT_FALSE(prot.ok());
    EXPECT_EQ(prot.error().err(), ENOMEM);
    auto replace = set.Replace(Area(60 * kP, 61 * kP, kProtRead));
    ASSERT_FALSE(replace.ok());
    EXPECT_EQ(replace.error().err(), ENOMEM);
    EXPECT_EQ(set.All(), before);

    // A fourth area still fits; a fifth does not, nor a split by unmapping.
    ASSERT_TRUE(set.Insert(Area(200 * kP, 201 * kP)).ok());
    const std::vector<Vma> full = set.All();
    auto insert = set.Insert(Area(300 * kP, 301 * kP));
    ASSERT_FALSE(insert.ok());
    EXPECT_EQ(insert.error().err(), ENOMEM);
    auto remove = set.Remove(50 * kP, 51 * kP);
    ASSERT_FALSE(remove.ok());
    EXPECT_EQ(remove.error().err(), ENOMEM);
    EXPECT_EQ(set.All(), full);

    // At the cap, changes that add no area still work: one that merges into a neighbour,
    // trimming an edge, and undoing a split.
    EXPECT_TRUE(set.Insert(Area(201 * kP, 205 * kP)).ok());
    EXPECT_TRUE(set.Remove(99 * kP, 100 * kP).ok());
    EXPECT_TRUE(set.Protect(10 * kP, 11 * kP, 0).ok());
    EXPECT_EQ(set.size(), 2u);
}

TEST(VmaSet, ReplaceChecksTheRemovalOnItsOwn) {
    // Replacing the middle of an area with a like one ends with one area, but Linux unmaps
    // first, and the split that makes is over the cap.
    VmaSet set(/*max_areas=*/1);
    ASSERT_TRUE(set.Insert(Area(0, 10 * kP)).ok());
    EXPECT_FALSE(set.Replace(Area(4 * kP, 5 * kP)).ok());
    EXPECT_EQ(set.All(), std::vector<Vma>{Area(0, 10 * kP)});
    EXPECT_TRUE(set.Replace(Area(5 * kP, 10 * kP)).ok());  // trims, then merges back
    EXPECT_EQ(set.All(), std::vector<Vma>{Area(0, 10 * kP)});
}

// Random changes on a capped set and on an uncapped copy: the capped one must refuse exactly
// the changes that would take the copy over the cap, and otherwise end up the same.
TEST(VmaSet, CapMatchesTheCountTheChangeWouldReach) {
    constexpr size_t kCap = 12;
    std::mt19937_64 rng(7);
    VmaSet capped(kCap);
    int refused = 0;
    for (int i = 0; i < 20000; ++i) {
        VmaSet uncapped(1u << 20);
        for (const Vma& vma : capped.All()) {
            ASSERT_TRUE(uncapped.Insert(vma).ok());
        }
        ASSERT_EQ(uncapped.All(), capped.All());
        uint64_t start = rng() % 64 * kP;
        uint64_t end = start + (1 + rng() % 16) * kP;
        int prot = static_cast<int>(rng() % 3);
        VmaKind kind = rng() % 4 == 0 ? VmaKind::kBrk : VmaKind::kAnonymous;
        const std::vector<Vma> before = capped.All();
        Result<void> result = Ok();
        Result<void> reference = Ok();
        size_t peak = 0;  // the most areas the uncapped copy held on the way
        switch (rng() % 4) {
            case 0:
                if (!capped.IsFree(start, end)) {
                    continue;
                }
                result = capped.Insert(Area(start, end, prot, kind));
                reference = uncapped.Insert(Area(start, end, prot, kind));
                break;
            case 1:
                result = capped.Replace(Area(start, end, prot, kind));
                ASSERT_TRUE(uncapped.Remove(start, end).ok());
                peak = uncapped.size();
                reference = uncapped.Insert(Area(start, end, prot, kind));
                break;
            case 2: {
                auto a = capped.Remove(start, end);
                auto b = uncapped.Remove(start, end);
                result = a.ok() ? Ok() : Result<void>(a.error());
                reference = b.ok() ? Ok() : Result<void>(b.error());
                break;
            }
            default: {
                if (!capped.IsFullyMapped(start, end)) {
                    continue;
                }
                auto a = capped.Protect(start, end, prot);
                auto b = uncapped.Protect(start, end, prot);
                result = a.ok() ? Ok() : Result<void>(a.error());
                reference = b.ok() ? Ok() : Result<void>(b.error());
                break;
            }
        }
        ASSERT_TRUE(reference.ok());
        peak = std::max(peak, uncapped.size());
        if (result.ok()) {
            ASSERT_LE(peak, kCap) << "change " << i;
            ASSERT_EQ(capped.All(), uncapped.All()) << "change " << i;
        } else {
            ASSERT_EQ(result.error().err(), ENOMEM);
            ASSERT_GT(peak, kCap) << "change " << i;
            ASSERT_EQ(capped.All(), before) << "change " << i;
            ++refused;
        }
    }
    EXPECT_GT(refused, 100);  // the cap was reached often
}

}  // namespace
}  // namespace tw::hyperlight
