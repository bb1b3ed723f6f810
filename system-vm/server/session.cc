#include "session.h"

#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "transport/codec.h"

namespace tw::system_vm {
namespace {

constexpr uint64_t kResolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

// Flags openat(2) accepts. openat(2) ignores unknown bits but openat2(2) rejects them, so the
// guest's flags are masked first to keep openat(2) behaviour. O_ASYNC is left out: open(2)
// ignores it too.
constexpr uint64_t kKnownOpenFlags =
    O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK | O_DSYNC | O_SYNC |
    O_DIRECT | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_PATH | O_TMPFILE;
// open(2) drops every other flag when O_PATH is set; openat2(2) would fail with EINVAL.
constexpr uint64_t kPathOpenFlags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
// File status flags F_SETFL may change. O_ASYNC is refused: it would aim SIGIO at the server.
constexpr int kSetflFlags = O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME;
constexpr uint32_t kModeBits = 07777;

int64_t Sys(int64_t r) {
    return r < 0 ? -static_cast<int64_t>(errno) : r;
}

int64_t NegErrno() {
    return -static_cast<int64_t>(errno);
}

int Faccessat2(int dirfd, const char* path, int mode, int flags) {
    return static_cast<int>(syscall(SYS_faccessat2, dirfd, path, mode, flags));
}

// The path the kernel shows for `fd` in this process's mount namespace.
int64_t FdPath(int fd, std::string* out) {
    char link[64];
    std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    std::string buf(PATH_MAX, '\0');
    ssize_t n = readlink(link, buf.data(), buf.size());
    if (n < 0) {
        return NegErrno();
    }
    if (static_cast<size_t>(n) == buf.size()) {
        return -ENAMETOOLONG;
    }
    buf.resize(static_cast<size_t>(n));
    *out = std::move(buf);
    return 0;
}

// Only regular files and directories are opened for I/O. A FIFO would block the server in
// open() or read(), and a device node would reach a host driver; tenant storage is expected
// to be mounted nodev, and this keeps the server safe where it is not.
bool OpenableType(mode_t mode) {
    return S_ISREG(mode) || S_ISDIR(mode);
}

}  // namespace

Result<std::unique_ptr<Session>> Session::Open(const std::string& tenants_dir,
                                               std::string_view tenant) {
    if (!transport::IsValidTenantName(tenant)) {
        return Error(EINVAL, "invalid tenant name");
    }
    // The tenant name is one validated component; the tenants directory belongs to the
    // operator, so its own symlinks are followed on purpose.
    std::string path = tenants_dir + "/" + std::string(tenant);
    UniqueFd root(open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) {
        int err = errno == ENOTDIR ? ENOENT : errno;
        return Error(err, "open tenant root " + path);
    }

    std::unique_ptr<Session> s(new Session());
    struct stat st;
    if (fstat(root.get(), &st) < 0) {
        return Error::FromErrno("stat tenant root " + path);
    }
    s->root_dev_ = st.st_dev;
    s->root_ino_ = st.st_ino;
    if (int64_t r = FdPath(root.get(), &s->root_host_path_); r < 0) {
        return Error(static_cast<int>(-r), "resolve tenant root " + path);
    }
    s->cwd_.Reset(fcntl(root.get(), F_DUPFD_CLOEXEC, 0));
    if (!s->cwd_) {
        return Error::FromErrno("dup tenant root");
    }
    s->root_ = std::move(root);
    return s;
}

// ---------------------------------------------------------------------------------------------
// Path resolution.

bool Session::IsRoot(const struct stat& st) const {
    return st.st_dev == root_dev_ && st.st_ino == root_ino_;
}

int64_t Session::HandleFd(int32_t h, int* fd) const {
    if (h < 0 || static_cast<size_t>(h) >= handles_.size() || !handles_[h].valid()) {
        return -EBADF;
    }
    *fd = handles_[h].get();
    return 0;
}

int64_t Session::BaseFd(int32_t dir, int* fd) const {
    if (dir == AT_FDCWD) {
        *fd = cwd_.get();
        return 0;
    }
    return HandleFd(dir, fd);
}

int64_t Session::PathFromRoot(int fd, std::string* out) const {
    struct stat st;
    if (fstat(fd, &st) < 0) {
        return NegErrno();
    }
    if (!S_ISDIR(st.st_mode)) {
        return -ENOTDIR;
    }
    if (IsRoot(st)) {
        *out = "/";
        return 0;
    }
    // A removed directory has no path; Linux fails lookups relative to it with ENOENT.
    if (st.st_nlink == 0) {
        return -ENOENT;
    }
    std::string host;
    if (int64_t r = FdPath(fd, &host); r < 0) {
        return r;
    }
    const std::string& root = root_host_path_;
    if (host.size() <= root.size() || host.compare(0, root.size(), root) != 0 ||
        host[root.size()] != '/') {
        // Moved out from under the root by someone outside the tenant: treat as gone.
        return -ENOENT;
    }
    *out = host.substr(root.size());
    return 0;
}

int64_t Session::Compose(int32_t dir, std::string_view path, std::string* out) const {
    if (path.empty()) {
        return -ENOENT;
    }
    if (path.front() == '/') {
        *out = std::string(path);
        return 0;
    }
    // As in Linux, the base only matters for a relative path.
    int base;
    if (int64_t r = BaseFd(dir, &base); r < 0) {
        return r;
    }
    std::string prefix = "/";
    if (!(dir == AT_FDCWD && cwd_is_root_)) {
        if (int64_t r = PathFromRoot(base, &prefix); r < 0) {
            return r;
        }
    }
    if (prefix.back() != '/') {
        prefix.push_back('/');
    }
    prefix.append(path);
    *out = std::move(prefix);
    return 0;
}

int64_t Session::OpenInRoot(const std::string& path, uint64_t flags, uint64_t mode,
                            UniqueFd* out) const {
    open_how how{};
    how.flags = flags | O_CLOEXEC;
    how.mode = mode;
    how.resolve = kResolve;
    for (int attempt = 0;; ++attempt) {
        long fd = syscall(SYS_openat2, root_.get(), path.c_str(), &how, sizeof(how));
        if (fd >= 0) {
            out->Reset(static_cast<int>(fd));
            return 0;
        }
        // openat2 fails with EAGAIN when a rename or mount raced with an IN_ROOT walk and
        // asks the caller to retry; a few attempts are plenty.
        if (errno == EINTR || (errno == EAGAIN && attempt < 8)) {
            continue;
        }
        return NegErrno();
    }
}

int64_t Session::OpenPath(int32_t dir, std::string_view path, uint64_t flags, UniqueFd* out) const {
    std::string full;
    if (int64_t r = Compose(dir, path, &full); r < 0) {
        return r;
    }
    return OpenInRoot(full, flags, 0, out);
}

int64_t Session::OpenParent(int32_t dir, std::string_view path, Parent* out) const {
    std::string full;
    if (int64_t r = Compose(dir, path, &full); r < 0) {
        return r;
    }
    size_t end = full.size();
    while (end > 1 && full[end - 1] == '/') {
        --end;
        out->trailing_slash = true;
    }
    full.resize(end);

    std::string parent = "/";
    if (full == "/") {
        out->kind = Last::kRoot;
    } else {
        size_t slash = full.rfind('/');  // Compose() made the path absolute.
        out->name = full.substr(slash + 1);
        if (slash > 0) {
            parent = full.substr(0, slash);
        }
        out->kind = out->name == "." ? Last::kDot : out->name == ".." ? Last::kDotDot : Last::kName;
    }
    return OpenInRoot(parent, O_PATH | O_DIRECTORY, 0, &out->dir);
}

int64_t Session::ResolveTarget(int32_t dir, std::string_view path, int32_t at_flags,
                               Target* out) const {
    if (path.empty()) {
        if (!(at_flags & AT_EMPTY_PATH)) {
            return -ENOENT;
        }
        out->at_flags = AT_EMPTY_PATH;
        return BaseFd(dir, &out->fd);
    }
    if (at_flags & AT_SYMLINK_NOFOLLOW) {
        Parent p;
        if (int64_t r = OpenParent(dir, path, &p); r < 0) {
            return r;
        }
        // "name/" makes Linux follow a final symlink; ".", ".." and "/" are directories.
        if (p.kind == Last::kName && !p.trailing_slash) {
            out->owned = std::move(p.dir);
            out->fd = out->owned.get();
            out->name = std::move(p.name);
            out->at_flags = AT_SYMLINK_NOFOLLOW;
            return 0;
        }
    }
    if (int64_t r = OpenPath(dir, path, O_PATH, &out->owned); r < 0) {
        return r;
    }
    out->fd = out->owned.get();
    out->at_flags = AT_EMPTY_PATH;
    return 0;
}

int64_t Session::FreeSlot() const {
    for (size_t i = 0; i < handles_.size(); ++i) {
        if (!handles_[i].valid()) {
            return static_cast<int64_t>(i);
        }
    }
    if (handles_.size() >= kMaxHandlesPerSession) {
        return -EMFILE;
    }
    return static_cast<int64_t>(handles_.size());
}

int64_t Session::AddHandle(int64_t slot, UniqueFd fd) {
    size_t i = static_cast<size_t>(slot);
    if (i == handles_.size()) {
        handles_.emplace_back();
    }
    handles_[i] = std::move(fd);
    return slot;
}

size_t Session::open_handles() const {
    size_t n = 0;
    for (const UniqueFd& fd : handles_) {
        n += fd.valid() ? 1 : 0;
    }
    return n;
}

// ---------------------------------------------------------------------------------------------
// Calls.

int64_t Session::OpenAt(int32_t dir, std::string_view path, int32_t flags, uint32_t mode) {
    // Checked first so a full table cannot leave a created or truncated file behind.
    int64_t slot = FreeSlot();
    if (slot < 0) {
        return slot;
    }
    std::string full;
    if (int64_t r = Compose(dir, path, &full); r < 0) {
        return r;
    }

    uint64_t f = static_cast<uint32_t>(flags) & kKnownOpenFlags;
    UniqueFd fd;
    if (f & O_PATH) {
        if (int64_t r = OpenInRoot(full, f & kPathOpenFlags, 0, &fd); r < 0) {
            return r;
        }
        return AddHandle(slot, std::move(fd));
    }

    bool tmpfile = (f & O_TMPFILE) == O_TMPFILE;
    bool creating = (f & O_CREAT) || tmpfile;
    uint64_t m = creating ? (mode & kModeBits) : 0;

    // Look before opening, so a FIFO or device node is refused before open() touches it. A
    // new file (O_CREAT|O_EXCL, O_TMPFILE) is regular by construction.
    if (!tmpfile && !((f & O_CREAT) && (f & O_EXCL))) {
        UniqueFd probe;
        struct stat st;
        if (OpenInRoot(full, O_PATH | (f & (O_NOFOLLOW | O_DIRECTORY)), 0, &probe) == 0 &&
            fstat(probe.get(), &st) == 0 && !OpenableType(st.st_mode) && !S_ISLNK(st.st_mode)) {
            return -ENXIO;
        }
    }
    // O_NONBLOCK keeps a FIFO swapped in after the look from blocking open(); it is taken off
    // again below when the guest did not ask for it.
    if (int64_t r = OpenInRoot(full, f | O_NONBLOCK, m, &fd); r < 0) {
        return r;
    }
    struct stat st;
    if (fstat(fd.get(), &st) < 0) {
        return NegErrno();
    }
    if (!OpenableType(st.st_mode)) {
        return -ENXIO;
    }
    if (!(f & O_NONBLOCK) && fcntl(fd.get(), F_SETFL, static_cast<int>(f) & kSetflFlags) < 0) {
        return NegErrno();
    }
    return AddHandle(slot, std::move(fd));
}

int64_t Session::Close(int32_t h) {
    int fd;
    if (int64_t r = HandleFd(h, &fd); r < 0) {
        return r;
    }
    handles_[h].Reset();
    return 0;
}

int64_t Session::Read(int32_t h, std::span<std::byte> out) {
    int fd;
    if (int64_t r = HandleFd(h, &fd); r < 0) {
        return r;
    }
    ssize_t n;
    do {
        n = read(fd, out.data(), out.size());
    } while (n < 0 && errno == EINTR);
    return Sys(n);
}

int64_t Session::Pread(int32_t h, std::span<std::byte> out, int64_t offset) {
    int fd;
    if (int64_t r = HandleFd(h, &fd); r < 0) {
        return r;
    }
    ssize_t n;
    do {
        n = pread(fd, out.data(), out.size(), offset);
    } while (n < 0 && errno == EINTR);
    return Sys(n);
}

int64_t Session::Write(int32_t h, std::span<const std::byte> in) {
    int fd;
    if (int64_t r = HandleFd(h, &fd); r < 0) {
        return r;
    }
    ssize_t n;
    do {
        n = write(fd, in.data(), in.size());
    } while (n < 0 && errno == EINTR);
    return Sys(n);
}

int64_t Session::Pwrite(int32_t h, std::span<const std::byte> in, int64_t offset) {
    int fd;
    if (int64_t r = HandleFd(h, &fd); r < 0) {
        return r;
    }
    ssize_t n;
    do {
        n = pwrite(fd, in.data(), in.size(), offset);
    } while (n < 0 && errno == EINTR);
    return Sys(n);
}

int64_t Session::Lseek(int32_t h, int64_t offset, int32_t whence) {
    int fd;
    if (int64_t r = HandleFd(h, &fd); r < 0) {
        return r;
    }
    return Sys(lseek(fd, offset, whence));
}

int64_t Session::Fstat(int32_t h, struct stat* out) {
    int fd;
    if (int64_t r = HandleFd(h, &fd); r < 0) {
        return r;
    }
    return Sys(fstat(fd, out));
}

int64_t Session::StatAt(int32_t dir, std::string_view path, int32_t flags, struct stat* out) {
    if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT)) {
        return -EINVAL;
    }
    Target t;
    if (int64_t r = ResolveTarget(dir, path, flags, &t); r < 0) {
        return r;
    }
    return Sys(fstatat(t.fd, t.name.c_str(), out, t.at_flags | (flags & AT_NO_AUTOMOUNT)));
}

