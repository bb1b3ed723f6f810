#include "transport/file_client.h"

#include <climits>
#include <cstring>

#include "transport/codec.h"

namespace tw::transport {
namespace {

static_assert(sizeof(struct stat) == kWireStatSize, "the wire carries the x86-64 struct stat");
static_assert(sizeof(struct statx) == kWireStatxSize, "the wire carries the x86-64 statx");

// Errors the client reports itself, without the server:
//   ENOTCONN      the link is gone (peer closed, server died); every later call fails the same
//                 way. FUSE reports a dead daemon the same way.
//   EIO           the peer answered something that is not a valid reply to our request; the
//                 client stops using the link.
//   ENAMETOOLONG  a path of PATH_MAX bytes or more, as the kernel reports it.
//   EINVAL        a path with an embedded NUL (a C string cannot carry one).
int64_t CheckClientPath(std::string_view path) {
    if (path.size() >= PATH_MAX) {
        return -ENAMETOOLONG;
    }
    if (path.find('\0') != std::string_view::npos) {
        return -EINVAL;
    }
    return 0;
}

}  // namespace

struct FileClient::Impl {
    std::unique_ptr<Link> link;
    uint32_t session_id = 0;
    uint64_t next_request_id = 1;
    bool session_open = false;
    bool broken = false;
    Frame reply_frame;  // Owns the bytes `Reply::data` points into until the next call.

    // Sends `req` and waits for its reply. Link failures come back as the link's Error.
    Result<Reply> Transact(const Request& req) {
        uint64_t id = next_request_id++;
        TW_RETURN_IF_ERROR(
            link->Send(MakeRequestFrame(req.type, session_id, id, EncodeRequest(req))));
        TW_ASSIGN_OR_RETURN(reply_frame, link->Receive());
        const FrameHeader& h = reply_frame.header;
        // One request is in flight at a time, so the next frame must be its reply.
        if (h.type != ReplyType(req.type) || h.request_id != id || h.session_id != session_id) {
            return Error(EIO, "file client: reply does not match the request");
        }
        Reply reply;
        if (DecodeReply(reply_frame.payload, &reply) < 0) {
            return Error(EIO, "file client: malformed reply");
        }
        return reply;
    }

    // Transact() for file calls: the result is the call's return value, or -errno.
    int64_t Call(const Request& req, Reply* reply) {
        if (broken) {
            return -ENOTCONN;
        }
        Result<Reply> r = Transact(req);
        if (!r.ok()) {
            broken = true;
            int err = r.error().err();
            return err == EIO || err == EPROTO ? -EIO : -ENOTCONN;
        }
        *reply = *r;
        return reply->result;
    }

    // For replies that carry data: the server must not claim more than was asked for nor send
    // a different amount than it claims.
    int64_t CheckDataReply(const Reply& reply, size_t asked) {
        if (reply.result < 0) {
            return reply.result;
        }
        if (static_cast<uint64_t>(reply.result) > asked ||
            reply.data.size() != static_cast<size_t>(reply.result)) {
            broken = true;
            return -EIO;
        }
        return reply.result;
    }

    int64_t CheckFixedReply(const Reply& reply, size_t size) {
        if (reply.result < 0) {
            return reply.result;
        }
        if (reply.data.size() != size) {
            broken = true;
            return -EIO;
        }
        return reply.result;
    }

    // Reads (or preads from `offset` when `positional`) in kMaxData pieces until `out` is full
    // or a piece comes back short. An error after some bytes were read returns the count, as
    // the kernel does; the caller sees the error on its next call.
    int64_t ReadChunks(MsgType type, Handle h, std::span<std::byte> out, int64_t offset) {
        size_t total = 0;
        do {
            size_t want = std::min<size_t>(out.size() - total, kMaxData);
            Request req{.type = type,
                        .handle = h,
                        .arg = static_cast<uint32_t>(want),
                        .offset = offset + static_cast<int64_t>(total)};
            Reply reply;
            int64_t n = Call(req, &reply);
            if (n >= 0) {
                n = CheckDataReply(reply, want);
            }
            if (n < 0) {
                return total > 0 ? static_cast<int64_t>(total) : n;
            }
            std::memcpy(out.data() + total, reply.data.data(), static_cast<size_t>(n));
            total += static_cast<size_t>(n);
            if (static_cast<size_t>(n) < want) {
                break;
            }
        } while (total < out.size());
        return static_cast<int64_t>(total);
    }

