// The program's file descriptor table, kept by the VMM.
//
// A guest fd names an OpenFile: one of the runner's own standard streams (relayed), or a
// handle to an open file description on the I/O server. dup() shares the OpenFile, so offsets
// and status flags are shared exactly as on Linux; the server handle is closed when the last
// fd naming it is closed. The close-on-exec flag belongs to the fd, not the file.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "transport/file_client.h"

namespace tw::hyperlight {

class OpenFile {
public:
    // One of the runner's standard streams; `host_fd` is 0, 1 or 2.
    static std::shared_ptr<OpenFile> Stdio(int host_fd);
    // A handle opened on the I/O server through `client`.
    static std::shared_ptr<OpenFile> Server(transport::FileClient* client,
                                            transport::Handle handle);
    ~OpenFile();
    OpenFile(const OpenFile&) = delete;
    OpenFile& operator=(const OpenFile&) = delete;

    bool is_stdio() const { return client_ == nullptr; }
    int host_fd() const { return host_fd_; }
    transport::Handle handle() const { return handle_; }

    // Status flags the program set with F_SETFL on a relayed stream (O_NONBLOCK, O_APPEND);
    // the runner's own descriptors are left alone.
    int stdio_flags() const { return stdio_flags_; }
    void set_stdio_flags(int flags) { stdio_flags_ = flags; }

    // Closes the server handle now and returns the server's answer (0 or -errno).
    int64_t CloseNow();

private:
    OpenFile() = default;

    transport::FileClient* client_ = nullptr;
    transport::Handle handle_ = -1;
    int host_fd_ = -1;
    int stdio_flags_ = 0;
    bool closed_ = false;
};

class FdTable {
public:
    // RLIMIT_NOFILE as the program sees it.
    static constexpr int kMaxFds = 1024;

    // The lowest free fd >= min_fd, or -EMFILE (-EINVAL for a min_fd out of range).
    int Install(std::shared_ptr<OpenFile> file, bool cloexec, int min_fd = 0);
    // Puts `file` at `fd`, closing what was there (dup2/dup3). -EBADF when out of range.
    int InstallAt(int fd, std::shared_ptr<OpenFile> file, bool cloexec);

    // Null for a closed or out-of-range fd.
    std::shared_ptr<OpenFile> Get(int64_t fd) const;
    bool cloexec(int fd) const;
    void set_cloexec(int fd, bool cloexec);

    // 0, or -EBADF; the server's answer when this was the last fd of a server file.
    int64_t Close(int64_t fd);

private:
    struct Entry {
        std::shared_ptr<OpenFile> file;
        bool cloexec = false;
    };
    std::vector<Entry> entries_;
};

}  // namespace tw::hyperlight
