// End-to-end tests of twinwall-vmm in the in-process isolation mode, on real KVM.
//
// Each test builds a tenant tree (busybox, the test programs, data files) and an identical
// host copy, runs a command in a micro-VM through twinwall-vmm and, where Linux defines the
// answer, the same command natively in the host copy, and compares stdout and exit status.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "common/unique_fd.h"
#include "native.h"
#include "subprocess.h"
#include "test_data.h"
#include "system_vm/io_server.h"
#include "transport/link.h"

namespace tw::test {
namespace {

namespace fs = std::filesystem;

const std::string kVmm = TW_VMM;
const fs::path kWork = TW_E2E_WORK_DIR;
const std::string kBusybox = "/bin/busybox";

struct Program {
    std::string name;       // file name under the tenant's /bin
    std::string host_path;  // the build output
};

const Program kHello{"hello", TW_PROG_HELLO};
const Program kSpin{"spin", TW_PROG_SPIN};
const Program kSigill{"sigill", TW_PROG_SIGILL};
const Program kSegv{"segv", TW_PROG_SEGV};
const Program kBadPointer{"bad_pointer", TW_PROG_BAD_POINTER};
const Program kMmProbe{"mm_probe", TW_PROG_MM_PROBE};
const Program kMemoryHog{"memory_hog", TW_PROG_MEMORY_HOG};
const Program kHostile{"hostile", TW_PROG_HOSTILE};
const Program kDynamic{"dynamic", TW_PROG_DYNAMIC};
const Program kCxxStatic{"cxx_static", TW_PROG_CXX_STATIC};
const Program kCxxPie{"cxx_pie", TW_PROG_CXX_PIE};
const Program kAllPrograms[] = {kHello,     kSpin,    kSigill,  kSegv,      kBadPointer, kMmProbe,
                                kMemoryHog, kHostile, kDynamic, kCxxStatic, kCxxPie};

bool KvmAvailable() {
    return access("/dev/kvm", R_OK | W_OK) == 0;
}

class InProcess : public ::testing::Test {
protected:
    void SetUp() override {
        if (!KvmAvailable()) {
            GTEST_SKIP() << "/dev/kvm is not available";
        }
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = kWork / (std::string(info->test_suite_name()) + "." + info->name());
        fs::remove_all(dir_);
        tenants_ = dir_ / "tenants";
        root_ = tenants_ / "default";
        host_ = dir_ / "host";
        for (const fs::path& tree : {root_, host_}) {
            fs::create_directories(tree / "bin");
            fs::copy_file(kBusybox, tree / "bin/busybox");
            WriteData(tree);
        }
        for (const Program& p : kAllPrograms) {
            fs::copy_file(p.host_path, root_ / "bin" / p.name);
        }
        FixTimes(root_);
        FixTimes(host_);
    }
    void TearDown() override {
        if (!HasFailure() && !dir_.empty()) {
            fs::remove_all(dir_);
        }
    }

    // Runs argv in a micro-VM; argv[0] is looked up in the tenant.
    Outcome Vm(const std::vector<std::string>& argv, const std::string& input = "",
               const std::vector<std::string>& options = {}) {
        std::vector<std::string> cmd = {
            kVmm,         "--tenant",      "default",        "--isolation",
            "in-process", "--tenants-dir", tenants_.string()};
        cmd.insert(cmd.end(), options.begin(), options.end());
        if (std::find(options.begin(), options.end(), "--timeout") == options.end()) {
            cmd.insert(cmd.end(), {"--timeout", "60"});
        }
        cmd.push_back("--");
        cmd.insert(cmd.end(), argv.begin(), argv.end());
        return RunCommand(cmd, input, 120);
    }


    // Runs argv natively in the host copy with the VMM's default environment.
    Outcome Native(const std::vector<std::string>& argv, const std::string& input = "",
                   const std::vector<std::string>& env = {}) {
        return RunNative(host_, argv, input, env);
    }

