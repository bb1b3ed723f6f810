// TenantSession: a FileClient session on a tenant's storage in either isolation mode, for
// the agent's own file operations (`cp`). In mode in-process the I/O server runs on a thread
// of this process against the host directory of the tenant; in mode system-vm the session
// goes through the agent's mux to the System VM, exactly as a micro-VM's does.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "common/result.h"
#include "host_agent/config.h"
#include "transport/file_client.h"

namespace tw::agent {

class TenantSession {
public:
    static Result<std::unique_ptr<TenantSession>> Open(const AgentConfig& config,
                                                       Isolation isolation,
                                                       const std::string& tenant);
    ~TenantSession();

    transport::FileClient& client() { return *client_; }

private:
    TenantSession() = default;

    std::unique_ptr<transport::Link> server_link_;  // In-process mode only.
    std::thread server_;
    std::unique_ptr<transport::FileClient> client_;
};

}  // namespace tw::agent
