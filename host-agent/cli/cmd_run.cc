// `host-agent run`: checks what the agent can check cheaply (tenant, mode, agent up), then
// becomes the micro-VM runner. The runner is a process of its own, never the agent daemon, so
// a guest that breaks its VMM holds one process and no agent state.
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <iostream>

#include "cli/commands.h"
#include "host_agent/control.h"
#include "host_agent/tenants.h"

namespace tw::agent {

int CmdRun(const AgentConfig& config, const RunOptions& options) {
    auto fail = [](const std::string& message) {
        std::cerr << "host-agent run: " << message << "\n";
        return kExitAgentError;
    };

    if (std::find(config.tenants.begin(), config.tenants.end(), options.tenant) ==
        config.tenants.end()) {
        return fail("unknown tenant '" + options.tenant + "'");
    }
    if (::access(config.run.vmm.c_str(), X_OK) != 0) {
        return fail("micro-VM runner not found at " + config.run.vmm);
    }

    std::vector<std::string> args = {config.run.vmm, "--tenant", options.tenant, "--isolation",
                                     IsolationName(options.isolation)};
    if (options.isolation == Isolation::kInProcess) {
        if (auto seeded = EnsureInProcessTenant(config, options.tenant); !seeded.ok()) {
            return fail(seeded.error().ToString());
        }
        args.insert(args.end(), {"--tenants-dir", config.InProcessTenantsDir()});
    } else {
        // Probe the agent here so the user hears "not running", not a runner's I/O error.
        auto probe = ConnectUnix(config.IoSocket());
        if (!probe.ok()) {
            return fail("the agent is not running (no " + config.IoSocket() +
                        "); start it with `host-agent start`, or use --isolation in-process");
        }
        args.insert(args.end(), {"--io-socket", config.IoSocket()});
    }
    args.insert(args.end(), {"--timeout", std::to_string(options.timeout_s), "--memory",
                             std::to_string(options.memory_mib)});
    for (const std::string& kv : options.env) {
        args.insert(args.end(), {"--env", kv});
    }
    args.push_back("--");
    args.insert(args.end(), options.command.begin(), options.command.end());

    std::vector<char*> argv;
    for (std::string& arg : args) {
        argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    return fail("exec " + config.run.vmm + ": " + std::strerror(errno));
}

}  // namespace tw::agent
