// Twinwall's first benchmarks, each printed next to a floor or a peer measured in the same run
// (the machines are shared and noisy, so only the ratios mean much):
//
//   (a) a whole micro-VM run of a static hello (create -> first instruction -> exit), next to
//       the floor (bare KVM VM create + one exit) and to bwrap --unshare-all and a plain
//       fork/exec of the same binary;
//   (b) one forwarded 4 KiB pread in each isolation mode, next to the floor (a bare syscall ->
//       VM exit round trip), the System VM link's echo round trip, and a host pread.
//
// Per-call figures come from two runs of the same guest program, with N calls and with none:
// (t_N - t_0) / N, so process and VM start-up cancel out.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "subprocess.h"
#include "system_vm/launcher.h"
#include "transport/control.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string kVmm = TW_VMM;
const std::string kAgent = TW_HOST_AGENT;
const fs::path kWork = TW_BENCH_WORK_DIR;
constexpr long kCalls = 2000;

// Runs argv with stdio on /dev/null and returns its wall time; aborts the benchmark on a
// non-zero exit, since a failed run would time nothing.
double TimedRun(const std::vector<std::string>& argv, benchmark::State& state) {
    auto begin = Clock::now();
    pid_t pid = ::fork();
    if (pid == 0) {
        int null = ::open("/dev/null", O_RDWR);
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::dup2(null, 2);
        std::vector<char*> args;
        for (const std::string& a : argv) {
            args.push_back(const_cast<char*>(a.c_str()));
        }
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        state.SkipWithError(("command failed: " + argv[0] + " ... " + argv.back()).c_str());
    }
    return seconds;
}

fs::path TenantsDir() { return kWork / "in-process/tenants"; }

std::string ConfigPath() { return (kWork / "agent.toml").string(); }

// Lays out a tenant "default" holding the bench programs, for the in-process runs.
void PrepareTenant() {
    static bool done = false;
    if (done) {
        return;
    }
    fs::path bin = TenantsDir() / "default/bin";
    fs::create_directories(bin);
    fs::copy_file(TW_HELLO, bin / "hello", fs::copy_options::overwrite_existing);
    fs::copy_file(TW_LOOPS, bin / "loops", fs::copy_options::overwrite_existing);
    std::ofstream(TenantsDir() / "default/data.bin", std::ios::binary)
        << std::string(64 * 1024, 'x');
    done = true;
}

std::vector<std::string> VmmRun(const std::string& isolation, std::vector<std::string> program) {
    std::vector<std::string> argv = {kVmm, "--tenant", "default", "--isolation", isolation};
    if (isolation == "in-process") {
        argv.insert(argv.end(), {"--tenants-dir", TenantsDir().string()});
    } else {
        argv.insert(argv.end(), {"--io-socket", (kWork / "run/io.sock").string()});
    }
    argv.push_back("--");
    argv.insert(argv.end(), program.begin(), program.end());
    return argv;
}

// ---------------------------------------------------------------------------------------------
// (a) Run a static hello.

