// The host-agent verbs. Each returns the process exit status.
//
// Exit statuses: 0 success; 2 usage error; 3 the agent is not running (status); 125 the
// agent or the sandbox failed before the program ran (unknown tenant, no agent for a
// system-vm run, broken config); otherwise `run` exits with the program's own status, or
// 128+signal if the program died of a signal, 124 on --timeout, 126 for a file that is not a
// runnable program and 127 for a program that is not in the tenant's storage.
#pragma once

#include <string>
#include <vector>

#include "host_agent/config.h"

namespace tw::agent {

inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotRunning = 3;
inline constexpr int kExitAgentError = 125;

int CmdStart(const AgentConfig& config, bool foreground);
int CmdStop(const AgentConfig& config);
int CmdStatus(const AgentConfig& config, bool json);

struct RunOptions {
    std::string tenant;
    Isolation isolation = Isolation::kSystemVm;
    uint32_t timeout_s = 0;
    uint32_t memory_mib = 0;
    std::vector<std::string> env;
    std::vector<std::string> command;
};
int CmdRun(const AgentConfig& config, const RunOptions& options);

int CmdCp(const AgentConfig& config, Isolation isolation, const std::string& from,
          const std::string& to);

}  // namespace tw::agent
