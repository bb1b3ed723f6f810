// RunProgram: builds a micro-VM around one program and runs it to its end.
//
// Setup order: read and check the program (before any VM exists, so a bad program costs no
// VM), create the VM, lay out the kernel region, load the program and its stack, set up the
// vCPU, then run. The run loop treats every exit as coming from hostile code: unknown ports,
// halts, triple faults and MMIO all end the run with SIGKILL, never the VMM.
#include "hyperlight_vm/micro_vm.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "elf/elf_loader.h"
#include "kvm.h"
#include "memory/memory_manager.h"
#include "syscalls/guest_process.h"
#include "x86_64/cpu_setup.h"
#include "x86_64/guest_abi.h"
#include "x86_64/layout.h"
#include "x86_64/page_tables.h"

// The guest kernel, a flat binary embedded by guest_image.S.
extern "C" const std::byte tw_guest_kernel_image[];
extern "C" const std::byte tw_guest_kernel_image_end[];

namespace tw::hyperlight {

namespace {

using transport::FileClient;
using transport::kCwdHandle;
using Clock = std::chrono::steady_clock;

uint64_t MicrosSince(Clock::time_point start) {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
}

Termination Fail(Termination::Kind kind, std::string detail) {
    return Termination{.kind = kind, .code = 0, .detail = std::move(detail)};
}

Termination Killed(std::string detail) {
    return Termination{
        .kind = Termination::Kind::kSignaled, .code = SIGKILL, .detail = std::move(detail)};
}

// The signal that interrupts KVM_RUN on timeout. Its handler does nothing: the point is the
// EINTR. Installed without SA_RESTART so blocking host calls made for the guest return too.
int KickSignal() {
    return SIGRTMIN + 5;
}

void InstallKickHandler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_handler = [](int) {};
        sigemptyset(&sa.sa_mask);
        sigaction(KickSignal(), &sa, nullptr);
    });
}

// Enforces the timeout from a thread of its own: when it passes, marks the run timed out and
// kicks the vCPU thread out of KVM_RUN (and of any blocking call) until the run loop stops.
class TimeoutWatch {
public:
    TimeoutWatch(double seconds, KvmMachine& machine) : machine_(machine), target_(pthread_self()) {
        if (seconds <= 0) {
            return;
        }
        auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(seconds));
        thread_ = std::thread([this, deadline] {
            std::unique_lock lock(mu_);
            if (cv_.wait_until(lock, deadline, [this] { return stop_; })) {
                return;
            }
            fired_.store(true);
            while (!stop_) {
                machine_.RequestImmediateExit();
                pthread_kill(target_, KickSignal());
                cv_.wait_for(lock, std::chrono::milliseconds(50), [this] { return stop_; });
            }
        });
    }
    ~TimeoutWatch() {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) {
            thread_.join();
        }
    }
    bool fired() const { return fired_.load(); }

private:
    KvmMachine& machine_;
    pthread_t target_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::atomic<bool> fired_{false};
    std::thread thread_;
};

class VcpuAccess final : public CpuAccess {
public:
    explicit VcpuAccess(KvmMachine& machine) : machine_(machine) {}
    Result<uint64_t> GetSegmentBase(bool gs) override {
        TW_ASSIGN_OR_RETURN(kvm_sregs sregs, machine_.GetSregs());
        return gs ? sregs.gs.base : sregs.fs.base;
    }
    Result<void> SetSegmentBase(bool gs, uint64_t base) override {
        TW_ASSIGN_OR_RETURN(kvm_sregs sregs, machine_.GetSregs());
        (gs ? sregs.gs : sregs.fs).base = base;
        return machine_.SetSregs(sregs);
    }

private:
    KvmMachine& machine_;
};

int SignalForVector(uint64_t vector) {
    switch (vector) {
        case 0:   // #DE
        case 16:  // #MF
        case 19:  // #XM
            return SIGFPE;
        case 1:  // #DB
        case 3:  // #BP
            return SIGTRAP;
        case 6:  // #UD
            return SIGILL;
        case 17:  // #AC
            return SIGBUS;
        default:  // #PF, #GP, #SS, #NP, #OF, #BR, ...
            return SIGSEGV;
    }
}

std::string Hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

struct ProgramFile {
    std::string path;  // where it was found in the tenant
    std::vector<std::byte> image;
};

