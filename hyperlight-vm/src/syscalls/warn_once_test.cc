#include "syscalls/warn_once.h"

#include <gtest/gtest.h>

namespace tw::hyperlight {
namespace {

TEST(WarnOnce, LogsEachCodeOnce) {
    WarnOnce warned(8);
    EXPECT_EQ(warned.Check(16), WarnOnce::Verdict::kLog);
    EXPECT_EQ(warned.Check(16), WarnOnce::Verdict::kQuiet);
    EXPECT_EQ(warned.Check(17), WarnOnce::Verdict::kLog);
    EXPECT_EQ(warned.size(), 2u);
}

TEST(WarnOnce, StopsAtTheCapAndSaysSoOnce) {
    WarnOnce warned(3);
    for (uint64_t code = 0; code < 3; ++code) {
        EXPECT_EQ(warned.Check(code), WarnOnce::Verdict::kLog);
    }
    EXPECT_EQ(warned.Check(100), WarnOnce::Verdict::kLogLimit);
    for (uint64_t code = 101; code < 100000; ++code) {
        ASSERT_EQ(warned.Check(code), WarnOnce::Verdict::kQuiet);
    }
    EXPECT_EQ(warned.Check(0), WarnOnce::Verdict::kQuiet);
    EXPECT_EQ(warned.size(), 3u);
}

}  // namespace
}  // namespace tw::hyperlight