// Floor: what KVM itself costs for a VM that runs one instruction: create the VM, one page of
// memory, one vCPU in real mode whose first instruction is an `out`, run to that exit.
void BM_Floor_KvmCreateAndOneExit(benchmark::State& state) {
    static const uint8_t kCode[] = {0xe6, 0x10};  // out %al, $0x10
    for (auto _ : state) {
        tw::UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
        tw::UniqueFd vm(::ioctl(kvm.get(), KVM_CREATE_VM, 0));
        void* mem = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        std::memcpy(mem, kCode, sizeof(kCode));
        kvm_userspace_memory_region region{};
        region.memory_size = 4096;
        region.userspace_addr = reinterpret_cast<uint64_t>(mem);
        ::ioctl(vm.get(), KVM_SET_USER_MEMORY_REGION, &region);
        tw::UniqueFd vcpu(::ioctl(vm.get(), KVM_CREATE_VCPU, 0));
        int run_size = ::ioctl(kvm.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
        auto* run = static_cast<kvm_run*>(
            ::mmap(nullptr, static_cast<size_t>(run_size), PROT_READ | PROT_WRITE, MAP_SHARED,
                   vcpu.get(), 0));
        kvm_sregs sregs{};
        ::ioctl(vcpu.get(), KVM_GET_SREGS, &sregs);
        sregs.cs.base = 0;
        sregs.cs.selector = 0;
        ::ioctl(vcpu.get(), KVM_SET_SREGS, &sregs);
        kvm_regs regs{};
        regs.rip = 0;
        regs.rflags = 2;
        ::ioctl(vcpu.get(), KVM_SET_REGS, &regs);
        ::ioctl(vcpu.get(), KVM_RUN, 0);
        if (run->exit_reason != KVM_EXIT_IO) {
            state.SkipWithError("floor VM did not stop on its out");
        }
        ::munmap(run, static_cast<size_t>(run_size));
        ::munmap(mem, 4096);
    }
}
BENCHMARK(BM_Floor_KvmCreateAndOneExit)->Unit(benchmark::kMillisecond);

void BM_Peer_ForkExecHello(benchmark::State& state) {
    for (auto _ : state) {
        TimedRun({TW_HELLO}, state);
    }
}
BENCHMARK(BM_Peer_ForkExecHello)->Unit(benchmark::kMillisecond);

void BM_Peer_BwrapUnshareAllHello(benchmark::State& state) {
    for (auto _ : state) {
        TimedRun({"/usr/bin/bwrap", "--ro-bind", "/", "/", "--unshare-all", TW_HELLO}, state);
    }
}
BENCHMARK(BM_Peer_BwrapUnshareAllHello)->Unit(benchmark::kMillisecond);

void BM_MicroVm_HelloRun(benchmark::State& state) {
    PrepareTenant();
    for (auto _ : state) {
        TimedRun(VmmRun("in-process", {"/bin/hello"}), state);
    }
}
BENCHMARK(BM_MicroVm_HelloRun)->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------------
// (b) One forwarded 4 KiB pread.

// Sets the iteration time to the cost of one call: (t_N - t_0) / N.
void PerCall(benchmark::State& state, const std::string& isolation,
             const std::vector<std::string>& with_n, const std::vector<std::string>& with_zero) {
    PrepareTenant();
    for (auto _ : state) {
        double zero = TimedRun(VmmRun(isolation, with_zero), state);
        double many = TimedRun(VmmRun(isolation, with_n), state);
        state.SetIterationTime(std::max(0.0, many - zero) / kCalls);
    }
}

void BM_Floor_SyscallVmExitRoundTrip(benchmark::State& state) {
    PerCall(state, "in-process", {"/bin/loops", "umask", std::to_string(kCalls)},
            {"/bin/loops", "umask", "0"});
}
BENCHMARK(BM_Floor_SyscallVmExitRoundTrip)->UseManualTime()->Iterations(5)->Unit(benchmark::kMicrosecond);

void BM_Pread4K_InProcess(benchmark::State& state) {
    PerCall(state, "in-process", {"/bin/loops", "pread", "/data.bin", std::to_string(kCalls)},
            {"/bin/loops", "pread", "/data.bin", "0"});
}
BENCHMARK(BM_Pread4K_InProcess)->UseManualTime()->Iterations(5)->Unit(benchmark::kMicrosecond);

void BM_Peer_HostPread4K(benchmark::State& state) {
    PrepareTenant();
    tw::UniqueFd fd(::open((TenantsDir() / "default/data.bin").c_str(), O_RDONLY | O_CLOEXEC));
    char buf[4096];
    for (auto _ : state) {
        benchmark::DoNotOptimize(::pread(fd.get(), buf, sizeof(buf), 0));
    }
}
BENCHMARK(BM_Peer_HostPread4K)->Unit(benchmark::kMicrosecond);

// The System VM link's echo: a kHello round trip through virtio-serial to the I/O server in
// the System VM and back, with no file work. Boots its own System VM on a copy of the
// template disk.
void BM_SystemVm_VirtioSerialEchoRoundTrip(benchmark::State& state) {
    fs::create_directories(kWork / "echo");
    fs::copy_file(fs::path(TW_IMAGE_DIR) / "tenants.img", kWork / "echo/tenants.img",
                  fs::copy_options::overwrite_existing);
    tw::system_vm::SystemVmConfig config;
    config.image_dir = TW_IMAGE_DIR;
    config.disk_path = (kWork / "echo/tenants.img").string();
    config.run_dir = (kWork / "echo").string();
    auto vm = tw::system_vm::SystemVm::Boot(config);
    if (!vm.ok()) {
        state.SkipWithError(vm.error().ToString().c_str());
        return;
    }
    uint64_t id = 100;
    for (auto _ : state) {
        if (!tw::transport::Hello((*vm)->link(), id++).ok()) {
            state.SkipWithError("echo failed");
            break;
        }
    }
    (void)(*vm)->Shutdown(std::chrono::seconds(30));
}
BENCHMARK(BM_SystemVm_VirtioSerialEchoRoundTrip)->Unit(benchmark::kMicrosecond);

// Starts an agent with its own state for the system-vm rows, and copies the bench programs
// and data into the default tenant's System VM storage.
bool StartAgent(benchmark::State& state) {
    static bool started = false;
    if (started) {
        return true;
    }
    PrepareTenant();
    std::ofstream(ConfigPath()) << "state_dir = \"" << (kWork / "state").string() << "\"\n"
                                << "run_dir = \"" << (kWork / "run").string() << "\"\n";
    auto agent = [](std::vector<std::string> args) {
        args.insert(args.begin(), {kAgent, "--config", ConfigPath()});
        return tw::test::RunCommand(args, "", 600);
    };
    (void)agent({"stop"});
    if (agent({"start"}).status != 0) {
        state.SkipWithError("host-agent start failed");
        return false;
    }
    for (const char* name : {"bin/hello", "bin/loops", "data.bin"}) {
        auto cp = agent({"cp", (TenantsDir() / "default" / name).string(),
                         std::string("default:/") + name});
        if (cp.status != 0) {
            state.SkipWithError(("host-agent cp failed: " + cp.err).c_str());
            return false;
        }
    }
    started = true;
    return true;
}

void BM_Pread4K_SystemVm(benchmark::State& state) {
    if (!StartAgent(state)) {
        return;
    }
    PerCall(state, "system-vm", {"/bin/loops", "pread", "/data.bin", std::to_string(kCalls)},
            {"/bin/loops", "pread", "/data.bin", "0"});
}
BENCHMARK(BM_Pread4K_SystemVm)->UseManualTime()->Iterations(3)->Unit(benchmark::kMicrosecond);

void BM_MicroVm_HelloRunSystemVm(benchmark::State& state) {
    if (!StartAgent(state)) {
        return;
    }
    for (auto _ : state) {
        TimedRun(VmmRun("system-vm", {"/bin/hello"}), state);
    }
}
BENCHMARK(BM_MicroVm_HelloRunSystemVm)->Unit(benchmark::kMillisecond);

// Stops the agent the system-vm rows started, whatever happened to them.
struct StopAgentAtExit {
    ~StopAgentAtExit() {
        if (fs::exists(ConfigPath())) {
            (void)tw::test::RunCommand({kAgent, "--config", ConfigPath(), "stop"}, "", 120);
        }
    }
} stop_agent_at_exit;

}  // namespace

BENCHMARK_MAIN();