// Finds argv[0] in the tenant (through PATH when it has no slash) and reads it whole.
Result<ProgramFile> ReadProgram(FileClient& files, const MicroVmConfig& config,
                                Termination& failure) {
    const std::string& name = config.argv[0];
    std::vector<std::string> candidates;
    if (name.find('/') != std::string::npos) {
        candidates.push_back(name);
    } else {
        std::string path_var = "/bin:/usr/bin";
        for (const std::string& kv : config.env) {
            if (kv.rfind("PATH=", 0) == 0) {
                path_var = kv.substr(5);
            }
        }
        size_t start = 0;
        while (start <= path_var.size()) {
            size_t end = path_var.find(':', start);
            std::string dir = path_var.substr(start, end == std::string::npos ? end : end - start);
            if (!dir.empty()) {
                candidates.push_back(dir + (dir.back() == '/' ? "" : "/") + name);
            }
            if (end == std::string::npos) {
                break;
            }
            start = end + 1;
        }
    }

    int64_t handle = -ENOENT;
    std::string found;
    int64_t first_error = 0;
    for (const std::string& candidate : candidates) {
        handle = files.OpenAt(kCwdHandle, candidate, O_RDONLY, 0);
        if (handle >= 0) {
            found = candidate;
            break;
        }
        if (handle != -ENOENT && handle != -ENOTDIR && first_error == 0) {
            first_error = handle;
        }
    }
    if (handle < 0) {
        if (first_error == 0) {
            failure = Fail(Termination::Kind::kNotFound, name + ": program not found");
            return Error(ENOENT, failure.detail);
        }
        failure = Fail(Termination::Kind::kBadProgram,
                       name + ": cannot open program: " + strerror(static_cast<int>(-first_error)));
        return Error(static_cast<int>(-first_error), failure.detail);
    }

    auto h = static_cast<transport::Handle>(handle);
    struct Closer {
        FileClient& files;
        transport::Handle h;
        ~Closer() { (void)files.Close(h); }
    } closer{files, h};

    struct stat st {};
    if (int64_t r = files.Fstat(h, &st); r < 0) {
        failure = Fail(Termination::Kind::kInternal,
                       found + ": fstat failed: " + strerror(static_cast<int>(-r)));
        return Error(static_cast<int>(-r), failure.detail);
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0) {
        failure = Fail(Termination::Kind::kBadProgram, found +
                                                           ": permission denied (not an "
                                                           "executable regular file)");
        return Error(EACCES, failure.detail);
    }
    if (static_cast<uint64_t>(st.st_size) > config.memory_bytes) {
        failure = Fail(Termination::Kind::kBadProgram,
                       found + ": program larger than the micro-VM's memory (--memory)");
        return Error(EFBIG, failure.detail);
    }
    ProgramFile program{.path = found, .image = {}};
    program.image.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < program.image.size()) {
        int64_t n =
            files.Pread(h, std::span(program.image).subspan(done), static_cast<int64_t>(done));
        if (n < 0) {
            failure = Fail(Termination::Kind::kInternal,
                           found + ": read failed: " + strerror(static_cast<int>(-n)));
            return Error(static_cast<int>(-n), failure.detail);
        }
        if (n == 0) {
            program.image.resize(done);  // The file shrank under us; parse what is there.
            break;
        }
        done += static_cast<size_t>(n);
    }
    return program;
}

// Everything one run owns, destroyed in reverse order of creation.
class MicroVm {
public:
    MicroVm(FileClient& files, const MicroVmConfig& config, RunStats* stats)
        : files_(files), config_(config), stats_(stats), log_(Logger("vmm")) {}

    Termination Run();

private:
    Result<void> LoadKernel();
    Termination Loop();
    // Serves one hypercall; true when the run goes on.
    bool HandleHypercall();
    // Handles one fault exit; an empty optional when the guest resumes.
    std::optional<Termination> HandleFault();
    Result<void> WriteReply(int64_t result);

    FileClient& files_;
    const MicroVmConfig& config_;
    RunStats* stats_;
    std::shared_ptr<spdlog::logger> log_;
    std::optional<GuestMemory> memory_;
    std::unique_ptr<KvmMachine> machine_;
    std::unique_ptr<MemoryManager> mm_;
    std::unique_ptr<VcpuAccess> cpu_;
    std::unique_ptr<GuestProcess> process_;
    uint64_t kernel_entry_ = 0;
    uint64_t faults_ = 0;
};

