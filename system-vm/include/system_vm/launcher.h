// SystemVm: the host side of the System VM - a QEMU process running Debian's kernel, the
// static init and the I/O server, with the tenant disk on virtio-blk and the I/O link on a
// virtio-serial port whose host end is a Unix socket.
//
//   SystemVmConfig config;
//   config.image_dir = "build/images";
//   config.disk_path = "/var/lib/twinwall/system-vm/tenants.img";
//   config.run_dir = "/run/twinwall";
//   TW_ASSIGN_OR_RETURN(auto vm, SystemVm::Boot(config));  // Returns once the server answers.
//   ... FileClient sessions over vm->link() (through a mux when there are several) ...
//   TW_RETURN_IF_ERROR(vm->Shutdown(std::chrono::seconds(30)));
//
// The process that calls Boot reaps QEMU itself (no reliance on PID 1 reaping orphans), and
// QEMU gets SIGKILL when the thread that called Boot exits: boot from a thread that lives as
// long as the VM (the agent's main thread).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "transport/link.h"

namespace tw::system_vm {

// Where this build's `images` target put vmlinuz, initramfs.cpio.gz and tenants.img.
const char* DefaultImageDir();

struct SystemVmConfig {
    std::string image_dir = DefaultImageDir();  // vmlinuz and initramfs.cpio.gz
    std::string disk_path;  // the tenants' ext4 disk; QEMU locks it against a second user
    std::string run_dir;    // the link socket, the console log and QEMU's own log
    uint32_t memory_mib = 512;
    uint32_t cpus = 1;
    std::string accelerator = "auto";  // auto | kvm | tcg
    std::string qemu_binary = "qemu-system-x86_64";
    std::chrono::seconds boot_timeout{120};
};

struct AcceleratorChoice {
    std::string name;    // "kvm" or "tcg"
    std::string reason;  // why, for the log and `host-agent status`
};

// What the accelerator choice depends on, read from the host by ReadHostVirtFacts().
struct HostVirtFacts {
    bool kvm_usable = false;  // /dev/kvm opens read-write
    bool kvm_pvm = false;     // the host's KVM is kvm_pvm (/sys/module/kvm_pvm)
    bool hw_virt = false;     // the CPU shows vmx or svm
};

HostVirtFacts ReadHostVirtFacts();

// Chooses the accelerator: KVM only where a Linux guest can boot under it. A paravirtualized
// KVM (kvm_pvm) or one without hardware virtualization runs user code but hangs Linux in
// early boot, so "auto" picks TCG there. `requested` "kvm" or "tcg" forces a choice; forcing
// KVM without a usable /dev/kvm is an error.
Result<AcceleratorChoice> ChooseAccelerator(const std::string& requested,
                                            const HostVirtFacts& facts);
// The same, on this host's facts.
Result<AcceleratorChoice> ChooseAccelerator(const std::string& requested);

class SystemVm {
public:
    // Spawns QEMU and waits until the I/O server answers a kHello on the link. Fails with
    // EHOSTDOWN, QEMU's log and the last console lines if QEMU exits first, or ETIMEDOUT
    // after config.boot_timeout (QEMU is then killed and reaped).
    static Result<std::unique_ptr<SystemVm>> Boot(const SystemVmConfig& config);

    // Kills and reaps QEMU if it is still running.
    ~SystemVm();
    SystemVm(const SystemVm&) = delete;
    SystemVm& operator=(const SystemVm&) = delete;

    // The link to the I/O server: frames on it are answered by the server in the VM. The
    // handshake is done; nothing is buffered.
    transport::Link& link() { return *link_; }
    pid_t pid() const { return pid_; }
    const std::string& accelerator() const { return accelerator_.name; }
    const std::string& accelerator_reason() const { return accelerator_.reason; }
    const std::string& console_log() const { return console_log_; }

    // Sends kShutdown on the link (the server syncs, answers, and init unmounts the tenant
    // disk and powers off), then waits as WaitForExit does. The reply is not read, so this
    // may be called while a mux reads the link.
    Result<void> Shutdown(std::chrono::seconds timeout);

    // Waits for QEMU to exit by itself. Past `timeout` it gets SIGTERM, then SIGKILL, is
    // reaped, and the result is an ETIMEDOUT error saying so.
    Result<void> WaitForExit(std::chrono::seconds timeout);

    // True while QEMU runs; reaps it once it has exited.
    bool Running();

private:
    SystemVm() = default;
    void Stop(std::chrono::milliseconds term_grace);

    pid_t pid_ = -1;
    bool reaped_ = false;
    int exit_status_ = 0;  // exit code, or 128 + signal
    AcceleratorChoice accelerator_;
    std::string console_log_;
    std::string qemu_log_;
    std::unique_ptr<transport::Link> link_;
};

// The last `lines` lines of a text file, each on its own indented line, for error messages.
std::string Tail(const std::string& path, size_t lines);

}  // namespace tw::system_vm
