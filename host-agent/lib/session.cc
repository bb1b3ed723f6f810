#include "host_agent/session.h"

#include "host_agent/control.h"
#include "host_agent/tenants.h"
#include "system_vm/io_server.h"

namespace tw::agent {

Result<std::unique_ptr<TenantSession>> TenantSession::Open(const AgentConfig& config,
                                                           Isolation isolation,
                                                           const std::string& tenant) {
    std::unique_ptr<TenantSession> session(new TenantSession());
    std::unique_ptr<transport::Link> client_link;

    if (isolation == Isolation::kInProcess) {
        TW_RETURN_IF_ERROR(EnsureInProcessTenant(config, tenant));
        auto [client_end, server_end] = transport::MakeInProcessPair();
        client_link = std::move(client_end);
        session->server_link_ = std::move(server_end);
        session->server_ = std::thread([dir = config.InProcessTenantsDir(),
                                        link = session->server_link_.get()] {
            // The serve loop ends when the client closes; its result only matters to the
            // client, which has already seen any failure as an errno.
            (void)system_vm::IoServer(dir).Serve(*link);
        });
    } else {
        auto fd = ConnectUnix(config.IoSocket());
        if (!fd.ok()) {
            return Error(fd.error().err(), "the agent is not running (no " + config.IoSocket() +
                                               "); start it with `host-agent start`");
        }
        client_link = transport::MakeStreamLink(std::move(*fd));
    }

    auto client = transport::FileClient::Open(std::move(client_link), /*session_id=*/1, tenant);
    if (!client.ok()) {
        if (client.error().err() == ENOENT) {
            return Error(ENOENT, "tenant '" + tenant + "' has no storage in mode " +
                                     IsolationName(isolation));
        }
        return client.take_error();
    }
    session->client_ = std::move(*client);
    return session;
}

TenantSession::~TenantSession() {
    client_.reset();
    if (server_link_) {
        server_link_->Close();
    }
    if (server_.joinable()) {
        server_.join();
    }
}

}  // namespace tw::agent