Result<void> MicroVm::LoadKernel() {
    std::span<const std::byte> image(tw_guest_kernel_image,
                                     tw_guest_kernel_image_end - tw_guest_kernel_image);
    if (image.size() < sizeof(abi::ImageHeader) || image.size() > layout::kKernelImageMax) {
        return Error(EINVAL, "embedded guest kernel has a bad size");
    }
    abi::ImageHeader header;
    std::memcpy(&header, image.data(), sizeof(header));
    uint64_t base = layout::kKernelImageVa;
    if (header.magic != TW_IMAGE_MAGIC || header.text_end < base || header.end < header.text_end ||
        header.end - base > layout::kKernelImageMax || header.entry < base ||
        header.entry >= header.text_end) {
        return Error(EINVAL, "embedded guest kernel has a bad header");
    }
    TW_ASSIGN_OR_RETURN(std::span<std::byte> dst,
                        memory_->Bytes(GuestPhysAddr(layout::kKernelImageGpa), image.size()));
    std::memcpy(dst.data(), image.data(), image.size());
    kernel_entry_ = header.entry;
    uint64_t to_gpa = layout::kKernelImageGpa - base;
    return x86::BuildKernelMappings(*memory_,
                                    x86::KernelImageLayout{.text_end_gpa = header.text_end + to_gpa,
                                                           .image_end_gpa = header.end + to_gpa});
}

Termination MicroVm::Run() {
    Clock::time_point start = Clock::now();
    if (config_.argv.empty() || config_.argv[0].empty()) {
        return Fail(Termination::Kind::kNotFound, "no program given");
    }
    if (config_.memory_bytes < layout::kMinGuestMemory || !IsPageAligned(config_.memory_bytes)) {
        return Fail(Termination::Kind::kInternal, "guest memory must be at least 8 MiB");
    }

    Termination failure;
    auto program = ReadProgram(files_, config_, failure);
    if (!program.ok()) {
        return failure;
    }
    auto plan = ParseElf(program->image);
    if (!plan.ok()) {
        return Fail(Termination::Kind::kBadProgram, program->path + ": " + plan.error().message());
    }

    uint64_t read_us = MicrosSince(start);
    auto memory = GuestMemory::Create(config_.memory_bytes);
    if (!memory.ok()) {
        return Fail(Termination::Kind::kInternal, memory.error().ToString());
    }
    memory_.emplace(std::move(*memory));
    auto machine = KvmMachine::Create(*memory_);
    if (!machine.ok()) {
        return Fail(Termination::Kind::kInternal, machine.error().ToString());
    }
    machine_ = std::move(*machine);
    if (auto r = LoadKernel(); !r.ok()) {
        return Fail(Termination::Kind::kInternal, r.error().ToString());
    }
    uint64_t vm_us = MicrosSince(start);

    mm_ = std::make_unique<MemoryManager>(*memory_, GuestPhysAddr(layout::kPml4Gpa),
                                          GuestPhysAddr(layout::kFramePoolGpa),
                                          GuestPhysAddr(config_.memory_bytes));
    auto loaded = LoadElf(*plan, program->image, *mm_);
    if (!loaded.ok()) {
        return Fail(loaded.error().err() == ENOMEM ? Termination::Kind::kBadProgram
                                                   : Termination::Kind::kInternal,
                    program->path + ": " + loaded.error().message());
    }
    program->image = {};  // The image is in guest memory now.

    auto features = x86::SetupVcpu(*machine_, kernel_entry_, layout::kKernelStackTopVa);
    if (!features.ok()) {
        return Fail(Termination::Kind::kInternal, features.error().ToString());
    }
    ProcessIdentity identity{.pid = 1,
                             .ppid = 0,
                             .uid = getuid(),
                             .euid = geteuid(),
                             .gid = getgid(),
                             .egid = getegid()};
    InitialStackParams stack{.argv = config_.argv,
                             .envp = config_.env,
                             .execfn = program->path,
                             .random = {},
                             .hwcap = features->hwcap,
                             .uid = identity.uid,
                             .euid = identity.euid,
                             .gid = identity.gid,
                             .egid = identity.egid};
    if (getrandom(stack.random.data(), stack.random.size(), 0) !=
        static_cast<ssize_t>(stack.random.size())) {
        return Fail(Termination::Kind::kInternal, "getrandom for AT_RANDOM failed");
    }
    auto rsp = BuildInitialStack(*mm_, *loaded, stack);
    if (!rsp.ok()) {
        return Fail(rsp.error().err() == E2BIG ? Termination::Kind::kBadProgram
                                               : Termination::Kind::kInternal,
                    rsp.error().message());
    }
    abi::BootPage boot{.user_rip = loaded->entry,
                       .user_rsp = *rsp,
                       .pid = identity.pid,
                       .ppid = identity.ppid,
                       .uid = identity.uid,
                       .euid = identity.euid,
                       .gid = identity.gid,
                       .egid = identity.egid};
    if (auto r = memory_->Write(GuestPhysAddr(layout::kBootPageGpa), boot); !r.ok()) {
        return Fail(Termination::Kind::kInternal, r.error().ToString());
    }

    log_->debug("setup: read_us={} vm_us={} load_us={}", read_us, vm_us - read_us,
                MicrosSince(start) - vm_us);
    cpu_ = std::make_unique<VcpuAccess>(*machine_);
    process_ = std::make_unique<GuestProcess>(*mm_, files_, *cpu_, identity);
    if (stats_ != nullptr) {
        stats_->setup_us = MicrosSince(start);
    }
    Clock::time_point run_start = Clock::now();
    Termination t = Loop();
    if (stats_ != nullptr) {
        stats_->run_us = MicrosSince(run_start);
        stats_->hypercalls = process_->calls_served();
        stats_->faults = faults_;
        stats_->pages_populated = mm_->stats().pages_populated;
    }
    MemoryStats ms = mm_->stats();
    log_->debug("run ended: setup_us={} run_us={} calls={} faults={} pages={} demand_faults={}",
                MicrosSince(start) - MicrosSince(run_start), MicrosSince(run_start),
                process_->calls_served(), faults_, ms.pages_populated, ms.demand_faults);
    return t;
}

