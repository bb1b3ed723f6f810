#include "daemon/supervisor.h"

#include "common/log.h"
#include "transport/abi.h"

namespace tw::agent {
namespace {

using namespace std::chrono_literals;

constexpr auto kRestartBackoff = 5s;  // so a System VM that cannot boot does not spin the host
constexpr auto kWatchInterval = 200ms;
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
        // Watch the running System VM until it dies or the agent stops.
        while (!WaitForStop(kWatchInterval)) {
            std::lock_guard lock(mutex_);
            if (!mux_ || !mux_->upstream_alive()) {
                break;
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

Result<void> Supervisor::Boot() {
    system_vm::SystemVmConfig vm;
    vm.image_dir = config_.system_vm.image_dir;
    vm.disk_path = config_.SystemVmDisk();
    vm.run_dir = config_.run_dir;
    vm.memory_mib = config_.system_vm.memory_mib;
    vm.cpus = config_.system_vm.cpus;
    vm.accelerator = config_.system_vm.accelerator;
    vm.qemu_binary = config_.system_vm.qemu;
    vm.boot_timeout = std::chrono::seconds(config_.system_vm.boot_timeout_s);

    auto begin = Clock::now();
    auto booted = system_vm::SystemVm::Boot(vm);
    if (!booted.ok()) {
        std::lock_guard lock(mutex_);
        state_ = "down";
        return booted.error();
    }
    auto mux = std::make_shared<SessionMux>(
        (*booted)->link(), std::set<std::string>(config_.tenants.begin(), config_.tenants.end()));
    mux->Start();

    std::lock_guard lock(mutex_);
    vm_ = std::move(*booted);
    mux_ = std::move(mux);
    booted_ = Clock::now();
    boot_s_ = Seconds(booted_ - begin);
    state_ = "running";
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
    // Runners still holding the mux keep it (and its reader) until they leave; the link it
    // reads is at end-of-file once QEMU is gone, so nothing waits on the VM any more.
    mux.reset();
    std::unique_ptr<system_vm::SystemVm> ended;
    {
        std::lock_guard lock(mutex_);
        ended = std::move(vm_);
    }
}

}  // namespace tw::agent
