#include "system_vm/launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/unique_fd.h"
#include "transport/codec.h"

namespace tw::system_vm {
namespace {

constexpr time_t kLinkSendTimeoutSeconds = 10;

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kPortName = "twinwall.io";  // the name init looks for in sysfs
// How often a kHello is repeated while the server has not answered. The guest drops what
// the host sent if it happens to close its port at that moment (init reopens the port after
// every end of stream), so one hello alone could be lost.
constexpr auto kHelloInterval = 2s;
// How long QEMU gets to exit after SIGTERM before SIGKILL; it flushes the disk on SIGTERM.
constexpr auto kTermGrace = 3s;

bool CpuHasVirtFlag() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("flags", 0) == 0) {
            std::istringstream words(line.substr(line.find(':') + 1));
            std::string word;
            while (words >> word) {
                if (word == "vmx" || word == "svm") {
                    return true;
                }
            }
            return false;
        }
    }
    return false;
}

// Resolves a bare program name on PATH, as execvp would, so a missing QEMU is reported before
// anything is spawned.
Result<std::string> FindProgram(const std::string& name) {
    if (name.find('/') != std::string::npos) {
        if (::access(name.c_str(), X_OK) != 0) {
            return Error::FromErrno("qemu binary " + name + " not found or not executable");
        }
        return name;
    }
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
    }
    return Error(ENOENT, "qemu binary '" + name + "' not found on PATH (install qemu-system-x86)");
}

Result<void> RequireFile(const std::string& path, const std::string& what) {
    if (::access(path.c_str(), R_OK) != 0) {
        return Error::FromErrno(what + " " + path + " is missing or unreadable" +
                                " (build it: cmake --build BUILD_DIR --target images)");
    }
    return Ok();
}

Result<sockaddr_un> UnixAddress(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
        return Error(ENAMETOOLONG, "socket path longer than " +
                                       std::to_string(sizeof(addr.sun_path) - 1) +
                                       " bytes (choose a shorter run dir): " + path);
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

// One connection attempt; QEMU creates the socket a moment after it starts.
UniqueFd TryConnect(const sockaddr_un& addr) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd && ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        fd.Reset();
    }
    return fd;
}

std::vector<std::string> QemuArgs(const std::string& qemu, const SystemVmConfig& config,
                                  const std::string& accelerator, const std::string& socket_path,
                                  const std::string& console_log) {
    // -M q35 rather than microvm: under TCG a microvm guest has no PIT or HPET to calibrate
    // its TSC against and hung in early boot about one time in three here, while q35 booted
    // every time in ~6 s. The devices are virtio-pci either way. -nodefaults drops q35's
    // legacy extras (VGA, NIC). -no-reboot turns the guest's panic (panic=-1) into QEMU
    // exiting. QEMU's own seccomp sandbox keeps it from spawning processes or elevating.
    std::vector<std::string> args = {
        qemu,
        "-name",
        "twinwall-system-vm",
        "-M",
        "q35",
        "-accel",
        accelerator,
        "-m",
        std::to_string(config.memory_mib),
        "-smp",
        std::to_string(config.cpus),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
        "-kernel",
        config.image_dir + "/vmlinuz",
        "-initrd",
        config.image_dir + "/initramfs.cpio.gz",
        "-append",
        "console=ttyS0 quiet panic=-1",
        "-serial",
        "file:" + console_log,
        "-drive",
        "if=none,id=tenants,format=raw,cache=writeback,file=" + config.disk_path,
        "-device",
        "virtio-blk-pci,drive=tenants",
        "-device",
        "virtio-serial-pci",
        "-chardev",
        "socket,id=io,server=on,wait=off,path=" + socket_path,
        "-device",
        std::string("virtserialport,chardev=io,name=") + kPortName,
        "-sandbox",
        "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
    };
    if (accelerator == "kvm") {
        args.insert(args.begin() + 1, {"-cpu", "host"});
    }
    return args;
}