Result<void> MicroVm::WriteReply(int64_t result) {
    uint64_t flags = mm_->TakeReloadRequest() ? abi::kCallFlagReloadCr3 : 0;
    return memory_->Write(GuestPhysAddr(layout::kCallPageGpa + abi::kCallReplyOffset),
                          abi::CallReply{.result = result, .flags = flags});
}

bool MicroVm::HandleHypercall() {
    // The request is copied out once; the guest cannot change it while it is served (its
    // only vCPU is stopped), and nothing here reads the call page again.
    auto request = memory_->Read<abi::CallRequest>(GuestPhysAddr(layout::kCallPageGpa));
    if (!request.ok()) {
        return false;
    }
    std::array<uint64_t, 6> args;
    std::memcpy(args.data(), request->args, sizeof(args));
    int64_t result = process_->Dispatch(request->nr, args);
    if (process_->termination()) {
        return false;
    }
    return WriteReply(result).ok();
}

std::optional<Termination> MicroVm::HandleFault() {
    ++faults_;
    auto record = memory_->Read<abi::FaultRecord>(
        GuestPhysAddr(layout::kCallPageGpa + abi::kFaultRecordOffset));
    if (!record.ok()) {
        return Fail(Termination::Kind::kInternal, record.error().ToString());
    }
    log_->debug("fault exit: vector={} error={:#x} rip={:#x} cs={:#x} addr={:#x}", record->vector,
                record->error, record->rip, record->cs, record->addr);
    bool from_user = (record->cs & 3) == 3;
    constexpr uint64_t kPageFault = 14;
    if (record->vector == kPageFault && from_user) {
        switch (mm_->HandlePageFault(record->addr, record->error)) {
            case FaultOutcome::kResolved:
                if (!WriteReply(0).ok()) {
                    return Fail(Termination::Kind::kInternal, "cannot write the call page");
                }
                return std::nullopt;
            case FaultOutcome::kOutOfMemory:
                return Killed("out of guest memory (--memory) at addr=" + Hex(record->addr));
            case FaultOutcome::kSegv:
                break;
        }
    }
    if (!from_user) {
        // The guest kernel faults only when the guest has rewritten it or its tables.
        return Killed("guest kernel fault: vector=" + std::to_string(record->vector) +
                      " rip=" + Hex(record->rip) + " addr=" + Hex(record->addr));
    }
    std::string detail = "fault at rip=" + Hex(record->rip);
    if (record->vector == kPageFault) {
        detail += " addr=" + Hex(record->addr);
    }
    return Termination{.kind = Termination::Kind::kSignaled,
                       .code = SignalForVector(record->vector),
                       .detail = std::move(detail)};
}

