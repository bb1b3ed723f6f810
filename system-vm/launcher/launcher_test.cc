// Boots the real System VM (TCG on these machines) once for the whole binary and talks to its
// I/O server through FileClient; the accelerator choice is tested on synthetic host facts.
#include "system_vm/launcher.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>

#include "common/unique_fd.h"
#include "transport/control.h"
#include "transport/file_client.h"

namespace tw::system_vm {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kWork = TW_TEST_WORK_DIR;

// FileClient owns its link and closes it when destroyed; the System VM's link outlives every
// session, so sessions get this non-owning view of it. Used from one thread at a time.
class BorrowedLink : public transport::Link {
public:
    explicit BorrowedLink(transport::Link& link) : link_(link) {}
    Result<void> Send(const transport::Frame& frame) override { return link_.Send(frame); }
    Result<transport::Frame> Receive() override { return link_.Receive(); }
    void Close() override {}

private:
    transport::Link& link_;
};

// The VM shared by the SystemVm tests; the persistence test replaces it with a second boot.
std::unique_ptr<SystemVm> g_vm;
std::string g_boot_error;

SystemVmConfig SharedConfig() {
    SystemVmConfig config;
    config.image_dir = DefaultImageDir();
    config.disk_path = (kWork / "tenants.img").string();
    config.run_dir = (kWork / "run").string();
    config.boot_timeout = 300s;
    return config;
}

// A config for a boot that is expected to fail: its own run dir (the shared VM's socket and
// console log stay untouched) and its own scratch disk (the shared disk is locked by QEMU).
SystemVmConfig ScratchConfig(const std::string& name) {
    fs::path dir = kWork / name;
    fs::create_directories(dir);
    std::ofstream(dir / "disk.img").close();
    fs::resize_file(dir / "disk.img", 1 << 20);
    SystemVmConfig config = SharedConfig();
    config.disk_path = (dir / "disk.img").string();
    config.run_dir = (dir / "run").string();
    return config;
}

std::string HostFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string ReadAll(transport::FileClient& client, const std::string& path) {
    int64_t h = client.OpenAt(transport::kCwdHandle, path, O_RDONLY, 0);
    if (h < 0) {
        return "open error " + std::to_string(h);
    }
    std::string data;
    std::vector<std::byte> buf(300000);
    for (;;) {
        int64_t n = client.Read(static_cast<transport::Handle>(h), buf);
        if (n < 0) {
            data += "read error " + std::to_string(n);
        }
        if (n <= 0) {
            break;
        }
        data.append(reinterpret_cast<const char*>(buf.data()), static_cast<size_t>(n));
    }
    EXPECT_EQ(client.Close(static_cast<transport::Handle>(h)), 0);
    return data;
}

int64_t WriteFile(transport::FileClient& client, const std::string& path, const std::string& text) {
    int64_t h = client.OpenAt(transport::kCwdHandle, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (h < 0) {
        return h;
    }
    int64_t n = client.Write(static_cast<transport::Handle>(h),
                             std::as_bytes(std::span(text.data(), text.size())));
    int64_t closed = client.Close(static_cast<transport::Handle>(h));
    return n < 0 ? n : closed < 0 ? closed : n;
}

std::unique_ptr<transport::FileClient> OpenSession(SystemVm& vm, uint32_t session,
                                                   const std::string& tenant) {
    auto client =
        transport::FileClient::Open(std::make_unique<BorrowedLink>(vm.link()), session, tenant);
    EXPECT_TRUE(client.ok()) << client.error().ToString();
    return client.ok() ? std::move(*client) : nullptr;
}

// Children of this process, over all its threads: a leaked QEMU shows up here.
std::set<pid_t> Children() {
    std::set<pid_t> pids;
    for (const auto& task : fs::directory_iterator("/proc/self/task")) {
        std::ifstream in(task.path() / "children");
        pid_t pid;
        while (in >> pid) {
            pids.insert(pid);
        }
    }
    return pids;
}

// --- The accelerator choice, on synthetic host facts.

TEST(ChooseAccelerator, ForcedTcgIsKept) {
    auto choice = ChooseAccelerator("tcg", HostVirtFacts{.kvm_usable = true, .hw_virt = true});
    ASSERT_TRUE(choice.ok());
    EXPECT_EQ(choice->name, "tcg");
}

TEST(ChooseAccelerator, ForcedKvmIsKeptEvenWhenLinuxWouldHang) {
    auto choice = ChooseAccelerator("kvm", HostVirtFacts{.kvm_usable = true, .kvm_pvm = true});
    ASSERT_TRUE(choice.ok());
    EXPECT_EQ(choice->name, "kvm");
}

TEST(ChooseAccelerator, ForcedKvmWithoutDevKvmFails) {
    auto choice = ChooseAccelerator("kvm", HostVirtFacts{});
    ASSERT_FALSE(choice.ok());
    EXPECT_EQ(choice.error().err(), ENODEV);
}

TEST(ChooseAccelerator, UnknownNameFails) {
    auto choice = ChooseAccelerator("xen", HostVirtFacts{.kvm_usable = true, .hw_virt = true});
    ASSERT_FALSE(choice.ok());
    EXPECT_EQ(choice.error().err(), EINVAL);
}

TEST(ChooseAccelerator, AutoUsesTcgWithoutDevKvm) {
    auto choice = ChooseAccelerator("auto", HostVirtFacts{.hw_virt = true});
    ASSERT_TRUE(choice.ok());
    EXPECT_EQ(choice->name, "tcg");
    EXPECT_NE(choice->reason.find("/dev/kvm"), std::string::npos) << choice->reason;
}

TEST(ChooseAccelerator, AutoAvoidsParavirtualizedKvm) {
    auto choice = ChooseAccelerator("auto", HostVirtFacts{.kvm_usable = true, .kvm_pvm = true});
    ASSERT_TRUE(choice.ok());
    EXPECT_EQ(choice->name, "tcg");
    EXPECT_NE(choice->reason.find("kvm_pvm"), std::string::npos) << choice->reason;
}

TEST(ChooseAccelerator, AutoAvoidsKvmWithoutHardwareVirtualization) {
    auto choice = ChooseAccelerator("auto", HostVirtFacts{.kvm_usable = true});
    ASSERT_TRUE(choice.ok());
    EXPECT_EQ(choice->name, "tcg");
    EXPECT_NE(choice->reason.find("vmx/svm"), std::string::npos) << choice->reason;
}

TEST(ChooseAccelerator, AutoUsesHardwareKvm) {
    auto choice = ChooseAccelerator("auto", HostVirtFacts{.kvm_usable = true, .hw_virt = true});
    ASSERT_TRUE(choice.ok());
    EXPECT_EQ(choice->name, "kvm");
}

TEST(ChooseAccelerator, ThisHostsFactsAgreeWithItsKvm) {
    HostVirtFacts facts = ReadHostVirtFacts();
    EXPECT_EQ(facts.kvm_pvm, fs::exists("/sys/module/kvm_pvm"));
    auto choice = ChooseAccelerator("auto");
    ASSERT_TRUE(choice.ok());
    if (facts.kvm_pvm) {
        EXPECT_EQ(choice->name, "tcg");
    }
}

// --- Boots that must fail, quickly and clearly, leaving no QEMU behind.

TEST(SystemVmBoot, MissingQemuIsAClearError) {
    SystemVmConfig config = ScratchConfig("no-qemu");
    config.qemu_binary = "qemu-system-nonexistent";
    auto vm = SystemVm::Boot(config);
    ASSERT_FALSE(vm.ok());
    EXPECT_EQ(vm.error().err(), ENOENT);
    EXPECT_NE(vm.error().message().find("qemu-system-nonexistent' not found"), std::string::npos)
        << vm.error().message();
}

TEST(SystemVmBoot, MissingKernelIsAClearError) {
    SystemVmConfig config = ScratchConfig("no-kernel");
    config.image_dir = (kWork / "no-kernel" / "empty").string();
    auto vm = SystemVm::Boot(config);
    ASSERT_FALSE(vm.ok());
    EXPECT_EQ(vm.error().err(), ENOENT);
    EXPECT_NE(vm.error().message().find("System VM kernel"), std::string::npos)
        << vm.error().message();
}

TEST(SystemVmBoot, QemuRejectingTheKernelIsReportedWithItsLog) {
    SystemVmConfig config = ScratchConfig("bad-kernel");
    fs::path images = kWork / "bad-kernel" / "images";
    fs::create_directories(images);
    std::ofstream(images / "vmlinuz") << "this is not a kernel";
    fs::copy_file(fs::path(DefaultImageDir()) / "initramfs.cpio.gz", images / "initramfs.cpio.gz");
    config.image_dir = images.string();
    std::set<pid_t> before = Children();

    auto vm = SystemVm::Boot(config);
    ASSERT_FALSE(vm.ok());
    EXPECT_EQ(vm.error().err(), EHOSTDOWN);
    EXPECT_NE(vm.error().message().find("qemu exited during boot"), std::string::npos)
        << vm.error().message();
    EXPECT_EQ(Children(), before);
}

TEST(SystemVmBoot, GuestPanicDuringBootIsReportedWithTheConsoleTail) {
    // The real kernel with an initramfs that holds no /init: the kernel panics, panic=-1 and
    // -no-reboot turn that into QEMU exiting, and the error carries the panic line.
    SystemVmConfig config = ScratchConfig("no-init");
    fs::path images = kWork / "no-init" / "images";
    fs::create_directories(images);
    fs::copy_file(fs::path(DefaultImageDir()) / "vmlinuz", images / "vmlinuz");
    std::ofstream(images / "initramfs.cpio.gz") << "not an archive";
    config.image_dir = images.string();
    config.boot_timeout = 120s;
    std::set<pid_t> before = Children();

    auto began = std::chrono::steady_clock::now();
    auto vm = SystemVm::Boot(config);
    ASSERT_FALSE(vm.ok());
    EXPECT_EQ(vm.error().err(), EHOSTDOWN) << vm.error().message();
    EXPECT_NE(vm.error().message().find("Kernel panic"), std::string::npos) << vm.error().message();
    EXPECT_LT(std::chrono::steady_clock::now() - began, 100s);
    EXPECT_EQ(Children(), before);
}

TEST(SystemVmBoot, TimeoutKillsAndReapsQemu) {
    SystemVmConfig config = ScratchConfig("timeout");
    config.boot_timeout = 0s;
    std::set<pid_t> before = Children();
    auto vm = SystemVm::Boot(config);
    ASSERT_FALSE(vm.ok());
    EXPECT_EQ(vm.error().err(), ETIMEDOUT) << vm.error().message();
    EXPECT_EQ(Children(), before);
}

// --- The shared System VM. These run in order; the last two replace and stop it.

TEST(SystemVm, BootedUnderTheProbedAccelerator) {
    ASSERT_TRUE(g_vm) << g_boot_error;
    auto expected = ChooseAccelerator("auto");
    ASSERT_TRUE(expected.ok());
    EXPECT_EQ(g_vm->accelerator(), expected->name);
    EXPECT_TRUE(g_vm->Running());
    EXPECT_GT(g_vm->pid(), 0);
    EXPECT_NE(HostFile(g_vm->console_log()).find("twinwall-sysvm: ready"), std::string::npos)
        << HostFile(g_vm->console_log());
}

TEST(SystemVm, ListsTheDefaultTenant) {
    ASSERT_TRUE(g_vm) << g_boot_error;
    auto tenants = transport::ListTenants(g_vm->link(), /*request_id=*/7);
    ASSERT_TRUE(tenants.ok()) << tenants.error().ToString();
    EXPECT_EQ(*tenants, std::vector<std::string>{"default"});
}

TEST(SystemVm, ServesTheTenantsBusyboxByteForByte) {
    ASSERT_TRUE(g_vm) << g_boot_error;
    auto client = OpenSession(*g_vm, 1, "default");
    ASSERT_TRUE(client);
    std::string served = ReadAll(*client, "/bin/busybox");
    std::string host = HostFile("/bin/busybox");
    EXPECT_GT(host.size(), 1000000u);
    EXPECT_EQ(served.size(), host.size());
    EXPECT_TRUE(served == host);
}

TEST(SystemVm, WritesAndReadsBackInOneSession) {
    ASSERT_TRUE(g_vm) << g_boot_error;
    auto client = OpenSession(*g_vm, 1, "default");
    ASSERT_TRUE(client);
    EXPECT_EQ(WriteFile(*client, "/tmp/scratch.txt", "scratch\n"), 8);
    EXPECT_EQ(ReadAll(*client, "/tmp/scratch.txt"), "scratch\n");
    EXPECT_EQ(client->UnlinkAt(transport::kCwdHandle, "/tmp/scratch.txt", 0), 0);
    EXPECT_EQ(client->OpenAt(transport::kCwdHandle, "/tmp/scratch.txt", O_RDONLY, 0), -ENOENT);
}

TEST(SystemVm, UnknownTenantIsENOENT) {
    ASSERT_TRUE(g_vm) << g_boot_error;
    auto client =
        transport::FileClient::Open(std::make_unique<BorrowedLink>(g_vm->link()), 3, "nobody");
    ASSERT_FALSE(client.ok());
    EXPECT_EQ(client.error().err(), ENOENT);
}

TEST(SystemVm, TwoSessionsShareTheLink) {
    ASSERT_TRUE(g_vm) << g_boot_error;
    auto first = OpenSession(*g_vm, 1, "default");
    auto second = OpenSession(*g_vm, 2, "default");
    ASSERT_TRUE(first && second);
    // Handles are per session: each session's open file is its own.
    int64_t a = first->OpenAt(transport::kCwdHandle, "/bin/busybox", O_RDONLY, 0);
    int64_t b = second->OpenAt(transport::kCwdHandle, "/bin/busybox", O_RDONLY, 0);
    ASSERT_GE(a, 0);
    ASSERT_GE(b, 0);
    std::vector<std::byte> buf(4);
    EXPECT_EQ(first->Lseek(static_cast<transport::Handle>(a), 1, SEEK_SET), 1);
    EXPECT_EQ(second->Read(static_cast<transport::Handle>(b), buf), 4);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), 4),
              "\x7f"
              "ELF");
    EXPECT_EQ(first->Read(static_cast<transport::Handle>(a), buf), 4);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), 4), "ELF\x02");
    first.reset();  // closes session 1; session 2 keeps working
    EXPECT_EQ(second->Close(static_cast<transport::Handle>(b)), 0);
}