int64_t Session::Statx(int32_t dir, std::string_view path, int32_t flags, uint32_t mask,
                       struct statx* out) {
    constexpr int kPassed = AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE;
    if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | kPassed)) {
        return -EINVAL;
    }
    Target t;
    if (int64_t r = ResolveTarget(dir, path, flags, &t); r < 0) {
        return r;
    }
    return Sys(statx(t.fd, t.name.c_str(), t.at_flags | (flags & kPassed), mask, out));
}

int64_t Session::Getdents64(int32_t h, std::span<std::byte> out) {
    int fd;
    if (int64_t r = HandleFd(h, &fd); r < 0) {
        return r;
    }
    return Sys(syscall(SYS_getdents64, fd, out.data(), out.size()));
}

int64_t Session::ReadlinkAt(int32_t dir, std::string_view path, std::span<std::byte> out) {
    if (out.empty()) {
        return -EINVAL;
    }
    char* buf = reinterpret_cast<char*>(out.data());
    if (path.empty()) {
        // readlinkat(fd, "") reads the symlink an O_PATH|O_NOFOLLOW handle refers to.
        int fd;
        if (int64_t r = BaseFd(dir, &fd); r < 0) {
            return r;
        }
        return Sys(readlinkat(fd, "", buf, out.size()));
    }
    Parent p;
    if (int64_t r = OpenParent(dir, path, &p); r < 0) {
        return r;
    }
    if (p.kind != Last::kName || p.trailing_slash) {
        // Names a directory (or follows a link to one): not a symlink, if it exists at all.
        UniqueFd fd;
        int64_t r = OpenPath(dir, path, O_PATH, &fd);
        return r < 0 ? r : -EINVAL;
    }
    return Sys(readlinkat(p.dir.get(), p.name.c_str(), buf, out.size()));
}