    int64_t WriteChunks(MsgType type, Handle h, std::span<const std::byte> in, int64_t offset) {
        size_t total = 0;
        do {
            size_t want = std::min<size_t>(in.size() - total, kMaxData);
            Request req{.type = type,
                        .handle = h,
                        .offset = offset + static_cast<int64_t>(total),
                        .data = in.subspan(total, want)};
            Reply reply;
            int64_t n = Call(req, &reply);
            if (n >= 0 && (static_cast<uint64_t>(n) > want || !reply.data.empty())) {
                broken = true;
                n = -EIO;
            }
            if (n < 0) {
                return total > 0 ? static_cast<int64_t>(total) : n;
            }
            total += static_cast<size_t>(n);
            if (static_cast<size_t>(n) < want) {
                break;
            }
        } while (total < in.size());
        return static_cast<int64_t>(total);
    }

    // Calls that return only a result.
    int64_t Simple(const Request& req) {
        Reply reply;
        int64_t r = Call(req, &reply);
        return r >= 0 ? CheckFixedReply(reply, 0) : r;
    }

    int64_t SimplePath(Request req) {
        if (int64_t err = CheckClientPath(req.path); err < 0) {
            return err;
        }
        return Simple(req);
    }
};

FileClient::FileClient(std::unique_ptr<Link> link, uint32_t session_id)
    : impl_(std::make_unique<Impl>()) {
    impl_->link = std::move(link);
    impl_->session_id = session_id;
}

Result<std::unique_ptr<FileClient>> FileClient::Open(std::unique_ptr<Link> link,
                                                     uint32_t session_id, std::string_view tenant) {
    if (!IsValidTenantName(tenant)) {
        return Error(EINVAL, "file client: invalid tenant name");
    }
    if (session_id == kControlSession) {
        return Error(EINVAL, "file client: session 0 is the control session");
    }
    std::unique_ptr<FileClient> client(new FileClient(std::move(link), session_id));
    TW_ASSIGN_OR_RETURN(Reply reply,
                        client->impl_->Transact({.type = MsgType::kSessionOpen, .path = tenant}));
    if (reply.result < 0) {
        return Error(static_cast<int>(-reply.result),
                     "file client: open session for tenant " + std::string(tenant));
    }
    client->impl_->session_open = true;
    return client;
}

FileClient::~FileClient() {
    if (impl_->session_open && !impl_->broken) {
        Reply reply;
        impl_->Call({.type = MsgType::kSessionClose}, &reply);
    }
    impl_->link->Close();
}

int64_t FileClient::OpenAt(Handle dir, std::string_view path, int32_t flags, uint32_t mode) {
    return impl_->SimplePath(
        {.type = MsgType::kOpenAt, .handle = dir, .flags = flags, .arg = mode, .path = path});
}

int64_t FileClient::Close(Handle h) {
    return impl_->Simple({.type = MsgType::kClose, .handle = h});
}

int64_t FileClient::Read(Handle h, std::span<std::byte> out) {
    return impl_->ReadChunks(MsgType::kRead, h, out, 0);
}

int64_t FileClient::Pread(Handle h, std::span<std::byte> out, int64_t offset) {
    return impl_->ReadChunks(MsgType::kPread, h, out, offset);
}

int64_t FileClient::Write(Handle h, std::span<const std::byte> in) {
    return impl_->WriteChunks(MsgType::kWrite, h, in, 0);
}

int64_t FileClient::Pwrite(Handle h, std::span<const std::byte> in, int64_t offset) {
    return impl_->WriteChunks(MsgType::kPwrite, h, in, offset);
}

int64_t FileClient::Lseek(Handle h, int64_t offset, int32_t whence) {
    return impl_->Simple({.type = MsgType::kLseek, .handle = h, .flags = whence, .offset = offset});
}

int64_t FileClient::Fstat(Handle h, struct stat* out) {
    Reply reply;
    int64_t r = impl_->Call({.type = MsgType::kFstat, .handle = h}, &reply);
    if (r < 0 || (r = impl_->CheckFixedReply(reply, sizeof(*out))) < 0) {
        return r;
    }
    std::memcpy(out, reply.data.data(), sizeof(*out));
    return r;
}

int64_t FileClient::StatAt(Handle dir, std::string_view path, int32_t flags, struct stat* out) {
    if (int64_t err = CheckClientPath(path); err < 0) {
        return err;
    }
    Reply reply;
    int64_t r = impl_->Call({.type = MsgType::kStatAt, .handle = dir, .flags = flags, .path = path},
                            &reply);
    if (r < 0 || (r = impl_->CheckFixedReply(reply, sizeof(*out))) < 0) {
        return r;
    }
    std::memcpy(out, reply.data.data(), sizeof(*out));
    return r;
}

int64_t FileClient::Statx(Handle dir, std::string_view path, int32_t flags, uint32_t mask,
                          struct statx* out) {
    if (int64_t err = CheckClientPath(path); err < 0) {
        return err;
    }
    Reply reply;
    int64_t r = impl_->Call(
        {.type = MsgType::kStatx, .handle = dir, .flags = flags, .arg = mask, .path = path},
        &reply);
    if (r < 0 || (r = impl_->CheckFixedReply(reply, sizeof(*out))) < 0) {
        return r;
    }
    std::memcpy(out, reply.data.data(), sizeof(*out));
    return r;
}

int64_t FileClient::Getdents64(Handle h, std::span<std::byte> out) {
    // One piece only: a short directory read is always allowed, and a second request could
    // not be undone if the caller's buffer filled between entries.
    size_t want = std::min<size_t>(out.size(), kMaxData);
    Reply reply;
    int64_t r = impl_->Call(
        {.type = MsgType::kGetdents64, .handle = h, .arg = static_cast<uint32_t>(want)}, &reply);
    if (r < 0 || (r = impl_->CheckDataReply(reply, want)) < 0) {
        return r;
    }
    std::memcpy(out.data(), reply.data.data(), static_cast<size_t>(r));
    return r;
}

int64_t FileClient::ReadlinkAt(Handle dir, std::string_view path, std::span<std::byte> out) {
    if (int64_t err = CheckClientPath(path); err < 0) {
        return err;
    }
    size_t want = std::min<size_t>(out.size(), kMaxData);
    Reply reply;
    int64_t r = impl_->Call({.type = MsgType::kReadlinkAt,
                             .handle = dir,
                             .arg = static_cast<uint32_t>(want),
                             .path = path},
                            &reply);
    if (r < 0 || (r = impl_->CheckDataReply(reply, want)) < 0) {
        return r;
    }
    std::memcpy(out.data(), reply.data.data(), static_cast<size_t>(r));
    return r;
}

int64_t FileClient::MkdirAt(Handle dir, std::string_view path, uint32_t mode) {
    return impl_->SimplePath({.type = MsgType::kMkdirAt, .handle = dir, .arg = mode, .path = path});
}

int64_t FileClient::UnlinkAt(Handle dir, std::string_view path, int32_t flags) {
    return impl_->SimplePath(
        {.type = MsgType::kUnlinkAt, .handle = dir, .flags = flags, .path = path});
}

int64_t FileClient::RenameAt2(Handle old_dir, std::string_view old_path, Handle new_dir,
                              std::string_view new_path, uint32_t flags) {
    if (int64_t err = CheckClientPath(old_path); err < 0) {
        return err;
    }
    if (int64_t err = CheckClientPath(new_path); err < 0) {
        return err;
    }
    return impl_->Simple({.type = MsgType::kRenameAt2,
                          .handle = old_dir,
                          .handle2 = new_dir,
                          .flags = static_cast<int32_t>(flags),
                          .path = old_path,
                          .path2 = new_path});
}

int64_t FileClient::FaccessAt(Handle dir, std::string_view path, int32_t mode, int32_t flags) {
    return impl_->SimplePath({.type = MsgType::kFaccessAt,
                              .handle = dir,
                              .flags = flags,
                              .arg = static_cast<uint32_t>(mode),
                              .path = path});
}

int64_t FileClient::Fcntl(Handle h, int32_t cmd, int64_t arg) {
    return impl_->Simple({.type = MsgType::kFcntl, .handle = h, .flags = cmd, .offset = arg});
}

int64_t FileClient::Ftruncate(Handle h, int64_t length) {
    return impl_->Simple({.type = MsgType::kFtruncate, .handle = h, .offset = length});
}

int64_t FileClient::Fsync(Handle h) {
    return impl_->Simple({.type = MsgType::kFsync, .handle = h});
}

int64_t FileClient::Getcwd(std::span<std::byte> out) {
    Reply reply;
    int64_t r = impl_->Call({.type = MsgType::kGetcwd}, &reply);
    if (r < 0) {
        return r;
    }
    // The path and its NUL; the result counts both.
    if (r < 2 || r > PATH_MAX || reply.data.size() != static_cast<size_t>(r) ||
        reply.data[static_cast<size_t>(r) - 1] != std::byte{0}) {
        impl_->broken = true;
        return -EIO;
    }
    if (static_cast<size_t>(r) > out.size()) {
        return -ERANGE;
    }
    std::memcpy(out.data(), reply.data.data(), static_cast<size_t>(r));
    return r;
}

int64_t FileClient::ChdirAt(Handle dir, std::string_view path) {
    return impl_->SimplePath({.type = MsgType::kChdirAt, .handle = dir, .path = path});
}

}  // namespace tw::transport
