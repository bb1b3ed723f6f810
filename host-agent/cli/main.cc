// host-agent: runs untrusted programs in KVM micro-VMs whose file I/O is served by a System VM.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"
#include "common/log.h"
#include "host_agent/config.h"

namespace {

using tw::agent::AgentConfig;
using tw::agent::Isolation;

// CLI11 validator for --isolation.
std::string CheckIsolation(const std::string& value) {
    auto parsed = tw::agent::ParseIsolation(value);
    return parsed.ok() ? std::string() : parsed.error().message();
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Twinwall host agent: runs untrusted programs in hardware-isolated micro-VMs",
                 "host-agent"};
    app.require_subcommand(1);
    app.fallthrough();

    std::string config_path;
    std::string log_level;
    app.add_option("--config", config_path, "TOML configuration file (default: built-in)")
        ->check(CLI::ExistingFile);
    app.add_option("--log-level", log_level, "error, warn, info or debug")
        ->check(CLI::IsMember({"error", "warn", "info", "debug"}));

    auto* start = app.add_subcommand("start", "Boot the System VM and serve the control socket");
    bool foreground = false;
    start->add_flag("--foreground", foreground, "Stay in the foreground instead of detaching");

    auto* stop = app.add_subcommand("stop", "Shut the System VM down cleanly and stop the agent");

    auto* status = app.add_subcommand("status", "Show System VM state, accelerator and tenants");
    status->footer("Exit status 0 when the agent runs, 3 when it does not.");
    bool json = false;
    status->add_flag("--json", json, "Print the status as JSON");

    auto* run = app.add_subcommand("run", "Run PROGRAM (a path in the tenant's storage) in a "
                                          "fresh micro-VM");
    tw::agent::RunOptions run_options;
    std::string run_isolation;
    run->footer(
        "Defaults come from the config ([run]; built in: tenant default, isolation system-vm,\n"
        "timeout 300 s, memory 256 MiB). in-process runs need no agent; the two modes have\n"
        "separate storage (see `cp --isolation`).\n"
        "Exit status: the program's own, 128+N if it died of signal N, 124 timeout,\n"
        "125 agent error (unknown tenant, agent not running), 126 not a runnable program\n"
        "(not ELF, 32-bit, dynamically linked), 127 program not found.");
    run->add_option("--tenant", run_options.tenant, "Tenant whose storage the program sees");
    run->add_option("--isolation", run_isolation, "in-process or system-vm")
        ->check(CheckIsolation);
    run->add_option("--timeout", run_options.timeout_s,
                    "Kill the micro-VM after S seconds (0: no limit)")
        ->check(CLI::Range(0u, 86400u));
    run->add_option("--memory", run_options.memory_mib, "Guest memory in MiB (16 to 65536)")
        ->check(CLI::Range(16u, 65536u));
    run->add_option("--env", run_options.env, "Environment variable K=V for the program");
    run->add_option("command", run_options.command, "PROGRAM [ARGS...] (after --)")->required();

    auto* cp = app.add_subcommand("cp", "Copy HOSTPATH to TENANT:PATH or TENANT:PATH to HOSTPATH");
    std::string cp_from;
    std::string cp_to;
    std::string cp_isolation;
    cp->footer("TENANT:/PATH is absolute inside the tenant's root. A destination that is a host\n"
               "directory, or a tenant path ending in '/', gets the source's file name.\n"
               "Exit status 0, 1 if the copy failed, 125 agent error.");
    cp->add_option("from", cp_from, "Source file")->required();
    cp->add_option("to", cp_to, "Destination file or directory")->required();
    cp->add_option("--isolation", cp_isolation, "Storage of which mode (default: config)")
        ->check(CheckIsolation);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : tw::agent::kExitUsage;
    }

    AgentConfig config = tw::agent::DefaultConfig();
    if (!config_path.empty()) {
        auto loaded = tw::agent::LoadConfig(config_path);
        if (!loaded.ok()) {
            std::cerr << "host-agent: " << loaded.error().ToString() << "\n";
            return tw::agent::kExitAgentError;
        }
        config = std::move(*loaded);
    }
    if (!log_level.empty()) {
        config.log_level = log_level;
    }
    // The CLI verbs stay quiet; the daemon logs at the configured level.
    tw::SetLogLevel(start->parsed() ? config.log_level : (log_level.empty() ? "warn" : log_level));

    if (start->parsed()) {
        return tw::agent::CmdStart(config, foreground);
    }
    if (stop->parsed()) {
        return tw::agent::CmdStop(config);
    }
    if (status->parsed()) {
        return tw::agent::CmdStatus(config, json);
    }
    if (run->parsed()) {
        if (run_options.tenant.empty()) {
            run_options.tenant = config.run.tenant;
        }
        run_options.isolation = run_isolation.empty()
                                    ? config.run.isolation
                                    : *tw::agent::ParseIsolation(run_isolation);
        if (run->count("--timeout") == 0) {
            run_options.timeout_s = config.run.timeout_s;
        }
        if (run->count("--memory") == 0) {
            run_options.memory_mib = config.run.memory_mib;
        }
        return tw::agent::CmdRun(config, run_options);
    }
    Isolation cp_mode =
        cp_isolation.empty() ? config.run.isolation : *tw::agent::ParseIsolation(cp_isolation);
    return tw::agent::CmdCp(config, cp_mode, cp_from, cp_to);
}
