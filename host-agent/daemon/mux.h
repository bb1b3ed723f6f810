// SessionMux: carries many clients' sessions (one per VMM or `cp`) over the single link to
// the System VM.
//
// Each client connection gets a session id of the agent's choosing; the mux rewrites the
// session id of every frame on the way up and back, so a client can neither see nor reach
// another client's session, and it refuses control messages (hello, shutdown, tenant list)
// from clients: only the agent speaks on session 0. A client may open sessions only for the
// tenants the agent serves. When a client goes away the mux closes its session in the System
// VM, which frees every handle the session held.
//
// Replies to a client go through a bounded queue of its own with a writer thread of its own,
// so a client that stops reading never holds up the one thread that reads the System VM's
// replies: once its queue passes kMaxQueuedBytes it is cut off.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <memory>
#include <mutex>
#include <thread>

#include "common/result.h"
#include "transport/link.h"

namespace tw::agent {

class SessionMux {
public:
    // Bytes of replies a client may leave unread before it is disconnected: more than a
    // client with a few reads in flight ever has (a reply carries at most kMaxPayload).
    static constexpr size_t kMaxQueuedBytes = 4u << 20;
    // The same over all clients, so many slow clients together cannot grow the agent either;
    // the client whose reply would pass it is cut off.
    static constexpr size_t kMaxTotalQueuedBytes = 64u << 20;

    // `upstream` is shared: runners that still hold the mux keep the link alive after the
    // System VM behind it is gone. `tenants`: the only names a client may open a session for.
    SessionMux(std::shared_ptr<transport::Link> upstream, std::set<std::string> tenants);
    ~SessionMux();
    SessionMux(const SessionMux&) = delete;
    SessionMux& operator=(const SessionMux&) = delete;

    // Starts routing replies from the upstream link.
    Result<void> Start();

    // Serves one client until it disconnects or the upstream dies. Blocking: call it from a
    // thread of its own per client.
    void ServeClient(std::shared_ptr<transport::Link> client);

    // Sends a control request on session 0 and waits for its reply.
    Result<transport::Frame> Call(transport::MsgType type, std::vector<std::byte> payload,
                                  std::chrono::milliseconds timeout);

    // Disconnects every client and stops routing; the upstream link is left to its owner.
    void Stop();

    bool upstream_alive() const { return upstream_alive_; }
    size_t active_sessions() const;

    // Counters for status output.
    uint64_t frames_up() const { return frames_up_; }
    uint64_t frames_down() const { return frames_down_; }
    uint64_t refused() const { return refused_; }
    uint64_t cut_off() const { return cut_off_; }

private:
    // Replies waiting for a client's writer thread.
    struct Outbox {
        std::mutex mutex;
        std::condition_variable cv;
        std::deque<transport::Frame> frames;
        size_t bytes = 0;
        bool closed = false;
    };

    struct Route {
        std::shared_ptr<transport::Link> client;
        std::shared_ptr<Outbox> outbox;
        uint32_t client_session = 0;  // The id the client used; restored on replies.
    };

    // Queues a reply for a client without blocking; false if the client was cut off.
    bool Enqueue(const Route& route, transport::Frame frame);
    // Sends a client's queued replies until its outbox is closed and empty.
    void WriteReplies(transport::Link& client, Outbox& outbox);
    // A reply of `result` to `request` straight to the client (refusals never go upstream).
    bool Refuse(const Route& route, const transport::FrameHeader& request, int64_t result);

    void RouteReplies();
    void FailAll();

    std::shared_ptr<transport::Link> upstream_;
    const std::set<std::string> tenants_;
    std::thread reader_;
    std::atomic<bool> upstream_alive_{true};
    std::atomic<bool> stopping_{false};

    mutable std::mutex mutex_;
    std::condition_variable replies_cv_;
    std::map<uint32_t, Route> routes_;  // Agent-assigned session id -> client.
    std::map<uint64_t, transport::Frame> control_replies_;
    uint32_t next_session_ = 1;
    uint64_t next_control_request_ = 1;

    std::atomic<uint64_t> frames_up_{0};
    std::atomic<uint64_t> frames_down_{0};
    std::atomic<uint64_t> refused_{0};
    std::atomic<uint64_t> cut_off_{0};
    std::atomic<size_t> queued_bytes_{0};  // over every client's outbox
};

}  // namespace tw::agent
