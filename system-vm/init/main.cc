// twinwall-sysvm-init: PID 1 of the System VM.
//
// Brings up the little the I/O server needs - /dev, /proc, /sys, the virtio drivers, the
// tenant disk - then serves the host's virtio-serial port until the host asks for shutdown,
// when it syncs and unmounts the tenant disk and powers the VM off. There is no shell, no
// udev and no other process in the VM.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "common/unique_fd.h"
#include "system_vm/io_server.h"
#include "transport/abi.h"
#include "transport/link.h"

namespace {

using namespace std::chrono_literals;

constexpr const char* kModuleDir = "/modules";
constexpr const char* kModuleOrder = "/modules/order";
constexpr const char* kDisk = "/dev/vda";
constexpr const char* kStorage = "/srv/tenants";
constexpr const char* kTenants = "/srv/tenants/tenants";
constexpr const char* kPortName = "twinwall.io";

void Say(const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    std::fputs("twinwall-sysvm: ", stderr);
    std::vfprintf(stderr, fmt, args);
    std::fputc('\n', stderr);
    va_end(args);
}

// PID 1 must never exit (the kernel would panic): a fatal error powers the VM off, which the
// host sees as QEMU exiting, with this message last in the console log.
[[noreturn]] void PowerOff(const char* why) {
    Say("%s; powering off", why);
    ::sync();
    ::reboot(RB_POWER_OFF);
    for (;;) {
        ::pause();
    }
}

// `err` is passed explicitly because building `what` may itself change errno.
[[noreturn]] void Fatal(const std::string& what, int err) {
    PowerOff(("fatal: " + what + ": " + std::strerror(err)).c_str());
}

// The I/O server holds every open file of every session: 1024 per session, and the agent
// admits at most 256 clients at once. The default limit of 1024 would let one session starve
// the rest; the kernel's ceiling (fs.nr_open, 2^20 by default) covers all of them.
void RaiseFileLimit() {
    rlimit limit{.rlim_cur = 1u << 20, .rlim_max = 1u << 20};
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
        Say("setrlimit(RLIMIT_NOFILE): %s; serving with the default limit", std::strerror(errno));
    }
}

void MountEarly() {
    ::mkdir("/dev", 0755);
    ::mkdir("/proc", 0555);
    ::mkdir("/sys", 0555);
    if (::mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755") != 0 && errno != EBUSY) {
        Fatal("mount /dev", errno);
    }
    // The kernel found no /dev/console in the initramfs before /dev existed, so stdio is
    // opened here.
    int console = ::open("/dev/console", O_RDWR);
    if (console >= 0) {
        ::dup2(console, 0);
        ::dup2(console, 1);
        ::dup2(console, 2);
        if (console > 2) {
            ::close(console);
        }
    }
    if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
        Fatal("mount /proc", errno);
    }
    if (::mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
        Fatal("mount /sys", errno);
    }
}

// Loads the modules listed in /modules/order, in that order (images/ computed it from the
// modules' dependencies). There is no kmod here: finit_module(2) on each file.
void LoadModules() {
    std::ifstream order(kModuleOrder);
    if (!order) {
        Fatal("open /modules/order", errno);
    }
    std::string name;
    int loaded = 0;
    while (std::getline(order, name)) {
        if (name.empty()) {
            continue;
        }
        std::string path = std::string(kModuleDir) + "/" + name;
        tw::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) {
            int err = errno;
            Fatal("open module " + path, err);
        }
        // EEXIST: built into this kernel already, which is as good as loaded.
        if (::syscall(SYS_finit_module, fd.get(), "", 0) != 0 && errno != EEXIST) {
            int err = errno;
            Fatal("load module " + name, err);
        }
        loaded++;
    }
    Say("loaded %d modules", loaded);
}

