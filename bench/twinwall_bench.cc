// Twinwall's first benchmarks, each printed next to a floor or a peer measured in the same run
// (the machines are shared and noisy, so only the ratios mean much; docs/benchmarks.md):
//
//   (a) a whole micro-VM run of a static hello (create -> first instruction -> exit), next to
//       the floor (bare KVM VM create + one exit) and to bwrap --unshare-all and a plain
//       fork/exec of the same binary;
//   (b) one forwarded 4 KiB pread in each isolation mode, next to the floor (a bare syscall ->
//       VM exit round trip), the System VM link's echo round trip, and a host pread.
//
// The sandbox and peer rows carry an x_floor counter: their time over their floor's, with the
// floor measured again inside every iteration of the row (paired), so a change in the
// machine's load during the run moves both. The system-vm pread also carries x_echo, its time
// over the echo row's (not paired: that would need two System VMs at once). Nothing asserts
// a timing.
//
// Per-call figures come from two runs of the same guest program, with N calls and with none:
// (t_N - t_0) / N, so process and VM start-up cancel out.
//
// The system-vm rows boot real System VMs under QEMU, one at a time: the echo row boots one
// through the launcher and shuts it down; the rows after it share a host-agent that this
// process runs as a child, on a private configuration under the build tree. Both die with this
// process whatever ends it (PR_SET_PDEATHSIG), and main() stops the agent cleanly.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/unique_fd.h"
#include "system_vm/launcher.h"
#include "transport/control.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

const std::string kVmm = TW_VMM;
const std::string kAgent = TW_HOST_AGENT;
const std::string kHello = TW_HELLO;
const std::string kLoops = TW_LOOPS;
const fs::path kWork = TW_BENCH_WORK_DIR;

// Calls per guest run in the per-call rows: at ~0.1-1 ms a call, enough that the noise of the
// start-up subtracted out is a few microseconds per call.
constexpr long kCalls = 2000;
// A kill switch for every micro-VM run, as the agent always sets one: a hung run then fails
// its row instead of hanging the whole benchmark.
constexpr int kRunTimeoutS = 60;

double Seconds(Clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

// ---------------------------------------------------------------------------------------------
// Ratios. The echo row records its mean here for the x_echo of the row after it (registration
// order is run order); a filter that leaves it out leaves 0, and x_echo is omitted.

double g_link_echo_s = 0;

void SetRatio(benchmark::State& state, const char* name, double seconds, double floor) {
    if (floor > 0 && seconds > 0 && !state.error_occurred()) {
        state.counters[name] = seconds / floor;
    }
}

// ---------------------------------------------------------------------------------------------
// Child processes. Benchmark code forks with no helper threads alive, but the child still only
// calls async-signal-safe functions, so argv is built before the fork.

struct Outcome {
    int status = -1;  // exit status, or 128+signal as a shell reports it
    std::string out;  // stdout
    std::string err;  // stderr, for error messages
};

int DecodeStatus(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Starts argv[0] (a path) with stdin on /dev/null and stdout/stderr on the given fds (-1:
// /dev/null). With `die_with_parent`, the child gets SIGTERM when this process dies, however
// it dies. Returns the pid, or -1 if fork failed.
pid_t Spawn(const std::vector<std::string>& argv, int out_fd, int err_fd, bool die_with_parent) {
    std::vector<char*> args;
    for (const std::string& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid != 0) {
        return pid;
    }
    if (die_with_parent && (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || ::getppid() != parent)) {
        ::_exit(127);
    }
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, STDIN_FILENO);
    ::dup2(out_fd >= 0 ? out_fd : null, STDOUT_FILENO);
    ::dup2(err_fd >= 0 ? err_fd : null, STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
}

int Wait(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return DecodeStatus(status);
}

// Waits up to `timeout` for pid to exit; returns its status, or -1 if it is still running.
int WaitFor(pid_t pid, Clock::duration timeout) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        int status = 0;
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return DecodeStatus(status);
        }
        if (r < 0 && errno != EINTR) {
            return -1;
        }
        if (Clock::now() > deadline) {
            return -1;
        }
        std::this_thread::sleep_for(20ms);
    }
}

