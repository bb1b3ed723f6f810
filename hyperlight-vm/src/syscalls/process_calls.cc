// Process-wide calls served by the VMM: exit, arch_prctl, uname, limits, prctl, signal state,
// time and randomness.
#include <signal.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "syscalls/guest_process.h"

namespace tw::hyperlight {

namespace {

constexpr uint64_t kArchSetGs = 0x1001;
constexpr uint64_t kArchSetFs = 0x1002;
constexpr uint64_t kArchGetFs = 0x1003;
constexpr uint64_t kArchGetGs = 0x1004;
// Linux's TASK_SIZE_MAX: FS/GS bases at or above it are refused with EPERM.
constexpr uint64_t kTaskSizeMax = 0x00007ffffffff000;

constexpr uint64_t kSigSetSize = 8;
constexpr uint64_t kSigDfl = 0;
constexpr uint64_t kSigIgn = 1;
constexpr uint64_t kSsOnStack = 1;
constexpr uint64_t kSsDisable = 2;
constexpr uint64_t kSsAutoDisarm = 1u << 31;
constexpr uint64_t kMinSigStackSize = 2048;

uint64_t SigBit(uint64_t sig) {
    return 1ull << (sig - 1);
}

// Signals whose default action does not end the process.
bool DefaultIgnoredOrStop(uint64_t sig) {
    switch (sig) {
        case SIGCHLD:
        case SIGURG:
        case SIGWINCH:
        case SIGCONT:
        case SIGSTOP:
        case SIGTSTP:
        case SIGTTIN:
        case SIGTTOU:
            return true;
        default:
            return false;
    }
}

template <typename T>
std::span<const std::byte> BytesOf(const T& value) {
    return std::as_bytes(std::span(&value, 1));
}
template <typename T>
std::span<std::byte> WritableBytesOf(T& value) {
    return std::as_writable_bytes(std::span(&value, 1));
}

// A clock id the program may name, or -1. Only the fixed clocks: negative ids name other
// processes' CPU clocks, which do not exist here.
clockid_t HostClock(uint64_t clock) {
    switch (clock) {
        case CLOCK_REALTIME:
        case CLOCK_MONOTONIC:
        case CLOCK_MONOTONIC_RAW:
        case CLOCK_REALTIME_COARSE:
        case CLOCK_MONOTONIC_COARSE:
        case CLOCK_BOOTTIME:
        case CLOCK_TAI:
            return static_cast<clockid_t>(clock);
        case CLOCK_PROCESS_CPUTIME_ID:
        case CLOCK_THREAD_CPUTIME_ID:
            // The program is this vCPU thread: its CPU time includes the guest's.
            return CLOCK_THREAD_CPUTIME_ID;
        default:
            return -1;
    }
}

}  // namespace

int64_t GuestProcess::Exit(uint64_t status) {
    Terminate(Termination::Kind::kExited, static_cast<int>(status & 0xff), "");
    return 0;
}

int64_t GuestProcess::ArchPrctl(uint64_t code, uint64_t addr) {
    switch (code) {
        case kArchSetFs:
        case kArchSetGs: {
            if (addr >= kTaskSizeMax) {
                return -EPERM;
            }
            return cpu_.SetSegmentBase(code == kArchSetGs, addr).ok() ? 0 : -EINVAL;
        }
        case kArchGetFs:
        case kArchGetGs: {
            auto base = cpu_.GetSegmentBase(code == kArchGetGs);
            if (!base.ok()) {
                return -EINVAL;
            }
            return memory_.CopyToUser(GuestVirtAddr(addr), BytesOf(*base)).ok() ? 0 : -EFAULT;
        }
        default:
            return -EINVAL;
    }
}

int64_t GuestProcess::Uname(uint64_t buf) {
    // struct utsname: six 65-byte fields.
    char uts[6][65] = {};
    std::strcpy(uts[0], "Linux");
    std::strcpy(uts[1], "twinwall");
    std::strcpy(uts[2], "6.1.0-twinwall");
    std::strcpy(uts[3], "#1 SMP PREEMPT_DYNAMIC twinwall micro-VM");
    std::strcpy(uts[4], "x86_64");
    std::strcpy(uts[5], "(none)");
    return memory_.CopyToUser(GuestVirtAddr(buf), BytesOf(uts)).ok() ? 0 : -EFAULT;
}

int64_t GuestProcess::Prlimit(uint64_t pid, uint64_t resource, uint64_t new_limit,
                              uint64_t old_limit) {
    if (pid != 0 && pid != identity_.pid) {
        return -ESRCH;
    }
    if (resource >= rlimits_.size()) {
        return -EINVAL;
    }
    std::array<uint64_t, 2> requested{};
    if (new_limit != 0) {
        if (!memory_.CopyFromUser(GuestVirtAddr(new_limit), WritableBytesOf(requested)).ok()) {
            return -EFAULT;
        }
        if (requested[0] > requested[1]) {
            return -EINVAL;
        }
        if (requested[1] > rlimits_[resource][1]) {
            return -EPERM;  // Raising a hard limit needs privilege the program does not have.
        }
    }
    if (old_limit != 0 &&
        !memory_.CopyToUser(GuestVirtAddr(old_limit), BytesOf(rlimits_[resource])).ok()) {
        return -EFAULT;
    }
    if (new_limit != 0) {
        // Recorded and reported back; the VMM enforces its own limits (memory, fds).
        rlimits_[resource] = requested;
    }
    return 0;
}

int64_t GuestProcess::Prctl(uint64_t option, uint64_t arg2) {
    constexpr uint64_t kPrSetName = 15;
    constexpr uint64_t kPrGetName = 16;
    if (option == kPrSetName) {
        auto name = memory_.ReadString(GuestVirtAddr(arg2), 4095);
        if (!name.ok()) {
            return -EFAULT;
        }
        name_.fill(0);
        std::memcpy(name_.data(), name->data(), std::min<size_t>(name->size(), 15));
        return 0;
    }
    if (option == kPrGetName) {
        return memory_.CopyToUser(GuestVirtAddr(arg2), BytesOf(name_)).ok() ? 0 : -EFAULT;
    }
    return -EINVAL;
}

int64_t GuestProcess::SigAction(uint64_t sig, uint64_t act, uint64_t oldact, uint64_t setsize) {
    if (setsize != kSigSetSize || sig < 1 || sig > 64) {
        return -EINVAL;
    }
    if (act != 0 && (sig == SIGKILL || sig == SIGSTOP)) {
        return -EINVAL;
    }
    std::array<uint64_t, 4> requested{};
    if (act != 0 && !memory_.CopyFromUser(GuestVirtAddr(act), WritableBytesOf(requested)).ok()) {
        return -EFAULT;
    }
    if (oldact != 0 &&
        !memory_.CopyToUser(GuestVirtAddr(oldact), BytesOf(sigactions_[sig - 1])).ok()) {
        return -EFAULT;
    }
    if (act != 0) {
        // Recorded so the program reads back what it set and so fatal signals honour SIG_IGN.
        // Handlers are never run: the VMM delivers no asynchronous signals, and a fault ends
        // the run with the signal Linux would deliver.
        requested[3] &= ~(SigBit(SIGKILL) | SigBit(SIGSTOP));
        sigactions_[sig - 1] = requested;
    }
    return 0;
}

int64_t GuestProcess::SigProcMask(uint64_t how, uint64_t set, uint64_t oldset, uint64_t setsize) {
    if (setsize != kSigSetSize) {
        return -EINVAL;
    }
    uint64_t requested = 0;
    if (set != 0 && !memory_.CopyFromUser(GuestVirtAddr(set), WritableBytesOf(requested)).ok()) {
        return -EFAULT;
    }
    if (set != 0 && how != SIG_BLOCK && how != SIG_UNBLOCK && how != SIG_SETMASK) {
        return -EINVAL;
    }
    if (oldset != 0 && !memory_.CopyToUser(GuestVirtAddr(oldset), BytesOf(sigmask_)).ok()) {
        return -EFAULT;
    }
    if (set != 0) {
        if (how == SIG_BLOCK) {
            sigmask_ |= requested;
        } else if (how == SIG_UNBLOCK) {
            sigmask_ &= ~requested;
        } else {
            sigmask_ = requested;
        }
        sigmask_ &= ~(SigBit(SIGKILL) | SigBit(SIGSTOP));
    }
    return 0;
}

int64_t GuestProcess::SigAltStack(uint64_t ss, uint64_t old_ss) {
    // stack_t: ss_sp, ss_flags (int, padded), ss_size.
    std::array<uint64_t, 3> requested{};
    if (ss != 0) {
        if (!memory_.CopyFromUser(GuestVirtAddr(ss), WritableBytesOf(requested)).ok()) {
            return -EFAULT;
        }
        uint64_t flags = requested[1] & 0xffffffff;
        if ((flags & ~(kSsDisable | kSsAutoDisarm | kSsOnStack)) != 0) {
            return -EINVAL;
        }
        if ((flags & kSsDisable) == 0 && requested[2] < kMinSigStackSize) {
            return -ENOMEM;
        }
    }
    if (old_ss != 0 && !memory_.CopyToUser(GuestVirtAddr(old_ss), BytesOf(altstack_)).ok()) {
        return -EFAULT;
    }
    if (ss != 0) {
        uint64_t flags = requested[1] & 0xffffffff;
        altstack_ =
            (flags & kSsDisable) != 0
                ? std::array<uint64_t, 3>{0, kSsDisable, 0}
                : std::array<uint64_t, 3>{requested[0], flags & kSsAutoDisarm, requested[2]};
    }
    return 0;
}

int64_t GuestProcess::Kill(uint64_t pid, uint64_t sig) {
    auto target = static_cast<int64_t>(static_cast<int32_t>(pid));
    // The program is alone in its micro-VM: itself, its group (0) and everyone (-1) are it.
    if (target != static_cast<int64_t>(identity_.pid) && target != 0 && target != -1) {
        return -ESRCH;
    }
    if (sig > 64) {
        return -EINVAL;
    }
    if (sig == 0) {
        return 0;
    }
    uint64_t handler = sigactions_[sig - 1][0];
    bool unstoppable = sig == SIGKILL || sig == SIGSTOP;
    if (!unstoppable && (handler == kSigIgn || (handler == kSigDfl && DefaultIgnoredOrStop(sig)))) {
        return 0;
    }
    if (!unstoppable && (sigmask_ & SigBit(sig)) != 0) {
        // Blocked: it would stay pending, and the VMM never delivers pending signals.
        return 0;
    }
    if (sig == SIGSTOP) {
        return 0;  // No job control: stopping would only hang the run.
    }
    // A caught signal cannot be delivered (handlers are not run); the program dies of it,
    // which is what abort() ends with anyway.
    Terminate(Termination::Kind::kSignaled, static_cast<int>(sig),
              handler == kSigDfl ? "" : "sent to itself; signal handlers are not run");
    return 0;
}

int64_t GuestProcess::ClockGetTime(uint64_t clock, uint64_t tp, bool resolution) {
    clockid_t host = HostClock(clock);
    if (host < 0) {
        return -EINVAL;
    }
    struct timespec ts {};
    if ((resolution ? clock_getres(host, &ts) : clock_gettime(host, &ts)) != 0) {
        return -errno;
    }
    if (tp == 0) {
        return resolution ? 0 : -EFAULT;
    }
    return memory_.CopyToUser(GuestVirtAddr(tp), BytesOf(ts)).ok() ? 0 : -EFAULT;
}

int64_t GuestProcess::GetTimeOfDay(uint64_t tv, uint64_t tz) {
    struct timespec ts {};
    clock_gettime(CLOCK_REALTIME, &ts);
    if (tv != 0) {
        std::array<int64_t, 2> value{ts.tv_sec, ts.tv_nsec / 1000};
        if (!memory_.CopyToUser(GuestVirtAddr(tv), BytesOf(value)).ok()) {
            return -EFAULT;
        }
    }
    if (tz != 0) {
        std::array<int32_t, 2> zone{0, 0};  // UTC, no DST
        if (!memory_.CopyToUser(GuestVirtAddr(tz), BytesOf(zone)).ok()) {
            return -EFAULT;
        }
    }
    return 0;
}

int64_t GuestProcess::Time(uint64_t tloc) {
    int64_t now = ::time(nullptr);
    if (tloc != 0 && !memory_.CopyToUser(GuestVirtAddr(tloc), BytesOf(now)).ok()) {
        return -EFAULT;
    }
    return now;
}

int64_t GuestProcess::NanoSleep(uint64_t clock, uint64_t flags, uint64_t req, uint64_t rem) {
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME &&
        clock != CLOCK_TAI) {
        return clock == CLOCK_PROCESS_CPUTIME_ID || clock == CLOCK_THREAD_CPUTIME_ID ? -ENOTSUP
                                                                                     : -EINVAL;
    }
    struct timespec ts {};
    if (!memory_.CopyFromUser(GuestVirtAddr(req), WritableBytesOf(ts)).ok()) {
        return -EFAULT;
    }
    if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000) {
        return -EINVAL;
    }
    struct timespec left {};
    // A timeout interrupts the sleep (the vCPU thread is signalled), and the run then ends.
    int err = clock_nanosleep(static_cast<clockid_t>(clock), flags & TIMER_ABSTIME, &ts, &left);
    if (err == 0) {
        return 0;
    }
    if (err == EINTR && rem != 0 && (flags & TIMER_ABSTIME) == 0) {
        (void)memory_.CopyToUser(GuestVirtAddr(rem), BytesOf(left));
    }
    return -err;
}