TEST(SystemVm, WritesPersistAcrossShutdownAndBoot) {
    ASSERT_TRUE(g_vm) << g_boot_error;
    const std::string payload = "written through the System VM\n";
    {
        auto client = OpenSession(*g_vm, 1, "default");
        ASSERT_TRUE(client);
        EXPECT_EQ(WriteFile(*client, "/home/note.txt", payload),
                  static_cast<int64_t>(payload.size()));
    }
    pid_t old_pid = g_vm->pid();
    auto stopped = g_vm->Shutdown(60s);  // Ok only if QEMU exited by itself
    EXPECT_TRUE(stopped.ok()) << stopped.error().ToString();
    EXPECT_FALSE(g_vm->Running());
    EXPECT_NE(HostFile(g_vm->console_log()).find("shutdown requested"), std::string::npos);
    g_vm.reset();

    auto again = SystemVm::Boot(SharedConfig());
    ASSERT_TRUE(again.ok()) << again.error().ToString();
    g_vm = std::move(*again);
    EXPECT_NE(g_vm->pid(), old_pid);
    auto client = OpenSession(*g_vm, 1, "default");
    ASSERT_TRUE(client);
    EXPECT_EQ(ReadAll(*client, "/home/note.txt"), payload);
}

class SharedSystemVm : public ::testing::Environment {
public:
    void SetUp() override {
        fs::remove_all(kWork);
        fs::create_directories(kWork);
        // The test disk is a copy of the template, as the agent's state-dir copy is.
        fs::copy_file(fs::path(DefaultImageDir()) / "tenants.img", kWork / "tenants.img");
        auto began = std::chrono::steady_clock::now();
        auto vm = SystemVm::Boot(SharedConfig());
        if (!vm.ok()) {
            g_boot_error = vm.error().ToString();
            return;
        }
        g_vm = std::move(*vm);
        std::printf(
            "[ system vm ] booted: accelerator=%s boot_s=%.1f\n", g_vm->accelerator().c_str(),
            std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
    }
    void TearDown() override {
        if (g_vm && g_vm->Running()) {
            auto stopped = g_vm->Shutdown(60s);
            if (!stopped.ok()) {
                std::fprintf(stderr, "shutdown: %s\n", stopped.error().ToString().c_str());
            }
        }
        g_vm.reset();
    }
};

}  // namespace
}  // namespace tw::system_vm

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new tw::system_vm::SharedSystemVm);
    return RUN_ALL_TESTS();
}