std::string ReadFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Runs argv to completion, collecting its output; kills it after `timeout`.
Outcome RunCommand(const std::vector<std::string>& argv, Clock::duration timeout = 120s) {
    Outcome outcome;
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        outcome.err = "pipe2: " + std::string(std::strerror(errno));
        return outcome;
    }
    tw::UniqueFd read_end(pipe_fds[0]);
    tw::UniqueFd write_end(pipe_fds[1]);
    fs::path err_path = kWork / "last-command.err";
    tw::UniqueFd err(::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    pid_t pid = Spawn(argv, write_end.get(), err.get(), /*die_with_parent=*/true);
    write_end.Reset();
    if (pid < 0) {
        outcome.err = "fork: " + std::string(std::strerror(errno));
        return outcome;
    }
    auto deadline = Clock::now() + timeout;
    char buf[4096];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        pollfd pfd{read_end.get(), POLLIN, 0};
        int ready = left.count() > 0 ? ::poll(&pfd, 1, static_cast<int>(left.count())) : 0;
        if (ready == 0) {
            ::kill(pid, SIGKILL);
            break;
        }
        if (ready < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        ssize_t n = ::read(read_end.get(), buf, sizeof(buf));
        if (n <= 0) {
            break;
        }
        outcome.out.append(buf, static_cast<size_t>(n));
    }
    outcome.status = Wait(pid);
    outcome.err = ReadFile(err_path);
    return outcome;
}

// Runs argv once with its output collected and checks that it exits 0 printing `expected`,
// so a row never times a command that does not do its work. False (and the row skipped) if not.
bool CheckOutput(const std::vector<std::string>& argv, const std::string& expected,
                 benchmark::State& state) {
    Outcome o = RunCommand(argv);
    if (o.status == 0 && o.out == expected) {
        return true;
    }
    std::string message = argv[0] + " exited " + std::to_string(o.status) + ", stdout '" + o.out +
                          "', stderr '" + o.err + "'";
    state.SkipWithError(message.c_str());
    return false;
}

// Runs argv with all stdio on /dev/null and returns its wall time: fork, exec, run, exit,
// reap. Skips the row on a non-zero exit, since a failed run would time nothing.
double TimedRun(const std::vector<std::string>& argv, benchmark::State& state) {
    auto begin = Clock::now();
    pid_t pid = Spawn(argv, -1, -1, /*die_with_parent=*/true);
    int status = pid < 0 ? -1 : Wait(pid);
    double seconds = Seconds(Clock::now() - begin);
    if (status != 0 && !state.error_occurred()) {
        std::string message =
            "exit status " + std::to_string(status) + ": " + argv[0] + " ... " + argv.back();
        state.SkipWithError(message.c_str());
    }
    return seconds;
}

// ---------------------------------------------------------------------------------------------
// Tenants and the agent.

fs::path TenantsDir() {
    return kWork / "in-process/tenants";
}
fs::path TenantFile(const std::string& name) {
    return TenantsDir() / "default" / name;
}
fs::path ConfigPath() {
    return kWork / "agent.toml";
}
fs::path AgentLog() {
    return kWork / "agent.log";
}

// Lays out the tenant "default" for the in-process runs: the bench programs in /bin and 64 KiB
// of data in /data.bin. The system-vm rows copy the same files into the System VM's storage.
void PrepareTenant() {
    static bool done = false;
    if (done) {
        return;
    }
    fs::create_directories(TenantsDir() / "default/bin");
    fs::copy_file(kHello, TenantFile("bin/hello"), fs::copy_options::overwrite_existing);
    fs::copy_file(kLoops, TenantFile("bin/loops"), fs::copy_options::overwrite_existing);
    std::ofstream(TenantFile("data.bin"), std::ios::binary) << std::string(64 * 1024, 'x');
    done = true;
}

