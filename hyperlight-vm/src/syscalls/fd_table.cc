#include "syscalls/fd_table.h"

#include <cerrno>

namespace tw::hyperlight {

std::shared_ptr<OpenFile> OpenFile::Stdio(int host_fd) {
    std::shared_ptr<OpenFile> file(new OpenFile());
    file->host_fd_ = host_fd;
    return file;
}

std::shared_ptr<OpenFile> OpenFile::Server(transport::FileClient* client,
                                           transport::Handle handle) {
    std::shared_ptr<OpenFile> file(new OpenFile());
    file->client_ = client;
    file->handle_ = handle;
    return file;
}

OpenFile::~OpenFile() {
    (void)CloseNow();
}

int64_t OpenFile::CloseNow() {
    if (client_ == nullptr || closed_) {
        return 0;
    }
    closed_ = true;
    return client_->Close(handle_);
}

int FdTable::Install(std::shared_ptr<OpenFile> file, bool cloexec, int min_fd) {
    if (min_fd < 0 || min_fd >= kMaxFds) {
        return -EINVAL;
    }
    for (int fd = min_fd; fd < kMaxFds; ++fd) {
        if (static_cast<size_t>(fd) >= entries_.size()) {
            entries_.resize(fd + 1);
        }
        if (!entries_[fd].file) {
            entries_[fd] = Entry{std::move(file), cloexec};
            return fd;
        }
    }
    return -EMFILE;
}

int FdTable::InstallAt(int fd, std::shared_ptr<OpenFile> file, bool cloexec) {
    if (fd < 0 || fd >= kMaxFds) {
        return -EBADF;
    }
    if (static_cast<size_t>(fd) >= entries_.size()) {
        entries_.resize(fd + 1);
    }
    // Replacing drops the old reference; a failure to close it is not reported, as dup2.
    entries_[fd] = Entry{std::move(file), cloexec};
    return fd;
}

std::shared_ptr<OpenFile> FdTable::Get(int64_t fd) const {
    if (fd < 0 || static_cast<uint64_t>(fd) >= entries_.size()) {
        return nullptr;
    }
    return entries_[fd].file;
}

bool FdTable::cloexec(int fd) const {
    return fd >= 0 && static_cast<size_t>(fd) < entries_.size() && entries_[fd].cloexec;
}

void FdTable::set_cloexec(int fd, bool cloexec) {
    if (fd >= 0 && static_cast<size_t>(fd) < entries_.size() && entries_[fd].file) {
        entries_[fd].cloexec = cloexec;
    }
}

int64_t FdTable::Close(int64_t fd) {
    if (fd < 0 || static_cast<uint64_t>(fd) >= entries_.size() || !entries_[fd].file) {
        return -EBADF;
    }
    std::shared_ptr<OpenFile> file = std::move(entries_[fd].file);
    entries_[fd] = Entry{};
    if (file.use_count() == 1) {
        return file->CloseNow();
    }
    return 0;
}

}  // namespace tw::hyperlight
