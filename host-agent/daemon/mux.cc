#include "daemon/mux.h"

#include <cerrno>
#include <system_error>

#include "common/log.h"
#include "transport/codec.h"

namespace tw::agent {
namespace {

using transport::Frame;
using transport::MsgType;

bool IsControl(uint16_t type) {
    return type == static_cast<uint16_t>(MsgType::kHello) ||
           type == static_cast<uint16_t>(MsgType::kTenantList) ||
           type == static_cast<uint16_t>(MsgType::kShutdown);
}

Frame SessionCloseRequest(uint32_t session) {
    // Its reply is dropped by RouteReplies: the client is already gone.
    return transport::MakeRequestFrame(MsgType::kSessionClose, session, UINT64_MAX, {});
}

}  // namespace

SessionMux::SessionMux(std::shared_ptr<transport::Link> upstream, std::set<std::string> tenants)
    : upstream_(std::move(upstream)), tenants_(std::move(tenants)) {}

SessionMux::~SessionMux() {
    Stop();
    if (reader_.joinable()) {
        reader_.join();
    }
}

Result<void> SessionMux::Start() {
    // std::thread reports a failed start only by throwing.
    try {
        reader_ = std::thread([this] { RouteReplies(); });
    } catch (const std::system_error& e) {
        return Error(e.code().value(), "start the reply router");
    }
    return Ok();
}

size_t SessionMux::active_sessions() const {
    std::lock_guard lock(mutex_);
    return routes_.size();
}

void SessionMux::ServeClient(std::shared_ptr<transport::Link> client) {
    uint32_t session = 0;
    Route route{client, std::make_shared<Outbox>(), 0};
    {
        std::lock_guard lock(mutex_);
        if (!upstream_alive_ || stopping_) {
            return;
        }
        // Session ids wrap after 2^32 - 1 clients; skip 0 (control) and ids still in use.
        do {
            session = next_session_++;
        } while (session == transport::kControlSession || routes_.contains(session));
        routes_[session] = route;
    }
    std::thread writer;
    try {
        writer = std::thread([this, client, outbox = route.outbox] {
            WriteReplies(*client, *outbox);
        });
    } catch (const std::system_error& e) {
        Logger("agent")->error("client refused: cannot start its writer: {}", e.what());
        std::lock_guard lock(mutex_);
        routes_.erase(session);
        client->Close();
        return;
    }

    for (;;) {
        Result<Frame> frame = client->Receive();
        if (!frame.ok()) {
            break;  // The client went away or spoke garbage; either way its session ends.
        }
        const transport::FrameHeader& header = frame->header;
        if (transport::IsReply(header.type) || IsControl(header.type)) {
            refused_++;
            if (!Refuse(route, header, -EPERM)) {
                break;
            }
            continue;
        }
        if (header.type == static_cast<uint16_t>(MsgType::kSessionOpen)) {
            std::string tenant(reinterpret_cast<const char*>(frame->payload.data()),
                               frame->payload.size());
            if (!tenants_.contains(tenant)) {
                refused_++;
                if (!Refuse(route, header, -ENOENT)) {
                    break;
                }
                continue;
            }
        }
        {
            std::lock_guard lock(mutex_);
            routes_[session].client_session = header.session_id;
        }
        frame->header.session_id = session;
        if (!upstream_->Send(*frame).ok()) {
            break;
        }
        frames_up_++;
    }

    {
        std::lock_guard lock(mutex_);
        routes_.erase(session);
    }
    client->Close();
    {
        std::lock_guard lock(route.outbox->mutex);
        route.outbox->closed = true;
    }
    route.outbox->cv.notify_all();
    writer.join();
    if (upstream_alive_) {
        (void)upstream_->Send(SessionCloseRequest(session));
    }
}

bool SessionMux::Refuse(const Route& route, const transport::FrameHeader& request,
                        int64_t result) {
    return Enqueue(route, transport::MakeReplyFrame(request, result));
}

bool SessionMux::Enqueue(const Route& route, Frame frame) {
    Outbox& outbox = *route.outbox;
    bool cut = false;
    {
        std::lock_guard lock(outbox.mutex);
        if (outbox.closed) {
            return false;
        }
        size_t size = sizeof(transport::FrameHeader) + frame.payload.size();
        cut = outbox.bytes + size > kMaxQueuedBytes ||
              queued_bytes_.load() + size > kMaxTotalQueuedBytes;
        if (cut) {
            outbox.closed = true;
            queued_bytes_ -= outbox.bytes;
            outbox.frames.clear();
            outbox.bytes = 0;
        } else {
            outbox.bytes += size;
            queued_bytes_ += size;
            outbox.frames.push_back(std::move(frame));
        }
    }
    outbox.cv.notify_all();
    if (cut) {
        cut_off_++;
        Logger("agent")->warn("client cut off: its replies went unread ({} MiB queued in all)",
                              queued_bytes_.load() >> 20);
        route.client->Close();  // Ends its ServeClient, which closes its session upstream.
    }
    return !cut;
}

void SessionMux::WriteReplies(transport::Link& client, Outbox& outbox) {
    for (;;) {
        Frame frame;
        {
            std::unique_lock lock(outbox.mutex);
            outbox.cv.wait(lock, [&] { return outbox.closed || !outbox.frames.empty(); });
            if (outbox.frames.empty()) {
                return;  // closed and drained
            }
            frame = std::move(outbox.frames.front());
            outbox.frames.pop_front();
            size_t size = sizeof(transport::FrameHeader) + frame.payload.size();
            outbox.bytes -= size;
            queued_bytes_ -= size;
        }
        if (!client.Send(frame).ok()) {
            client.Close();
            std::lock_guard lock(outbox.mutex);
            outbox.closed = true;
            queued_bytes_ -= outbox.bytes;
            outbox.frames.clear();
            outbox.bytes = 0;
            return;
        }
    }
}

void SessionMux::RouteReplies() {
    for (;;) {
        Result<Frame> frame = upstream_->Receive();
        if (!frame.ok()) {
            if (!stopping_) {
                Logger("agent")->error("system vm link lost: {}", frame.error().ToString());
            }
            break;
        }
        frames_down_++;

        uint32_t session = frame->header.session_id;
        if (session == transport::kControlSession) {
            std::lock_guard lock(mutex_);
            control_replies_[frame->header.request_id] = std::move(*frame);
            replies_cv_.notify_all();
            continue;
        }

        Route route;
        {
            std::lock_guard lock(mutex_);
            auto it = routes_.find(session);
            if (it == routes_.end()) {
                continue;  // The client left before its reply came back.
            }
            route = it->second;
            frame->header.session_id = it->second.client_session;
        }
        // Never blocks: a client that stops reading is cut off, the other tenants carry on.
        (void)Enqueue(route, std::move(*frame));
    }
    upstream_alive_ = false;
    FailAll();
}

Result<Frame> SessionMux::Call(MsgType type, std::vector<std::byte> payload,
                               std::chrono::milliseconds timeout) {
    uint64_t id = 0;
    {
        std::lock_guard lock(mutex_);
        id = next_control_request_++;
    }
    Frame request =
        transport::MakeRequestFrame(type, transport::kControlSession, id, std::move(payload));
    TW_RETURN_IF_ERROR(upstream_->Send(request));

    std::unique_lock lock(mutex_);
    bool answered = replies_cv_.wait_for(lock, timeout, [&] {
        return control_replies_.contains(id) || !upstream_alive_;
    });
    if (!answered || !control_replies_.contains(id)) {
        return Error(answered ? EPIPE : ETIMEDOUT, "no reply from the system vm");
    }
    Frame reply = std::move(control_replies_[id]);
    control_replies_.erase(id);
    return reply;
}

void SessionMux::Stop() {
    stopping_ = true;
    FailAll();
}

void SessionMux::FailAll() {
    std::lock_guard lock(mutex_);
    for (auto& [session, route] : routes_) {
        route.client->Close();
    }
    replies_cv_.notify_all();
}

}  // namespace tw::agent
