#include "daemon/supervisor.h"

#include <cstring>

#include "common/log.h"
#include "transport/abi.h"
#include "transport/codec.h"

namespace tw::agent {
namespace {

using namespace std::chrono_literals;

constexpr auto kRestartBackoff = 5s;  // so a System VM that cannot boot does not spin the host
constexpr auto kWatchInterval = 200ms;
// A System VM that stops answering (a wedged guest, a stopped QEMU) closes no link, so it is
// asked for its tenant list this often and replaced after kMissedChecks unanswered asks.
constexpr auto kHealthInterval = 10s;
constexpr auto kHealthTimeout = 10s;
constexpr int kMissedChecks = 2;
constexpr auto kShutdownReplyTimeout = 10s;
constexpr auto kPowerOffTimeout = 30s;

double Seconds(std::chrono::steady_clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

}  // namespace

Supervisor::Supervisor(const AgentConfig& config) : config_(config) {}

Supervisor::~Supervisor() { Stop(); }

Result<void> Supervisor::Start() {
    std::promise<Result<void>> first_boot;
    std::future<Result<void>> booted = first_boot.get_future();
    thread_ = std::thread([this, p = std::move(first_boot)]() mutable { Run(std::move(p)); });
    return booted.get();
}

void Supervisor::Stop() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    stop_cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

Supervisor::View Supervisor::Get() const {
    std::lock_guard lock(mutex_);
    View view;
    view.state = state_;
    view.restarts = restarts_;
    view.mux = mux_;
    if (vm_) {
        view.pid = vm_->pid();
        view.accelerator = vm_->accelerator();
        view.accelerator_reason = vm_->accelerator_reason();
        view.boot_s = boot_s_;
        view.uptime_s = Seconds(Clock::now() - booted_);
    }
    view.tenants = tenants_;
    view.tenants_error = tenants_error_;
    return view;
}

bool Supervisor::WaitForStop(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex_);
    return stop_cv_.wait_for(lock, d, [this] { return stop_; });
}

void Supervisor::Run(std::promise<Result<void>> first_boot) {
    auto log = Logger("agent");
    Result<void> booted = Boot();
    bool failed = !booted.ok();
    first_boot.set_value(std::move(booted));
    if (failed) {
        return;
    }

    for (;;) {
        // Watch the running System VM until it dies, stops answering, or the agent stops.
        int missed = 0;
        auto next_check = Clock::now() + kHealthInterval;
        while (!WaitForStop(kWatchInterval)) {
            {
                std::lock_guard lock(mutex_);
                if (!mux_ || !mux_->upstream_alive()) {
                    break;
                }
            }
            if (Clock::now() >= next_check) {
                missed = CheckHealth() ? 0 : missed + 1;
                next_check = Clock::now() + kHealthInterval;
                if (missed >= kMissedChecks) {
                    log->error("system vm stopped answering: pid={}", Get().pid);
                    break;
                }
            }
        }
        if (WaitForStop(0ms)) {
            EndVm(/*clean=*/true);
            return;
        }
        log->error("system vm is down: pid={}; restarting in {} s", Get().pid,
                   std::chrono::duration_cast<std::chrono::seconds>(kRestartBackoff).count());
        EndVm(/*clean=*/false);

        // Boot again, pausing before every attempt, until one works or the agent stops.
        for (;;) {
            if (WaitForStop(kRestartBackoff)) {
                return;
            }
            {
                std::lock_guard lock(mutex_);
                state_ = "booting";
                restarts_++;
            }
            auto again = Boot();
            if (again.ok()) {
                break;
            }
            log->error("system vm restart failed: {}", again.error().ToString());
        }
    }
}

bool Supervisor::CheckHealth() {
    std::shared_ptr<SessionMux> mux;
    {
        std::lock_guard lock(mutex_);
        mux = mux_;
    }
    if (!mux) {
        return false;
    }
    std::vector<std::string> names;
    std::string error;
    auto reply = mux->Call(transport::MsgType::kTenantList, {}, kHealthTimeout);
    transport::Reply decoded;
    if (!reply.ok()) {
        error = reply.error().ToString();
    } else if (transport::DecodeReply(reply->payload, &decoded) < 0 ||
               (decoded.result >= 0 &&
                transport::DecodeTenantList(decoded.data, decoded.result, &names) < 0)) {
        error = "malformed tenant list reply";
    } else if (decoded.result < 0) {
        error = std::string("tenant list: ") + std::strerror(static_cast<int>(-decoded.result));
    }
    std::lock_guard lock(mutex_);
    tenants_ = std::move(names);
    tenants_error_ = error;
    // Only a missing answer counts against the VM: an error reply is still an answer.
    return reply.ok();
}

Result<void> Supervisor::Boot() {
    system_vm::SystemVmConfig settings;
    settings.image_dir = config_.system_vm.image_dir;
    settings.disk_path = config_.SystemVmDisk();
    settings.run_dir = config_.run_dir;
    settings.memory_mib = config_.system_vm.memory_mib;
    settings.cpus = config_.system_vm.cpus;
    settings.accelerator = config_.system_vm.accelerator;
    settings.qemu_binary = config_.system_vm.qemu;
    settings.boot_timeout = std::chrono::seconds(config_.system_vm.boot_timeout_s);

    auto begin = Clock::now();
    auto booted = system_vm::SystemVm::Boot(settings);
    if (!booted.ok()) {
        std::lock_guard lock(mutex_);
        state_ = "down";
        return booted.error();
    }
    std::shared_ptr<system_vm::SystemVm> vm = std::move(*booted);
    // The mux's link is the VM's; the aliasing pointer keeps the VM object (not QEMU) alive
    // for as long as anyone still holds the mux.
    auto mux = std::make_shared<SessionMux>(
        std::shared_ptr<transport::Link>(vm, &vm->link()),
        std::set<std::string>(config_.tenants.begin(), config_.tenants.end()));
    if (auto started = mux->Start(); !started.ok()) {
        std::lock_guard lock(mutex_);
        state_ = "down";
        return started.error();
    }

    {
        std::lock_guard lock(mutex_);
        vm_ = std::move(vm);
        mux_ = std::move(mux);
        booted_ = Clock::now();
        boot_s_ = Seconds(booted_ - begin);
        state_ = "running";
    }
    (void)CheckHealth();  // fills the tenant list for `status`
    std::lock_guard lock(mutex_);
    Logger("agent")->info("system vm ready: pid={} accelerator={} boot_s={:.1f}", vm_->pid(),
                          vm_->accelerator(), boot_s_);
    return Ok();
}

void Supervisor::EndVm(bool clean) {
    std::shared_ptr<SessionMux> mux;
    {
        std::lock_guard lock(mutex_);
        mux = std::move(mux_);
        state_ = clean ? "stopped" : "down";
    }
    auto log = Logger("agent");
    if (mux) {
        mux->Stop();  // disconnects every runner; a runner sees its session end
        if (clean && mux->upstream_alive()) {
            // The server syncs the tenant disk before it answers, then init powers off.
            auto reply = mux->Call(transport::MsgType::kShutdown, {}, kShutdownReplyTimeout);
            if (!reply.ok()) {
                log->warn("system vm did not confirm shutdown: {}", reply.error().ToString());
            }
        }
    }
    if (vm_) {
        auto stopped = vm_->WaitForExit(clean ? kPowerOffTimeout : 0s);
        if (clean && !stopped.ok()) {
            log->warn("system vm did not power off, killed: {}", stopped.error().ToString());
        }
    }
    // Runners still holding the mux keep it, its reader and (through it) the VM object until
    // they leave; QEMU itself is gone by now, so nothing waits on it.
    mux.reset();
    std::shared_ptr<system_vm::SystemVm> ended;
    {
        std::lock_guard lock(mutex_);
        ended = std::move(vm_);
        tenants_.clear();
        tenants_error_ = "system vm is " + state_;
    }
}

}  // namespace tw::agent