// fork + exec with stdout and stderr on `log_fd`. Exec failures come back through a
// close-on-exec pipe, so they are reported as errors rather than as an exit status.
Result<pid_t> Spawn(std::vector<std::string> args, int log_fd) {
    std::vector<char*> argv;
    for (std::string& arg : args) {
        argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        return Error::FromErrno("pipe");
    }
    UniqueFd exec_error_read(pipe_fds[0]);
    UniqueFd exec_error_write(pipe_fds[1]);
    pid_t parent = ::getpid();

    pid_t pid = ::fork();
    if (pid < 0) {
        return Error::FromErrno("fork qemu");
    }
    if (pid == 0) {
        // Only async-signal-safe calls from here to exec. The agent blocks the signals it
        // reads through a signalfd; QEMU must see SIGTERM, so the mask is cleared.
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        ::sigaction(SIGPIPE, &dfl, nullptr);
        // QEMU dies with the agent rather than running on unowned; the tenant disk's ext4
        // journal covers the writes it had not synced.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) {
            ::_exit(127);
        }
        int null = ::open("/dev/null", O_RDONLY);
        ::dup2(null, 0);
        ::dup2(log_fd, 1);
        ::dup2(log_fd, 2);
        int keep = exec_error_write.get();
        ::dup2(keep, 3);
        ::fcntl(3, F_SETFD, FD_CLOEXEC);
        ::close_range(4, ~0U, 0);  // no agent socket or lock leaks into QEMU
        ::execv(argv[0], argv.data());
        int err = errno;
        (void)!::write(3, &err, sizeof(err));
        ::_exit(127);
    }
    exec_error_write.Reset();
    int err = 0;
    ssize_t n;
    do {
        n = ::read(exec_error_read.get(), &err, sizeof(err));
    } while (n < 0 && errno == EINTR);
    if (n == sizeof(err)) {
        ::waitpid(pid, nullptr, 0);
        return Error(err, "exec " + args[0]);
    }
    return pid;
}

Result<void> SendAll(int fd, const transport::Frame& frame) {
    transport::FrameHeader h = frame.header;
    iovec iov[2] = {{&h, sizeof(h)},
                    {const_cast<std::byte*>(frame.payload.data()), frame.payload.size()}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = frame.payload.empty() ? 1 : 2;
    size_t total = sizeof(h) + frame.payload.size();
    // A 40-byte hello fits any socket buffer; a short send only happens on a dead peer.
    ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n != static_cast<ssize_t>(total)) {
        return Error(n < 0 ? errno : EPIPE, "send hello to the system vm");
    }
    return Ok();
}

}  // namespace

const char* DefaultImageDir() {
    return TW_DEFAULT_IMAGE_DIR;
}

std::string Tail(const std::string& path, size_t lines) {
    std::ifstream in(path);
    std::deque<std::string> last;
    std::string line;
    while (std::getline(in, line)) {
        last.push_back(line);
        if (last.size() > lines) {
            last.pop_front();
        }
    }
    std::string out;
    for (const std::string& l : last) {
        out += "\n    " + l;
    }
    return out.empty() ? " (empty)" : out;
}

HostVirtFacts ReadHostVirtFacts() {
    HostVirtFacts facts;
    UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
    facts.kvm_usable = kvm.valid();
    facts.kvm_pvm = fs::exists("/sys/module/kvm_pvm");
    facts.hw_virt = CpuHasVirtFlag();
    return facts;
}

Result<AcceleratorChoice> ChooseAccelerator(const std::string& requested,
                                            const HostVirtFacts& facts) {
    if (requested == "tcg") {
        return AcceleratorChoice{"tcg", "forced by configuration"};
    }
    if (requested == "kvm") {
        if (!facts.kvm_usable) {
            return Error(ENODEV,
                         "accelerator kvm forced by configuration, but /dev/kvm cannot "
                         "be opened read-write");
        }
        return AcceleratorChoice{"kvm", "forced by configuration"};
    }
    if (requested != "auto") {
        return Error(EINVAL, "unknown accelerator '" + requested + "' (auto, kvm or tcg)");
    }
    if (!facts.kvm_usable) {
        return AcceleratorChoice{"tcg", "no usable /dev/kvm"};
    }
    if (facts.kvm_pvm) {
        return AcceleratorChoice{"tcg",
                                 "kvm is paravirtualized (kvm_pvm), linux guests do not "
                                 "boot under it"};
    }
    if (!facts.hw_virt) {
        return AcceleratorChoice{"tcg",
                                 "kvm without hardware virtualization (no vmx/svm flag), "
                                 "linux guests do not boot under it"};
    }
    return AcceleratorChoice{"kvm", "hardware virtualization available"};
}

Result<AcceleratorChoice> ChooseAccelerator(const std::string& requested) {
    return ChooseAccelerator(requested, ReadHostVirtFacts());
}