int64_t Session::MkdirAt(int32_t dir, std::string_view path, uint32_t mode) {
    Parent p;
    if (int64_t r = OpenParent(dir, path, &p); r < 0) {
        return r;
    }
    if (p.kind != Last::kName) {
        return -EEXIST;
    }
    return Sys(mkdirat(p.dir.get(), p.name.c_str(), mode & kModeBits));
}

int64_t Session::UnlinkAt(int32_t dir, std::string_view path, int32_t flags) {
    if (flags & ~AT_REMOVEDIR) {
        return -EINVAL;
    }
    bool rmdir = (flags & AT_REMOVEDIR) != 0;
    Parent p;
    if (int64_t r = OpenParent(dir, path, &p); r < 0) {
        return r;
    }
    // The errors Linux gives for a final "/", "." or "..".
    switch (p.kind) {
        case Last::kRoot:
            return rmdir ? -EBUSY : -EISDIR;
        case Last::kDot:
            return rmdir ? -EINVAL : -EISDIR;
        case Last::kDotDot:
            return rmdir ? -ENOTEMPTY : -EISDIR;
        case Last::kName:
            break;
    }
    if (!rmdir && p.trailing_slash) {
        struct stat st;
        if (fstatat(p.dir.get(), p.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
            return NegErrno();
        }
        return S_ISDIR(st.st_mode) ? -EISDIR : -ENOTDIR;
    }
    return Sys(unlinkat(p.dir.get(), p.name.c_str(), rmdir ? AT_REMOVEDIR : 0));
}

int64_t Session::RenameAt2(int32_t old_dir, std::string_view old_path, int32_t new_dir,
                           std::string_view new_path, uint32_t flags) {
    // RENAME_WHITEOUT is refused: it creates a device node and needs CAP_MKNOD.
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
        return -EINVAL;
    }
    if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE)) {
        return -EINVAL;
    }
    Parent from, to;
    if (int64_t r = OpenParent(old_dir, old_path, &from); r < 0) {
        return r;
    }
    if (int64_t r = OpenParent(new_dir, new_path, &to); r < 0) {
        return r;
    }
    if (from.kind != Last::kName || to.kind != Last::kName) {
        return -EBUSY;
    }
    if (from.trailing_slash || to.trailing_slash) {
        // A trailing slash on either side is only valid when the source is a directory.
        struct stat st;
        if (fstatat(from.dir.get(), from.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
            return NegErrno();
        }
        if (!S_ISDIR(st.st_mode)) {
            return -ENOTDIR;
        }
    }
    return Sys(renameat2(from.dir.get(), from.name.c_str(), to.dir.get(), to.name.c_str(), flags));
}