    // Runs a busybox applet in both worlds and expects the same stdout and exit status.
    void ExpectSame(const std::vector<std::string>& applet_args, const std::string& input = "",
                    bool sort_lines = false) {
        std::vector<std::string> argv = {kBusybox};
        argv.insert(argv.end(), applet_args.begin(), applet_args.end());
        ExpectSameRun(argv, Vm(argv, input), Native(argv, input), sort_lines);
    }

    fs::path dir_;
    fs::path tenants_;
    fs::path root_;
    fs::path host_;
};

// ---------------------------------------------------------------------------------------------
// Programs that just work.

TEST_F(InProcess, StaticHelloWritesAndExits) {
    Outcome vm = Vm({"/bin/hello"});
    EXPECT_EQ(vm.out, "hello from a static program\n");
    EXPECT_EQ(vm.status, 7);
    EXPECT_EQ(vm.err, "");
}

TEST_F(InProcess, ProgramIsFoundThroughPath) {
    Outcome vm = Vm({"hello"});
    EXPECT_EQ(vm.out, "hello from a static program\n");
    EXPECT_EQ(vm.status, 7);
}

TEST_F(InProcess, BusyboxEcho) {
    ExpectSame({"echo", "-n", "hello", "busybox", "world"});
}
TEST_F(InProcess, BusyboxCat) {
    ExpectSame({"cat", "data/a.txt", "data/lines.txt"});
}
TEST_F(InProcess, BusyboxCatLargeBinary) {
    ExpectSame({"cat", "data/big.bin"});
}
TEST_F(InProcess, BusyboxCatMissingFile) {
    ExpectSame({"cat", "data/nope.txt"});
}
TEST_F(InProcess, BusyboxCatStdin) {
    ExpectSame({"cat"}, Lines(2000, 9));
}
TEST_F(InProcess, BusyboxSha256sum) {
    ExpectSame({"sha256sum", "data/a.txt", "data/big.bin", "data/lines.txt"});
}
TEST_F(InProcess, BusyboxSha256sumStdin) {
    ExpectSame({"sha256sum"}, Lines(5000, 5));
}
TEST_F(InProcess, BusyboxMd5sum) {
    ExpectSame({"md5sum", "data/a.txt", "data/big.bin"});
}
TEST_F(InProcess, BusyboxWc) {
    ExpectSame({"wc", "data/a.txt", "data/lines.txt", "data/big.bin"});
}
TEST_F(InProcess, BusyboxWcStdin) {
    ExpectSame({"wc", "-l"}, Lines(777, 6));
}
TEST_F(InProcess, BusyboxHead) {
    ExpectSame({"head", "-n", "7", "data/lines.txt"});
    ExpectSame({"head", "-c", "100", "data/big.bin"});
}
TEST_F(InProcess, BusyboxTail) {
    ExpectSame({"tail", "-n", "5", "data/lines.txt"});
    ExpectSame({"tail", "-c", "333", "data/big.bin"});
}
TEST_F(InProcess, BusyboxSort) {
    ExpectSame({"sort", "data/lines.txt"});
    ExpectSame({"sort", "-n", "-r", "data/numbers.txt"});
    ExpectSame({"sort", "-u", "-k", "2", "data/lines.txt"});
}
TEST_F(InProcess, BusyboxSortStdin) {
    ExpectSame({"sort"}, Lines(3000, 7));
}
TEST_F(InProcess, BusyboxUniq) {
    ExpectSame({"uniq", "data/sorted.txt"});
    ExpectSame({"uniq", "-c", "data/sorted.txt"});
}
TEST_F(InProcess, BusyboxGrep) {
    ExpectSame({"grep", "-n", "foo", "data/a.txt"});
    ExpectSame({"grep", "-c", "alpha", "data/lines.txt"});
    ExpectSame({"grep", "-r", "deep", "data/sub"});
    ExpectSame({"grep", "nothing-matches", "data/a.txt"});  // exit status 1
}
TEST_F(InProcess, BusyboxSed) {
    ExpectSame({"sed", "-e", "s/o/0/g", "data/a.txt"});
    ExpectSame({"sed", "-n", "3,5p", "data/lines.txt"});
}
TEST_F(InProcess, BusyboxAwk) {
    ExpectSame({"awk", "{ s += $1 } END { print s, NR }", "data/numbers.txt"});
    ExpectSame({"awk", "-F:", "{ print $1, $3 }", "data/passwd.txt"});
}
TEST_F(InProcess, BusyboxTr) {
    ExpectSame({"tr", "a-z", "A-Z"}, Lines(100, 8));
}
TEST_F(InProcess, BusyboxCut) {
    ExpectSame({"cut", "-d:", "-f1,3,6", "data/passwd.txt"});
    ExpectSame({"cut", "-c", "1-5", "data/lines.txt"});
}
TEST_F(InProcess, BusyboxLs) {
    ExpectSame({"ls", "data"});
    ExpectSame({"ls", "-a", "-1", "data/sub"});
    ExpectSame({"ls", "-R", "data"});
    ExpectSame({"ls", "data/missing"});
}
TEST_F(InProcess, BusyboxOd) {
    ExpectSame({"od", "-c", "data/a.txt"});
    ExpectSame({"od", "-A", "x", "-t", "x1z", "-N", "256", "data/big.bin"});
}
TEST_F(InProcess, BusyboxFind) {
    ExpectSame({"find", "data"}, "", /*sort_lines=*/true);
    ExpectSame({"find", "data", "-name", "*.txt", "-type", "f"}, "", /*sort_lines=*/true);
}

// Commands that change the tree: each step runs in both worlds, then the trees are compared.
TEST_F(InProcess, BusyboxMkdirRmMvCpTouch) {
    ExpectSame({"mkdir", "-p", "data/x/y/z"});
    ExpectSame({"mkdir", "data/x"});  // exists: fails in both
    ExpectSame({"cp", "data/a.txt", "data/x/copy.txt"});
    ExpectSame({"cp", "data/big.bin", "data/x/big.copy"});
    ExpectSame({"mv", "data/x/copy.txt", "data/x/y/moved.txt"});
    ExpectSame({"touch", "data/x/new.txt"});
    ExpectSame({"rm", "data/sorted.txt"});
    ExpectSame({"rm", "data/sorted.txt"});  // gone: fails in both
    ExpectSame({"rm", "-r", "data/sub"});
    ExpectSame({"ls", "-R", "data"});
    ExpectSame({"cat", "data/x/y/moved.txt"});
    ExpectSame({"sha256sum", "data/x/big.copy"});
    ExpectSame({"rmdir", "data/x/y/z"});
    ExpectSame({"ls", "-R", "data/x"});
}

TEST_F(InProcess, BusyboxTar) {
    ExpectSame({"tar", "cf", "data/out.tar", "data/a.txt", "data/sub"});
    ExpectSame({"tar", "tf", "data/out.tar"});
    ExpectSame({"mkdir", "data/unpacked"});
    ExpectSame({"tar", "xf", "data/out.tar", "-C", "data/unpacked"});
    ExpectSame({"ls", "-R", "data/unpacked"});
    ExpectSame({"cat", "data/unpacked/data/sub/deep/file.txt"});
}

TEST_F(InProcess, BusyboxGzip) {
    ExpectSame({"gzip", "-c", "data/lines.txt"});
    ExpectSame({"gzip", "data/a.txt"});
    ExpectSame({"ls", "data"});
    ExpectSame({"gzip", "-d", "-c", "data/a.txt.gz"});
    ExpectSame({"gzip", "-d", "data/a.txt.gz"});
    ExpectSame({"cat", "data/a.txt"});
}

// ---------------------------------------------------------------------------------------------
// C++, -static and -static-pie, against the same program run natively.

TEST_F(InProcess, CxxProbeStaticMatchesNative) {
    Outcome vm = Vm({"/bin/cxx_static", "data/probe.txt", "42", "an argument", ""}, "",
                    {"--env", "PROBE_VAR=sandboxed value"});
    Outcome native = Native({kCxxStatic.host_path, "data/probe.txt", "42", "an argument", ""}, "",
                            {"PROBE_VAR=sandboxed value"});
    EXPECT_EQ(vm.out, native.out) << vm.err;
    EXPECT_EQ(vm.status, 42);
    EXPECT_EQ(native.status, 42);
    EXPECT_NE(vm.out.find("caught: thrown from the bottom"), std::string::npos);
    std::ifstream written(root_ / "data/probe.txt");
    std::string first;
    std::getline(written, first);
    EXPECT_EQ(first, "first line");
}

TEST_F(InProcess, CxxProbeStaticPieMatchesNative) {
    Outcome vm = Vm({"/bin/cxx_pie", "data/probe.txt", "3"}, "", {"--env", "HOME=/home/x"});
    Outcome native = Native({kCxxPie.host_path, "data/probe.txt", "3"}, "", {"HOME=/home/x"});
    EXPECT_EQ(vm.out, native.out) << vm.err;
    EXPECT_EQ(vm.status, 3);
    EXPECT_EQ(native.status, 3);
}

TEST_F(InProcess, MemoryCallsMatchNative) {
    Outcome vm = Vm({"/bin/mm_probe", "b"});
    Outcome native = Native({kMmProbe.host_path, "b"});
    EXPECT_EQ(vm.out, native.out) << vm.err;
    EXPECT_EQ(vm.status, 0);
}

TEST_F(InProcess, AccessAfterMunmapIsSigsegv) {
    Outcome vm = Vm({"/bin/mm_probe", "u"});
    EXPECT_EQ(vm.status, 139) << vm.out << vm.err;
    EXPECT_EQ(Native({kMmProbe.host_path, "u"}).status, 139);
}

TEST_F(InProcess, WriteAfterMprotectReadOnlyIsSigsegv) {
    Outcome vm = Vm({"/bin/mm_probe", "p"});
    EXPECT_EQ(vm.status, 139) << vm.out << vm.err;
    EXPECT_EQ(vm.out, "");
}

TEST_F(InProcess, BadPointersGetEfault) {
    Outcome vm = Vm({"/bin/bad_pointer"});
    Outcome native = Native({kBadPointer.host_path});
    EXPECT_EQ(vm.out, native.out) << vm.err;
    EXPECT_EQ(vm.status, 0);
    EXPECT_NE(vm.out.find("write from unmapped: Bad address"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Programs the VMM must refuse, and programs that die.

TEST_F(InProcess, NonElfIsRefusedWith126) {
    WriteFile(root_ / "bin/script", "#!/bin/sh\necho hi\n", /*executable=*/true);
    Outcome vm = Vm({"/bin/script"});
    EXPECT_EQ(vm.status, 126);
    EXPECT_NE(vm.err.find("not an ELF executable"), std::string::npos) << vm.err;
}

TEST_F(InProcess, TruncatedElfIsRefusedWith126) {
    std::ifstream in(kHello.host_path, std::ios::binary);
    std::string head(100, '\0');
    in.read(head.data(), 100);
    WriteFile(root_ / "bin/truncated", head, /*executable=*/true);
    Outcome vm = Vm({"/bin/truncated"});
    EXPECT_EQ(vm.status, 126);
    EXPECT_NE(vm.err.find("truncated"), std::string::npos) << vm.err;
}

TEST_F(InProcess, Elf32IsRefusedWith126) {
    // An i386 ELF header written by hand (no multilib compiler is needed): ELFCLASS32,
    // little-endian, ET_EXEC, EM_386.
    std::string header(52, '\0');
    const unsigned char ident[] = {0x7f, 'E', 'L', 'F', 1, 1, 1, 0};
    std::copy(std::begin(ident), std::end(ident), header.begin());
    header[16] = 2;  // e_type = ET_EXEC
    header[18] = 3;  // e_machine = EM_386
    header[20] = 1;  // e_version
    WriteFile(root_ / "bin/elf32", header, /*executable=*/true);
    Outcome vm = Vm({"/bin/elf32"});
    EXPECT_EQ(vm.status, 126);
    EXPECT_NE(vm.err.find("32-bit ELF programs are not supported"), std::string::npos) << vm.err;
}

TEST_F(InProcess, DynamicallyLinkedIsRefusedWith126) {
    Outcome vm = Vm({"/bin/dynamic"});
    EXPECT_EQ(vm.status, 126);
    EXPECT_NE(vm.err.find("dynamically linked programs are not supported yet"), std::string::npos)
        << vm.err;
}

TEST_F(InProcess, MissingProgramIs127) {
    Outcome vm = Vm({"/bin/no-such-program"});
    EXPECT_EQ(vm.status, 127);
    EXPECT_NE(vm.err.find("program not found"), std::string::npos) << vm.err;
    EXPECT_EQ(Vm({"no-such-program"}).status, 127);
}

TEST_F(InProcess, HostPathsAreNotReachable) {
    // /bin/sh exists on the host, not in the tenant: the program comes from tenant storage.
    EXPECT_EQ(Vm({"/bin/sh"}).status, 127);
    EXPECT_EQ(Vm({"../../../../../../bin/sh"}).status, 127);
}

TEST_F(InProcess, SpinningGuestIsKilledAtTimeout) {
    auto start = std::chrono::steady_clock::now();
    Outcome vm = Vm({"/bin/spin"}, "", {"--timeout", "1"});
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(vm.status, 124);
    EXPECT_NE(vm.err.find("timed out after 1 s"), std::string::npos) << vm.err;
    EXPECT_LT(seconds, 5.0);
}

TEST_F(InProcess, UnmappedAccessIsSigsegv) {
    Outcome vm = Vm({"/bin/segv"});
    EXPECT_EQ(vm.status, 139);
    EXPECT_NE(vm.err.find("program killed by signal SIGSEGV (fault at rip=0x"), std::string::npos)
        << vm.err;
    EXPECT_NE(vm.err.find("addr=0x1000"), std::string::npos) << vm.err;
    EXPECT_EQ(Native({kSegv.host_path}).status, 139);
}

TEST_F(InProcess, IllegalInstructionIsSigill) {
    Outcome vm = Vm({"/bin/sigill"});
    EXPECT_EQ(vm.status, 132);
    EXPECT_NE(vm.err.find("SIGILL"), std::string::npos) << vm.err;
    EXPECT_EQ(Native({kSigill.host_path}).status, 132);
}

TEST_F(InProcess, MemoryBeyondTheVmIsKilled) {
    Outcome vm = Vm({"/bin/memory_hog"}, "", {"--memory", "32"});
    EXPECT_EQ(vm.status, 137) << vm.out;
    EXPECT_NE(vm.err.find("out of guest memory"), std::string::npos) << vm.err;
}

// ---------------------------------------------------------------------------------------------
// Hostile programs: each attempt ends only the program's own run.

struct HostileCase {
    const char* mode;
    int status;  // expected in the micro-VM; kAnySignal: killed by some signal
    bool native_agrees;
};
constexpr int kAnySignal = -1;

class Hostile : public InProcess, public ::testing::WithParamInterface<HostileCase> {};

TEST_P(Hostile, EndsOnlyItsOwnRun) {
    const HostileCase& c = GetParam();
    Outcome vm = Vm({"/bin/hostile", c.mode}, "", {"--timeout", "20"});
    if (c.status == kAnySignal) {
        EXPECT_GT(vm.status, 128) << c.mode << "\nout: " << vm.out << "\nerr: " << vm.err;
        EXPECT_NE(vm.err.find("program killed by signal"), std::string::npos) << vm.err;
    } else {
        EXPECT_EQ(vm.status, c.status) << c.mode << "\nout: " << vm.out << "\nerr: " << vm.err;
    }
    EXPECT_EQ(vm.out.find("reached"), std::string::npos) << vm.out;
    EXPECT_EQ(vm.out.find("written"), std::string::npos) << vm.out;
    EXPECT_EQ(vm.out.find("escalated"), std::string::npos) << vm.out;
    if (c.native_agrees) {
        EXPECT_EQ(Native({kHostile.host_path, c.mode}).status, c.status) << c.mode;
    }
}

INSTANTIATE_TEST_SUITE_P(
    InProcess, Hostile,
    ::testing::Values(HostileCase{"port", 139, true},         // out from ring 3: #GP
                      HostileCase{"port-in", 139, true},      // in from ring 3: #GP
                      HostileCase{"kernel-read", 139, true},  // the call page is supervisor-only
                      HostileCase{"kernel-write", 139, true},
                      // The #PF gate has DPL 0: #GP natively; kvm_pvm reports #UD instead.
                      HostileCase{"int14", kAnySignal, false},
                      HostileCase{"int3", 133, true},         // SIGTRAP
                      HostileCase{"trap-rip", 139, true},     // non-canonical return address
                      HostileCase{"trap-iopl", 139, true},    // IOPL masked: cli faults
                      HostileCase{"kernel-stack", 3, true}),  // syscall with rsp in the kernel
    [](const ::testing::TestParamInfo<HostileCase>& param_info) {
        std::string name = param_info.param.mode;
        std::replace(name.begin(), name.end(), '-', '_');
        return name;
    });

TEST_F(InProcess, HostileMemoryCallsFailLikeLinux) {
    Outcome vm = Vm({"/bin/hostile", "memory-calls"});
    Outcome native = Native({kHostile.host_path, "memory-calls"});
    EXPECT_EQ(vm.out, native.out) << vm.err;
    EXPECT_EQ(vm.status, 0);
}

TEST_F(InProcess, RandomSystemCallsDoNotHurtTheVmm) {
    Outcome vm = Vm({"/bin/hostile", "fuzz", "20000"}, "", {"--timeout", "100"});
    EXPECT_EQ(vm.status, 0) << vm.err;
    EXPECT_NE(vm.out.find("survived"), std::string::npos) << vm.out << vm.err;
    // The tenant tree is still usable afterwards.
    EXPECT_EQ(Vm({"/bin/hello"}).status, 7);
}

// ---------------------------------------------------------------------------------------------
// The system-vm mode's link: the runner connects to a Unix socket (here served by an I/O server
// of the test's own, as the agent's mux would forward it to the System VM).

TEST_F(InProcess, SystemVmModeRunsOverAUnixSocket) {
    std::string socket_path = (dir_ / "io.sock").string();
    UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(listener.valid());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    ASSERT_LT(socket_path.size(), sizeof(addr.sun_path));
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(listen(listener.get(), 1), 0);

    system_vm::IoServer server(tenants_.string());
    std::thread serving([&] {
        UniqueFd conn(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (conn.valid()) {
            auto link = transport::MakeStreamLink(std::move(conn));
            (void)server.Serve(*link);
        }
    });
    std::vector<std::string> argv = {kBusybox, "sha256sum", "data/a.txt", "data/big.bin"};
    std::vector<std::string> cmd = {kVmm,        "--tenant",    "default",   "--isolation",
                                    "system-vm", "--io-socket", socket_path, "--timeout",
                                    "60",        "--"};
    cmd.insert(cmd.end(), argv.begin(), argv.end());
    Outcome vm = RunCommand(cmd, "", 120);
    serving.join();
    Outcome native = Native(argv);
    EXPECT_EQ(vm.out, native.out) << vm.err;
    EXPECT_EQ(vm.status, 0);
}

TEST_F(InProcess, UnknownTenantIsAnError) {
    Outcome vm = RunCommand({kVmm, "--tenant", "nobody", "--isolation", "in-process",
                             "--tenants-dir", tenants_.string(), "--", "/bin/hello"});
    EXPECT_EQ(vm.status, 125);
    EXPECT_NE(vm.err.find("tenant"), std::string::npos) << vm.err;
}

// ---------------------------------------------------------------------------------------------
// Cost of one run, reported (the machines are noisy, so only a loose bound is checked).

TEST_F(InProcess, StaticHelloCost) {
    constexpr int kRuns = 20;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kRuns; ++i) {
        ASSERT_EQ(Vm({"/bin/hello"}).status, 7);
    }
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count() /
                kRuns;
    RecordProperty("hello_ms_per_run", std::to_string(ms));
    std::printf("static hello, runner create -> exit: %.2f ms per run (%d runs)\n", ms, kRuns);
    EXPECT_LT(ms, 1000.0);
}

}  // namespace
}  // namespace tw::test
