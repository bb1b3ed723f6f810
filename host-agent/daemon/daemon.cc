#include "daemon/daemon.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <list>
#include <set>
#include <system_error>
#include <thread>

#include "common/log.h"
#include "common/unique_fd.h"
#include "daemon/mux.h"
#include "daemon/supervisor.h"
#include "host_agent/control.h"
#include "host_agent/tenants.h"
#include "system_vm/launcher.h"
#include "transport/codec.h"

namespace tw::agent {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A runner that stops reading its socket is cut off after this long, so it cannot stall the
// replies of every other session on the shared System VM link.
constexpr auto kClientSendTimeout = 5s;
constexpr auto kControlTimeout = 10s;
// A control client has this long to send its one line. The main loop reads it, so the bound
// is what a stuck client (only root can connect: the socket is 0600) costs everyone else.
constexpr auto kControlReadTimeout = 250ms;
// Runners and `cp`s connected at once. Each holds two threads and its session's handles in
// the System VM (at most 1024), so the cap keeps one flood from exhausting either.
constexpr size_t kMaxIoClients = 256;
// After accept fails for lack of fds, the listening socket stays readable; this pause keeps
// the loop from spinning until fds free up.
constexpr auto kAcceptBackoff = 100ms;

// accept4 that reports fd exhaustion once per episode and pauses instead of spinning.
UniqueFd Accept(int listen_fd, const std::shared_ptr<spdlog::logger>& log) {
    static bool exhausted = false;  // main thread only
    UniqueFd conn(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn && (errno == EMFILE || errno == ENFILE)) {
        if (!exhausted) {
            log->warn("accept: {}; pausing {} ms per attempt until fds free up",
                      std::strerror(errno), kAcceptBackoff.count());
            exhausted = true;
        }
        std::this_thread::sleep_for(kAcceptBackoff);
    } else if (conn && exhausted) {
        log->info("accept: fds available again");
        exhausted = false;
    }
    return conn;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

class Agent {
public:
    explicit Agent(const AgentConfig& config) : config_(config) {}
    ~Agent() { Shutdown(); }

    Result<void> Start();
    void Serve();
    std::string ReadyLine() const;

private:
    Result<void> AcquireLock();
    void AcceptControl();
    void AcceptIoClient();
    void ReapClients(bool all);
    void Shutdown();
    json::object Status();

    struct Client {
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> done;
    };

    const AgentConfig& config_;
    std::shared_ptr<spdlog::logger> log_ = Logger("agent");
    UniqueFd lock_fd_;
    UniqueFd control_fd_;
    UniqueFd io_fd_;
    UniqueFd signal_fd_;
    std::unique_ptr<Supervisor> supervisor_;
    std::list<Client> clients_;
    Clock::time_point started_ = Clock::now();
    bool locked_ = false;  // Only the lock holder may touch the run dir's sockets.
    bool stop_requested_ = false;
    bool shut_down_ = false;
};

Result<void> MakePrivateDir(const std::string& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
        return Error(ec.value(), "create " + dir);
    }
    if (::chmod(dir.c_str(), 0700) != 0) {
        return Error::FromErrno("chmod " + dir);
    }
    return Ok();
}

Result<void> Agent::AcquireLock() {
    TW_RETURN_IF_ERROR(MakePrivateDir(config_.run_dir));
    TW_RETURN_IF_ERROR(MakePrivateDir(config_.state_dir));

    lock_fd_.Reset(::open(config_.LockFile().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock_fd_) {
        return Error::FromErrno("open " + config_.LockFile());
    }
    if (::flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) {
            return Error::FromErrno("lock " + config_.LockFile());
        }
        char pid[32] = {};
        ssize_t n = ::pread(lock_fd_.get(), pid, sizeof(pid) - 1, 0);
        std::string who = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "unknown";
        while (!who.empty() && who.back() == '\n') {
            who.pop_back();
        }
        return Error(EEXIST, "an agent is already running (pid " + who + ", run dir " +
                                 config_.run_dir + ")");
    }
    locked_ = true;
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(lock_fd_.get(), 0) != 0 ||
        ::pwrite(lock_fd_.get(), pid.data(), pid.size(), 0) < 0) {
        return Error::FromErrno("write " + config_.LockFile());
    }
    return Ok();
}

