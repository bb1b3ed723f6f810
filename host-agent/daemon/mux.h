// SessionMux: carries many clients' sessions (one per VMM or `cp`) over the single link to
// the System VM.
//
// Each client connection gets a session id of the agent's choosing; the mux rewrites the
// session id of every frame on the way up and back, so a client can neither see nor reach
// another client's session, and it refuses control messages (hello, shutdown, tenant list)
// from clients: only the agent speaks on session 0. When a client goes away the mux closes
// its session in the System VM, which frees every handle the session held.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "common/result.h"
#include "transport/link.h"

namespace tw::agent {

class SessionMux {
public:
    explicit SessionMux(transport::Link& upstream);
    ~SessionMux();
    SessionMux(const SessionMux&) = delete;
    SessionMux& operator=(const SessionMux&) = delete;

    // Starts routing replies from the upstream link.
    void Start();

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

private:
    struct Route {
        std::shared_ptr<transport::Link> client;
        uint32_t client_session;  // The id the client used; restored on replies.
    };

    void RouteReplies();
    void FailAll();

    transport::Link& upstream_;
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
};

}  // namespace tw::agent