int64_t Session::FaccessAt(int32_t dir, std::string_view path, int32_t mode, int32_t flags) {
    if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EACCESS | AT_EMPTY_PATH)) {
        return -EINVAL;
    }
    if (mode & ~(R_OK | W_OK | X_OK)) {
        return -EINVAL;
    }
    Target t;
    if (int64_t r = ResolveTarget(dir, path, flags, &t); r < 0) {
        return r;
    }
    return Sys(Faccessat2(t.fd, t.name.c_str(), mode, t.at_flags | (flags & AT_EACCESS)));
}

int64_t Session::Fcntl(int32_t h, int32_t cmd, int64_t arg) {
    int fd;
    if (int64_t r = HandleFd(h, &fd); r < 0) {
        return r;
    }
    switch (cmd) {
        case F_GETFL:
            return Sys(fcntl(fd, F_GETFL));
        case F_SETFL:
            return Sys(fcntl(fd, F_SETFL, static_cast<int>(arg) & kSetflFlags));
        default:
            return -EINVAL;
    }
}

int64_t Session::Ftruncate(int32_t h, int64_t length) {
    int fd;
    if (int64_t r = HandleFd(h, &fd); r < 0) {
        return r;
    }
    return Sys(ftruncate(fd, length));
}

int64_t Session::Fsync(int32_t h) {
    int fd;
    if (int64_t r = HandleFd(h, &fd); r < 0) {
        return r;
    }
    return Sys(fsync(fd));
}

