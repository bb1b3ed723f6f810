// Control calls on session 0 of a link: readiness handshake, tenant listing, shutdown. The agent
// uses them on the System VM's stream before it lets any VMM session through; a mux must not
// forward session-0 frames from its clients (docs/protocol.md, "Multiplexing").
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "transport/codec.h"
#include "transport/link.h"

namespace tw::transport {

// kHello: waits for the server's answer. Fails with EPROTO when the server speaks another
// ABI version, with the link's error when the link fails.
Result<HelloInfo> Hello(Link& link, uint64_t request_id);

// kTenantList: the tenant names the server can open sessions for, sorted.
Result<std::vector<std::string>> ListTenants(Link& link, uint64_t request_id);

// kShutdown: the server syncs, replies and stops serving the link.
Result<void> Shutdown(Link& link, uint64_t request_id);

}  // namespace tw::transport