std::vector<std::string> VmmRun(const std::string& isolation,
                                const std::vector<std::string>& program) {
    std::vector<std::string> argv = {
        kVmm,          "--tenant", "default", "--timeout", std::to_string(kRunTimeoutS),
        "--isolation", isolation};
    if (isolation == "in-process") {
        argv.insert(argv.end(), {"--tenants-dir", TenantsDir().string()});
    } else {
        argv.insert(argv.end(), {"--io-socket", (kWork / "run/io.sock").string()});
    }
    argv.push_back("--");
    argv.insert(argv.end(), program.begin(), program.end());
    return argv;
}

std::vector<std::string> AgentCommand(std::vector<std::string> args) {
    args.insert(args.begin(), {kAgent, "--config", ConfigPath().string()});
    return args;
}

// The agent the system-vm rows share: -1 until StartAgent, 0 once reaped; g_agent_ready once
// it answers and holds the bench files.
pid_t g_agent_pid = -1;
bool g_agent_ready = false;

// Stops the agent this process started, if any. SIGTERM is the agent's clean stop: it shuts
// the System VM down (syncing its disk) and reaps QEMU before it exits.
void StopAgent() {
    if (g_agent_pid <= 0) {
        return;
    }
    ::kill(g_agent_pid, SIGTERM);
    if (WaitFor(g_agent_pid, 90s) < 0) {
        ::kill(g_agent_pid, SIGKILL);  // QEMU follows: its parent-death signal is SIGKILL
        Wait(g_agent_pid);
    }
    g_agent_pid = -1;
    g_agent_ready = false;
}

