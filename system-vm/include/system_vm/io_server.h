// IoServer: executes forwarded file calls for many sessions at once, each confined to its
// tenant's root directory.
//
// Every path a guest names is resolved by the kernel with openat2(RESOLVE_IN_ROOT |
// RESOLVE_NO_MAGICLINKS) against the tenant root, so "..", absolute and relative symlinks and
// /proc/self references never leave it. The same code runs as a thread of a micro-VM's VMM
// (isolation mode in-process) and inside the System VM (mode system-vm).
#pragma once

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
    Result<void> Serve(transport::Link& link);

private:
    std::string tenants_dir_;
};

}  // namespace tw::system_vm
