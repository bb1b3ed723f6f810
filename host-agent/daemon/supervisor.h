// Supervisor: owns the System VM for the agent's whole life on a thread of its own. It boots
// the VM, watches it, boots it again when it dies (with a pause between attempts), and shuts
// it down cleanly at the end.
//
// One long-lived thread does every boot because QEMU is bound to the thread that spawned it
// (PR_SET_PDEATHSIG fires when that thread exits), and so that the agent's main loop, which
// answers `status` and `stop` and admits runners, never waits on a boot.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "daemon/mux.h"
#include "host_agent/config.h"
#include "system_vm/launcher.h"

namespace tw::agent {

class Supervisor {
public:
    explicit Supervisor(const AgentConfig& config);
    ~Supervisor();
    Supervisor(const Supervisor&) = delete;
    Supervisor& operator=(const Supervisor&) = delete;

    // Starts the thread and waits for the first boot: its failure is the agent's.
    Result<void> Start();

    // Shuts the System VM down (the server syncs the tenant disk first) and joins the thread.
    void Stop();

    // What `status` shows. `mux` is null while the System VM is booting or down; runners
    // admitted on it keep it alive (shared) even if the VM dies under them.
    struct View {
        std::string state;  // booting | running | down | stopped
        pid_t pid = -1;
        std::string accelerator;
        std::string accelerator_reason;
        double boot_s = 0;
        double uptime_s = 0;
        uint32_t restarts = 0;
        std::shared_ptr<SessionMux> mux;
        // The tenants on the System VM disk as of the last health check, or why that failed.
        std::vector<std::string> tenants;
        std::string tenants_error;
    };
    View Get() const;

private:
    using Clock = std::chrono::steady_clock;

    void Run(std::promise<Result<void>> first_boot);
    Result<void> Boot();
    // Ends the current System VM: cleanly (kShutdown) when `clean`, else it is already dead.
    void EndVm(bool clean);
    // Waits up to `d`; true if Stop() was called meanwhile.
    bool WaitForStop(std::chrono::milliseconds d);
    // Asks the System VM for its tenant list: the health check, and what `status` shows.
    // False when the System VM did not answer in time.
    bool CheckHealth();

    const AgentConfig& config_;
    std::thread thread_;

    mutable std::mutex mutex_;
    std::condition_variable stop_cv_;
    bool stop_ = false;
    std::string state_ = "booting";
    // Written by the supervisor thread only. Shared with the mux, whose link lives in it.
    std::shared_ptr<system_vm::SystemVm> vm_;
    std::shared_ptr<SessionMux> mux_;
    std::vector<std::string> tenants_;
    std::string tenants_error_;
    Clock::time_point booted_{};
    double boot_s_ = 0;
    uint32_t restarts_ = 0;
};

}  // namespace tw::agent