int64_t GuestProcess::GetRandom(uint64_t buf, uint64_t len, uint64_t flags) {
    constexpr uint64_t kValid = GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE;
    if ((flags & ~kValid) != 0 ||
        (flags & (GRND_RANDOM | GRND_INSECURE)) == (GRND_RANDOM | GRND_INSECURE)) {
        return -EINVAL;
    }
    // Linux may return fewer bytes than asked for large requests; so does this.
    len = std::min<uint64_t>(len, 1ull << 20);
    auto spans = memory_.UserSpans(GuestVirtAddr(buf), len, Access::kWrite);
    if (!spans.ok()) {
        return -EFAULT;
    }
    for (std::span<std::byte> span : *spans) {
        size_t done = 0;
        while (done < span.size()) {
            ssize_t n = ::getrandom(span.data() + done, span.size() - done, 0);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return -errno;
            }
            done += static_cast<size_t>(n);
        }
    }
    return static_cast<int64_t>(len);
}

int64_t GuestProcess::SchedGetAffinity(uint64_t pid, uint64_t size, uint64_t mask) {
    if (pid != 0 && pid != identity_.pid) {
        return -ESRCH;
    }
    // One vCPU: the mask has CPU 0 only. Linux wants room for its whole mask (8 bytes here).
    if (size < sizeof(uint64_t) || (size & (sizeof(uint64_t) - 1)) != 0) {
        return -EINVAL;
    }
    uint64_t cpus = 1;
    if (!memory_.CopyToUser(GuestVirtAddr(mask), BytesOf(cpus)).ok()) {
        return -EFAULT;
    }
    return sizeof(cpus);
}

