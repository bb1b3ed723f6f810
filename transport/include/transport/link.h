// Link: carries whole protocol frames between a client (a micro-VM's VMM, the agent) and an
// I/O server. The protocol itself (transport/abi.h, docs/protocol.md) does not depend on the
// link: in-process queues, a Unix socket, a virtio-serial port or vsock all carry the same
// frames.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "transport/abi.h"

namespace tw::transport {

struct Frame {
    FrameHeader header{};
    std::vector<std::byte> payload;
};

class Link {
public:
    virtual ~Link() = default;

    // Sends one frame whole. Fails with EPIPE once the peer is gone.
    virtual Result<void> Send(const Frame& frame) = 0;

    // Blocks for the next frame. Fails with EPIPE at end of stream, EPROTO on a malformed
    // header (bad magic, unknown version, payload over kMaxPayload).
    virtual Result<Frame> Receive() = 0;

    // Wakes a blocked Receive() on either side, which then fails with EPIPE.
    virtual void Close() = 0;
};

// Two connected in-process links: what one sends, the other receives.
std::pair<std::unique_ptr<Link>, std::unique_ptr<Link>> MakeInProcessPair();

// A link over a connected byte stream: a Unix socket, the host end of a virtio-serial chardev
// socket, or the guest's /dev/vportNpM.
std::unique_ptr<Link> MakeStreamLink(UniqueFd fd);

}  // namespace tw::transport
