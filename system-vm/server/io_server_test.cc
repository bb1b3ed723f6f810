// FileClient against IoServer, over the in-process link and over a socketpair stream link:
// every FileClient call, checked against what the host file system shows.
#include "system_vm/io_server.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <set>

#include "session.h"
#include "test_util.h"
#include "transport/control.h"
#include "transport/file_client.h"

namespace tw::system_vm {
namespace {

using testing::Exists;
using testing::LinkKind;
using testing::ReadFile;
using testing::ServerThread;
using testing::TempDir;
using testing::WriteFile;
using transport::FileClient;
using transport::kCwdHandle;

std::span<const std::byte> Bytes(std::string_view s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

std::string Str(std::span<const std::byte> b, size_t n) {
    return std::string(reinterpret_cast<const char*>(b.data()), n);
}

class FileClientTest : public ::testing::TestWithParam<LinkKind> {
protected:
    void SetUp() override {
        tenants_ = dir_.path() + "/tenants";
        root_ = tenants_ + "/alpha";
        ASSERT_EQ(mkdir(tenants_.c_str(), 0755), 0);
        ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
        ASSERT_EQ(mkdir((tenants_ + "/beta").c_str(), 0755), 0);
        ASSERT_EQ(mkdir((root_ + "/sub").c_str(), 0755), 0);
        WriteFile(root_ + "/hello.txt", "hello, world\n");
        WriteFile(root_ + "/sub/inner.txt", "inner");
        ASSERT_EQ(symlink("hello.txt", (root_ + "/link").c_str()), 0);

        auto [client_link, server_link] = testing::MakeLinks(GetParam());
        server_ = std::make_unique<ServerThread>(tenants_, std::move(server_link));
        Result<std::unique_ptr<FileClient>> c =
            FileClient::Open(std::move(client_link), 1, "alpha");
        ASSERT_TRUE(c.ok()) << c.error().ToString();
        client_ = std::move(*c);
    }

    void TearDown() override {
        client_.reset();
        server_.reset();
    }

    int64_t Open(std::string_view path, int flags, uint32_t mode = 0) {
        return client_->OpenAt(kCwdHandle, path, flags, mode);
    }

    std::string ReadAll(transport::Handle h) {
        std::string out;
        std::vector<std::byte> buf(1000);
        for (;;) {
            int64_t n = client_->Read(h, buf);
            EXPECT_GE(n, 0);
            if (n <= 0) {
                return out;
            }
            out += Str(buf, static_cast<size_t>(n));
        }
    }

    TempDir dir_;
    std::string tenants_;
    std::string root_;
    std::unique_ptr<ServerThread> server_;
    std::unique_ptr<FileClient> client_;
};

TEST_P(FileClientTest, OpenReadClose) {
    int64_t h = Open("/hello.txt", O_RDONLY);
    ASSERT_GE(h, 0);
    EXPECT_EQ(ReadAll(static_cast<transport::Handle>(h)), "hello, world\n");
    EXPECT_EQ(client_->Close(static_cast<transport::Handle>(h)), 0);
    EXPECT_EQ(client_->Close(static_cast<transport::Handle>(h)), -EBADF);
    std::vector<std::byte> buf(10);
    EXPECT_EQ(client_->Read(static_cast<transport::Handle>(h), buf), -EBADF);
}

TEST_P(FileClientTest, OpenMissingIsEnoent) {
    EXPECT_EQ(Open("/nope", O_RDONLY), -ENOENT);
    EXPECT_EQ(Open("", O_RDONLY), -ENOENT);
    EXPECT_EQ(Open("/hello.txt/x", O_RDONLY), -ENOTDIR);
    EXPECT_EQ(Open("/sub", O_WRONLY), -EISDIR);
}

TEST_P(FileClientTest, CreateWriteReadLargeFileInChunks) {
    int64_t h = Open("/big.bin", O_RDWR | O_CREAT | O_EXCL, 0640);
    ASSERT_GE(h, 0);
    std::vector<std::byte> data(300 * 1024 + 17);
    for (size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<std::byte>((i * 131) >> 3);
    }
    auto fh = static_cast<transport::Handle>(h);
    EXPECT_EQ(client_->Write(fh, data), static_cast<int64_t>(data.size()));
    EXPECT_EQ(client_->Lseek(fh, 0, SEEK_SET), 0);
    std::vector<std::byte> back(data.size() + 100);
    EXPECT_EQ(client_->Read(fh, back), static_cast<int64_t>(data.size()));
    EXPECT_EQ(std::memcmp(back.data(), data.data(), data.size()), 0);

    struct stat st;
    ASSERT_EQ(stat((root_ + "/big.bin").c_str(), &st), 0);
    EXPECT_EQ(st.st_size, static_cast<off_t>(data.size()));
    EXPECT_EQ(st.st_mode & 07777, 0640u);  // the server applies no umask of its own
    EXPECT_EQ(Open("/big.bin", O_RDWR | O_CREAT | O_EXCL, 0640), -EEXIST);
}

TEST_P(FileClientTest, PreadPwrite) {
    int64_t h = Open("/p.txt", O_RDWR | O_CREAT, 0644);
    ASSERT_GE(h, 0);
    auto fh = static_cast<transport::Handle>(h);
    EXPECT_EQ(client_->Pwrite(fh, Bytes("0123456789"), 0), 10);
    EXPECT_EQ(client_->Pwrite(fh, Bytes("AB"), 4), 2);
    std::vector<std::byte> buf(4);
    EXPECT_EQ(client_->Pread(fh, buf, 3), 4);
    EXPECT_EQ(Str(buf, 4), "3AB6");
    EXPECT_EQ(client_->Pread(fh, buf, 100), 0);
    EXPECT_EQ(client_->Pread(fh, buf, -1), -EINVAL);
    EXPECT_EQ(client_->Lseek(fh, 0, SEEK_CUR), 0);  // positional I/O leaves the offset alone
    EXPECT_EQ(ReadFile(root_ + "/p.txt"), "0123AB6789");
}

TEST_P(FileClientTest, Lseek) {
    int64_t h = Open("/hello.txt", O_RDONLY);
    ASSERT_GE(h, 0);
    auto fh = static_cast<transport::Handle>(h);
    EXPECT_EQ(client_->Lseek(fh, 0, SEEK_END), 13);
    EXPECT_EQ(client_->Lseek(fh, 7, SEEK_SET), 7);
    std::vector<std::byte> buf(5);
    EXPECT_EQ(client_->Read(fh, buf), 5);
    EXPECT_EQ(Str(buf, 5), "world");
    EXPECT_EQ(client_->Lseek(fh, 0, 42), -EINVAL);
}

TEST_P(FileClientTest, FstatMatchesHost) {
    int64_t h = Open("/hello.txt", O_RDONLY);
    ASSERT_GE(h, 0);
    struct stat got {
    }, want{};
    EXPECT_EQ(client_->Fstat(static_cast<transport::Handle>(h), &got), 0);
    ASSERT_EQ(stat((root_ + "/hello.txt").c_str(), &want), 0);
    EXPECT_EQ(got.st_ino, want.st_ino);
    EXPECT_EQ(got.st_dev, want.st_dev);
    EXPECT_EQ(got.st_size, 13);
    EXPECT_EQ(got.st_mode, want.st_mode);
}

TEST_P(FileClientTest, StatAtFollowsOrNot) {
    struct stat st {};
    EXPECT_EQ(client_->StatAt(kCwdHandle, "link", 0, &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_size, 13);
    EXPECT_EQ(client_->StatAt(kCwdHandle, "link", AT_SYMLINK_NOFOLLOW, &st), 0);
    EXPECT_TRUE(S_ISLNK(st.st_mode));
    EXPECT_EQ(client_->StatAt(kCwdHandle, "/", 0, &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(client_->StatAt(kCwdHandle, "", 0, &st), -ENOENT);
    EXPECT_EQ(client_->StatAt(kCwdHandle, "", AT_EMPTY_PATH, &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(client_->StatAt(kCwdHandle, "missing", 0, &st), -ENOENT);
    EXPECT_EQ(client_->StatAt(kCwdHandle, "link", 0x40000000, &st), -EINVAL);

    int64_t h = Open("/sub/inner.txt", O_RDONLY);
    ASSERT_GE(h, 0);
    EXPECT_EQ(client_->StatAt(static_cast<transport::Handle>(h), "", AT_EMPTY_PATH, &st), 0);
    EXPECT_EQ(st.st_size, 5);
    EXPECT_EQ(client_->StatAt(static_cast<transport::Handle>(h), "x", 0, &st), -ENOTDIR);
    EXPECT_EQ(client_->StatAt(999, "x", 0, &st), -EBADF);
    EXPECT_EQ(client_->StatAt(999, "/hello.txt", 0, &st), 0);  // absolute: dir is ignored
}

TEST_P(FileClientTest, Statx) {
    struct statx stx {};
    EXPECT_EQ(client_->Statx(kCwdHandle, "/hello.txt", 0, STATX_BASIC_STATS, &stx), 0);
    EXPECT_EQ(stx.stx_size, 13u);
    EXPECT_TRUE(S_ISREG(stx.stx_mode));
    EXPECT_EQ(client_->Statx(kCwdHandle, "link", AT_SYMLINK_NOFOLLOW, STATX_TYPE, &stx), 0);
    EXPECT_TRUE(S_ISLNK(stx.stx_mode));
    EXPECT_EQ(client_->Statx(kCwdHandle, "nope", 0, STATX_TYPE, &stx), -ENOENT);
}

TEST_P(FileClientTest, Getdents64ListsDirectory) {
    int64_t h = Open("/", O_RDONLY | O_DIRECTORY);
    ASSERT_GE(h, 0);
    std::set<std::string> names;
    std::vector<std::byte> buf(64);  // small: several calls are needed
    for (;;) {
        int64_t n = client_->Getdents64(static_cast<transport::Handle>(h), buf);
        ASSERT_GE(n, 0);
        if (n == 0) {
            break;
        }
        for (int64_t off = 0; off < n;) {
            auto* d = reinterpret_cast<const dirent64*>(buf.data() + off);
            names.insert(d->d_name);
            off += d->d_reclen;
        }
    }
    EXPECT_EQ(names, (std::set<std::string>{".", "..", "hello.txt", "link", "sub"}));
    std::vector<std::byte> tiny(4);
    EXPECT_EQ(client_->Getdents64(static_cast<transport::Handle>(h), tiny), 0);  // at end
    EXPECT_EQ(client_->Lseek(static_cast<transport::Handle>(h), 0, SEEK_SET), 0);
    EXPECT_EQ(client_->Getdents64(static_cast<transport::Handle>(h), tiny), -EINVAL);
}

TEST_P(FileClientTest, ReadlinkAt) {
    std::vector<std::byte> buf(64);
    EXPECT_EQ(client_->ReadlinkAt(kCwdHandle, "link", buf), 9);
    EXPECT_EQ(Str(buf, 9), "hello.txt");
    std::vector<std::byte> small(4);
    EXPECT_EQ(client_->ReadlinkAt(kCwdHandle, "/link", small), 4);  // truncated, like Linux
    EXPECT_EQ(client_->ReadlinkAt(kCwdHandle, "hello.txt", buf), -EINVAL);
    EXPECT_EQ(client_->ReadlinkAt(kCwdHandle, "nope", buf), -ENOENT);
    EXPECT_EQ(client_->ReadlinkAt(kCwdHandle, ".", buf), -EINVAL);
    std::vector<std::byte> none;
    EXPECT_EQ(client_->ReadlinkAt(kCwdHandle, "link", none), -EINVAL);

    int64_t h = Open("link", O_PATH | O_NOFOLLOW);
    ASSERT_GE(h, 0);
    EXPECT_EQ(client_->ReadlinkAt(static_cast<transport::Handle>(h), "", buf), 9);
}

TEST_P(FileClientTest, MkdirAt) {
    EXPECT_EQ(client_->MkdirAt(kCwdHandle, "/newdir", 0750), 0);
    struct stat st;
    ASSERT_EQ(stat((root_ + "/newdir").c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0750u);
    EXPECT_EQ(client_->MkdirAt(kCwdHandle, "/newdir", 0750), -EEXIST);
    EXPECT_EQ(client_->MkdirAt(kCwdHandle, "/newdir/", 0750), -EEXIST);
    EXPECT_EQ(client_->MkdirAt(kCwdHandle, "trail/", 0755), 0);
    EXPECT_EQ(client_->MkdirAt(kCwdHandle, "/", 0755), -EEXIST);
    EXPECT_EQ(client_->MkdirAt(kCwdHandle, ".", 0755), -EEXIST);
    EXPECT_EQ(client_->MkdirAt(kCwdHandle, "a/b", 0755), -ENOENT);
    EXPECT_EQ(client_->MkdirAt(kCwdHandle, "link", 0755), -EEXIST);
}

TEST_P(FileClientTest, UnlinkAt) {
    WriteFile(root_ + "/victim", "x");
    EXPECT_EQ(client_->UnlinkAt(kCwdHandle, "victim/", 0), -ENOTDIR);
    EXPECT_EQ(client_->UnlinkAt(kCwdHandle, "victim", 0), 0);
    EXPECT_FALSE(Exists(root_ + "/victim"));
    EXPECT_EQ(client_->UnlinkAt(kCwdHandle, "victim", 0), -ENOENT);
    EXPECT_EQ(client_->UnlinkAt(kCwdHandle, "sub", 0), -EISDIR);
    EXPECT_EQ(client_->UnlinkAt(kCwdHandle, "sub", AT_REMOVEDIR), -ENOTEMPTY);
    EXPECT_EQ(client_->UnlinkAt(kCwdHandle, "/", AT_REMOVEDIR), -EBUSY);
    EXPECT_EQ(client_->UnlinkAt(kCwdHandle, ".", AT_REMOVEDIR), -EINVAL);
    EXPECT_EQ(client_->UnlinkAt(kCwdHandle, "sub/..", AT_REMOVEDIR), -ENOTEMPTY);
    EXPECT_EQ(client_->UnlinkAt(kCwdHandle, "sub", 0x1), -EINVAL);
    EXPECT_EQ(client_->UnlinkAt(kCwdHandle, "link", 0), 0);  // removes the link, not its target
    EXPECT_TRUE(Exists(root_ + "/hello.txt"));
    ASSERT_EQ(mkdir((root_ + "/empty").c_str(), 0755), 0);
    EXPECT_EQ(client_->UnlinkAt(kCwdHandle, "empty/", AT_REMOVEDIR), 0);
    EXPECT_FALSE(Exists(root_ + "/empty"));
}

TEST_P(FileClientTest, RenameAt2) {
    EXPECT_EQ(client_->RenameAt2(kCwdHandle, "hello.txt", kCwdHandle, "sub/moved.txt", 0), 0);
    EXPECT_FALSE(Exists(root_ + "/hello.txt"));
    EXPECT_EQ(ReadFile(root_ + "/sub/moved.txt"), "hello, world\n");
    EXPECT_EQ(client_->RenameAt2(kCwdHandle, "sub/moved.txt", kCwdHandle, "sub/inner.txt",
                                 RENAME_NOREPLACE),
              -EEXIST);
    EXPECT_EQ(client_->RenameAt2(kCwdHandle, "sub/moved.txt", kCwdHandle, "sub/inner.txt",
                                 RENAME_EXCHANGE),
              0);
    EXPECT_EQ(ReadFile(root_ + "/sub/inner.txt"), "hello, world\n");
    EXPECT_EQ(client_->RenameAt2(kCwdHandle, "nope", kCwdHandle, "x", 0), -ENOENT);
    EXPECT_EQ(client_->RenameAt2(kCwdHandle, "/", kCwdHandle, "x", 0), -EBUSY);
    EXPECT_EQ(client_->RenameAt2(kCwdHandle, "sub", kCwdHandle, "sub/deeper", 0), -EINVAL);
    EXPECT_EQ(client_->RenameAt2(kCwdHandle, "sub/inner.txt/", kCwdHandle, "y", 0), -ENOTDIR);
    EXPECT_EQ(client_->RenameAt2(kCwdHandle, "sub", kCwdHandle, "x", RENAME_WHITEOUT), -EINVAL);

    int64_t sub = Open("/sub", O_RDONLY | O_DIRECTORY);
    ASSERT_GE(sub, 0);
    EXPECT_EQ(client_->RenameAt2(static_cast<transport::Handle>(sub), "inner.txt", kCwdHandle,
                                 "back.txt", 0),
              0);
    EXPECT_TRUE(Exists(root_ + "/back.txt"));
}

TEST_P(FileClientTest, FaccessAt) {
    EXPECT_EQ(client_->FaccessAt(kCwdHandle, "hello.txt", F_OK, 0), 0);
    EXPECT_EQ(client_->FaccessAt(kCwdHandle, "hello.txt", R_OK | W_OK, 0), 0);
    EXPECT_EQ(client_->FaccessAt(kCwdHandle, "nope", F_OK, 0), -ENOENT);
    EXPECT_EQ(client_->FaccessAt(kCwdHandle, "link", F_OK, AT_SYMLINK_NOFOLLOW), 0);
    EXPECT_EQ(client_->FaccessAt(kCwdHandle, "hello.txt", 8, 0), -EINVAL);
    EXPECT_EQ(client_->FaccessAt(kCwdHandle, "hello.txt", F_OK, 0x1), -EINVAL);
    WriteFile(root_ + "/dangling-target-missing", "");
    ASSERT_EQ(symlink("/missing", (root_ + "/dangling").c_str()), 0);
    EXPECT_EQ(client_->FaccessAt(kCwdHandle, "dangling", F_OK, 0), -ENOENT);
    EXPECT_EQ(client_->FaccessAt(kCwdHandle, "dangling", F_OK, AT_SYMLINK_NOFOLLOW), 0);
}

TEST_P(FileClientTest, FcntlStatusFlags) {
    int64_t h = Open("/hello.txt", O_RDWR);
    ASSERT_GE(h, 0);
    auto fh = static_cast<transport::Handle>(h);
    int64_t fl = client_->Fcntl(fh, F_GETFL, 0);
    ASSERT_GE(fl, 0);
    EXPECT_EQ(fl & O_ACCMODE, O_RDWR);
    EXPECT_EQ(fl & O_NONBLOCK, 0);  // the server's own O_NONBLOCK does not show
    EXPECT_EQ(client_->Fcntl(fh, F_SETFL, O_APPEND), 0);
    EXPECT_NE(client_->Fcntl(fh, F_GETFL, 0) & O_APPEND, 0);
    EXPECT_EQ(client_->Write(fh, Bytes("+")), 1);
    EXPECT_EQ(ReadFile(root_ + "/hello.txt"), "hello, world\n+");
    EXPECT_EQ(client_->Fcntl(fh, F_SETFD, FD_CLOEXEC), -EINVAL);
}

TEST_P(FileClientTest, FtruncateAndFsync) {
    int64_t h = Open("/hello.txt", O_RDWR);
    ASSERT_GE(h, 0);
    EXPECT_EQ(client_->Ftruncate(static_cast<transport::Handle>(h), 5), 0);
    EXPECT_EQ(ReadFile(root_ + "/hello.txt"), "hello");
    EXPECT_EQ(client_->Ftruncate(static_cast<transport::Handle>(h), -1), -EINVAL);
    EXPECT_EQ(client_->Fsync(static_cast<transport::Handle>(h)), 0);
    EXPECT_EQ(client_->Fsync(55), -EBADF);
}

TEST_P(FileClientTest, GetcwdAndChdir) {
    std::vector<std::byte> buf(256);
    EXPECT_EQ(client_->Getcwd(buf), 2);
    EXPECT_EQ(Str(buf, 2), std::string("/\0", 2));
    EXPECT_EQ(client_->ChdirAt(kCwdHandle, "sub"), 0);
    EXPECT_EQ(client_->Getcwd(buf), 5);
    EXPECT_STREQ(reinterpret_cast<const char*>(buf.data()), "/sub");
    std::vector<std::byte> small(4);
    EXPECT_EQ(client_->Getcwd(small), -ERANGE);

    // Relative paths now start in /sub.
    int64_t h = Open("inner.txt", O_RDONLY);
    ASSERT_GE(h, 0);
    EXPECT_EQ(ReadAll(static_cast<transport::Handle>(h)), "inner");
    EXPECT_EQ(client_->MkdirAt(kCwdHandle, "made-here", 0755), 0);
    EXPECT_TRUE(Exists(root_ + "/sub/made-here"));

    EXPECT_EQ(client_->ChdirAt(kCwdHandle, ".."), 0);
    EXPECT_EQ(client_->Getcwd(buf), 2);
    EXPECT_EQ(client_->ChdirAt(kCwdHandle, "hello.txt"), -ENOTDIR);
    EXPECT_EQ(client_->ChdirAt(kCwdHandle, "nope"), -ENOENT);
    EXPECT_EQ(client_->ChdirAt(kCwdHandle, ""), -ENOENT);

    // fchdir.
    int64_t d = Open("/sub/made-here", O_RDONLY | O_DIRECTORY);
    ASSERT_GE(d, 0);
    EXPECT_EQ(client_->ChdirAt(static_cast<transport::Handle>(d), ""), 0);
    EXPECT_EQ(client_->Getcwd(buf), 15);
    EXPECT_STREQ(reinterpret_cast<const char*>(buf.data()), "/sub/made-here");
    EXPECT_EQ(client_->ChdirAt(static_cast<transport::Handle>(h), ""), -ENOTDIR);
}

TEST_P(FileClientTest, RemovedWorkingDirectory) {
    ASSERT_EQ(mkdir((root_ + "/gone").c_str(), 0755), 0);
    EXPECT_EQ(client_->ChdirAt(kCwdHandle, "/gone"), 0);
    ASSERT_EQ(rmdir((root_ + "/gone").c_str()), 0);
    std::vector<std::byte> buf(256);
    EXPECT_EQ(client_->Getcwd(buf), -ENOENT);
    EXPECT_EQ(Open("x", O_RDONLY | O_CREAT, 0644), -ENOENT);
    EXPECT_EQ(Open("/hello.txt", O_RDONLY) >= 0, true);
}

TEST_P(FileClientTest, OpenRelativeToDirectoryHandle) {
    int64_t d = Open("/sub", O_RDONLY | O_DIRECTORY);
    ASSERT_GE(d, 0);
    int64_t h = client_->OpenAt(static_cast<transport::Handle>(d), "inner.txt", O_RDONLY, 0);
    ASSERT_GE(h, 0);
    EXPECT_EQ(ReadAll(static_cast<transport::Handle>(h)), "inner");
    int64_t up = client_->OpenAt(static_cast<transport::Handle>(d), "../hello.txt", O_RDONLY, 0);
    ASSERT_GE(up, 0);
    EXPECT_EQ(ReadAll(static_cast<transport::Handle>(up)), "hello, world\n");
    EXPECT_EQ(client_->OpenAt(static_cast<transport::Handle>(h), "x", O_RDONLY, 0), -ENOTDIR);
    EXPECT_EQ(client_->OpenAt(12345, "x", O_RDONLY, 0), -EBADF);
    EXPECT_EQ(client_->OpenAt(-7, "x", O_RDONLY, 0), -EBADF);
}

TEST_P(FileClientTest, HandleTableIsBounded) {
    std::vector<int64_t> handles;
    for (size_t i = 0; i < kMaxHandlesPerSession; ++i) {
        int64_t h = Open("/hello.txt", O_RDONLY);
        ASSERT_GE(h, 0) << "i=" << i;
        handles.push_back(h);
    }
    EXPECT_EQ(Open("/hello.txt", O_RDONLY), -EMFILE);
    // A full table must not leave a created file behind.
    EXPECT_EQ(Open("/created", O_WRONLY | O_CREAT, 0644), -EMFILE);
    EXPECT_FALSE(Exists(root_ + "/created"));
    EXPECT_EQ(client_->Close(static_cast<transport::Handle>(handles[17])), 0);
    EXPECT_EQ(Open("/hello.txt", O_RDONLY), handles[17]);  // lowest free number is reused
}

TEST_P(FileClientTest, OpenPathHandles) {
    int64_t h = Open("/hello.txt", O_PATH | O_RDWR | O_TRUNC);  // extra flags ignored, as open(2)
    ASSERT_GE(h, 0);
    std::vector<std::byte> buf(4);
    EXPECT_EQ(client_->Read(static_cast<transport::Handle>(h), buf), -EBADF);
    EXPECT_EQ(ReadFile(root_ + "/hello.txt"), "hello, world\n");
    struct stat st;
    EXPECT_EQ(client_->Fstat(static_cast<transport::Handle>(h), &st), 0);
    EXPECT_EQ(st.st_size, 13);
}

TEST_P(FileClientTest, FifoIsRefusedWithoutBlocking) {
    ASSERT_EQ(mkfifo((root_ + "/fifo").c_str(), 0644), 0);
    EXPECT_EQ(Open("/fifo", O_RDONLY), -ENXIO);
    EXPECT_EQ(Open("/fifo", O_WRONLY), -ENXIO);
    EXPECT_GE(Open("/fifo", O_PATH), 0);
}

TEST_P(FileClientTest, UnknownFlagBitsAreIgnoredLikeOpenat) {
    int64_t h = Open("/hello.txt", O_RDONLY | 0x40000000);
    EXPECT_GE(h, 0);
}

TEST_P(FileClientTest, LongPathsAreRefusedClientSide) {
    std::string long_path(PATH_MAX, 'a');
    EXPECT_EQ(Open(long_path, O_RDONLY), -ENAMETOOLONG);
    EXPECT_EQ(Open(std::string("/hello.txt\0x", 12), O_RDONLY), -EINVAL);
    std::string long_name = "/" + std::string(NAME_MAX + 1, 'n');
    EXPECT_EQ(Open(long_name, O_RDONLY), -ENAMETOOLONG);
}

INSTANTIATE_TEST_SUITE_P(Links, FileClientTest,
                         ::testing::Values(LinkKind::kInProcess, LinkKind::kSocketStream),
                         testing::LinkKindName);

// ---------------------------------------------------------------------------------------------
// Sessions, control calls, counters.

class ServerTest : public ::testing::TestWithParam<LinkKind> {
protected:
    void SetUp() override {
        tenants_ = dir_.path() + "/tenants";
        ASSERT_EQ(mkdir(tenants_.c_str(), 0755), 0);
        for (const char* t : {"alpha", "beta", "gamma-1"}) {
            ASSERT_EQ(mkdir((tenants_ + "/" + t).c_str(), 0755), 0);
        }
        WriteFile(tenants_ + "/not-a-dir", "");
        ASSERT_EQ(mkdir((tenants_ + "/Bad.Name").c_str(), 0755), 0);
    }

    TempDir dir_;
    std::string tenants_;
};

TEST_P(ServerTest, UnknownTenantIsEnoent) {
    auto [c, s] = testing::MakeLinks(GetParam());
    ServerThread server(tenants_, std::move(s));
    Result<std::unique_ptr<FileClient>> client = FileClient::Open(std::move(c), 1, "nobody");
    ASSERT_FALSE(client.ok());
    EXPECT_EQ(client.error().err(), ENOENT);
}

TEST_P(ServerTest, FileAsTenantIsEnoent) {
    auto [c, s] = testing::MakeLinks(GetParam());
    ServerThread server(tenants_, std::move(s));
    Result<std::unique_ptr<FileClient>> client = FileClient::Open(std::move(c), 1, "not-a-dir");
    ASSERT_FALSE(client.ok());
    EXPECT_EQ(client.error().err(), ENOENT);
}

TEST_P(ServerTest, HelloListShutdown) {
    auto [c, s] = testing::MakeLinks(GetParam());
    ServerThread server(tenants_, std::move(s));
    Result<transport::HelloInfo> hello = transport::Hello(*c, 1);
    ASSERT_TRUE(hello.ok()) << hello.error().ToString();
    EXPECT_EQ(hello->version, transport::kAbiVersion);
    EXPECT_EQ(hello->max_payload, transport::kMaxPayload);
    EXPECT_EQ(hello->max_data, transport::kMaxData);
    EXPECT_EQ(hello->description, "twinwall io-server");

    Result<std::vector<std::string>> tenants = transport::ListTenants(*c, 2);
    ASSERT_TRUE(tenants.ok());
    EXPECT_EQ(*tenants, (std::vector<std::string>{"alpha", "beta", "gamma-1"}));

    EXPECT_FALSE(server.server().shutdown_requested());
    ASSERT_TRUE(transport::Shutdown(*c, 3).ok());
    server.Join();
    EXPECT_TRUE(server.result().ok());
    EXPECT_TRUE(server.server().shutdown_requested());
    EXPECT_EQ(server.server().RequestCount(static_cast<uint16_t>(transport::MsgType::kHello)), 1u);
}

TEST_P(ServerTest, SessionsAreIndependentAndFreedWhenThePeerGoes) {
    WriteFile(tenants_ + "/alpha/a", "A");
    WriteFile(tenants_ + "/beta/b", "B");
    auto count_fds = [] {
        size_t n = 0;
        for (auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
            (void)e;
            ++n;
        }
        return n;
    };
    size_t before = count_fds();
    {
        auto [c1, s1] = testing::MakeLinks(GetParam());
        ServerThread server(tenants_, std::move(s1));
        auto a = FileClient::Open(std::move(c1), 7, "alpha");
        ASSERT_TRUE(a.ok());
        for (int i = 0; i < 50; ++i) {
            ASSERT_GE((*a)->OpenAt(kCwdHandle, "/a", O_RDONLY, 0), 0);
        }
        EXPECT_EQ((*a)->OpenAt(kCwdHandle, "/b", O_RDONLY, 0), -ENOENT);
        EXPECT_GE(count_fds(), before + 50);
        a->reset();  // closes the link; the server frees the session and returns
        server.Join();
        EXPECT_TRUE(server.result().ok());
        EXPECT_EQ(server.server().RequestCount(static_cast<uint16_t>(transport::MsgType::kOpenAt)),
                  51u);
    }
    EXPECT_EQ(count_fds(), before);
}

INSTANTIATE_TEST_SUITE_P(Links, ServerTest,
                         ::testing::Values(LinkKind::kInProcess, LinkKind::kSocketStream),
                         testing::LinkKindName);

}  // namespace
}  // namespace tw::system_vm