Result<std::unique_ptr<SystemVm>> SystemVm::Boot(const SystemVmConfig& config) {
    auto log = Logger("system-vm");
    if (config.memory_mib < 128 || config.cpus < 1) {
        return Error(EINVAL, "system vm needs at least 128 MiB and 1 cpu");
    }
    TW_ASSIGN_OR_RETURN(std::string qemu, FindProgram(config.qemu_binary));
    TW_RETURN_IF_ERROR(RequireFile(config.image_dir + "/vmlinuz", "System VM kernel"));
    TW_RETURN_IF_ERROR(RequireFile(config.image_dir + "/initramfs.cpio.gz", "System VM initramfs"));
    if (::access(config.disk_path.c_str(), R_OK | W_OK) != 0) {
        return Error::FromErrno("tenant disk " + config.disk_path);
    }
    std::error_code ec;
    fs::create_directories(config.run_dir, ec);
    if (ec) {
        return Error(ec.value(), "create run dir " + config.run_dir);
    }
    std::string socket_path = config.run_dir + "/system-vm.sock";
    TW_ASSIGN_OR_RETURN(sockaddr_un addr, UnixAddress(socket_path));

    std::unique_ptr<SystemVm> vm(new SystemVm());
    TW_ASSIGN_OR_RETURN(vm->accelerator_, ChooseAccelerator(config.accelerator));
    log->info("accelerator={} reason=\"{}\"", vm->accelerator_.name, vm->accelerator_.reason);

    vm->console_log_ = config.run_dir + "/system-vm-console.log";
    vm->qemu_log_ = config.run_dir + "/system-vm-qemu.log";
    ::unlink(socket_path.c_str());
    ::unlink(vm->console_log_.c_str());
    UniqueFd log_fd(::open(vm->qemu_log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!log_fd) {
        return Error::FromErrno("open " + vm->qemu_log_);
    }

    auto begin = Clock::now();
    auto deadline = begin + config.boot_timeout;
    TW_ASSIGN_OR_RETURN(vm->pid_, Spawn(QemuArgs(qemu, config, vm->accelerator_.name, socket_path,
                                                 vm->console_log_),
                                        log_fd.get()));
    // From here on an early return destroys `vm`, which kills and reaps QEMU.
    auto died = [&vm]() {
        return Error(EHOSTDOWN, "qemu exited during boot (status " +
                                    std::to_string(vm->exit_status_) +
                                    "); qemu log:" + Tail(vm->qemu_log_, 5) +
                                    "\n  console:" + Tail(vm->console_log_, 15));
    };
    auto timed_out = [&]() {
        return Error(ETIMEDOUT, "system vm did not answer within " +
                                    std::to_string(config.boot_timeout.count()) +
                                    " s; console:" + Tail(vm->console_log_, 15));
    };

    UniqueFd fd;
    while (!fd) {
        if (!vm->Running()) {
            return died();
        }
        if (Clock::now() > deadline) {
            return timed_out();
        }
        fd = TryConnect(addr);
        if (!fd) {
            std::this_thread::sleep_for(20ms);
        }
    }

    // The handshake runs on the bare socket, with poll, so it keeps the deadline and notices
    // QEMU dying; the stream link (whose Receive blocks) takes over once nothing is pending.
    // Hellos are repeated until one is answered; then every reply to the hellos sent so far
    // is consumed (the server answers in order and drops none once it is serving), so the
    // link starts in step.
    uint64_t sent = 0;
    uint64_t answered = 0;
    auto next_hello = Clock::now();
    std::vector<std::byte> in;
    transport::HelloInfo info;
    while (answered == 0 || answered < sent) {
        if (answered == 0 && Clock::now() >= next_hello) {
            auto hello = transport::MakeRequestFrame(
                transport::MsgType::kHello, transport::kControlSession, ++sent,
                transport::EncodeRequest(
                    {.type = transport::MsgType::kHello, .arg = transport::kAbiVersion}));
            auto sent_ok = SendAll(fd.get(), hello);
            if (!sent_ok.ok() && vm->Running()) {
                return sent_ok.take_error();
            }
            next_hello = Clock::now() + kHelloInterval;
        }
        pollfd pfd{fd.get(), POLLIN, 0};
        if (::poll(&pfd, 1, 100) > 0) {
            std::byte buf[4096];
            ssize_t n = ::recv(fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
            if (n == 0) {
                // QEMU closed the socket: it is exiting. Give it a moment to be reaped.
                for (int i = 0; i < 50 && vm->Running(); ++i) {
                    std::this_thread::sleep_for(20ms);
                }
                return vm->Running() ? Error(EPIPE, "system vm closed the link during boot")
                                     : died();
            }
            if (n > 0) {
                in.insert(in.end(), buf, buf + n);
            }
        }
        while (in.size() >= sizeof(transport::FrameHeader)) {
            auto header = transport::HeaderFromBytes(
                std::span<const std::byte, sizeof(transport::FrameHeader)>(
                    in.data(), sizeof(transport::FrameHeader)));
            size_t frame_len = sizeof(header) + header.payload_len;
            if (transport::ValidateHeader(header) < 0) {
                return Error(EPROTO, "system vm sent a malformed frame during the handshake");
            }
            if (in.size() < frame_len) {
                break;
            }
            std::span<const std::byte> payload(in.data() + sizeof(header), header.payload_len);
            transport::Reply reply;
            if (header.type != transport::ReplyType(transport::MsgType::kHello) ||
                header.session_id != transport::kControlSession || header.request_id > sent ||
                transport::DecodeReply(payload, &reply) < 0 || reply.result < 0 ||
                transport::DecodeHelloData(reply.data, &info) < 0) {
                return Error(EPROTO, "system vm answered the hello with a malformed reply");
            }
            if (info.version != transport::kAbiVersion) {
                return Error(EPROTO, "system vm speaks protocol version " +
                                         std::to_string(info.version) + ", the agent " +
                                         std::to_string(transport::kAbiVersion));
            }
            answered = header.request_id;
            in.erase(in.begin(), in.begin() + static_cast<ptrdiff_t>(frame_len));
        }
        if (!vm->Running()) {
            return died();
        }
        if (Clock::now() > deadline) {
            return timed_out();
        }
    }
    if (!in.empty()) {
        return Error(EPROTO, "system vm sent unrequested bytes after the hello");
    }
    // A System VM that stops taking bytes for this long is wedged: the write fails, the link
    // closes, and the agent sees the VM as down instead of blocking every sender behind it.
    timeval send_timeout{.tv_sec = kLinkSendTimeoutSeconds, .tv_usec = 0};
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout)) !=
        0) {
        return Error::FromErrno("set the system vm link's send timeout");
    }
    vm->link_ = transport::MakeStreamLink(std::move(fd));
    log->info("system vm ready: pid={} boot_s={:.1f} hellos={} server=\"{}\"", vm->pid_,
              std::chrono::duration<double>(Clock::now() - begin).count(), sent, info.description);
    return vm;
}

