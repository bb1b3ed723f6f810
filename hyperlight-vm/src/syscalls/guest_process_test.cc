#include "syscalls/guest_process.h"

#include <asm/unistd_64.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spdlog/sinks/ostream_sink.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "system_vm/io_server.h"
#include "transport/link.h"
#include "x86_64/layout.h"

namespace tw::hyperlight {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMemory = 32ull << 20;

class FakeCpu final : public CpuAccess {
public:
    Result<uint64_t> GetSegmentBase(bool gs) override { return gs ? gs_ : fs_; }
    Result<void> SetSegmentBase(bool gs, uint64_t base) override {
        (gs ? gs_ : fs_) = base;
        return Ok();
    }
    uint64_t fs_ = 0;
    uint64_t gs_ = 0;
};

// A GuestProcess wired to a real I/O server on a temporary tenant, with 1 MiB of user memory
// mapped at kBuf for arguments.
class GuestProcessTest : public ::testing::Test {
protected:
    static constexpr uint64_t kBuf = 0x10000000;

    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("tw-guest-process-" + std::to_string(getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_ / "t/data");
        std::ofstream(dir_ / "t/data/f.txt") << "0123456789abcdef";

        auto [client_end, server_end] = transport::MakeInProcessPair();
        server_link_ = std::move(server_end);
        server_ = std::make_unique<system_vm::IoServer>(dir_.string());
        server_thread_ = std::thread([this] { (void)server_->Serve(*server_link_); });
        auto client = transport::FileClient::Open(std::move(client_end), 1, "t");
        ASSERT_TRUE(client.ok()) << client.error().ToString();
        client_ = std::move(*client);

        auto mem = GuestMemory::Create(kMemory);
        ASSERT_TRUE(mem.ok());
        memory_.emplace(std::move(*mem));
        mm_ = std::make_unique<MemoryManager>(*memory_, GuestPhysAddr(layout::kPml4Gpa),
                                              GuestPhysAddr(layout::kFramePoolGpa),
                                              GuestPhysAddr(kMemory));
        ASSERT_EQ(mm_->Mmap(kBuf, 1 << 20, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
                  static_cast<int64_t>(kBuf));
        process_ = std::make_unique<GuestProcess>(*mm_, *client_, cpu_, ProcessIdentity{});
    }

    void TearDown() override {
        process_.reset();
        client_.reset();
        if (server_link_) {
            server_link_->Close();
        }
        if (server_thread_.joinable()) {
            server_thread_.join();
        }
        fs::remove_all(dir_);
    }

    int64_t Call(uint64_t nr, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0,
                 uint64_t a4 = 0, uint64_t a5 = 0) {
        return process_->Dispatch(nr, {a0, a1, a2, a3, a4, a5});
    }
    // Puts a NUL-terminated string in user memory and returns its address.
    uint64_t Str(const std::string& s, uint64_t offset = 0) {
        uint64_t at = kBuf + offset;
        EXPECT_TRUE(
            mm_->CopyToUser(GuestVirtAddr(at), std::as_bytes(std::span(s.c_str(), s.size() + 1)))
                .ok());
        return at;
    }
    std::string Read(uint64_t at, size_t len) {
        std::string s(len, '\0');
        EXPECT_TRUE(
            mm_->CopyFromUser(GuestVirtAddr(at), std::as_writable_bytes(std::span(s))).ok());
        return s;
    }

    fs::path dir_;
    std::unique_ptr<transport::Link> server_link_;
    std::unique_ptr<system_vm::IoServer> server_;
    std::thread server_thread_;
    std::unique_ptr<transport::FileClient> client_;
    std::optional<GuestMemory> memory_;
    std::unique_ptr<MemoryManager> mm_;
    FakeCpu cpu_;
    std::unique_ptr<GuestProcess> process_;
};

TEST_F(GuestProcessTest, DupSharesTheFileOffset) {
    int64_t fd = Call(__NR_openat, static_cast<uint64_t>(AT_FDCWD), Str("/data/f.txt"), O_RDONLY);
    ASSERT_GE(fd, 3);
    int64_t dup = Call(__NR_dup, fd);
    ASSERT_GT(dup, fd);
    EXPECT_EQ(Call(__NR_read, fd, kBuf + 0x1000, 4), 4);
    EXPECT_EQ(Call(__NR_read, dup, kBuf + 0x2000, 4), 4);
    EXPECT_EQ(Read(kBuf + 0x2000, 4), "4567");
    EXPECT_EQ(Call(__NR_close, fd), 0);
    EXPECT_EQ(Call(__NR_read, dup, kBuf + 0x2000, 4), 4);  // still open through the dup
    EXPECT_EQ(Read(kBuf + 0x2000, 4), "89ab");
    EXPECT_EQ(Call(__NR_close, fd), -EBADF);
}

TEST_F(GuestProcessTest, CloexecBelongsToTheFd) {
    int64_t fd =
        Call(__NR_openat, static_cast<uint64_t>(AT_FDCWD), Str("data/f.txt"), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 3);
    EXPECT_EQ(Call(__NR_fcntl, fd, F_GETFD), FD_CLOEXEC);
    int64_t copy = Call(__NR_fcntl, fd, F_DUPFD, 10);
    EXPECT_EQ(copy, 10);
    EXPECT_EQ(Call(__NR_fcntl, copy, F_GETFD), 0);
    EXPECT_EQ(Call(__NR_dup3, fd, 20, O_CLOEXEC), 20);
    EXPECT_EQ(Call(__NR_fcntl, 20, F_GETFD), FD_CLOEXEC);
    EXPECT_EQ(Call(__NR_dup3, fd, fd, 0), -EINVAL);
    EXPECT_EQ(Call(__NR_dup2, fd, fd), fd);
    EXPECT_EQ(Call(__NR_dup2, 999, 5), -EBADF);
}

TEST_F(GuestProcessTest, UmaskAppliesToCreatedFiles) {
    EXPECT_EQ(Call(__NR_umask, 077), 022);
    int64_t fd = Call(__NR_openat, static_cast<uint64_t>(AT_FDCWD), Str("data/new.txt"),
                      O_CREAT | O_WRONLY, 0666);
    ASSERT_GE(fd, 3);
    EXPECT_EQ(Call(__NR_mkdirat, static_cast<uint64_t>(AT_FDCWD), Str("data/dir"), 0777), 0);
    struct stat st {};
    ASSERT_EQ(stat((dir_ / "t/data/new.txt").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(stat((dir_ / "t/data/dir").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(GuestProcessTest, VectorIoAcrossNonAdjacentFrames) {
    // Two pages mapped separately so their frames are not adjacent: the bounce path.
    uint64_t a = kBuf + 0x10000;
    int64_t fd = Call(__NR_openat, static_cast<uint64_t>(AT_FDCWD), Str("data/out.bin"),
                      O_CREAT | O_RDWR, 0600);
    ASSERT_GE(fd, 3);
    std::string payload(9000, 'x');
    for (size_t i = 0; i < payload.size(); ++i) {
        payload[i] = static_cast<char>('a' + i % 26);
    }
    ASSERT_TRUE(mm_->CopyToUser(GuestVirtAddr(a + 100), std::as_bytes(std::span(payload))).ok());
    uint64_t iov[4] = {a + 100, 5000, a + 5100, 4000};
    ASSERT_TRUE(mm_->CopyToUser(GuestVirtAddr(kBuf + 0x8000), std::as_bytes(std::span(iov))).ok());
    EXPECT_EQ(Call(__NR_writev, fd, kBuf + 0x8000, 2), 9000);
    EXPECT_EQ(Call(__NR_pread64, fd, kBuf + 0x20000 + 7, 9000, 0), 9000);
    EXPECT_EQ(Read(kBuf + 0x20000 + 7, 9000), payload);
    EXPECT_EQ(Call(__NR_lseek, fd, 0, SEEK_END), 9000);
    EXPECT_EQ(Call(__NR_writev, fd, kBuf + 0x8000, 2000), -EINVAL);
    EXPECT_EQ(Call(__NR_writev, fd, 0x10, 1), -EFAULT);
}

TEST_F(GuestProcessTest, StatAndPathErrors) {
    uint64_t st = kBuf + 0x30000;
    EXPECT_EQ(Call(__NR_newfstatat, static_cast<uint64_t>(AT_FDCWD), Str("data/f.txt"), st, 0), 0);
    struct stat s {};
    ASSERT_TRUE(
        mm_->CopyFromUser(GuestVirtAddr(st), std::as_writable_bytes(std::span(&s, 1))).ok());
    EXPECT_EQ(s.st_size, 16);
    EXPECT_EQ(Call(__NR_newfstatat, static_cast<uint64_t>(AT_FDCWD), Str(""), st, 0), -ENOENT);
    EXPECT_EQ(Call(__NR_newfstatat, static_cast<uint64_t>(AT_FDCWD), Str("x"), st, 0x4000000),
              -EINVAL);
    EXPECT_EQ(Call(__NR_stat, 0x10, st), -EFAULT);
    EXPECT_EQ(Call(__NR_stat, Str(std::string(5000, 'a')), st), -ENAMETOOLONG);
    int64_t fd = Call(__NR_openat, static_cast<uint64_t>(AT_FDCWD), Str("data"), O_RDONLY);
    ASSERT_GE(fd, 3);
    EXPECT_EQ(Call(__NR_newfstatat, fd, Str("f.txt"), st, 0), 0);
    EXPECT_EQ(Call(__NR_newfstatat, fd, Str(""), st, AT_EMPTY_PATH), 0);
    EXPECT_EQ(Call(__NR_newfstatat, 1, Str("f.txt"), st, 0), -ENOTDIR);
    EXPECT_EQ(Call(__NR_newfstatat, 77, Str("f.txt"), st, 0), -EBADF);
    EXPECT_EQ(Call(__NR_newfstatat, 77, Str("/data/f.txt"), st, 0), 0);  // absolute: ignored
}

TEST_F(GuestProcessTest, StdioIsNotSeekableOrADirectory) {
    EXPECT_EQ(Call(__NR_lseek, 1, 0, SEEK_CUR), -ESPIPE);
    EXPECT_EQ(Call(__NR_pread64, 0, kBuf, 1, 0), -ESPIPE);
    EXPECT_EQ(Call(__NR_getdents64, 1, kBuf, 4096), -ENOTDIR);
    EXPECT_EQ(Call(__NR_ioctl, 1, 0x12345678, kBuf), -ENOTTY);
    int64_t fd = Call(__NR_openat, static_cast<uint64_t>(AT_FDCWD), Str("data/f.txt"), O_RDONLY);
    EXPECT_EQ(Call(__NR_ioctl, fd, TCGETS, kBuf), -ENOTTY);
}

TEST_F(GuestProcessTest, SignalStateIsRecordedAndReturned) {
    uint64_t act = kBuf + 0x40000, old = kBuf + 0x40100;
    uint64_t handler[4] = {0x401234, 0x04000000, 0x405678, 0x5};
    ASSERT_TRUE(mm_->CopyToUser(GuestVirtAddr(act), std::as_bytes(std::span(handler))).ok());
    EXPECT_EQ(Call(__NR_rt_sigaction, SIGUSR1, act, 0, 8), 0);
    EXPECT_EQ(Call(__NR_rt_sigaction, SIGUSR1, 0, old, 8), 0);
    EXPECT_EQ(Read(old, 32), Read(act, 32));
    EXPECT_EQ(Call(__NR_rt_sigaction, SIGKILL, act, 0, 8), -EINVAL);
    EXPECT_EQ(Call(__NR_rt_sigaction, SIGUSR1, act, 0, 4), -EINVAL);
    uint64_t set = 1ull << (SIGINT - 1) | 1ull << (SIGKILL - 1);
    ASSERT_TRUE(mm_->CopyToUser(GuestVirtAddr(act), std::as_bytes(std::span(&set, 1))).ok());
    EXPECT_EQ(Call(__NR_rt_sigprocmask, SIG_BLOCK, act, 0, 8), 0);
    EXPECT_EQ(Call(__NR_rt_sigprocmask, SIG_BLOCK, 0, old, 8), 0);
    uint64_t back = 0;
    ASSERT_TRUE(
        mm_->CopyFromUser(GuestVirtAddr(old), std::as_writable_bytes(std::span(&back, 1))).ok());
    EXPECT_EQ(back, 1ull << (SIGINT - 1));  // SIGKILL cannot be blocked
}

TEST_F(GuestProcessTest, ArchPrctlUsesTheVcpu) {
    EXPECT_EQ(Call(__NR_arch_prctl, 0x1002, 0x7000000), 0);
    EXPECT_EQ(cpu_.fs_, 0x7000000u);
    EXPECT_EQ(Call(__NR_arch_prctl, 0x1003, kBuf), 0);
    uint64_t fs_base = 0;
    ASSERT_TRUE(
        mm_->CopyFromUser(GuestVirtAddr(kBuf), std::as_writable_bytes(std::span(&fs_base, 1)))
            .ok());
    EXPECT_EQ(fs_base, 0x7000000u);
    EXPECT_EQ(Call(__NR_arch_prctl, 0x1002, 0xffff800000000000), -EPERM);
    EXPECT_EQ(Call(__NR_arch_prctl, 0x9999, 0), -EINVAL);
    EXPECT_EQ(Call(__NR_arch_prctl, 0x1003, 0x10), -EFAULT);
}

TEST_F(GuestProcessTest, ExitAndFatalSignalsEndTheProcess) {
    EXPECT_FALSE(process_->termination().has_value());
    EXPECT_EQ(Call(__NR_kill, 1, 0), 0);
    EXPECT_EQ(Call(__NR_kill, 2, SIGTERM), -ESRCH);
    EXPECT_EQ(Call(__NR_kill, 1, SIGCHLD), 0);  // ignored by default
    EXPECT_FALSE(process_->termination().has_value());
    EXPECT_EQ(Call(__NR_exit_group, 0x1234), 0);
    ASSERT_TRUE(process_->termination().has_value());
    EXPECT_EQ(process_->termination()->kind, Termination::Kind::kExited);
    EXPECT_EQ(process_->termination()->code, 0x34);
}

TEST_F(GuestProcessTest, UnknownCallsAreEnosys) {
    EXPECT_EQ(Call(__NR_fork), -ENOSYS);
    EXPECT_EQ(Call(100000), -ENOSYS);
    EXPECT_EQ(Call(~0ull), -ENOSYS);
}

// Hostile call pages: every call number with random arguments, memory calls included (a
// guest kernel that was taken over can send anything). The VMM must only ever answer.
// Linux copies to the buffer as it reads, so a read into a bad buffer consumes only what it
// could deliver: EFAULT and nothing when the first byte is bad, else a short count.
TEST_F(GuestProcessTest, ReadIntoABadBufferConsumesNothingItCannotDeliver) {
    std::string big(64 << 10, '\0');
    for (size_t i = 0; i < big.size(); ++i) {
        big[i] = static_cast<char>('a' + i % 26 + (i / 26) % 3);
    }
    std::ofstream(dir_ / "t/data/big.bin", std::ios::binary) << big;
    int64_t fd = Call(__NR_openat, static_cast<uint64_t>(AT_FDCWD), Str("data/big.bin"), O_RDONLY);
    ASSERT_GE(fd, 3);
    auto offset = [&] { return Call(__NR_lseek, fd, 0, SEEK_CUR); };
    uint64_t ro = kBuf + 0x40000;
    ASSERT_EQ(mm_->Mprotect(ro, 4 * kPageSize, PROT_READ), 0);

    EXPECT_EQ(Call(__NR_read, fd, ro, 4096), -EFAULT);
    EXPECT_EQ(offset(), 0);
    EXPECT_EQ(Call(__NR_read, fd, ro - 100, 4096), 100);
    EXPECT_EQ(Read(ro - 100, 100), big.substr(0, 100));
    EXPECT_EQ(offset(), 100);
    // A large read stops at the read-only pages too.
    EXPECT_EQ(Call(__NR_read, fd, ro - 0x8000, 1 << 20), 0x8000);
    EXPECT_EQ(Read(ro - 0x8000, 0x8000), big.substr(100, 0x8000));
    EXPECT_EQ(offset(), 100 + 0x8000);
    // And at an unmapped page.
    uint64_t hole = kBuf + 0x60000;
    ASSERT_EQ(mm_->Munmap(hole, kPageSize), 0);
    EXPECT_EQ(Call(__NR_read, fd, hole, 10), -EFAULT);
    EXPECT_EQ(Call(__NR_read, fd, hole - 10, 100), 10);
    EXPECT_EQ(offset(), 110 + 0x8000);

    // readv stops at the first bad iovec; preadv and pread read at their offset.
    uint64_t good = kBuf + 0x1000;
    uint64_t iov[4] = {good, 5, ro, 5};
    ASSERT_TRUE(mm_->CopyToUser(GuestVirtAddr(kBuf + 0x100), std::as_bytes(std::span(iov))).ok());
    ASSERT_EQ(Call(__NR_lseek, fd, 0, SEEK_SET), 0);
    EXPECT_EQ(Call(__NR_readv, fd, kBuf + 0x100, 2), 5);
    EXPECT_EQ(offset(), 5);
    EXPECT_EQ(Call(__NR_readv, fd, kBuf + 0x110, 1), -EFAULT);
    EXPECT_EQ(Call(__NR_preadv, fd, kBuf + 0x110, 1, 7), -EFAULT);
    EXPECT_EQ(Call(__NR_pread64, fd, ro, 10, 0), -EFAULT);
    EXPECT_EQ(Call(__NR_pread64, fd, ro - 3, 10, 40), 3);
    EXPECT_EQ(Read(ro - 3, 3), big.substr(40, 3));
    EXPECT_EQ(offset(), 5);

    // With nothing to deliver there is nothing to copy: 0 at end of file, and a read's own
    // error comes first.
    EXPECT_EQ(Call(__NR_pread64, fd, ro, 10, big.size()), 0);
    ASSERT_EQ(Call(__NR_lseek, fd, 0, SEEK_END), static_cast<int64_t>(big.size()));
    EXPECT_EQ(Call(__NR_read, fd, ro, 10), 0);
    int64_t dir = Call(__NR_openat, static_cast<uint64_t>(AT_FDCWD), Str("data"), O_RDONLY);
    ASSERT_GE(dir, 3);
    EXPECT_EQ(Call(__NR_read, dir, ro, 10), -EISDIR);
    int64_t wronly =
        Call(__NR_openat, static_cast<uint64_t>(AT_FDCWD), Str("data/f.txt"), O_WRONLY);
    ASSERT_GE(wronly, 3);
    EXPECT_EQ(Call(__NR_read, wronly, ro, 10), -EBADF);
}

// The same for standard input, here a pipe: the input stays in the pipe.
TEST_F(GuestProcessTest, StdinReadIntoABadBufferKeepsTheInput) {
    uint64_t ro = kBuf + 0x40000;
    ASSERT_EQ(mm_->Mprotect(ro, kPageSize, PROT_READ), 0);
    int pipe_fds[2];
    ASSERT_EQ(pipe(pipe_fds), 0);
    int saved_stdin = dup(0);
    ASSERT_GE(saved_stdin, 0);
    ASSERT_EQ(dup2(pipe_fds[0], 0), 0);
    close(pipe_fds[0]);
    auto feed = [&](const char* s) {
        ASSERT_EQ(write(pipe_fds[1], s, strlen(s)), static_cast<ssize_t>(strlen(s)));
    };

    feed("xyz");
    EXPECT_EQ(Call(__NR_read, 0, ro, 3), -EFAULT);
    EXPECT_EQ(Call(__NR_read, 0, kBuf + 0x1000, 3), 3);
    EXPECT_EQ(Read(kBuf + 0x1000, 3), "xyz");
    feed("uvw");
    EXPECT_EQ(Call(__NR_read, 0, ro - 2, 3), 2);
    EXPECT_EQ(Read(ro - 2, 2), "uv");
    EXPECT_EQ(Call(__NR_read, 0, kBuf + 0x1000, 3), 1);
    EXPECT_EQ(Read(kBuf + 0x1000, 1), "w");
    close(pipe_fds[1]);
    EXPECT_EQ(Call(__NR_read, 0, ro, 3), 0);  // end of input

    ASSERT_EQ(dup2(saved_stdin, 0), 0);
    close(saved_stdin);
}

// A program cycling through distinct unsupported codes gets a bounded number of log lines,
// and one saying the rest are not logged.
TEST_F(GuestProcessTest, UnsupportedCodesAreLoggedOnlyUpToACap) {
    std::shared_ptr<spdlog::logger> logger = Logger("vmm");
    std::ostringstream log;
    std::vector<spdlog::sink_ptr> saved_sinks = logger->sinks();
    logger->sinks() = {std::make_shared<spdlog::sinks::ostream_sink_st>(log)};
    for (uint64_t i = 0; i < 5000; ++i) {
        ASSERT_EQ(Call(__NR_ioctl, 1, 0x40000000 + i, 0), -ENOTTY);
        ASSERT_EQ(Call(__NR_fcntl, 1, 100000 + i, 0), -EINVAL);
        ASSERT_EQ(Call(100000 + i), -ENOSYS);
    }
    logger->sinks() = saved_sinks;

    auto count = [&](const std::string& needle) {
        size_t n = 0;
        for (size_t at = log.str().find(needle); at != std::string::npos;
             at = log.str().find(needle, at + 1)) {
            ++n;
        }
        return n;
    };
    EXPECT_EQ(count("ioctl request not supported") + count("fcntl command not supported"), 512u);
    EXPECT_EQ(count("system call not supported"), 512u);
    EXPECT_EQ(count("unsupported ioctl and fcntl codes logged; further ones are not logged"), 1u);
    EXPECT_EQ(count("unsupported system calls logged; further ones are not logged"), 1u);
}

TEST_F(GuestProcessTest, RandomCallsOnlyEverGetAnswers) {
    std::mt19937_64 rng(7);
    // Some arguments name real paths, so calls get as far as the I/O server.
    const uint64_t path_file = Str("/data/f.txt", 0x80000);
    const uint64_t path_dir = Str("data", 0x80100);
    const uint64_t path_new = Str("data/fuzz-new", 0x80200);
    const uint64_t path_escape = Str("../../../../etc/passwd", 0x80300);
    const uint64_t kInteresting[] = {path_file,
                                     path_dir,
                                     path_new,
                                     path_escape,
                                     3,
                                     4,
                                     0,
                                     1,
                                     ~0ull,
                                     kBuf,
                                     kBuf + 0xff000,
                                     layout::kCallPageGpa,
                                     0xffffffff80006000ull,
                                     0x7ffffffff000ull,
                                     1ull << 47,
                                     0x8000000000000000ull,
                                     static_cast<uint64_t>(AT_FDCWD)};
    for (int i = 0; i < 60000 && !process_->termination(); ++i) {
        uint64_t nr = rng() % 8 == 0 ? rng() : rng() % 460;
        if (nr == __NR_exit || nr == __NR_exit_group || nr == __NR_kill || nr == __NR_tkill ||
            nr == __NR_tgkill || nr == __NR_pause || nr == __NR_nanosleep ||
            nr == __NR_clock_nanosleep || nr == __NR_futex || nr == __NR_read || nr == __NR_readv ||
            nr == __NR_preadv || nr == __NR_write || nr == __NR_writev || nr == __NR_pwritev ||
            nr == __NR_sendfile) {
            continue;  // these end the run, block, or touch the test's own stdio
        }
        std::array<uint64_t, 6> args;
        for (uint64_t& a : args) {
            switch (rng() % 4) {
                case 0:
                    a = kInteresting[rng() % std::size(kInteresting)];
                    break;
                case 1:
                    a = rng() % 64;
                    break;
                case 2:
                    a = kBuf + rng() % (1 << 20);
                    break;
                default:
                    a = rng();
                    break;
            }
        }
        int64_t r = process_->Dispatch(nr, args);
        (void)r;
    }
    EXPECT_FALSE(process_->termination().has_value());
    EXPECT_GT(server_->RequestCount(static_cast<uint16_t>(transport::MsgType::kOpenAt)), 10u);
    // Nothing outside the tenant was touched, and the process still works afterwards (once
    // its argument buffer, which the random calls may have unmapped, is mapped again).
    EXPECT_FALSE(fs::exists(dir_ / "etc"));
    ASSERT_EQ(Call(__NR_mmap, kBuf, 1 << 20, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, ~0ull, 0),
              static_cast<int64_t>(kBuf));
    EXPECT_GE(Call(__NR_openat, static_cast<uint64_t>(AT_FDCWD), Str("/data/f.txt"), O_RDONLY), 0);
}

}  // namespace
}  // namespace tw::hyperlight
