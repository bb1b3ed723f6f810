// File calls: forwarded to the I/O server through the FileClient, or relayed to the runner's
// own standard streams. Buffers move between the server and guest memory without passing
// through the guest kernel; a buffer that spans non-adjacent frames goes through one host
// bounce buffer, so every request is still a single protocol call.
#include <fcntl.h>
#include <linux/stat.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "syscalls/guest_process.h"
#include "transport/abi.h"

namespace tw::hyperlight {

namespace {

using transport::kCwdHandle;

// Linux's MAX_RW_COUNT: one read or write moves at most this much.
constexpr uint64_t kMaxRw = 0x7ffff000;
// Guest memory a single protocol call covers; larger requests loop.
constexpr uint64_t kIoChunk = 1ull << 20;
constexpr uint64_t kIovMax = 1024;
// Kernel struct sizes copied out by TCGETS and TIOCGWINSZ (struct termios is the kernel's
// 36-byte one, not glibc's).
constexpr size_t kKernelTermiosSize = 36;
constexpr size_t kWinsizeSize = 8;

static_assert(sizeof(struct stat) == transport::kWireStatSize);
static_assert(sizeof(struct statx) == transport::kWireStatxSize);

}  // namespace

int64_t GuestProcess::ReadPath(uint64_t user_path, std::string& out) {
    auto path = memory_.ReadString(GuestVirtAddr(user_path), PATH_MAX - 1);
    if (!path.ok()) {
        return -path.error().err();
    }
    out = std::move(*path);
    return 0;
}

int64_t GuestProcess::DirHandle(int64_t dirfd, const std::string& path, transport::Handle& out) {
    out = kCwdHandle;
    if ((!path.empty() && path[0] == '/') || dirfd == AT_FDCWD) {
        return 0;  // Linux ignores dirfd for an absolute path.
    }
    std::shared_ptr<OpenFile> file = fds_.Get(dirfd);
    if (!file) {
        return -EBADF;
    }
    if (file->is_stdio()) {
        return -ENOTDIR;
    }
    out = file->handle();
    return 0;
}

int64_t GuestProcess::OpenAt(int64_t dirfd, uint64_t path, uint64_t flags, uint64_t mode) {
    std::string p;
    if (int64_t r = ReadPath(path, p); r < 0) {
        return r;
    }
    if (p.empty()) {
        return -ENOENT;
    }
    transport::Handle dir = kCwdHandle;
    if (int64_t r = DirHandle(dirfd, p, dir); r < 0) {
        return r;
    }
    auto f = static_cast<int32_t>(flags);
    bool cloexec = (f & O_CLOEXEC) != 0;
    uint32_t m = static_cast<uint32_t>(mode) & 07777;
    if ((f & O_CREAT) != 0 || (f & O_TMPFILE) == O_TMPFILE) {
        m &= ~umask_;
    }
    // Close-on-exec is the VMM's business (its fd table); the server never sees it.
    int64_t h = files_.OpenAt(dir, p, f & ~O_CLOEXEC, m);
    if (h < 0) {
        return h;
    }
    return fds_.Install(OpenFile::Server(&files_, static_cast<transport::Handle>(h)), cloexec);
}

int64_t GuestProcess::Close(int64_t fd) {
    return fds_.Close(fd);
}

int64_t GuestProcess::ReadIntoUnwritable(OpenFile& file, std::optional<int64_t> offset) {
    // Find out whether the read would deliver anything, without taking it: look at one byte
    // where the read would start, or, on a pipe or terminal, wait for input as the read would
    // and ask how much came.
    std::array<std::byte, 1> probe{};
    int64_t n;
    if (!file.is_stdio()) {
        int64_t at = offset ? *offset : files_.Lseek(file.handle(), 0, SEEK_CUR);
        n = at < 0 ? -ESPIPE : files_.Pread(file.handle(), probe, at);
    } else if (off_t at = lseek(file.host_fd(), 0, SEEK_CUR); at >= 0) {
        n = pread(file.host_fd(), probe.data(), probe.size(), at);
        n = n < 0 ? -errno : n;
    } else {
        bool nonblocking = (file.stdio_flags() & O_NONBLOCK) != 0;
        struct pollfd pfd {
            .fd = file.host_fd(), .events = POLLIN, .revents = 0
        };
        int ready = poll(&pfd, 1, nonblocking ? 0 : -1);
        if (ready < 0) {
            return -errno;
        }
        if (ready == 0) {
            return -EAGAIN;
        }
        int available = 0;
        n = ioctl(file.host_fd(), FIONREAD, &available) == 0 ? available : -ENOTTY;
    }
    // Data to deliver, or a file that cannot be looked at without consuming: the copy fails.
    if (n > 0 || n == -ESPIPE || n == -ENOTTY) {
        return -EFAULT;
    }
    return n;
}

int64_t GuestProcess::StdioRead(OpenFile& file, std::span<const UserRange> ranges) {
    std::vector<struct iovec> iov;
    for (const UserRange& r : ranges) {
        // Only the writable start of the buffers is read into, so a bad page costs no input
        // (Linux returns what it copied before the page, and fails only if that is nothing).
        uint64_t usable = memory_.AccessiblePrefix(GuestVirtAddr(r.base), r.len, Access::kWrite);
        if (usable == 0 && r.len > 0) {
            if (iov.empty()) {
                return ReadIntoUnwritable(file, std::nullopt);
            }
            break;
        }
        auto spans = memory_.UserSpans(GuestVirtAddr(r.base), usable, Access::kWrite);
        if (!spans.ok()) {
            if (iov.empty()) {
                return -EFAULT;
            }
            break;
        }
        for (std::span<std::byte> s : *spans) {
            iov.push_back({s.data(), s.size()});
        }
        if (usable < r.len) {
            break;
        }
    }
    if (iov.empty()) {
        return 0;
    }
    if ((file.stdio_flags() & O_NONBLOCK) != 0) {
        struct pollfd pfd {
            .fd = file.host_fd(), .events = POLLIN, .revents = 0
        };
        if (poll(&pfd, 1, 0) == 0) {
            return -EAGAIN;
        }
    }
    ssize_t n = readv(file.host_fd(), iov.data(), static_cast<int>(std::min(iov.size(), kIovMax)));
    return n < 0 ? -errno : n;
}

int64_t GuestProcess::StdioWrite(OpenFile& file, std::span<const UserRange> ranges) {
    std::vector<struct iovec> iov;
    for (const UserRange& r : ranges) {
        auto spans = memory_.UserSpans(GuestVirtAddr(r.base), r.len, Access::kRead);
        if (!spans.ok()) {
            if (iov.empty()) {
                return -EFAULT;
            }
            break;
        }
        for (std::span<std::byte> s : *spans) {
            iov.push_back({s.data(), s.size()});
        }
    }
    int64_t total = 0;
    size_t next = 0;
    while (next < iov.size()) {
        int count = static_cast<int>(std::min<size_t>(iov.size() - next, kIovMax));
        ssize_t n = writev(file.host_fd(), iov.data() + next, count);
        if (n < 0) {
            if (errno == EINTR && total == 0) {
                return -EINTR;
            }
            if (total > 0) {
                return total;
            }
            return errno == EPIPE ? BrokenPipe() : -errno;
        }
        total += n;
        // Skip what was written; stop at a partial write.
        size_t left = static_cast<size_t>(n);
        while (next < iov.size() && left >= iov[next].iov_len) {
            left -= iov[next].iov_len;
            ++next;
        }
        if (left > 0) {
            break;
        }
    }
    return total;
}

int64_t GuestProcess::ReadV(int64_t fd, std::span<const UserRange> ranges,
                            std::optional<int64_t> offset) {
    std::shared_ptr<OpenFile> file = fds_.Get(fd);
    if (!file) {
        return -EBADF;
    }
    if (file->is_stdio()) {
        return offset ? -ESPIPE : StdioRead(*file, ranges);
    }
    int64_t total = 0;
    for (const UserRange& r : ranges) {
        uint64_t done = 0;
        while (done < r.len) {
            // Only the writable start of the buffer is read into, so a bad page consumes no
            // file data: the count so far is returned, or EFAULT if it is nothing.
            uint64_t chunk = memory_.AccessiblePrefix(
                GuestVirtAddr(r.base + done), std::min(r.len - done, kIoChunk), Access::kWrite);
            if (chunk == 0) {
                return total > 0 ? total : ReadIntoUnwritable(*file, offset);
            }
            auto spans = memory_.UserSpans(GuestVirtAddr(r.base + done), chunk, Access::kWrite);
            if (!spans.ok()) {
                return total > 0 ? total : -EFAULT;
            }
            std::span<std::byte> target;
            if (spans->size() == 1) {
                target = (*spans)[0];
            } else {
                bounce_.resize(chunk);
                target = std::span(bounce_.data(), chunk);
            }
            int64_t n = offset ? files_.Pread(file->handle(), target, *offset + total)
                               : files_.Read(file->handle(), target);
            if (n < 0) {
                return total > 0 ? total : n;
            }
            if (spans->size() != 1) {
                uint64_t copied = 0;
                for (std::span<std::byte> s : *spans) {
                    if (copied >= static_cast<uint64_t>(n)) {
                        break;
                    }
                    uint64_t len = std::min<uint64_t>(s.size(), n - copied);
                    std::memcpy(s.data(), bounce_.data() + copied, len);
                    copied += len;
                }
            }
            total += n;
            done += static_cast<uint64_t>(n);
            if (static_cast<uint64_t>(n) < chunk) {
                return total;
            }
        }
    }
    return total;
}

int64_t GuestProcess::WriteV(int64_t fd, std::span<const UserRange> ranges,
                             std::optional<int64_t> offset) {
    std::shared_ptr<OpenFile> file = fds_.Get(fd);
    if (!file) {
        return -EBADF;
    }
    if (file->is_stdio()) {
        return offset ? -ESPIPE : StdioWrite(*file, ranges);
    }
    int64_t total = 0;
    for (const UserRange& r : ranges) {
        uint64_t done = 0;
        while (done < r.len) {
            uint64_t chunk = std::min(r.len - done, kIoChunk);
            auto spans = memory_.UserSpans(GuestVirtAddr(r.base + done), chunk, Access::kRead);
            if (!spans.ok()) {
                return total > 0 ? total : -EFAULT;
            }
            std::span<const std::byte> source;
            if (spans->size() == 1) {
                source = (*spans)[0];
            } else {
                bounce_.resize(chunk);
                uint64_t at = 0;
                for (std::span<std::byte> s : *spans) {
                    std::memcpy(bounce_.data() + at, s.data(), s.size());
                    at += s.size();
                }
                source = std::span(bounce_.data(), chunk);
            }
            int64_t n = offset ? files_.Pwrite(file->handle(), source, *offset + total)
                               : files_.Write(file->handle(), source);
            if (n < 0) {
                return total > 0 ? total : n;
            }
            total += n;
            done += static_cast<uint64_t>(n);
            if (static_cast<uint64_t>(n) < chunk) {
                return total;
            }
        }
    }
    return total;
}

int64_t GuestProcess::VectorIo(int64_t fd, uint64_t iov, uint64_t iovcnt,
                               std::optional<int64_t> offset, bool write) {
    if (!fds_.Get(fd)) {
        return -EBADF;
    }
    if (iovcnt > kIovMax) {
        return -EINVAL;
    }
    std::vector<struct iovec> raw(iovcnt);
    if (!memory_.CopyFromUser(GuestVirtAddr(iov), std::as_writable_bytes(std::span(raw))).ok()) {
        return -EFAULT;
    }
    std::vector<UserRange> ranges;
    uint64_t budget = kMaxRw;
    for (const struct iovec& v : raw) {
        if (static_cast<int64_t>(v.iov_len) < 0) {
            return -EINVAL;
        }
        uint64_t len = std::min<uint64_t>(v.iov_len, budget);
        ranges.push_back({reinterpret_cast<uint64_t>(v.iov_base), len});
        budget -= len;
    }
    return write ? WriteV(fd, ranges, offset) : ReadV(fd, ranges, offset);
}

int64_t GuestProcess::Lseek(int64_t fd, int64_t offset, uint64_t whence) {
    std::shared_ptr<OpenFile> file = fds_.Get(fd);
    if (!file) {
        return -EBADF;
    }
    if (file->is_stdio()) {
        return -ESPIPE;
    }
    if (whence > SEEK_HOLE) {
        return -EINVAL;
    }
    return files_.Lseek(file->handle(), offset, static_cast<int32_t>(whence));
}

int64_t GuestProcess::HostStat(int host_fd, struct stat& st) {
    struct stat host {};
    if (fstat(host_fd, &host) != 0) {
        return -errno;
    }
    // Only what describes the stream; host device and inode numbers stay on the host.
    st = {};
    st.st_mode = host.st_mode;
    st.st_nlink = 1;
    st.st_uid = static_cast<uid_t>(identity_.uid);
    st.st_gid = static_cast<gid_t>(identity_.gid);
    st.st_rdev = host.st_rdev;
    st.st_size = S_ISREG(host.st_mode) ? host.st_size : 0;
    st.st_blksize = host.st_blksize;
    st.st_atim = host.st_atim;
    st.st_mtim = host.st_mtim;
    st.st_ctim = host.st_ctim;
    return 0;
}

int64_t GuestProcess::CopyStatOut(const struct stat& st, uint64_t statbuf) {
    return memory_.CopyToUser(GuestVirtAddr(statbuf), std::as_bytes(std::span(&st, 1))).ok()
               ? 0
               : -EFAULT;
}

int64_t GuestProcess::Fstat(int64_t fd, uint64_t statbuf) {
    std::shared_ptr<OpenFile> file = fds_.Get(fd);
    if (!file) {
        return -EBADF;
    }
    struct stat st {};
    int64_t r =
        file->is_stdio() ? HostStat(file->host_fd(), st) : files_.Fstat(file->handle(), &st);
    return r < 0 ? r : CopyStatOut(st, statbuf);
}

int64_t GuestProcess::StatAt(int64_t dirfd, uint64_t path, uint64_t statbuf, uint64_t flags) {
    if ((flags & ~uint64_t{AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT}) != 0) {
        return -EINVAL;
    }
    std::string p;
    if (int64_t r = ReadPath(path, p); r < 0) {
        return r;
    }
    if (p.empty()) {
        if ((flags & AT_EMPTY_PATH) == 0) {
            return -ENOENT;
        }
        if (dirfd != AT_FDCWD) {
            return Fstat(dirfd, statbuf);
        }
        p.push_back('.');  // the working directory itself
    }
    transport::Handle dir = kCwdHandle;
    if (int64_t r = DirHandle(dirfd, p, dir); r < 0) {
        return r;
    }
    struct stat st {};
    int64_t r = files_.StatAt(dir, p, static_cast<int32_t>(flags & AT_SYMLINK_NOFOLLOW), &st);
    return r < 0 ? r : CopyStatOut(st, statbuf);
}

int64_t GuestProcess::Statx(int64_t dirfd, uint64_t path, uint64_t flags, uint64_t mask,
                            uint64_t buf) {
    constexpr uint64_t kValidFlags =
        AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE;
    if ((flags & ~kValidFlags) != 0 || (flags & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE ||
        (mask & STATX__RESERVED) != 0) {
        return -EINVAL;
    }
    std::string p;
    if (int64_t r = ReadPath(path, p); r < 0) {
        return r;
    }
    struct statx stx {};
    int64_t r = 0;
    if (p.empty() && (flags & AT_EMPTY_PATH) == 0) {
        return -ENOENT;
    }
    if (p.empty() && dirfd != AT_FDCWD) {
        std::shared_ptr<OpenFile> file = fds_.Get(dirfd);
        if (!file) {
            return -EBADF;
        }
        if (file->is_stdio()) {
            struct stat st {};
            if (r = HostStat(file->host_fd(), st); r < 0) {
                return r;
            }
            stx.stx_mask = STATX_BASIC_STATS;
            stx.stx_blksize = static_cast<uint32_t>(st.st_blksize);
            stx.stx_nlink = static_cast<uint32_t>(st.st_nlink);
            stx.stx_uid = st.st_uid;
            stx.stx_gid = st.st_gid;
            stx.stx_mode = static_cast<uint16_t>(st.st_mode);
            stx.stx_size = static_cast<uint64_t>(st.st_size);
            stx.stx_rdev_major = major(st.st_rdev);
            stx.stx_rdev_minor = minor(st.st_rdev);
            stx.stx_atime = {st.st_atim.tv_sec, static_cast<uint32_t>(st.st_atim.tv_nsec), 0};
            stx.stx_mtime = {st.st_mtim.tv_sec, static_cast<uint32_t>(st.st_mtim.tv_nsec), 0};
            stx.stx_ctime = {st.st_ctim.tv_sec, static_cast<uint32_t>(st.st_ctim.tv_nsec), 0};
        } else {
            r = files_.Statx(file->handle(), "", static_cast<int32_t>(flags),
                             static_cast<uint32_t>(mask), &stx);
        }
    } else {
        transport::Handle dir = kCwdHandle;
        if (int64_t e = DirHandle(dirfd, p, dir); e < 0) {
            return e;
        }
        r = files_.Statx(dir, p, static_cast<int32_t>(flags), static_cast<uint32_t>(mask), &stx);
    }
    if (r < 0) {
        return r;
    }
    return memory_.CopyToUser(GuestVirtAddr(buf), std::as_bytes(std::span(&stx, 1))).ok() ? 0
                                                                                          : -EFAULT;
}

int64_t GuestProcess::Getdents64(int64_t fd, uint64_t buf, uint64_t count) {
    std::shared_ptr<OpenFile> file = fds_.Get(fd);
    if (!file) {
        return -EBADF;
    }
    if (file->is_stdio()) {
        return -ENOTDIR;
    }
    // A short answer is fine for getdents; the program calls again.
    count = std::min<uint64_t>(count, transport::kMaxData);
    auto spans = memory_.UserSpans(GuestVirtAddr(buf), count, Access::kWrite);
    if (!spans.ok()) {
        return -EFAULT;
    }
    if (spans->size() <= 1) {
        return files_.Getdents64(file->handle(),
                                 spans->empty() ? std::span<std::byte>() : (*spans)[0]);
    }
    bounce_.resize(count);
    int64_t n = files_.Getdents64(file->handle(), std::span(bounce_.data(), count));
    if (n > 0) {
        (void)memory_.CopyToUser(GuestVirtAddr(buf), std::span(bounce_.data(), n));
    }
    return n;
}

int64_t GuestProcess::ReadlinkAt(int64_t dirfd, uint64_t path, uint64_t buf, uint64_t bufsiz) {
    if (static_cast<int32_t>(bufsiz) <= 0) {
        return -EINVAL;
    }
    std::string p;
    if (int64_t r = ReadPath(path, p); r < 0) {
        return r;
    }
    if (p.empty()) {
        return -ENOENT;
    }
    transport::Handle dir = kCwdHandle;
    if (int64_t r = DirHandle(dirfd, p, dir); r < 0) {
        return r;
    }
    uint64_t size = std::min<uint64_t>(static_cast<uint32_t>(bufsiz), PATH_MAX);
    std::vector<std::byte> target(size);
    int64_t n = files_.ReadlinkAt(dir, p, target);
    if (n <= 0) {
        return n;
    }
    return memory_.CopyToUser(GuestVirtAddr(buf), std::span(target.data(), n)).ok() ? n : -EFAULT;
}

int64_t GuestProcess::MkdirAt(int64_t dirfd, uint64_t path, uint64_t mode) {
    std::string p;
    if (int64_t r = ReadPath(path, p); r < 0) {
        return r;
    }
    if (p.empty()) {
        return -ENOENT;
    }
    transport::Handle dir = kCwdHandle;
    if (int64_t r = DirHandle(dirfd, p, dir); r < 0) {
        return r;
    }
    return files_.MkdirAt(dir, p, static_cast<uint32_t>(mode) & 07777 & ~umask_);
}

int64_t GuestProcess::UnlinkAt(int64_t dirfd, uint64_t path, uint64_t flags) {
    if ((flags & ~uint64_t{AT_REMOVEDIR}) != 0) {
        return -EINVAL;
    }
    std::string p;
    if (int64_t r = ReadPath(path, p); r < 0) {
        return r;
    }
    if (p.empty()) {
        return -ENOENT;
    }
    transport::Handle dir = kCwdHandle;
    if (int64_t r = DirHandle(dirfd, p, dir); r < 0) {
        return r;
    }
    return files_.UnlinkAt(dir, p, static_cast<int32_t>(flags));
}

int64_t GuestProcess::RenameAt2(int64_t olddirfd, uint64_t oldpath, int64_t newdirfd,
                                uint64_t newpath, uint64_t flags) {
    constexpr uint64_t kNoReplace = 1, kExchange = 2, kWhiteout = 4;
    if ((flags & ~(kNoReplace | kExchange | kWhiteout)) != 0 ||
        ((flags & kNoReplace) != 0 && (flags & kExchange) != 0)) {
        return -EINVAL;
    }
    std::string from, to;
    if (int64_t r = ReadPath(oldpath, from); r < 0) {
        return r;
    }
    if (int64_t r = ReadPath(newpath, to); r < 0) {
        return r;
    }
    if (from.empty() || to.empty()) {
        return -ENOENT;
    }
    transport::Handle from_dir = kCwdHandle;
    if (int64_t r = DirHandle(olddirfd, from, from_dir); r < 0) {
        return r;
    }
    transport::Handle to_dir = kCwdHandle;
    if (int64_t r = DirHandle(newdirfd, to, to_dir); r < 0) {
        return r;
    }
    return files_.RenameAt2(from_dir, from, to_dir, to, static_cast<uint32_t>(flags));
}

int64_t GuestProcess::FaccessAt(int64_t dirfd, uint64_t path, uint64_t mode, uint64_t flags) {
    if ((mode & ~uint64_t{7}) != 0 ||
        (flags & ~uint64_t{AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH}) != 0) {
        return -EINVAL;
    }
    std::string p;
    if (int64_t r = ReadPath(path, p); r < 0) {
        return r;
    }
    if (p.empty() && (flags & AT_EMPTY_PATH) == 0) {
        return -ENOENT;
    }
    transport::Handle dir = kCwdHandle;
    if (p.empty() && dirfd != AT_FDCWD) {
        std::shared_ptr<OpenFile> file = fds_.Get(dirfd);
        if (!file) {
            return -EBADF;
        }
        if (file->is_stdio()) {
            return 0;  // A relayed stream is open, so it is there.
        }
        dir = file->handle();
    } else if (!p.empty()) {
        if (int64_t r = DirHandle(dirfd, p, dir); r < 0) {
            return r;
        }
    }
    return files_.FaccessAt(dir, p, static_cast<int32_t>(mode), static_cast<int32_t>(flags));
}

int64_t GuestProcess::Fcntl(int64_t fd, uint64_t cmd, uint64_t arg) {
    std::shared_ptr<OpenFile> file = fds_.Get(fd);
    if (!file) {
        return -EBADF;
    }
    int f = static_cast<int>(fd);
    switch (cmd) {
        case F_DUPFD:
        case F_DUPFD_CLOEXEC:
            if (arg >= FdTable::kMaxFds) {
                return -EINVAL;
            }
            return fds_.Install(file, cmd == F_DUPFD_CLOEXEC, static_cast<int>(arg));
        case F_GETFD:
            return fds_.cloexec(f) ? FD_CLOEXEC : 0;
        case F_SETFD:
            fds_.set_cloexec(f, (arg & FD_CLOEXEC) != 0);
            return 0;
        case F_GETFL:
            if (file->is_stdio()) {
                int host = fcntl(file->host_fd(), F_GETFL);
                return host < 0 ? -errno : ((host & O_ACCMODE) | file->stdio_flags());
            }
            return files_.Fcntl(file->handle(), F_GETFL, 0);
        case F_SETFL:
            if (file->is_stdio()) {
                file->set_stdio_flags(static_cast<int>(arg) & (O_APPEND | O_NONBLOCK));
                return 0;
            }
            return files_.Fcntl(file->handle(), F_SETFL, static_cast<int64_t>(arg));
        default:
            // Record locks and leases are not served yet (the protocol has no lock call):
            // the program sees EINVAL, as from a file system without lock support.
            if (FirstUnsupportedIoctl(0x1'0000'0000ull | cmd)) {
                log_->warn("fcntl command not supported, returning EINVAL: cmd={}", cmd);
            }
            return -EINVAL;
    }
}

int64_t GuestProcess::Ioctl(int64_t fd, uint64_t request, uint64_t arg) {
    std::shared_ptr<OpenFile> file = fds_.Get(fd);
    if (!file) {
        return -EBADF;
    }
    auto req = static_cast<uint32_t>(request);
    switch (req) {
        case TCGETS:
        case TIOCGWINSZ: {
            if (!file->is_stdio()) {
                return -ENOTTY;
            }
            std::array<std::byte, 64> out{};
            if (ioctl(file->host_fd(), req, out.data()) != 0) {
                return -errno;
            }
            size_t len = req == TCGETS ? kKernelTermiosSize : kWinsizeSize;
            return memory_.CopyToUser(GuestVirtAddr(arg), std::span(out.data(), len)).ok()
                       ? 0
                       : -EFAULT;
        }
        case FIOCLEX:
        case FIONCLEX:
            fds_.set_cloexec(static_cast<int>(fd), req == FIOCLEX);
            return 0;
        default:
            // Terminal control and device ioctls are not relayed: the program may not change
            // the runner's terminal, and tenant files are not devices.
            if (FirstUnsupportedIoctl(req)) {
                log_->warn("ioctl request not supported, returning ENOTTY: request={:#x}", req);
            }
            return -ENOTTY;
    }
}

int64_t GuestProcess::Ftruncate(int64_t fd, int64_t length) {
    std::shared_ptr<OpenFile> file = fds_.Get(fd);
    if (!file) {
        return -EBADF;
    }
    if (length < 0 || file->is_stdio()) {
        return -EINVAL;
    }
    return files_.Ftruncate(file->handle(), length);
}

int64_t GuestProcess::Fsync(int64_t fd) {
    std::shared_ptr<OpenFile> file = fds_.Get(fd);
    if (!file) {
        return -EBADF;
    }
    return file->is_stdio() ? -EINVAL : files_.Fsync(file->handle());
}

int64_t GuestProcess::Getcwd(uint64_t buf, uint64_t size) {
    if (size == 0) {
        return -ERANGE;
    }
    std::vector<std::byte> out(std::min<uint64_t>(size, PATH_MAX));
    int64_t n = files_.Getcwd(out);
    if (n <= 0) {
        return n;
    }
    return memory_.CopyToUser(GuestVirtAddr(buf), std::span(out.data(), n)).ok() ? n : -EFAULT;
}

int64_t GuestProcess::Chdir(uint64_t path) {
    std::string p;
    if (int64_t r = ReadPath(path, p); r < 0) {
        return r;
    }
    if (p.empty()) {
        return -ENOENT;
    }
    return files_.ChdirAt(kCwdHandle, p);
}

int64_t GuestProcess::Fchdir(int64_t fd) {
    std::shared_ptr<OpenFile> file = fds_.Get(fd);
    if (!file) {
        return -EBADF;
    }
    return file->is_stdio() ? -ENOTDIR : files_.ChdirAt(file->handle(), "");
}

int64_t GuestProcess::Dup(int64_t fd) {
    std::shared_ptr<OpenFile> file = fds_.Get(fd);
    if (!file) {
        return -EBADF;
    }
    return fds_.Install(std::move(file), /*cloexec=*/false);
}

int64_t GuestProcess::Dup3(int64_t oldfd, int64_t newfd, uint64_t flags, bool dup2) {
    if (!dup2 && (flags & ~uint64_t{O_CLOEXEC}) != 0) {
        return -EINVAL;
    }
    std::shared_ptr<OpenFile> file = fds_.Get(oldfd);
    if (!file) {
        return -EBADF;
    }
    if (oldfd == newfd) {
        return dup2 ? newfd : -EINVAL;
    }
    if (newfd < 0 || newfd >= FdTable::kMaxFds) {
        return -EBADF;
    }
    return fds_.InstallAt(static_cast<int>(newfd), std::move(file), (flags & O_CLOEXEC) != 0);
}

int64_t GuestProcess::Umask(uint64_t mask) {
    uint32_t old = umask_;
    umask_ = static_cast<uint32_t>(mask) & 0777;
    return old;
}

int64_t GuestProcess::SendFile(int64_t out_fd, int64_t in_fd, uint64_t offset_ptr, uint64_t count) {
    std::shared_ptr<OpenFile> in = fds_.Get(in_fd);
    std::shared_ptr<OpenFile> out = fds_.Get(out_fd);
    if (!in || !out) {
        return -EBADF;
    }
    if (in->is_stdio()) {
        return -EINVAL;  // As Linux for a pipe or terminal on the input side.
    }
    int64_t offset = -1;
    if (offset_ptr != 0) {
        if (!memory_
                 .CopyFromUser(GuestVirtAddr(offset_ptr),
                               std::as_writable_bytes(std::span(&offset, 1)))
                 .ok()) {
            return -EFAULT;
        }
        if (offset < 0) {
            return -EINVAL;
        }
    }
    // Writes all of `data` to `out`: the count written before a failure, or -errno.
    auto write_all = [&](std::span<const std::byte> data) -> int64_t {
        int64_t written = 0;
        while (static_cast<size_t>(written) < data.size()) {
            std::span<const std::byte> rest = data.subspan(written);
            int64_t w;
            if (out->is_stdio()) {
                w = ::write(out->host_fd(), rest.data(), rest.size());
                if (w < 0) {
                    w = errno == EPIPE ? BrokenPipe() : -errno;
                }
            } else {
                w = files_.Write(out->handle(), rest);
            }
            if (w <= 0) {
                return written > 0 ? written : (w < 0 ? w : -EIO);
            }
            written += w;
        }
        return written;
    };

    count = std::min(count, kMaxRw);
    int64_t total = 0;
    std::vector<std::byte> buffer;
    while (static_cast<uint64_t>(total) < count) {
        uint64_t chunk = std::min<uint64_t>(count - total, transport::kMaxData);
        buffer.resize(chunk);
        int64_t n = offset_ptr != 0 ? files_.Pread(in->handle(), buffer, offset + total)
                                    : files_.Read(in->handle(), buffer);
        if (n <= 0) {
            if (n < 0 && total == 0) {
                return n;
            }
            break;
        }
        int64_t w = write_all(std::span(buffer.data(), n));
        if (w < n) {
            // Give back what was read but not written, so the input offset stays right.
            int64_t unwritten = n - std::max<int64_t>(w, 0);
            if (offset_ptr == 0) {
                (void)files_.Lseek(in->handle(), -unwritten, SEEK_CUR);
            }
            if (w <= 0 && total == 0) {
                return w < 0 ? w : 0;
            }
            total += std::max<int64_t>(w, 0);
            break;
        }
        total += n;
        if (static_cast<uint64_t>(n) < chunk) {
            break;
        }
    }
    if (offset_ptr != 0) {
        int64_t end = offset + total;
        (void)memory_.CopyToUser(GuestVirtAddr(offset_ptr), std::as_bytes(std::span(&end, 1)));
    }
    return total;
}

int64_t GuestProcess::Fadvise(int64_t fd, uint64_t advice) {
    std::shared_ptr<OpenFile> file = fds_.Get(fd);
    if (!file) {
        return -EBADF;
    }
    if (advice > POSIX_FADV_NOREUSE) {
        return -EINVAL;
    }
    // Advice about the page cache of the I/O server's host: accepted, with no effect on results.
    return file->is_stdio() ? -ESPIPE : 0;
}

int64_t GuestProcess::UtimensAt(int64_t dirfd, uint64_t path, uint64_t times, uint64_t flags) {
    (void)times;
    // The protocol has no call that sets file times yet. A missing file is reported as Linux
    // would (programs such as touch then create it); setting the times of an existing file
    // fails with ENOSYS.
    if (path == 0) {
        return Unsupported(280);
    }
    std::string p;
    if (int64_t r = ReadPath(path, p); r < 0) {
        return r;
    }
    if (p.empty() && (flags & AT_EMPTY_PATH) == 0) {
        return -ENOENT;
    }
    transport::Handle dir = kCwdHandle;
    if (int64_t r = DirHandle(dirfd, p, dir); r < 0) {
        return r;
    }
    struct stat st {};
    int64_t r = files_.StatAt(dir, p, static_cast<int32_t>(flags & AT_SYMLINK_NOFOLLOW), &st);
    return r < 0 ? r : Unsupported(280);
}

}  // namespace tw::hyperlight
