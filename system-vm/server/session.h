// Session: one tenant's view of the file system inside the I/O server - its root, its working
// directory and its table of open handles - and the file calls executed in it.
//
// Confinement rule: a path from the guest reaches the kernel only through openat2(root,
// RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS). Relative paths are first turned into a path from
// the root (the canonical path of their base directory, then the guest's path), so ".." walks
// up the way Linux does and stops at the root. Calls that act on a name instead of opening it
// (mkdir, unlink, rename, lstat, readlink, ...) open the parent that way and act with the *at
// call on the final component alone, which the kernel cannot follow anywhere.
//
// Every method returns what the Linux system call would: >= 0, or -errno with no side effect.
#pragma once

#include <fcntl.h>
#include <linux/stat.h>
#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace tw::system_vm {

// Open handles per session; the next open fails with EMFILE.
inline constexpr size_t kMaxHandlesPerSession = 1024;

class Session {
public:
    // Opens tenants_dir/tenant. ENOENT when there is no such tenant directory, EINVAL for a
    // name that is not [a-z0-9_-]{1,64}.
    static Result<std::unique_ptr<Session>> Open(const std::string& tenants_dir,
                                                 std::string_view tenant);

    int64_t OpenAt(int32_t dir, std::string_view path, int32_t flags, uint32_t mode);
    int64_t Close(int32_t h);
    int64_t Read(int32_t h, std::span<std::byte> out);
    int64_t Pread(int32_t h, std::span<std::byte> out, int64_t offset);
    int64_t Write(int32_t h, std::span<const std::byte> in);
    int64_t Pwrite(int32_t h, std::span<const std::byte> in, int64_t offset);
    int64_t Lseek(int32_t h, int64_t offset, int32_t whence);
    int64_t Fstat(int32_t h, struct stat* out);
    int64_t StatAt(int32_t dir, std::string_view path, int32_t flags, struct stat* out);
    int64_t Statx(int32_t dir, std::string_view path, int32_t flags, uint32_t mask,
                  struct statx* out);
    int64_t Getdents64(int32_t h, std::span<std::byte> out);
    int64_t ReadlinkAt(int32_t dir, std::string_view path, std::span<std::byte> out);
    int64_t MkdirAt(int32_t dir, std::string_view path, uint32_t mode);
    int64_t UnlinkAt(int32_t dir, std::string_view path, int32_t flags);
    int64_t RenameAt2(int32_t old_dir, std::string_view old_path, int32_t new_dir,
                      std::string_view new_path, uint32_t flags);
    int64_t FaccessAt(int32_t dir, std::string_view path, int32_t mode, int32_t flags);
    int64_t Fcntl(int32_t h, int32_t cmd, int64_t arg);
    int64_t Ftruncate(int32_t h, int64_t length);
    int64_t Fsync(int32_t h);
    // The working directory as a path from the tenant root ("/" for the root itself).
    int64_t Getcwd(std::string* out);
    int64_t ChdirAt(int32_t dir, std::string_view path);

    // Flushes the file system holding the tenant root.
    void Sync();

    size_t open_handles() const;

private:
    Session() = default;

    // Where the final component of a name-acting call sits.
    enum class Last { kName, kDot, kDotDot, kRoot };
    struct Parent {
        UniqueFd dir;      // O_PATH of the parent, resolved in the root
        std::string name;  // final component (kName only)
        Last kind = Last::kName;
        bool trailing_slash = false;
    };

    // What a stat/statx/access call acts on: (fd, "", AT_EMPTY_PATH) for an opened target, or
    // (parent, name, AT_SYMLINK_NOFOLLOW) for a final component that must not be followed.
    struct Target {
        UniqueFd owned;
        int fd = -1;
        std::string name;
        int at_flags = 0;
    };

    // The fd a handle number names; -EBADF when there is none.
    int64_t HandleFd(int32_t h, int* fd) const;
    // The base directory of a relative path: a handle or the working directory.
    int64_t BaseFd(int32_t dir, int* fd) const;
    // The path of directory `fd` from the tenant root; -ENOTDIR unless `fd` is a directory,
    // -ENOENT when it was removed or is no longer under the root.
    int64_t PathFromRoot(int fd, std::string* out) const;
    // `path` made absolute (from the root) against `dir`. -ENOENT for an empty path.
    int64_t Compose(int32_t dir, std::string_view path, std::string* out) const;
    // openat2(root, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): the only way a guest path
    // reaches the kernel.
    int64_t OpenInRoot(const std::string& path, uint64_t flags, uint64_t mode, UniqueFd* out) const;
    // Compose() then OpenInRoot(), following a final symlink unless `flags` has O_NOFOLLOW.
    int64_t OpenPath(int32_t dir, std::string_view path, uint64_t flags, UniqueFd* out) const;
    int64_t OpenParent(int32_t dir, std::string_view path, Parent* out) const;
    // Resolves `path` for a call taking AT_SYMLINK_NOFOLLOW / AT_EMPTY_PATH in `at_flags`.
    int64_t ResolveTarget(int32_t dir, std::string_view path, int32_t at_flags, Target* out) const;
    // The lowest free handle number, or -EMFILE.
    int64_t FreeSlot() const;
    int64_t AddHandle(int64_t slot, UniqueFd fd);
    bool IsRoot(const struct stat& st) const;

    UniqueFd root_;
    std::string root_host_path_;  // where the root is in the server's mount namespace
    dev_t root_dev_ = 0;
    ino_t root_ino_ = 0;
    UniqueFd cwd_;
    bool cwd_is_root_ = true;
    std::vector<UniqueFd> handles_;
};

}  // namespace tw::system_vm