bool WaitFor(const char* path, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (::access(path, F_OK) != 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

void MountStorage() {
    if (!WaitFor(kDisk, 10s)) {
        PowerOff("no tenant disk (/dev/vda) appeared");
    }
    ::mkdir("/srv", 0755);
    ::mkdir(kStorage, 0700);
    // A QEMU that is killed loses what the guest had not written out. commit=1 and the
    // writeback settings below bound that to about a second of writes (Linux's defaults allow
    // 30 s); `host-agent stop` syncs everything.
    if (::mount(kDisk, kStorage, "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME, "commit=1") != 0) {
        Fatal("mount tenant disk /dev/vda (ext4)", errno);
    }
    for (const auto& [knob, value] : {std::pair{"/proc/sys/vm/dirty_expire_centisecs", "100"},
                                      std::pair{"/proc/sys/vm/dirty_writeback_centisecs", "50"}}) {
        std::ofstream(knob) << value;
    }
    if (::access(kTenants, F_OK) != 0) {
        PowerOff("tenant disk has no /tenants directory");
    }
    Say("tenant storage mounted");
}

// Finds the /dev node of the virtio-serial port the host named `kPortName`. Without udev
// there is no /dev/virtio-ports/NAME link, so sysfs is read directly.
std::string FindPort() {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        DIR* dir = ::opendir("/sys/class/virtio-ports");
        if (dir != nullptr) {
            while (dirent* entry = ::readdir(dir)) {
                if (entry->d_name[0] == '.') {
                    continue;
                }
                std::ifstream name_file(std::string("/sys/class/virtio-ports/") + entry->d_name +
                                        "/name");
                std::string name;
                if (std::getline(name_file, name) && name == kPortName) {
                    std::string dev = std::string("/dev/") + entry->d_name;
                    ::closedir(dir);
                    if (WaitFor(dev.c_str(), 5s)) {
                        return dev;
                    }
                    PowerOff("virtio port has no /dev node");
                }
            }
            ::closedir(dir);
        }
        std::this_thread::sleep_for(10ms);
    }
    PowerOff("no virtio-serial port named twinwall.io");
}

uint64_t TotalRequests(const tw::system_vm::IoServer& server) {
    uint64_t total = 0;
    for (size_t type = 0; type < tw::transport::kMsgTypeLimit; ++type) {
        total += server.RequestCount(static_cast<uint16_t>(type));
    }
    return total;
}

// Serves the host until it asks for shutdown. The port reads end-of-file while no host is
// connected; the loop then reopens it, and every session of the old link is gone once Serve
// returns. The agent never reconnects to a running System VM (QEMU dies with the agent and a
// restart boots a fresh VM), and a second host connection on the same chardev socket was seen
// to go unanswered here, so that is not a supported way back in.
void ServeHost(const std::string& port) {
    bool announced = false;
    for (;;) {
        tw::UniqueFd fd(::open(port.c_str(), O_RDWR | O_CLOEXEC));
        if (!fd) {
            int err = errno;
            Fatal("open " + port, err);
        }
        if (!announced) {
            Say("ready: serving %s", port.c_str());
            announced = true;
        }
        tw::system_vm::IoServer server(kTenants);
        auto link = tw::transport::MakeStreamLink(std::move(fd));
        auto served = server.Serve(*link);
        if (server.shutdown_requested()) {
            return;
        }
        if (!served.ok()) {
            Say("host link failed: %s; waiting for the host", served.error().ToString().c_str());
        } else if (uint64_t requests = TotalRequests(server); requests > 0) {
            // Only links that carried something are logged; an idle port reads end-of-file
            // every time round this loop while no host is connected.
            Say("host hung up after %llu requests; waiting for the host",
                static_cast<unsigned long long>(requests));
        }
        std::this_thread::sleep_for(100ms);
    }
}

}  // namespace

int main() {
    if (::getpid() != 1) {
        std::fprintf(stderr, "twinwall-sysvm-init: runs only as PID 1 inside the System VM\n");
        return 1;
    }
    MountEarly();
    RaiseFileLimit();
    LoadModules();
    MountStorage();
    ServeHost(FindPort());

    ::sync();
    if (::umount(kStorage) != 0) {
        Say("umount tenant storage: %s", std::strerror(errno));
    }
    PowerOff("shutdown requested by the host");
}
