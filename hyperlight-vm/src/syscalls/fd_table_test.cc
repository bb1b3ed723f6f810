#include "syscalls/fd_table.h"

#include <gtest/gtest.h>

namespace tw::hyperlight {
namespace {

TEST(FdTable, InstallTakesLowestFreeFd) {
    FdTable table;
    EXPECT_EQ(table.Install(OpenFile::Stdio(0), false), 0);
    EXPECT_EQ(table.Install(OpenFile::Stdio(1), false), 1);
    EXPECT_EQ(table.Install(OpenFile::Stdio(2), false, 10), 10);
    EXPECT_EQ(table.Close(0), 0);
    EXPECT_EQ(table.Install(OpenFile::Stdio(2), false), 0);
    EXPECT_EQ(table.Install(OpenFile::Stdio(2), false, FdTable::kMaxFds), -EINVAL);
}

TEST(FdTable, CloseOfUnknownFdIsEbadf) {
    FdTable table;
    EXPECT_EQ(table.Close(0), -EBADF);
    EXPECT_EQ(table.Close(-1), -EBADF);
    EXPECT_EQ(table.Close(1 << 30), -EBADF);
    EXPECT_EQ(table.Get(5), nullptr);
}

TEST(FdTable, DupSharesTheOpenFile) {
    FdTable table;
    ASSERT_EQ(table.Install(OpenFile::Stdio(1), false), 0);
    std::shared_ptr<OpenFile> file = table.Get(0);
    ASSERT_EQ(table.InstallAt(7, file, true), 7);
    EXPECT_EQ(table.Get(7).get(), table.Get(0).get());
    file->set_stdio_flags(04000);
    EXPECT_EQ(table.Get(7)->stdio_flags(), 04000);
    EXPECT_FALSE(table.cloexec(0));
    EXPECT_TRUE(table.cloexec(7));
    EXPECT_EQ(table.InstallAt(FdTable::kMaxFds, file, false), -EBADF);
}

TEST(FdTable, InstallFailsWhenFull) {
    FdTable table;
    for (int i = 0; i < FdTable::kMaxFds; ++i) {
        ASSERT_EQ(table.Install(OpenFile::Stdio(1), false), i);
    }
    EXPECT_EQ(table.Install(OpenFile::Stdio(1), false), -EMFILE);
}

}  // namespace
}  // namespace tw::hyperlight
