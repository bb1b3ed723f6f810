// GuestProcess::Dispatch: the single switch every forwarded system call passes through.
#include <asm/unistd_64.h>
#include <fcntl.h>

#include "syscalls/guest_process.h"
#include "syscalls/syscall_names.h"
#include "x86_64/layout.h"

namespace tw::hyperlight {

GuestProcess::GuestProcess(MemoryManager& memory, transport::FileClient& files, CpuAccess& cpu,
                           const ProcessIdentity& identity)
    : memory_(memory), files_(files), cpu_(cpu), identity_(identity), log_(Logger("vmm")) {
    for (int fd = 0; fd < 3; ++fd) {
        (void)fds_.Install(OpenFile::Stdio(fd), /*cloexec=*/false, fd);
    }
    constexpr uint64_t kInfinity = ~0ull;
    for (auto& limit : rlimits_) {
        limit = {kInfinity, kInfinity};
    }
    rlimits_[3] = {layout::kStackReserve, kInfinity};    // RLIMIT_STACK
    rlimits_[4] = {0, kInfinity};                        // RLIMIT_CORE
    rlimits_[7] = {FdTable::kMaxFds, FdTable::kMaxFds};  // RLIMIT_NOFILE
    rlimits_[8] = {8ull << 20, 8ull << 20};              // RLIMIT_MEMLOCK
    rlimits_[13] = {0, 0};                               // RLIMIT_NICE
    rlimits_[14] = {0, 0};                               // RLIMIT_RTPRIO
}

int64_t GuestProcess::Dispatch(uint64_t nr, const std::array<uint64_t, 6>& a) {
    ++calls_served_;
    // Per-tenant system call policy plugs in here: every call the guest kernel forwards passes
    // this point with its number and raw arguments, before any of them is interpreted.
    auto fd = [&](int i) { return static_cast<int64_t>(static_cast<int32_t>(a[i])); };
    auto sint = [&](int i) { return static_cast<int64_t>(a[i]); };

    switch (nr) {
        // Memory, served by the memory manager inside the micro-VM's VMM.
        case __NR_brk:
            return memory_.Brk(a[0]);
        case __NR_mmap:
            return memory_.Mmap(a[0], a[1], a[2], a[3], fd(4), a[5]);
        case __NR_munmap:
            return memory_.Munmap(a[0], a[1]);
        case __NR_mprotect:
            return memory_.Mprotect(a[0], a[1], a[2]);
        case __NR_madvise:
            return memory_.Madvise(a[0], a[1], a[2]);

        // Process state.
        case __NR_exit:
        case __NR_exit_group:
            return Exit(a[0]);
        case __NR_getpid:
        case __NR_gettid:
        case __NR_set_tid_address:
            return static_cast<int64_t>(identity_.pid);
        case __NR_getppid:
            return static_cast<int64_t>(identity_.ppid);
        case __NR_getuid:
            return static_cast<int64_t>(identity_.uid);
        case __NR_geteuid:
            return static_cast<int64_t>(identity_.euid);
        case __NR_getgid:
            return static_cast<int64_t>(identity_.gid);
        case __NR_getegid:
            return static_cast<int64_t>(identity_.egid);
        case __NR_set_robust_list:
            return a[1] == 24 ? 0 : -EINVAL;
        case __NR_rseq:
            return -ENOSYS;
        case __NR_sched_yield:
            return 0;
        case __NR_arch_prctl:
            return ArchPrctl(a[0], a[1]);
        case __NR_uname:
            return Uname(a[0]);
        case __NR_prlimit64:
            return Prlimit(a[0], a[1], a[2], a[3]);
        case __NR_getrlimit:
            return Prlimit(0, a[0], 0, a[1]);
        case __NR_setrlimit:
            return Prlimit(0, a[0], a[1], 0);
        case __NR_prctl:
            return Prctl(a[0], a[1]);
        case __NR_rt_sigaction:
            return SigAction(a[0], a[1], a[2], a[3]);
        case __NR_rt_sigprocmask:
            return SigProcMask(a[0], a[1], a[2], a[3]);
        case __NR_sigaltstack:
            return SigAltStack(a[0], a[1]);
        case __NR_kill:
            return Kill(a[0], a[1]);
        case __NR_tgkill:
            return a[0] == identity_.pid ? Kill(a[1], a[2]) : -ESRCH;
        case __NR_tkill:
            return Kill(a[0], a[1]);
        case __NR_clock_gettime:
            return ClockGetTime(a[0], a[1], /*resolution=*/false);
        case __NR_clock_getres:
            return ClockGetTime(a[0], a[1], /*resolution=*/true);
        case __NR_gettimeofday:
            return GetTimeOfDay(a[0], a[1]);
        case __NR_time:
            return Time(a[0]);
        case __NR_nanosleep:
            return NanoSleep(CLOCK_MONOTONIC, 0, a[0], a[1]);
        case __NR_clock_nanosleep:
            return NanoSleep(a[0], a[1], a[2], a[3]);
        case __NR_getgroups:
            // No supplementary groups; the size is checked as Linux does.
            return static_cast<int32_t>(a[0]) < 0 ? -EINVAL : 0;
        case __NR_sched_getaffinity:
            return SchedGetAffinity(a[0], a[1], a[2]);
        case __NR_getrusage:
            return GetRusage(static_cast<int32_t>(a[0]), a[1]);
        case __NR_getrandom:
            return GetRandom(a[0], a[1], a[2]);
        case __NR_futex:
            return Futex(a[0], a[1], a[2], a[3], a[4], a[5]);

        // Files, forwarded to the I/O server (the standard streams are relayed by the VMM).
        case __NR_openat:
            return OpenAt(fd(0), a[1], a[2], a[3]);
        case __NR_open:
            return OpenAt(AT_FDCWD, a[0], a[1], a[2]);
        case __NR_creat:
            return OpenAt(AT_FDCWD, a[0], O_CREAT | O_WRONLY | O_TRUNC, a[1]);
        case __NR_close:
            return Close(fd(0));
        case __NR_read: {
            UserRange r{a[1], a[2]};
            return ReadV(fd(0), std::span(&r, 1), std::nullopt);
        }
        case __NR_write: {
            UserRange r{a[1], a[2]};
            return WriteV(fd(0), std::span(&r, 1), std::nullopt);
        }
        case __NR_pread64: {
            UserRange r{a[1], a[2]};
            return sint(3) < 0 ? -EINVAL : ReadV(fd(0), std::span(&r, 1), sint(3));
        }
        case __NR_pwrite64: {
            UserRange r{a[1], a[2]};
            return sint(3) < 0 ? -EINVAL : WriteV(fd(0), std::span(&r, 1), sint(3));
        }
        case __NR_readv:
            return VectorIo(fd(0), a[1], a[2], std::nullopt, /*write=*/false);
        case __NR_writev:
            return VectorIo(fd(0), a[1], a[2], std::nullopt, /*write=*/true);
        case __NR_preadv:
            return sint(3) < 0 ? -EINVAL : VectorIo(fd(0), a[1], a[2], sint(3), false);
        case __NR_pwritev:
            return sint(3) < 0 ? -EINVAL : VectorIo(fd(0), a[1], a[2], sint(3), true);
        case __NR_lseek:
            return Lseek(fd(0), sint(1), a[2]);
        case __NR_fstat:
            return Fstat(fd(0), a[1]);
        case __NR_stat:
            return StatAt(AT_FDCWD, a[0], a[1], 0);
        case __NR_lstat:
            return StatAt(AT_FDCWD, a[0], a[1], AT_SYMLINK_NOFOLLOW);
        case __NR_newfstatat:
            return StatAt(fd(0), a[1], a[2], a[3]);
        case __NR_statx:
            return Statx(fd(0), a[1], a[2], a[3], a[4]);
        case __NR_getdents64:
            return Getdents64(fd(0), a[1], a[2]);
        case __NR_readlinkat:
            return ReadlinkAt(fd(0), a[1], a[2], a[3]);
        case __NR_readlink:
            return ReadlinkAt(AT_FDCWD, a[0], a[1], a[2]);
        case __NR_mkdirat:
            return MkdirAt(fd(0), a[1], a[2]);
        case __NR_mkdir:
            return MkdirAt(AT_FDCWD, a[0], a[1]);
        case __NR_unlinkat:
            return UnlinkAt(fd(0), a[1], a[2]);
        case __NR_unlink:
            return UnlinkAt(AT_FDCWD, a[0], 0);
        case __NR_rmdir:
            return UnlinkAt(AT_FDCWD, a[0], AT_REMOVEDIR);
        case __NR_renameat2:
            return RenameAt2(fd(0), a[1], fd(2), a[3], a[4]);
        case __NR_renameat:
            return RenameAt2(fd(0), a[1], fd(2), a[3], 0);
        case __NR_rename:
            return RenameAt2(AT_FDCWD, a[0], AT_FDCWD, a[1], 0);
        case __NR_faccessat:
            return FaccessAt(fd(0), a[1], a[2], 0);
        case __NR_faccessat2:
            return FaccessAt(fd(0), a[1], a[2], a[3]);
        case __NR_access:
            return FaccessAt(AT_FDCWD, a[0], a[1], 0);
        case __NR_fcntl:
            return Fcntl(fd(0), a[1], a[2]);
        case __NR_ioctl:
            return Ioctl(fd(0), a[1], a[2]);
        case __NR_ftruncate:
            return Ftruncate(fd(0), sint(1));
        case __NR_fsync:
        case __NR_fdatasync:
            return Fsync(fd(0));
        case __NR_getcwd:
            return Getcwd(a[0], a[1]);
        case __NR_chdir:
            return Chdir(a[0]);
        case __NR_fchdir:
            return Fchdir(fd(0));
        case __NR_dup:
            return Dup(fd(0));
        case __NR_dup2:
            return Dup3(fd(0), fd(1), 0, /*dup2=*/true);
        case __NR_dup3:
            return Dup3(fd(0), fd(1), a[2], /*dup2=*/false);
        case __NR_umask:
            return Umask(a[0]);
        case __NR_sendfile:
            return SendFile(fd(0), fd(1), a[2], a[3]);
        case __NR_fadvise64:
            return Fadvise(fd(0), a[3]);
        case __NR_utimensat:
            return UtimensAt(fd(0), a[1], a[2], a[3]);

        default:
            return Unsupported(nr);
    }
}

int64_t GuestProcess::Unsupported(uint64_t nr) {
    switch (warned_calls_.Check(nr)) {
        case WarnOnce::Verdict::kLog:
            log_->warn("system call not supported, returning ENOSYS: nr={} name={}", nr,
                       SyscallName(nr));
            break;
        case WarnOnce::Verdict::kLogLimit:
            log_->warn("{} unsupported system calls logged; further ones are not logged",
                       kMaxWarnedCodes);
            break;
        case WarnOnce::Verdict::kQuiet:
            break;
    }
    return -ENOSYS;
}

bool GuestProcess::FirstUnsupportedIoctl(uint64_t code) {
    switch (warned_ioctls_.Check(code)) {
        case WarnOnce::Verdict::kLog:
            return true;
        case WarnOnce::Verdict::kLogLimit:
            log_->warn("{} unsupported ioctl and fcntl codes logged; further ones are not logged",
                       kMaxWarnedCodes);
            return false;
        case WarnOnce::Verdict::kQuiet:
            return false;
    }
    return false;
}

void GuestProcess::Terminate(Termination::Kind kind, int code, std::string detail) {
    if (!termination_) {
        termination_ = Termination{.kind = kind, .code = code, .detail = std::move(detail)};
    }
}

}  // namespace tw::hyperlight
