// twinwall-vmm: runs one static Linux x86-64 program from a tenant's storage in a fresh KVM
// micro-VM and exits with its status.
//
//   twinwall-vmm --tenant default --isolation in-process --tenants-dir /srv/tenants
//       --timeout 10 -- /bin/busybox sha256sum /data/file
//   twinwall-vmm --tenant default --isolation system-vm --io-socket /run/twinwall/io.sock
//       -- /bin/busybox ls /
//
// Exit status: the program's, 128+signal if a signal killed it, 124 timeout, 125 error of this
// runner or the VMM, 126 not a runnable program, 127 program not found in the tenant.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "common/log.h"
#include "common/unique_fd.h"
#include "hyperlight_vm/micro_vm.h"
#include "system_vm/io_server.h"
#include "transport/file_client.h"
#include "transport/link.h"

namespace {

constexpr int kExitInternal = 125;
// Session id of the runner's one session; in system-vm mode the agent's mux rewrites it.
constexpr uint32_t kSessionId = 1;

void Complain(const std::string& message) {
    std::fprintf(stderr, "twinwall-vmm: %s\n", message.c_str());
}

tw::Result<tw::UniqueFd> ConnectUnix(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
        return tw::Error(ENAMETOOLONG, "io socket path too long: " + path);
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    tw::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        return tw::Error::FromErrno("socket");
    }
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        return tw::Error::FromErrno("connect " + path);
    }
    return fd;
}

// The VMM stops a timed-out guest itself; this is the last resort for a runner stuck in a
// host call that a signal does not interrupt (a hung I/O server), so the runner never hangs.
void StartHardDeadline(double timeout_seconds) {
    if (timeout_seconds <= 0) {
        return;
    }
    std::thread([timeout_seconds] {
        std::this_thread::sleep_for(std::chrono::duration<double>(timeout_seconds + 10));
        char message[96];
        std::snprintf(message, sizeof(message),
                      "twinwall-vmm: timed out after %g s (runner stuck, forced exit)\n",
                      timeout_seconds);
        (void)!write(STDERR_FILENO, message, std::strlen(message));
        _exit(124);
    }).detach();
}

// Opening the session must finish within this, whatever --timeout says (0 included): a System
// VM that does not answer is the agent's failure, not a slow program, and must not hang us.
constexpr double kSessionOpenTimeoutSeconds = 30;
std::atomic<bool> g_session_open{false};

void StartSessionOpenDeadline() {
    std::thread([] {
        std::this_thread::sleep_for(std::chrono::duration<double>(kSessionOpenTimeoutSeconds));
        if (!g_session_open) {
            const char message[] =
                "twinwall-vmm: the I/O server did not open a session within 30 s\n";
            (void)!write(STDERR_FILENO, message, sizeof(message) - 1);
            _exit(125);
        }
    }).detach();
}

}  // namespace

int main(int argc, char** argv) {
    // A program writing to a closed pipe must see EPIPE (and die of SIGPIPE inside the VM if it
    // does not ignore it), not kill the runner.
    signal(SIGPIPE, SIG_IGN);

    CLI::App app{"Runs a static Linux x86-64 program in a KVM micro-VM", "twinwall-vmm"};
    std::string tenant;
    std::string isolation;
    std::string tenants_dir;
    std::string io_socket;
    double timeout = 0;
    uint64_t memory_mib = 256;
    std::vector<std::string> env_args;
    std::string log_level = "warn";
    std::vector<std::string> command;
    app.add_option("--tenant", tenant, "Tenant whose storage holds the program")->required();
    app.add_option("--isolation", isolation, "Where the I/O server runs")
        ->required()
        ->check(CLI::IsMember({"in-process", "system-vm"}));
    app.add_option("--tenants-dir", tenants_dir, "Tenant directories (in-process mode)");
    app.add_option("--io-socket", io_socket, "Unix socket of the I/O server (system-vm mode)");
    app.add_option("--timeout", timeout, "Seconds before the program is killed (0: never)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--memory", memory_mib, "Guest memory in MiB")->check(CLI::Range(8, 65536));
    app.add_option("--env", env_args, "Environment variable KEY=VALUE (repeatable)");
    app.add_option("--log-level", log_level, "error, warn, info or debug");
    app.add_option("command", command, "PROGRAM [ARGS...] after --")->required();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int code = app.exit(e);
        return code == 0 ? 0 : kExitInternal;
    }
    tw::SetLogLevel(log_level);

    std::vector<std::string> env = {"PATH=/bin:/usr/bin", "HOME=/"};
    for (const std::string& kv : env_args) {
        size_t eq = kv.find('=');
        if (eq == 0 || eq == std::string::npos) {
            Complain("--env wants KEY=VALUE, got: " + kv);
            return kExitInternal;
        }
        std::string key = kv.substr(0, eq + 1);
        std::erase_if(env, [&](const std::string& e) { return e.rfind(key, 0) == 0; });
        env.push_back(kv);
    }

    // Both deadlines run from here, so time spent reaching the I/O server counts too.
    StartHardDeadline(timeout);
    StartSessionOpenDeadline();

    std::unique_ptr<tw::transport::Link> link;
    std::unique_ptr<tw::transport::Link> server_link;
    std::unique_ptr<tw::system_vm::IoServer> server;
    std::thread server_thread;
    if (isolation == "in-process") {
        if (tenants_dir.empty()) {
            Complain("--isolation in-process needs --tenants-dir");
            return kExitInternal;
        }
        auto [client_end, server_end] = tw::transport::MakeInProcessPair();
        link = std::move(client_end);
        server_link = std::move(server_end);
        server = std::make_unique<tw::system_vm::IoServer>(tenants_dir);
        server_thread = std::thread([&server, &server_link] {
            auto served = server->Serve(*server_link);
            if (!served.ok()) {
                tw::Logger("vmm")->error("in-process io server stopped: {}",
                                         served.error().ToString());
            }
        });
    } else {
        if (io_socket.empty()) {
            Complain("--isolation system-vm needs --io-socket");
            return kExitInternal;
        }
        auto fd = ConnectUnix(io_socket);
        if (!fd.ok()) {
            Complain(fd.error().ToString());
            return kExitInternal;
        }
        link = tw::transport::MakeStreamLink(std::move(*fd));
    }

    int status = kExitInternal;
    {
        auto client = tw::transport::FileClient::Open(std::move(link), kSessionId, tenant);
        if (!client.ok()) {
            std::string why = client.error().ToString();
            int err = client.error().err();
            if (!io_socket.empty() && (err == EPIPE || err == ECONNRESET)) {
                // The agent hangs up on a runner it cannot serve rather than answer it.
                why += " (the agent closed the connection: the System VM is down or restarting,"
                       " or the agent is at its limit of clients; see `host-agent status`)";
            }
            Complain("cannot open a session for tenant " + tenant + ": " + why);
        } else {
            g_session_open = true;
            tw::hyperlight::MicroVmConfig config{.memory_bytes = memory_mib << 20,
                                                 .timeout_seconds = timeout,
                                                 .argv = command,
                                                 .env = env};
            tw::hyperlight::Termination t = tw::hyperlight::RunProgram(**client, config);
            std::string message = tw::hyperlight::DescribeTermination(t, timeout);
            if (!message.empty()) {
                Complain(message);
            }
            status = tw::hyperlight::ExitStatusFor(t);
        }
    }  // The client closes its session and its link here, which ends the in-process server.

    if (server_link) {
        server_link->Close();
    }
    if (server_thread.joinable()) {
        server_thread.join();
    }
    return status;
}
