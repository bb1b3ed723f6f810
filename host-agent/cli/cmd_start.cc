// `host-agent start | stop | status`.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "cli/commands.h"
#include "common/unique_fd.h"
#include "daemon/daemon.h"
#include "host_agent/control.h"

namespace tw::agent {
namespace {

using namespace std::chrono_literals;

// True while some process holds the agent lock.
bool AgentLockHeld(const AgentConfig& config) {
    UniqueFd fd(::open(config.LockFile().c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        return false;
    }
    if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) {
        ::flock(fd.get(), LOCK_UN);
        return false;
    }
    return true;
}

}  // namespace

int CmdStart(const AgentConfig& config, bool foreground) {
    if (foreground) {
        return RunDaemon(config, /*ready_fd=*/-1) == 0 ? 0 : kExitAgentError;
    }

    std::error_code ec;
    std::filesystem::create_directories(config.state_dir, ec);
    UniqueFd log(::open(config.AgentLog().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                        0600));
    if (!log) {
        std::cerr << "host-agent start: cannot open log " << config.AgentLog() << ": "
                  << std::strerror(errno) << "\n";
        return kExitAgentError;
    }
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        std::cerr << "host-agent start: socketpair: " << std::strerror(errno) << "\n";
        return kExitAgentError;
    }
    UniqueFd parent_end(pair[0]);
    UniqueFd child_end(pair[1]);

    pid_t pid = ::fork();
    if (pid < 0) {
        std::cerr << "host-agent start: fork: " << std::strerror(errno) << "\n";
        return kExitAgentError;
    }
    if (pid == 0) {
        // The daemon: its own session, no terminal, logs to the agent log.
        parent_end.Reset();
        ::setsid();
        int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        ::dup2(null, STDIN_FILENO);
        ::dup2(log.get(), STDOUT_FILENO);
        ::dup2(log.get(), STDERR_FILENO);
        ::_exit(RunDaemon(config, child_end.Release()));
    }
    child_end.Reset();

    auto line = ReadLine(parent_end.get(), std::chrono::seconds(config.system_vm.boot_timeout_s + 60));
    if (!line.ok()) {
        std::cerr << "host-agent start: the agent exited before it was ready; see "
                  << config.AgentLog() << "\n";
        return kExitAgentError;
    }
    if (line->rfind("ready", 0) != 0) {
        std::cerr << "host-agent start: " << line->substr(line->find(' ') + 1) << "\n";
        return kExitAgentError;
    }
    std::cout << "host-agent: started (" << line->substr(6) << "), log " << config.AgentLog()
              << "\n";
    return 0;
}

int CmdStop(const AgentConfig& config) {
    boost::json::object request{{"op", "stop"}};
    auto reply = ControlCall(config.ControlSocket(), request, 10s);
    if (!reply.ok()) {
        if (!AgentLockHeld(config)) {
            std::cout << "host-agent: not running\n";
            return 0;
        }
        std::cerr << "host-agent stop: " << reply.error().ToString() << "\n";
        return kExitAgentError;
    }
    // The agent shuts the System VM down (syncing tenant storage) and then drops its lock. A
    // System VM that is booting again after a crash finishes its boot first.
    auto limit = std::chrono::seconds(config.system_vm.boot_timeout_s) + 60s;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (AgentLockHeld(config)) {
        if (std::chrono::steady_clock::now() > deadline) {
            std::cerr << "host-agent stop: the agent did not stop within " << limit.count()
                      << " s\n";
            return kExitAgentError;
        }
        std::this_thread::sleep_for(100ms);
    }
    std::cout << "host-agent: stopped\n";
    return 0;
}

int CmdStatus(const AgentConfig& config, bool json) {
    boost::json::object request{{"op", "status"}};
    auto reply = ControlCall(config.ControlSocket(), request, 15s);
    if (!reply.ok()) {
        if (AgentLockHeld(config)) {
            std::cerr << "host-agent status: the agent holds " << config.LockFile()
                      << " but does not answer: " << reply.error().ToString() << "\n";
            return kExitAgentError;
        }
        std::cout << "host-agent: not running\n";
        return kExitNotRunning;
    }
    if (json) {
        std::cout << boost::json::serialize(*reply) << "\n";
        return 0;
    }
    const auto& s = *reply;
    const auto& vm = s.at("system_vm").as_object();
    auto get = [](const boost::json::object& o, const char* key) -> std::string {
        if (!o.contains(key)) {
            return "-";
        }
        const auto& v = o.at(key);
        if (v.is_string()) {
            return std::string(v.as_string());
        }
        if (v.is_double()) {
            return fmt::format("{:.1f}", v.as_double());
        }
        return boost::json::serialize(v);
    };
    std::cout << "agent:        running, pid " << get(s, "pid") << ", up " << get(s, "uptime_s")
              << " s\n"
              << "system vm:    " << get(vm, "state");
    if (vm.contains("pid")) {
        std::cout << ", pid " << get(vm, "pid") << ", accelerator " << get(vm, "accelerator")
                  << " (" << get(vm, "accelerator_reason") << "), up " << get(vm, "uptime_s")
                  << " s, boot " << get(vm, "boot_s") << " s";
    }
    std::cout << ", restarts " << get(vm, "restarts") << "\n"
              << "sessions:     " << get(vm, "sessions") << " open\n";
    if (vm.contains("tenant_list_error")) {
        std::cout << "tenants:      unknown on the system vm disk ("
                  << get(vm, "tenant_list_error") << "), " << get(s, "tenants") << " configured\n";
    } else {
        std::cout << "tenants:      " << get(vm, "tenants") << " on the system vm disk, "
                  << get(s, "tenants") << " configured\n";
    }
    return 0;
}

}  // namespace tw::agent
