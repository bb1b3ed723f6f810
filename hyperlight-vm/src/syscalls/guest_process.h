// GuestProcess: the Linux process the program believes it is, as served by the VMM.
//
// Dispatch() is the one function every forwarded system call passes through. It owns the
// process state the VMM keeps (fd table, umask, signal dispositions, limits, name) and uses
// the memory manager for memory calls and user pointers, and the FileClient for file calls.
// Results are what Linux returns: a value or -errno. Calls that end the program (exit, a fatal
// signal sent to itself, SIGPIPE) set termination().
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/log.h"
#include "hyperlight_vm/micro_vm.h"
#include "memory/memory_manager.h"
#include "syscalls/fd_table.h"
#include "syscalls/warn_once.h"
#include "transport/file_client.h"

namespace tw::hyperlight {

// The vCPU state a few calls need (FS/GS bases for arch_prctl).
class CpuAccess {
public:
    virtual ~CpuAccess() = default;
    virtual Result<uint64_t> GetSegmentBase(bool gs) = 0;
    virtual Result<void> SetSegmentBase(bool gs, uint64_t base) = 0;
};

struct ProcessIdentity {
    uint64_t pid = 1;
    uint64_t ppid = 0;
    uint64_t uid = 0, euid = 0, gid = 0, egid = 0;
};

class GuestProcess {
public:
    GuestProcess(MemoryManager& memory, transport::FileClient& files, CpuAccess& cpu,
                 const ProcessIdentity& identity);

    // Serves system call `nr` with `args`; returns the value for rax.
    int64_t Dispatch(uint64_t nr, const std::array<uint64_t, 6>& args);

    const std::optional<Termination>& termination() const { return termination_; }
    uint64_t calls_served() const { return calls_served_; }

private:
    // A guest buffer: address and length, as in a struct iovec.
    struct UserRange {
        uint64_t base;
        uint64_t len;
    };

    // Process, identity, limits, signals, time, randomness (process_calls.cc).
    int64_t Exit(uint64_t status);
    int64_t ArchPrctl(uint64_t code, uint64_t addr);
    int64_t Uname(uint64_t buf);
    int64_t Prlimit(uint64_t pid, uint64_t resource, uint64_t new_limit, uint64_t old_limit);
    int64_t Prctl(uint64_t option, uint64_t arg2);
    int64_t SigAction(uint64_t sig, uint64_t act, uint64_t oldact, uint64_t setsize);
    int64_t SigProcMask(uint64_t how, uint64_t set, uint64_t oldset, uint64_t setsize);
    int64_t SigAltStack(uint64_t ss, uint64_t old_ss);
    int64_t Kill(uint64_t pid, uint64_t sig);
    int64_t ClockGetTime(uint64_t clock, uint64_t tp, bool resolution);
    int64_t GetTimeOfDay(uint64_t tv, uint64_t tz);
    int64_t Time(uint64_t tloc);
    int64_t NanoSleep(uint64_t clock, uint64_t flags, uint64_t req, uint64_t rem);
    int64_t GetRandom(uint64_t buf, uint64_t len, uint64_t flags);
    int64_t SchedGetAffinity(uint64_t pid, uint64_t size, uint64_t mask);
    int64_t GetRusage(int32_t who, uint64_t usage);
    int64_t Futex(uint64_t uaddr, uint64_t op, uint64_t val, uint64_t timeout, uint64_t uaddr2,
                  uint64_t val3);