SystemVm::~SystemVm() {
    if (link_) {
        link_->Close();
    }
    Stop(kTermGrace);
}

bool SystemVm::Running() {
    if (pid_ < 0 || reaped_) {
        return false;
    }
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0) {
        return true;
    }
    reaped_ = true;
    if (r == pid_) {
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    // r < 0 (ECHILD) means someone else reaped it: gone either way.
    return false;
}

void SystemVm::Stop(std::chrono::milliseconds term_grace) {
    if (!Running()) {
        return;
    }
    ::kill(pid_, SIGTERM);
    auto deadline = Clock::now() + term_grace;
    while (Running() && Clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    if (Running()) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        reaped_ = true;
        exit_status_ = 128 + SIGKILL;
    }
}

Result<void> SystemVm::WaitForExit(std::chrono::seconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Running()) {
        if (Clock::now() > deadline) {
            Stop(kTermGrace);
            return Error(ETIMEDOUT, "qemu still running " + std::to_string(timeout.count()) +
                                        " s after shutdown was asked; stopped with signals");
        }
        std::this_thread::sleep_for(20ms);
    }
    return Ok();
}

Result<void> SystemVm::Shutdown(std::chrono::seconds timeout) {
    if (Running()) {
        auto request = transport::MakeRequestFrame(
            transport::MsgType::kShutdown, transport::kControlSession, /*request_id=*/0,
            transport::EncodeRequest({.type = transport::MsgType::kShutdown}));
        auto sent = link_->Send(request);
        if (!sent.ok()) {
            Logger("system-vm")->warn("shutdown request not sent: {}", sent.error().ToString());
        }
    }
    return WaitForExit(timeout);
}

}  // namespace tw::system_vm