int64_t GuestProcess::GetRusage(int32_t who, uint64_t usage) {
    constexpr int32_t kSelf = 0, kChildren = -1, kThread = 1;
    if (who != kSelf && who != kChildren && who != kThread) {
        return -EINVAL;
    }
    struct rusage ru {};
    if (who != kChildren) {
        // The program is the vCPU thread; its usage includes the time spent running the guest.
        struct rusage host {};
        if (getrusage(RUSAGE_THREAD, &host) == 0) {
            ru.ru_utime = host.ru_utime;
            ru.ru_stime = host.ru_stime;
        }
        ru.ru_maxrss = static_cast<long>(memory_.stats().pages_populated * 4);  // KiB
    }
    return memory_.CopyToUser(GuestVirtAddr(usage), BytesOf(ru)).ok() ? 0 : -EFAULT;
}

int64_t GuestProcess::Futex(uint64_t uaddr, uint64_t op, uint64_t val, uint64_t timeout,
                            uint64_t uaddr2, uint64_t val3) {
    (void)uaddr2;
    constexpr uint64_t kWait = 0, kWake = 1, kRequeue = 3, kCmpRequeue = 4, kWaitBitset = 9,
                       kWakeBitset = 10;
    constexpr uint64_t kPrivate = 128, kClockRealtime = 256;
    uint64_t cmd = op & ~(kPrivate | kClockRealtime);
    if ((uaddr & 3) != 0) {
        return -EINVAL;
    }
    // The program has exactly one thread, so no futex ever has a waiter: wakes wake nobody,
    // and a wait whose value matches can only end by its timeout (or by the run's).
    auto load = [&](uint32_t& out) {
        return memory_.CopyFromUser(GuestVirtAddr(uaddr), WritableBytesOf(out)).ok();
    };
    switch (cmd) {
        case kWake:
        case kWakeBitset:
            return (cmd == kWakeBitset && static_cast<uint32_t>(val3) == 0) ? -EINVAL : 0;
        case kRequeue:
            return 0;
        case kCmpRequeue: {
            uint32_t current = 0;
            if (!load(current)) {
                return -EFAULT;
            }
            return current == static_cast<uint32_t>(val3) ? 0 : -EAGAIN;
        }
        case kWait:
        case kWaitBitset: {
            if (cmd == kWaitBitset && static_cast<uint32_t>(val3) == 0) {
                return -EINVAL;
            }
            uint32_t current = 0;
            if (!load(current)) {
                return -EFAULT;
            }
            if (current != static_cast<uint32_t>(val)) {
                return -EAGAIN;
            }
            if (timeout == 0) {
                // Linux would block this thread forever; so does this, until the run's
                // timeout interrupts it.
                pause();
                return -EINTR;
            }
            struct timespec ts {};
            if (!memory_.CopyFromUser(GuestVirtAddr(timeout), WritableBytesOf(ts)).ok()) {
                return -EFAULT;
            }
            if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000) {
                return -EINVAL;
            }
            // FUTEX_WAIT takes a relative timeout, FUTEX_WAIT_BITSET an absolute one.
            clockid_t clock = (op & kClockRealtime) != 0 ? CLOCK_REALTIME : CLOCK_MONOTONIC;
            int flags = cmd == kWaitBitset ? TIMER_ABSTIME : 0;
            int err = clock_nanosleep(cmd == kWait ? CLOCK_MONOTONIC : clock, flags, &ts, nullptr);
            return err == 0 ? -ETIMEDOUT : -err;
        }
        default:
            // Priority-inheritance and wake-op futexes need other threads to mean anything.
            return Unsupported(202);
    }
}

int64_t GuestProcess::BrokenPipe() {
    uint64_t handler = sigactions_[SIGPIPE - 1][0];
    if (handler == kSigDfl && (sigmask_ & SigBit(SIGPIPE)) == 0) {
        Terminate(Termination::Kind::kSignaled, SIGPIPE, "");
    }
    return -EPIPE;
}

}  // namespace tw::hyperlight
