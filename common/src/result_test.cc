#include "common/result.h"

#include <gtest/gtest.h>

#include "common/unique_fd.h"

#include <fcntl.h>

namespace tw {
namespace {

Result<int> Half(int v) {
    if (v % 2 != 0) {
        return Error(EINVAL, "odd value");
    }
    return v / 2;
}

Result<int> Quarter(int v) {
    TW_ASSIGN_OR_RETURN(int half, Half(v));
    TW_ASSIGN_OR_RETURN(int quarter, Half(half));
    return quarter;
}

TEST(Result, AssignOrReturnPropagatesFirstError) {
    EXPECT_EQ(*Quarter(8), 2);
    Result<int> r = Quarter(6);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().err(), EINVAL);
    EXPECT_EQ(r.error().ToString(), "odd value: Invalid argument");
}

TEST(UniqueFd, ClosesOnDestructionAndMove) {
    int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(raw, 0);
    {
        UniqueFd a(raw);
        UniqueFd b = std::move(a);
        EXPECT_FALSE(a.valid());
        EXPECT_EQ(b.get(), raw);
    }
    EXPECT_EQ(::fcntl(raw, F_GETFD), -1);
    EXPECT_EQ(errno, EBADF);
}

}  // namespace
}  // namespace tw
