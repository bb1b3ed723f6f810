#include "system_vm/io_server.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>

#include "session.h"
#include "transport/codec.h"

namespace tw::system_vm {

using transport::Frame;
using transport::FrameHeader;
using transport::MsgType;
using transport::Request;

struct IoServer::Counters {
    std::array<std::atomic<uint64_t>, transport::kMsgTypeLimit> requests{};
    std::atomic<bool> shutdown{false};
};

namespace {

// Sessions one link may hold open at once; the next kSessionOpen fails with ENFILE.
constexpr size_t kMaxSessionsPerLink = 4096;

constexpr const char* kDescription = "twinwall io-server";

Frame ResultReply(const FrameHeader& h, int64_t err) {
    return transport::MakeReplyFrame(h, err);
}

template <typename T>
Frame StructReply(const FrameHeader& h, int64_t result, const T& value) {
    return transport::MakeReplyFrame(h, result, std::as_bytes(std::span<const T, 1>(&value, 1)));
}

// A reply whose data is produced in place: `fill` gets up to `cap` bytes of the payload to
// write into and returns the byte count or -errno. Saves a copy of every read.
template <typename Fill>
Frame BufferReply(const FrameHeader& request, size_t cap, Fill fill) {
    Frame f = transport::MakeReplyFrame(request, 0);
    f.payload.resize(sizeof(transport::ReplyHeader) + cap);
    int64_t n = fill(std::span(f.payload).subspan(sizeof(transport::ReplyHeader)));
    if (n < 0) {
        return ResultReply(request, n);
    }
    f.payload.resize(sizeof(transport::ReplyHeader) + static_cast<size_t>(n));
    transport::ReplyHeader rh{.result = n};
    std::memcpy(f.payload.data(), &rh, sizeof(rh));
    f.header.payload_len = static_cast<uint32_t>(f.payload.size());
    return f;
}

bool IsControl(MsgType t) {
    return t == MsgType::kHello || t == MsgType::kTenantList || t == MsgType::kShutdown;
}

// The state of one served link: its sessions, by the session id the client chose.
class Connection {
public:
    Connection(const std::string& tenants_dir,
               std::array<std::atomic<uint64_t>, transport::kMsgTypeLimit>& counters)
        : tenants_dir_(tenants_dir), counters_(counters) {}

    // Answers one frame; sets *stop after kShutdown.
    Frame Handle(const Frame& f, bool* stop) {
        const FrameHeader& h = f.header;
        bool known = !transport::IsReply(h.type) && h.type < transport::kMsgTypeLimit;
        counters_[known ? h.type : 0].fetch_add(1, std::memory_order_relaxed);

        // No flag is defined in this version; a peer setting one expects something we do not
        // do. A reply sent to the server is answered, not obeyed.
        if (transport::IsReply(h.type) || h.flags != 0) {
            return ResultReply(h, -EINVAL);
        }
        Request req;
        if (int64_t r = transport::DecodeRequest(h.type, f.payload, &req); r < 0) {
            return ResultReply(h, r);
        }
        if (IsControl(req.type)) {
            return h.session_id == transport::kControlSession ? Control(req, h, stop)
                                                              : ResultReply(h, -EINVAL);
        }
        if (h.session_id == transport::kControlSession) {
            return ResultReply(h, -EINVAL);
        }
        if (req.type == MsgType::kSessionOpen) {
            return OpenSession(req, h);
        }
        auto it = sessions_.find(h.session_id);
        if (it == sessions_.end()) {
            return ResultReply(h, -ENOTCONN);
        }
        if (req.type == MsgType::kSessionClose) {
            sessions_.erase(it);
            return ResultReply(h, 0);
        }
        return Dispatch(*it->second, req, h);
    }

private:
    Frame OpenSession(const Request& req, const FrameHeader& h) {
        if (sessions_.count(h.session_id) != 0) {
            return ResultReply(h, -EEXIST);
        }
        if (sessions_.size() >= kMaxSessionsPerLink) {
            return ResultReply(h, -ENFILE);
        }
        Result<std::unique_ptr<Session>> s = Session::Open(tenants_dir_, req.path);
        if (!s.ok()) {
            return ResultReply(h, -s.error().err());
        }
        sessions_.emplace(h.session_id, std::move(*s));
        return ResultReply(h, 0);
    }

