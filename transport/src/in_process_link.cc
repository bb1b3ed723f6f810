// The in-process link: two frame queues under one mutex. Used when the I/O server runs as a
// thread of the VMM (isolation mode "in-process"); frames move between threads without being
// serialized.
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "transport/codec.h"
#include "transport/link.h"

namespace tw::transport {
namespace {

struct Channel {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Frame> queue[2];  // queue[i] is what end i receives.
    bool closed[2] = {false, false};
};

class InProcessLink final : public Link {
public:
    InProcessLink(std::shared_ptr<Channel> channel, int side)
        : channel_(std::move(channel)), side_(side) {}
    ~InProcessLink() override { Close(); }

    Result<void> Send(const Frame& frame) override {
        if (frame.payload.size() > kMaxPayload) {
            return Error(EMSGSIZE, "in-process link: payload over kMaxPayload");
        }
        Frame copy = frame;
        copy.header.magic = kMagic;
        copy.header.version = kAbiVersion;
        copy.header.payload_len = static_cast<uint32_t>(copy.payload.size());

        std::lock_guard lock(channel_->mu);
        if (channel_->closed[0] || channel_->closed[1]) {
            return Error(EPIPE, "in-process link closed");
        }
        channel_->queue[1 - side_].push_back(std::move(copy));
        channel_->cv.notify_all();
        return Ok();
    }

    // Frames the peer sent before closing are still delivered; then EPIPE. A side that closed
    // its own end gets EPIPE at once.
    Result<Frame> Receive() override {
        std::unique_lock lock(channel_->mu);
        std::deque<Frame>& q = channel_->queue[side_];
        channel_->cv.wait(lock, [&] {
            return channel_->closed[side_] || !q.empty() || channel_->closed[1 - side_];
        });
        if (channel_->closed[side_] || q.empty()) {
            return Error(EPIPE, "in-process link closed");
        }
        Frame f = std::move(q.front());
        q.pop_front();
        return f;
    }

    void Close() override {
        std::lock_guard lock(channel_->mu);
        channel_->closed[side_] = true;
        channel_->queue[side_].clear();
        channel_->cv.notify_all();
    }

private:
    std::shared_ptr<Channel> channel_;
    int side_;
};

}  // namespace

std::pair<std::unique_ptr<Link>, std::unique_ptr<Link>> MakeInProcessPair() {
    auto channel = std::make_shared<Channel>();
    return {std::make_unique<InProcessLink>(channel, 0),
            std::make_unique<InProcessLink>(channel, 1)};
}

}  // namespace tw::transport