    // File calls (file_calls.cc).
    int64_t OpenAt(int64_t dirfd, uint64_t path, uint64_t flags, uint64_t mode);
    int64_t Close(int64_t fd);
    int64_t ReadV(int64_t fd, std::span<const UserRange> ranges, std::optional<int64_t> offset);
    int64_t WriteV(int64_t fd, std::span<const UserRange> ranges, std::optional<int64_t> offset);
    int64_t VectorIo(int64_t fd, uint64_t iov, uint64_t iovcnt, std::optional<int64_t> offset,
                     bool write);
    int64_t Lseek(int64_t fd, int64_t offset, uint64_t whence);
    int64_t Fstat(int64_t fd, uint64_t statbuf);
    int64_t StatAt(int64_t dirfd, uint64_t path, uint64_t statbuf, uint64_t flags);
    int64_t Statx(int64_t dirfd, uint64_t path, uint64_t flags, uint64_t mask, uint64_t buf);
    int64_t Getdents64(int64_t fd, uint64_t buf, uint64_t count);
    int64_t ReadlinkAt(int64_t dirfd, uint64_t path, uint64_t buf, uint64_t bufsiz);
    int64_t MkdirAt(int64_t dirfd, uint64_t path, uint64_t mode);
    int64_t UnlinkAt(int64_t dirfd, uint64_t path, uint64_t flags);
    int64_t RenameAt2(int64_t olddirfd, uint64_t oldpath, int64_t newdirfd, uint64_t newpath,
                      uint64_t flags);
    int64_t FaccessAt(int64_t dirfd, uint64_t path, uint64_t mode, uint64_t flags);
    int64_t Fcntl(int64_t fd, uint64_t cmd, uint64_t arg);
    int64_t Ioctl(int64_t fd, uint64_t request, uint64_t arg);
    int64_t Ftruncate(int64_t fd, int64_t length);
    int64_t Fsync(int64_t fd);
    int64_t Getcwd(uint64_t buf, uint64_t size);
    int64_t Chdir(uint64_t path);
    int64_t Fchdir(int64_t fd);
    int64_t Dup(int64_t fd);
    int64_t Dup3(int64_t oldfd, int64_t newfd, uint64_t flags, bool dup2);
    int64_t Umask(uint64_t mask);
    int64_t SendFile(int64_t out_fd, int64_t in_fd, uint64_t offset_ptr, uint64_t count);
    int64_t Fadvise(int64_t fd, uint64_t advice);
    int64_t UtimensAt(int64_t dirfd, uint64_t path, uint64_t times, uint64_t flags);

    // Helpers shared by the file calls.
    // Sets `out` to the server directory handle for a dirfd argument used with `path`
    // (absolute paths ignore it); returns 0 or -errno.
    int64_t DirHandle(int64_t dirfd, const std::string& path, transport::Handle& out);
    // Reads a path argument: -EFAULT, -ENAMETOOLONG, or 0 with `out` set.
    int64_t ReadPath(uint64_t user_path, std::string& out);
    int64_t StdioRead(OpenFile& file, std::span<const UserRange> ranges);
    int64_t StdioWrite(OpenFile& file, std::span<const UserRange> ranges);
    // A read whose destination's first byte is not writable. Linux only faults when it
    // copies, so this is 0 at end of file, the read's own error if it has one, and otherwise
    // EFAULT with no data consumed. `offset` is pread's.
    int64_t ReadIntoUnwritable(OpenFile& file, std::optional<int64_t> offset);
    int64_t HostStat(int host_fd, struct stat& st);
    int64_t CopyStatOut(const struct stat& st, uint64_t statbuf);
    // Writing to a closed pipe: SIGPIPE unless the program ignores it, then EPIPE.
    int64_t BrokenPipe();

    void Terminate(Termination::Kind kind, int code, std::string detail);
    int64_t Unsupported(uint64_t nr);
    // True the first time an unsupported ioctl request or fcntl command is seen, while fewer
    // than kMaxWarnedCodes were logged; logs once that the cap was reached.
    bool FirstUnsupportedIoctl(uint64_t code);

    // Distinct unsupported codes logged per kind before the VMM stops logging new ones.
    static constexpr size_t kMaxWarnedCodes = 512;

    MemoryManager& memory_;
    transport::FileClient& files_;
    CpuAccess& cpu_;
    ProcessIdentity identity_;
    FdTable fds_;
    uint32_t umask_ = 022;
    std::array<std::array<uint64_t, 4>, 64> sigactions_{};  // handler, flags, restorer, mask
    uint64_t sigmask_ = 0;
    std::array<uint64_t, 3> altstack_{0, 2 /* SS_DISABLE */, 0};  // sp, flags, size
    std::array<std::array<uint64_t, 2>, 16> rlimits_{};
    std::array<char, 16> name_{};
    std::optional<Termination> termination_;
    WarnOnce warned_calls_{kMaxWarnedCodes};
    WarnOnce warned_ioctls_{kMaxWarnedCodes};  // fcntl commands with bit 32 set
    uint64_t calls_served_ = 0;
    std::vector<std::byte> bounce_;
    std::shared_ptr<spdlog::logger> log_;
};

}  // namespace tw::hyperlight
