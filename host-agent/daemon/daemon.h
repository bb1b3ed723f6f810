// Daemon: the long-running half of `host-agent start`.
//
// It holds the agent lock (one agent per run directory), boots the System VM, and serves two
// Unix sockets in the run directory: agent.sock for control requests (status, stop) and
// io.sock, where each micro-VM runner and each `cp` opens one session that the SessionMux
// carries to the System VM.
#pragma once

#include <memory>

#include "common/result.h"
#include "host_agent/config.h"

namespace tw::agent {

// Runs the agent until `stop` or SIGTERM/SIGINT. `ready_fd`, when not -1, receives one line
// once the agent serves ("ready ...") or has failed to start ("error: ..."), then is closed.
int RunDaemon(const AgentConfig& config, int ready_fd);

}  // namespace tw::agent
