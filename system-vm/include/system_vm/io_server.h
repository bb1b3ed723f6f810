// IoServer: executes forwarded file calls for many sessions at once, each confined to its
// tenant's root directory.
//
// Every path a guest names is resolved by the kernel with openat2(RESOLVE_IN_ROOT |
// RESOLVE_NO_MAGICLINKS) against the tenant root, so "..", absolute and relative symlinks and
// /proc/self references never leave it. The same code runs as a thread of a micro-VM's VMM
// (isolation mode in-process) and inside the System VM (mode system-vm).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "transport/link.h"

namespace tw::system_vm {

class IoServer {
public:
    // `tenants_dir` holds one directory per tenant, named after it.
    explicit IoServer(std::string tenants_dir);

    // Serves frames from `link` until the peer closes it or sends kShutdown; frees the state
    // of every session opened on it before returning.
    // Returns Ok when the peer closed the link or after answering kShutdown, and EPROTO when
    // the peer sent bytes that are not frames (the link is then out of step and unusable, and
    // Serve closes it so the peer sees the hang-up).
    // Several links may be served at once, each from its own thread. The calling thread gets
    // a private file-system context with umask 0 (unshare(CLONE_FS)), so the modes guests ask
    // for are applied unchanged; call Serve on a thread of its own.
    Result<void> Serve(transport::Link& link);

    // Requests received with message type `type`, over every Serve() of this server so far.
    // Frames of unknown type are counted under type 0.
    uint64_t RequestCount(uint16_t type) const;

    // True once a kShutdown request was answered on any link.
    bool shutdown_requested() const;

private:
    struct Counters;
    std::string tenants_dir_;
    std::shared_ptr<Counters> counters_;
};

}  // namespace tw::system_vm