Termination MicroVm::Loop() {
    InstallKickHandler();
    TimeoutWatch watch(config_.timeout_seconds, *machine_);
    auto timed_out = [&] { return Fail(Termination::Kind::kTimedOut, ""); };

    for (;;) {
        if (auto r = machine_->Run(); !r.ok()) {
            if (r.error().err() == EINTR) {
                if (watch.fired()) {
                    return timed_out();
                }
                machine_->run().immediate_exit = 0;
                continue;
            }
            return Fail(Termination::Kind::kInternal, r.error().ToString());
        }
        if (watch.fired()) {
            return timed_out();
        }
        kvm_run& run = machine_->run();
        switch (run.exit_reason) {
            case KVM_EXIT_IO: {
                bool out = run.io.direction == KVM_EXIT_IO_OUT;
                if (out && run.io.port == layout::kPortHypercall) {
                    if (!HandleHypercall()) {
                        if (watch.fired()) {
                            return timed_out();
                        }
                        if (process_->termination()) {
                            return *process_->termination();
                        }
                        return Fail(Termination::Kind::kInternal, "cannot write the call page");
                    }
                    break;
                }
                if (out && run.io.port == layout::kPortFault) {
                    if (std::optional<Termination> t = HandleFault()) {
                        return *t;
                    }
                    break;
                }
                return Killed("guest used I/O port " + Hex(run.io.port));
            }
            case KVM_EXIT_INTR:
                break;
            case KVM_EXIT_HLT:
                return Killed("guest halted");
            case KVM_EXIT_SHUTDOWN:
                return Killed("guest triple fault");
            case KVM_EXIT_MMIO:
                return Killed("guest accessed unbacked physical address " +
                              Hex(run.mmio.phys_addr));
            case KVM_EXIT_FAIL_ENTRY:
                return Fail(
                    Termination::Kind::kInternal,
                    "vm entry failed: reason=" + Hex(run.fail_entry.hardware_entry_failure_reason));
            case KVM_EXIT_INTERNAL_ERROR:
                return Fail(
                    Termination::Kind::kInternal,
                    "kvm internal error: suberror=" + std::to_string(run.internal.suberror));
            default:
                return Fail(Termination::Kind::kInternal,
                            "unexpected vm exit: reason=" + std::to_string(run.exit_reason));
        }
    }
}

}  // namespace

Termination RunProgram(transport::FileClient& files, const MicroVmConfig& config, RunStats* stats) {
    MicroVm vm(files, config, stats);
    return vm.Run();
}

int ExitStatusFor(const Termination& t) {
    switch (t.kind) {
        case Termination::Kind::kExited:
            return t.code & 0xff;
        case Termination::Kind::kSignaled:
            return 128 + t.code;
        case Termination::Kind::kTimedOut:
            return 124;
        case Termination::Kind::kBadProgram:
            return 126;
        case Termination::Kind::kNotFound:
            return 127;
        case Termination::Kind::kInternal:
            return 125;
    }
    return 125;
}

std::string SignalName(int sig) {
    const char* abbrev = sigabbrev_np(sig);
    return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

std::string DescribeTermination(const Termination& t, double timeout_seconds) {
    switch (t.kind) {
        case Termination::Kind::kExited:
            return "";
        case Termination::Kind::kSignaled:
            return "program killed by signal " + SignalName(t.code) +
                   (t.detail.empty() ? "" : " (" + t.detail + ")");
        case Termination::Kind::kTimedOut: {
            char buf[64];
            std::snprintf(buf, sizeof(buf), "timed out after %g s", timeout_seconds);
            return buf;
        }
        case Termination::Kind::kBadProgram:
        case Termination::Kind::kNotFound:
        case Termination::Kind::kInternal:
            return t.detail;
    }
    return t.detail;
}

}  // namespace tw::hyperlight