    Frame Control(const Request& req, const FrameHeader& h, bool* stop) {
        switch (req.type) {
            case MsgType::kHello: {
                transport::HelloInfo info{.version = transport::kAbiVersion,
                                          .max_payload = transport::kMaxPayload,
                                          .max_data = transport::kMaxData,
                                          .description = kDescription};
                return transport::MakeReplyFrame(h, 0, transport::EncodeHelloData(info));
            }
            case MsgType::kTenantList:
                return ListTenants(h);
            case MsgType::kShutdown: {
                // Tenants on other file systems than the tenants directory are synced through
                // their open sessions.
                UniqueFd dir(open(tenants_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
                if (dir) {
                    syncfs(dir.get());
                }
                for (auto& [id, session] : sessions_) {
                    session->Sync();
                }
                *stop = true;
                return ResultReply(h, 0);
            }
            default:
                return ResultReply(h, -ENOSYS);
        }
    }

    Frame ListTenants(const FrameHeader& h) {
        DIR* dir = opendir(tenants_dir_.c_str());
        if (dir == nullptr) {
            return ResultReply(h, -errno);
        }
        std::vector<std::string> names;
        while (dirent* e = readdir(dir)) {
            std::string_view name = e->d_name;
            struct stat st;
            if (transport::IsValidTenantName(name) && fstatat(dirfd(dir), e->d_name, &st, 0) == 0 &&
                S_ISDIR(st.st_mode)) {
                names.emplace_back(name);
            }
        }
        closedir(dir);
        std::sort(names.begin(), names.end());
        size_t count = 0;
        std::vector<std::byte> data = transport::EncodeTenantList(names, &count);
        return transport::MakeReplyFrame(h, static_cast<int64_t>(count), data);
    }

    // Every forwarded file call passes through here, after decoding and session lookup and
    // before it touches the file system. Per-tenant policy (read-only tenants, quotas, path
    // allow-lists, rate limits) plugs in at this point; today every decoded call is executed.
    Frame Dispatch(Session& s, const Request& req, const FrameHeader& h) {
        switch (req.type) {
            case MsgType::kOpenAt:
                return ResultReply(h, s.OpenAt(req.handle, req.path, req.flags, req.arg));
            case MsgType::kClose:
                return ResultReply(h, s.Close(req.handle));
            case MsgType::kRead:
                return BufferReply(
                    h, req.arg, [&](std::span<std::byte> out) { return s.Read(req.handle, out); });
            case MsgType::kPread:
                return BufferReply(h, req.arg, [&](std::span<std::byte> out) {
                    return s.Pread(req.handle, out, req.offset);
                });
            case MsgType::kWrite:
                return ResultReply(h, s.Write(req.handle, req.data));
            case MsgType::kPwrite:
                return ResultReply(h, s.Pwrite(req.handle, req.data, req.offset));
            case MsgType::kLseek:
                return ResultReply(h, s.Lseek(req.handle, req.offset, req.flags));
            case MsgType::kFstat: {
                struct stat st {};
                int64_t r = s.Fstat(req.handle, &st);
                return r < 0 ? ResultReply(h, r) : StructReply(h, r, st);
            }
            case MsgType::kStatAt: {
                struct stat st {};
                int64_t r = s.StatAt(req.handle, req.path, req.flags, &st);
                return r < 0 ? ResultReply(h, r) : StructReply(h, r, st);
            }
            case MsgType::kStatx: {
                struct statx stx {};
                int64_t r = s.Statx(req.handle, req.path, req.flags, req.arg, &stx);
                return r < 0 ? ResultReply(h, r) : StructReply(h, r, stx);
            }
            case MsgType::kGetdents64:
                return BufferReply(h, req.arg, [&](std::span<std::byte> out) {
                    return s.Getdents64(req.handle, out);
                });
            case MsgType::kReadlinkAt:
                return BufferReply(h, std::min<uint32_t>(req.arg, transport::kMaxData),
                                   [&](std::span<std::byte> out) {
                                       return s.ReadlinkAt(req.handle, req.path, out);
                                   });
            case MsgType::kMkdirAt:
                return ResultReply(h, s.MkdirAt(req.handle, req.path, req.arg));
            case MsgType::kUnlinkAt:
                return ResultReply(h, s.UnlinkAt(req.handle, req.path, req.flags));
            case MsgType::kRenameAt2:
                return ResultReply(h, s.RenameAt2(req.handle, req.path, req.handle2, req.path2,
                                                  static_cast<uint32_t>(req.flags)));
            case MsgType::kFaccessAt:
                return ResultReply(
                    h, s.FaccessAt(req.handle, req.path, static_cast<int32_t>(req.arg), req.flags));
            case MsgType::kFcntl:
                return ResultReply(h, s.Fcntl(req.handle, req.flags, req.offset));
            case MsgType::kFtruncate:
                return ResultReply(h, s.Ftruncate(req.handle, req.offset));
            case MsgType::kFsync:
                return ResultReply(h, s.Fsync(req.handle));
            case MsgType::kGetcwd: {
                std::string cwd;
                int64_t r = s.Getcwd(&cwd);
                if (r < 0) {
                    return ResultReply(h, r);
                }
                if (cwd.size() + 1 > PATH_MAX) {
                    return ResultReply(h, -ENAMETOOLONG);
                }
                cwd.push_back('\0');  // getcwd(2) counts and returns the NUL
                return transport::MakeReplyFrame(h, static_cast<int64_t>(cwd.size()),
                                                 std::as_bytes(std::span(cwd.data(), cwd.size())));
            }
            case MsgType::kChdirAt:
                return ResultReply(h, s.ChdirAt(req.handle, req.path));
            default:
                return ResultReply(h, -ENOSYS);
        }
    }

    const std::string& tenants_dir_;
    std::array<std::atomic<uint64_t>, transport::kMsgTypeLimit>& counters_;
    std::map<uint32_t, std::unique_ptr<Session>> sessions_;
};

// Gives this thread its own umask of 0: guests' create modes arrive with their own umask
// already applied, and the server's must not mask them a second time.
void PrepareServingThread() {
    static std::atomic<bool> warned{false};
    if (unshare(CLONE_FS) == 0) {
        umask(0);
    } else if (!warned.exchange(true)) {
        // Plain stderr, not tw::Logger: this library is linked into the System VM's static
        // init, and spdlog is only available as a shared library on Debian.
        std::fprintf(stderr, "io-server: unshare(CLONE_FS) failed, the process umask applies: %s\n",
                     std::strerror(errno));
    }
}

}  // namespace

IoServer::IoServer(std::string tenants_dir)
    : tenants_dir_(std::move(tenants_dir)), counters_(std::make_shared<Counters>()) {}

Result<void> IoServer::Serve(transport::Link& link) {
    PrepareServingThread();
    Connection conn(tenants_dir_, counters_->requests);
    for (;;) {
        Result<transport::Frame> f = link.Receive();
        if (!f.ok()) {
            if (f.error().err() == EPIPE) {
                return Ok();  // the peer is gone; `conn` frees every session
            }
            // The stream is out of step (or broken): nothing more can be answered, so hang
            // up to let the peer see it rather than wait for a reply that will never come.
            // The caller logs the returned error.
            link.Close();
            return f.take_error();
        }
        bool stop = false;
        Result<void> sent = link.Send(conn.Handle(*f, &stop));
        if (stop) {
            counters_->shutdown.store(true);
            return Ok();
        }
        if (!sent.ok()) {
            return sent.error().err() == EPIPE ? Ok() : sent.take_error();
        }
    }
}

uint64_t IoServer::RequestCount(uint16_t type) const {
    return type < transport::kMsgTypeLimit ? counters_->requests[type].load() : 0;
}

bool IoServer::shutdown_requested() const {
    return counters_->shutdown.load();
}

}  // namespace tw::system_vm