int64_t Session::Getcwd(std::string* out) {
    if (cwd_is_root_) {
        *out = "/";
        return 0;
    }
    return PathFromRoot(cwd_.get(), out);
}

int64_t Session::ChdirAt(int32_t dir, std::string_view path) {
    UniqueFd fd;
    if (path.empty() && dir != AT_FDCWD) {
        int h;
        if (int64_t r = HandleFd(dir, &h); r < 0) {
            return r;
        }
        fd.Reset(fcntl(h, F_DUPFD_CLOEXEC, 0));
        if (!fd) {
            return NegErrno();
        }
    } else if (int64_t r = OpenPath(dir, path, O_PATH | O_DIRECTORY, &fd); r < 0) {
        return r;
    }
    struct stat st;
    if (fstat(fd.get(), &st) < 0) {
        return NegErrno();
    }
    if (!S_ISDIR(st.st_mode)) {
        return -ENOTDIR;
    }
    // chdir(2) needs search permission on the new directory.
    if (Faccessat2(fd.get(), "", X_OK, AT_EMPTY_PATH | AT_EACCESS) < 0) {
        return NegErrno();
    }
    cwd_ = std::move(fd);
    cwd_is_root_ = IsRoot(st);
    return 0;
}

void Session::Sync() {
    // syncfs() does not take O_PATH descriptors, so open the root for reading; "." is a
    // constant, not a guest path.
    UniqueFd dir(openat(root_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir) {
        syncfs(dir.get());
    }
}

}  // namespace tw::system_vm
