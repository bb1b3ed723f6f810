// FileClient: the client side of one session of the I/O protocol.
//
// Each method mirrors the Linux system call it forwards and returns what the kernel would: a
// non-negative result, or -errno with no side effect. Buffers are host views of guest memory
// that the caller has already bounds-checked; the client fills or drains them directly, so no
// copy happens inside the guest. Large reads and writes are split into protocol-sized chunks.
//
//   TW_ASSIGN_OR_RETURN(auto client, FileClient::Open(std::move(link), 7, "default"));
//   int64_t h = client->OpenAt(kCwdHandle, "/bin/busybox", O_RDONLY, 0);
//
// One FileClient is used by one thread; many sessions may share one link through a mux.
#pragma once

#include <fcntl.h>
#include <linux/stat.h>
#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "common/result.h"
#include "transport/link.h"

namespace tw::transport {

// A server-side open file description, as a small integer private to one session.
using Handle = int32_t;

// Stands for the session's working directory wherever a directory handle is expected.
inline constexpr Handle kCwdHandle = AT_FDCWD;

class FileClient {
public:
    // Sends kSessionOpen for `tenant` on `link` and waits for the answer. Fails with ENOENT
    // for an unknown tenant, EPROTO for a peer speaking another protocol version.
    static Result<std::unique_ptr<FileClient>> Open(std::unique_ptr<Link> link,
                                                    uint32_t session_id, std::string_view tenant);
    ~FileClient();  // Sends kSessionClose; the server frees every handle of the session.

    int64_t OpenAt(Handle dir, std::string_view path, int32_t flags, uint32_t mode);
    int64_t Close(Handle h);
    int64_t Read(Handle h, std::span<std::byte> out);
    int64_t Pread(Handle h, std::span<std::byte> out, int64_t offset);
    int64_t Write(Handle h, std::span<const std::byte> in);
    int64_t Pwrite(Handle h, std::span<const std::byte> in, int64_t offset);
    int64_t Lseek(Handle h, int64_t offset, int32_t whence);
    int64_t Fstat(Handle h, struct stat* out);
    // newfstatat; flags may hold AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH.
    int64_t StatAt(Handle dir, std::string_view path, int32_t flags, struct stat* out);
    int64_t Statx(Handle dir, std::string_view path, int32_t flags, uint32_t mask,
                  struct statx* out);
    int64_t Getdents64(Handle h, std::span<std::byte> out);
    int64_t ReadlinkAt(Handle dir, std::string_view path, std::span<std::byte> out);
    int64_t MkdirAt(Handle dir, std::string_view path, uint32_t mode);
    int64_t UnlinkAt(Handle dir, std::string_view path, int32_t flags);
    int64_t RenameAt2(Handle old_dir, std::string_view old_path, Handle new_dir,
                      std::string_view new_path, uint32_t flags);
    int64_t FaccessAt(Handle dir, std::string_view path, int32_t mode, int32_t flags);
    // File status flags only (F_GETFL, F_SETFL); descriptor flags live in the caller's table.
    int64_t Fcntl(Handle h, int32_t cmd, int64_t arg);
    int64_t Ftruncate(Handle h, int64_t length);
    int64_t Fsync(Handle h);
    // As getcwd(2): the path inside the tenant root, NUL-terminated; returns its length with
    // the NUL, ERANGE when `out` is too small.
    int64_t Getcwd(std::span<std::byte> out);
    // chdir(path) with dir = kCwdHandle; fchdir(h) with path "".
    int64_t ChdirAt(Handle dir, std::string_view path);

private:
    FileClient(std::unique_ptr<Link> link, uint32_t session_id);
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tw::transport