// Starts a host-agent on a private state_dir and run_dir under the build tree, in the
// foreground as a child of this process, waits until its System VM answers, and copies the
// bench programs and data into the default tenant's System VM storage. Once per process.
bool StartAgent(benchmark::State& state) {
    if (g_agent_ready) {
        return true;
    }
    if (g_agent_pid > 0) {
        state.SkipWithError("the agent failed earlier in this run");
        return false;
    }
    PrepareTenant();
    std::ofstream(ConfigPath()) << "state_dir = \"" << (kWork / "state").string() << "\"\n"
                                << "run_dir = \"" << (kWork / "run").string() << "\"\n";
    // No `stop` first: an agent already on this run dir belongs to another run of this
    // benchmark (ours die with their parent). This one then fails on the lock, and says so in
    // its log.
    tw::UniqueFd log(::open(AgentLog().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    g_agent_pid = Spawn(AgentCommand({"start", "--foreground"}), log.get(), log.get(),
                        /*die_with_parent=*/true);
    if (g_agent_pid < 0) {
        state.SkipWithError("cannot fork the agent");
        return false;
    }
    auto deadline = Clock::now() + 300s;
    for (;;) {
        if (WaitFor(g_agent_pid, 0s) >= 0) {
            g_agent_pid = 0;  // reaped: nothing left to stop
            std::string message = "host-agent exited during start; see " + AgentLog().string();
            state.SkipWithError(message.c_str());
            return false;
        }
        // Ready when our agent (not another one on the same run dir) reports its System VM up.
        Outcome status = RunCommand(AgentCommand({"status", "--json"}), 20s);
        std::string our_pid = "\"pid\":" + std::to_string(g_agent_pid) + ",";
        if (status.status == 0 && status.out.find(our_pid) != std::string::npos &&
            status.out.find("\"state\":\"running\"") != std::string::npos) {
            break;
        }
        if (Clock::now() > deadline) {
            state.SkipWithError("host-agent did not become ready within 300 s");
            return false;
        }
        std::this_thread::sleep_for(250ms);
    }
    for (const char* name : {"bin/hello", "bin/loops", "data.bin"}) {
        Outcome cp = RunCommand(
            AgentCommand({"cp", TenantFile(name).string(), std::string("default:/") + name}));
        if (cp.status != 0) {
            std::string message = "host-agent cp " + std::string(name) + " failed: " + cp.err;
            state.SkipWithError(message.c_str());
            return false;
        }
    }
    g_agent_ready = true;
    return true;
}

// ---------------------------------------------------------------------------------------------
// (a) Run a static hello.

// One floor VM: open /dev/kvm, create the VM, one page of memory, one vCPU in real mode whose
// first instruction is an `out`, run to that exit, tear it all down. Teardown is in because a
// micro-VM run pays it too (at process exit). Returns the wall time, or -1 if the VM did not
// stop on its `out`; adds the part before teardown to *to_exit.
double FloorVmOnce(double* to_exit) {
    static const uint8_t kCode[] = {0xe6, 0x10};  // out %al, $0x10
    constexpr size_t kMemSize = 4096;
    auto begin = Clock::now();
    bool ok = false;
    {
        tw::UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
        tw::UniqueFd vm(kvm ? ::ioctl(kvm.get(), KVM_CREATE_VM, 0) : -1);
        tw::UniqueFd vcpu;
        void* mem = MAP_FAILED;
        void* run = MAP_FAILED;
        int run_size = 0;
        if (vm) {
            mem = ::mmap(nullptr, kMemSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                         0);
        }
        if (mem != MAP_FAILED) {
            std::memcpy(mem, kCode, sizeof(kCode));
            kvm_userspace_memory_region region{};
            region.memory_size = kMemSize;
            region.userspace_addr = reinterpret_cast<uint64_t>(mem);
            if (::ioctl(vm.get(), KVM_SET_USER_MEMORY_REGION, &region) == 0) {
                vcpu.Reset(::ioctl(vm.get(), KVM_CREATE_VCPU, 0));
                run_size = ::ioctl(kvm.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
            }
        }
        if (vcpu && run_size > 0) {
            run = ::mmap(nullptr, static_cast<size_t>(run_size), PROT_READ | PROT_WRITE, MAP_SHARED,
                         vcpu.get(), 0);
        }
        if (run != MAP_FAILED) {
            kvm_sregs sregs{};
            kvm_regs regs{};
            regs.rflags = 2;  // bit 1 is reserved and must be set
            ok = ::ioctl(vcpu.get(), KVM_GET_SREGS, &sregs) == 0;
            sregs.cs.base = 0;
            sregs.cs.selector = 0;
            ok = ok && ::ioctl(vcpu.get(), KVM_SET_SREGS, &sregs) == 0 &&
                 ::ioctl(vcpu.get(), KVM_SET_REGS, &regs) == 0 &&
                 ::ioctl(vcpu.get(), KVM_RUN, 0) == 0 &&
                 static_cast<kvm_run*>(run)->exit_reason == KVM_EXIT_IO;
        }
        if (to_exit != nullptr) {
            *to_exit += Seconds(Clock::now() - begin);
        }
        if (run != MAP_FAILED) {
            ::munmap(run, static_cast<size_t>(run_size));
        }
        if (mem != MAP_FAILED) {
            ::munmap(mem, kMemSize);
        }
    }  // The fds close here: the VM is destroyed inside the timed span.
    return ok ? Seconds(Clock::now() - begin) : -1;
}

// Floor: what KVM itself costs for a VM that runs one instruction. to_exit_ms is the part
// before teardown, which on these machines is the smaller part.
void BM_Floor_KvmCreateAndOneExit(benchmark::State& state) {
    double to_exit = 0;
    for (auto _ : state) {
        if (FloorVmOnce(&to_exit) < 0) {
            state.SkipWithError("the floor VM did not stop on its out");
        }
    }
    state.counters["to_exit_ms"] = to_exit * 1e3 / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Floor_KvmCreateAndOneExit)->UseRealTime()->Unit(benchmark::kMillisecond);

// Times `argv` as a whole process, after checking once that it prints "hello\n". Each
// iteration also runs one floor VM (untimed for the row) for the paired x_floor.
void HelloRow(benchmark::State& state, const std::vector<std::string>& argv) {
    if (!CheckOutput(argv, "hello\n", state)) {
        return;
    }
    double total = 0;
    double floor = 0;
    for (auto _ : state) {
        double floor_once = FloorVmOnce(nullptr);
        if (floor_once < 0) {
            state.SkipWithError("the floor VM did not stop on its out");
        }
        floor += floor_once;
        double seconds = TimedRun(argv, state);
        state.SetIterationTime(seconds);
        total += seconds;
    }
    SetRatio(state, "x_floor", total, floor);
}

void BM_Peer_ForkExecHello(benchmark::State& state) {
    HelloRow(state, {kHello});
}
BENCHMARK(BM_Peer_ForkExecHello)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_Peer_BwrapUnshareAllHello(benchmark::State& state) {
    HelloRow(state, {"/usr/bin/bwrap", "--ro-bind", "/", "/", "--unshare-all", kHello});
}
BENCHMARK(BM_Peer_BwrapUnshareAllHello)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_MicroVm_HelloRun(benchmark::State& state) {
    PrepareTenant();
    HelloRow(state, VmmRun("in-process", {"/bin/hello"}));
}
BENCHMARK(BM_MicroVm_HelloRun)->UseManualTime()->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------------
// (b) One forwarded 4 KiB pread.

std::vector<std::string> Loops(const std::string& call, long n) {
    if (call == "pread") {
        return {"/bin/loops", "pread", "/data.bin", std::to_string(n)};
    }
    return {"/bin/loops", call, std::to_string(n)};
}

// The cost of one call of `call` in a micro-VM of `isolation`: (t_N - t_0) / N.
double OneCall(benchmark::State& state, const std::string& isolation, const std::string& call) {
    double zero = TimedRun(VmmRun(isolation, Loops(call, 0)), state);
    double many = TimedRun(VmmRun(isolation, Loops(call, kCalls)), state);
    return std::max(0.0, many - zero) / kCalls;
}

// The floor of (b): umask is answered by the VMM from its own state, so one call is a bare
// syscall -> #PF entry -> `out` exit -> VMM -> re-entry -> iretq round trip.
double FloorCall(benchmark::State& state) {
    return OneCall(state, "in-process", "umask");
}

// Sets each iteration's time to one pread in `isolation`, and x_floor to its ratio to the
// floor call measured in the same iterations. Returns the mean per call.
double PreadRow(benchmark::State& state, const std::string& isolation) {
    double total = 0;
    double floor = 0;
    for (auto _ : state) {
        floor += FloorCall(state);
        double per_call = OneCall(state, isolation, "pread");
        state.SetIterationTime(per_call);
        total += per_call;
    }
    SetRatio(state, "x_floor", total, floor);
    return total / static_cast<double>(state.iterations());
}

void BM_Floor_SyscallVmExitRoundTrip(benchmark::State& state) {
    PrepareTenant();
    for (auto _ : state) {
        state.SetIterationTime(FloorCall(state));
    }
}
BENCHMARK(BM_Floor_SyscallVmExitRoundTrip)
    ->UseManualTime()
    ->Iterations(5)
    ->Unit(benchmark::kMicrosecond);

void BM_Pread4K_InProcess(benchmark::State& state) {
    PrepareTenant();
    (void)PreadRow(state, "in-process");
}
BENCHMARK(BM_Pread4K_InProcess)->UseManualTime()->Iterations(5)->Unit(benchmark::kMicrosecond);

// Peer: the same pread on the host, from the page cache, with no sandbox at all.
void BM_Peer_HostPread4K(benchmark::State& state) {
    PrepareTenant();
    tw::UniqueFd fd(::open(TenantFile("data.bin").c_str(), O_RDONLY | O_CLOEXEC));
    char buf[4096];
    for (auto _ : state) {
        if (::pread(fd.get(), buf, sizeof(buf), 0) != sizeof(buf)) {
            state.SkipWithError("host pread failed");
        }
        benchmark::ClobberMemory();
    }
}
BENCHMARK(BM_Peer_HostPread4K)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The System VM link's echo: a kHello round trip through virtio-serial to the I/O server in
// the System VM and back, with no file work. Boots its own System VM on a copy of the template
// disk (fixed iterations, so the function runs, and boots, once); boot_s is that boot. Its
// x_floor pairs the echoes with floor calls measured just before and just after them.
void BM_SystemVm_VirtioSerialEchoRoundTrip(benchmark::State& state) {
    StopAgent();  // one System VM at a time: the machines have two cores
    PrepareTenant();
    fs::path dir = kWork / "echo";
    fs::create_directories(dir);
    // The echo touches no file on the disk, so one copy serves every run; it is a sparse copy
    // because the 512 MiB template is mostly holes.
    if (!fs::exists(dir / "tenants.img")) {
        Outcome cp = RunCommand({"/bin/cp", "--sparse=always",
                                 (fs::path(TW_IMAGE_DIR) / "tenants.img").string(),
                                 (dir / "tenants.img").string()});
        if (cp.status != 0) {
            state.SkipWithError(("cannot copy the tenant disk: " + cp.err).c_str());
            return;
        }
    }
    tw::system_vm::SystemVmConfig config;
    config.image_dir = TW_IMAGE_DIR;
    config.disk_path = (dir / "tenants.img").string();
    config.run_dir = dir.string();
    auto boot_begin = Clock::now();
    auto vm = tw::system_vm::SystemVm::Boot(config);
    if (!vm.ok()) {
        state.SkipWithError(vm.error().ToString().c_str());
        return;
    }
    state.counters["boot_s"] = Seconds(Clock::now() - boot_begin);
    double floor = FloorCall(state);
    uint64_t id = 100;
    auto begin = Clock::now();
    for (auto _ : state) {
        if (!tw::transport::Hello((*vm)->link(), id++).ok()) {
            state.SkipWithError("echo failed");
        }
    }
    double per_echo = Seconds(Clock::now() - begin) / static_cast<double>(state.iterations());
    floor = (floor + FloorCall(state)) / 2;
    if (auto down = (*vm)->Shutdown(30s); !down.ok()) {
        state.SkipWithError(down.error().ToString().c_str());
    }
    g_link_echo_s = state.error_occurred() ? 0 : per_echo;
    SetRatio(state, "x_floor", per_echo, floor);
}
BENCHMARK(BM_SystemVm_VirtioSerialEchoRoundTrip)
    ->UseRealTime()
    ->Iterations(1000)
    ->Unit(benchmark::kMicrosecond);

void BM_Pread4K_SystemVm(benchmark::State& state) {
    if (!StartAgent(state)) {
        return;
    }
    double per_call = PreadRow(state, "system-vm");
    SetRatio(state, "x_echo", per_call, g_link_echo_s);
}
BENCHMARK(BM_Pread4K_SystemVm)->UseManualTime()->Iterations(3)->Unit(benchmark::kMicrosecond);

// The hello of (a) again, with the program loaded from the System VM's storage: the cost a
// system-vm run adds at start-up (session open, ELF reads over the link).
void BM_MicroVm_HelloRunSystemVm(benchmark::State& state) {
    if (!StartAgent(state)) {
        return;
    }
    HelloRow(state, VmmRun("system-vm", {"/bin/hello"}));
}
BENCHMARK(BM_MicroVm_HelloRunSystemVm)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
    tw::SetLogLevel("warn");  // the launcher's boot lines would interleave with the table
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    fs::create_directories(kWork);
    benchmark::RunSpecifiedBenchmarks();
    StopAgent();
    benchmark::Shutdown();
    return 0;
}