Result<void> Agent::Start() {
    // Every client costs the agent fds (its socket, its thread's); take what the hard limit
    // allows rather than the 1024 a shell usually hands down.
    rlimit files{};
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        (void)::setrlimit(RLIMIT_NOFILE, &files);
    }
    TW_RETURN_IF_ERROR(AcquireLock());
    TW_RETURN_IF_ERROR(EnsureSystemVmDisk(config_));
    for (const std::string& tenant : config_.tenants) {
        TW_RETURN_IF_ERROR(EnsureInProcessTenant(config_, tenant));
    }

    // Block the signals we serve through signalfd before any thread exists, so every thread
    // inherits the mask and SIGTERM reaches the poll loop only.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    ::pthread_sigmask(SIG_BLOCK, &mask, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    signal_fd_.Reset(::signalfd(-1, &mask, SFD_CLOEXEC));
    if (!signal_fd_) {
        return Error::FromErrno("signalfd");
    }

    supervisor_ = std::make_unique<Supervisor>(config_);
    TW_RETURN_IF_ERROR(supervisor_->Start());
    TW_ASSIGN_OR_RETURN(io_fd_, ListenUnix(config_.IoSocket()));
    TW_ASSIGN_OR_RETURN(control_fd_, ListenUnix(config_.ControlSocket()));
    log_->info("agent serving: control={} io={}", config_.ControlSocket(), config_.IoSocket());
    return Ok();
}

std::string Agent::ReadyLine() const {
    Supervisor::View vm = supervisor_->Get();
    return fmt::format("ready pid={} accelerator={} boot_s={:.1f}", ::getpid(), vm.accelerator,
                       vm.boot_s);
}

void Agent::Serve() {
    while (!stop_requested_) {
        pollfd fds[3] = {{control_fd_.get(), POLLIN, 0},
                         {io_fd_.get(), POLLIN, 0},
                         {signal_fd_.get(), POLLIN, 0}};
        int ready = ::poll(fds, 3, 1000);
        if (ready < 0 && errno != EINTR) {
            log_->error("poll failed: {}", std::strerror(errno));
            break;
        }
        if (ready > 0 && (fds[2].revents & POLLIN)) {
            signalfd_siginfo info{};
            if (::read(signal_fd_.get(), &info, sizeof(info)) == sizeof(info)) {
                log_->info("signal {} received, stopping", info.ssi_signo);
            }
            stop_requested_ = true;
            break;
        }
        if (ready > 0 && (fds[0].revents & POLLIN)) {
            AcceptControl();
        }
        if (ready > 0 && (fds[1].revents & POLLIN)) {
            AcceptIoClient();
        }
        ReapClients(/*all=*/false);
    }
}

void Agent::AcceptControl() {
    UniqueFd conn = Accept(control_fd_.get(), log_);
    if (!conn) {
        return;
    }
    auto line = ReadLine(conn.get(), kControlReadTimeout);
    if (!line.ok()) {
        return;
    }
    boost::system::error_code ec;
    json::value request = json::parse(*line, ec);
    json::object reply;
    std::string op;
    if (!ec && request.is_object() && request.as_object().contains("op") &&
        request.as_object().at("op").is_string()) {
        op = json::value_to<std::string>(request.as_object().at("op"));
    }
    if (op == "status") {
        reply = Status();
    } else if (op == "stop") {
        reply["ok"] = true;
        stop_requested_ = true;
        log_->info("stop requested over the control socket");
    } else {
        reply["ok"] = false;
        reply["error"] = "unknown request (want {\"op\":\"status\"} or {\"op\":\"stop\"})";
    }
    (void)WriteAll(conn.get(), json::serialize(reply) + "\n");
}

void Agent::AcceptIoClient() {
    UniqueFd conn = Accept(io_fd_.get(), log_);
    if (!conn) {
        return;
    }
    std::shared_ptr<SessionMux> mux = supervisor_->Get().mux;
    if (!mux || !mux->upstream_alive()) {
        return;  // Closing the connection tells the runner the System VM is down.
    }
    ReapClients(/*all=*/false);
    if (clients_.size() >= kMaxIoClients) {
        log_->warn("io client refused: {} clients connected already", clients_.size());
        return;
    }
    timeval tv{};
    tv.tv_sec = std::chrono::duration_cast<std::chrono::seconds>(kClientSendTimeout).count();
    ::setsockopt(conn.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

    std::shared_ptr<transport::Link> link = transport::MakeStreamLink(std::move(conn));
    auto done = std::make_shared<std::atomic<bool>>(false);
    // std::thread reports a failed start only by throwing; the agent must outlive it.
    try {
        clients_.push_back(Client{std::thread([mux, link, done] {
                                      mux->ServeClient(link);
                                      *done = true;
                                  }),
                                  done});
    } catch (const std::system_error& e) {
        log_->error("io client refused: cannot start its thread: {}", e.what());
    }
}

void Agent::ReapClients(bool all) {
    for (auto it = clients_.begin(); it != clients_.end();) {
        if (all || *it->done) {
            it->thread.join();
            it = clients_.erase(it);
        } else {
            ++it;
        }
    }
}

json::object Agent::Status() {
    json::object status;
    status["ok"] = true;
    status["pid"] = ::getpid();
    status["uptime_s"] = Seconds(Clock::now() - started_);
    status["state_dir"] = config_.state_dir;
    status["default_isolation"] = IsolationName(config_.run.isolation);

    Supervisor::View view = supervisor_->Get();
    json::object vm;
    vm["state"] = view.state;
    vm["restarts"] = view.restarts;
    if (view.pid > 0) {
        vm["pid"] = view.pid;
        vm["accelerator"] = view.accelerator;
        vm["accelerator_reason"] = view.accelerator_reason;
        vm["boot_s"] = view.boot_s;
        vm["uptime_s"] = view.uptime_s;
    }
    if (view.mux) {
        vm["sessions"] = view.mux->active_sessions();
        vm["frames_up"] = view.mux->frames_up();
        vm["frames_down"] = view.mux->frames_down();
        vm["refused"] = view.mux->refused();
        vm["cut_off"] = view.mux->cut_off();
    }
    json::array tenants;
    for (const std::string& name : view.tenants) {
        tenants.emplace_back(name);
    }
    if (!view.tenants_error.empty()) {
        vm["tenant_list_error"] = view.tenants_error;
    }
    vm["tenants"] = std::move(tenants);
    status["system_vm"] = std::move(vm);

    json::array configured;
    for (const std::string& name : config_.tenants) {
        configured.emplace_back(name);
    }
    status["tenants"] = std::move(configured);
    return status;
}

void Agent::Shutdown() {
    if (shut_down_ || !locked_) {
        return;
    }
    shut_down_ = true;
    control_fd_.Reset();
    io_fd_.Reset();
    if (supervisor_) {
        supervisor_->Stop();  // disconnects the runners, then the System VM powers off
    }
    ReapClients(/*all=*/true);
    ::unlink(config_.ControlSocket().c_str());
    ::unlink(config_.IoSocket().c_str());
    if (lock_fd_) {
        (void)::ftruncate(lock_fd_.get(), 0);
    }
    log_->info("agent stopped: uptime_s={:.1f}", Seconds(Clock::now() - started_));
}

void Report(int& ready_fd, const std::string& line) {
    if (ready_fd < 0) {
        return;
    }
    (void)WriteAll(ready_fd, line + "\n");
    ::close(ready_fd);
    ready_fd = -1;
}

}  // namespace

int RunDaemon(const AgentConfig& config, int ready_fd) {
    auto agent = std::make_unique<Agent>(config);
    if (auto started = agent->Start(); !started.ok()) {
        Logger("agent")->error("agent failed to start: {}", started.error().ToString());
        Report(ready_fd, "error: " + started.error().ToString());
        return 1;
    }
    Report(ready_fd, agent->ReadyLine());
    agent->Serve();
    agent.reset();
    return 0;
}

}  // namespace tw::agent
