// Real programs through `host-agent run` in both isolation modes, compared with the same
// command run natively on a host copy of the same tree: busybox applets, a gcc -static and
// -static-pie C++ program, and symlink traps that must resolve inside the tenant root.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "agent_env.h"
#include "native.h"

namespace tw::test {
namespace {

const std::string kBusybox = "/bin/busybox";

class Programs : public ::testing::TestWithParam<std::string> {
protected:
    const std::string& Mode() const { return GetParam(); }

    // A directory name of this test and mode, for commands that write.
    std::string Scratch() const {
        std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
        return "scratch-" + Mode() + "-" + test.substr(0, test.find('/'));
    }

    Outcome Vm(const std::vector<std::string>& argv, const std::string& input = "",
               const std::vector<std::string>& env = {}) {
        std::vector<std::string> args = {"run", "--isolation", Mode(), "--timeout", "120"};
        for (const std::string& kv : env) {
            args.insert(args.end(), {"--env", kv});
        }
        args.push_back("--");
        args.insert(args.end(), argv.begin(), argv.end());
        return Agent(args, input);
    }


    Outcome Native(const std::vector<std::string>& argv, const std::string& input = "",
                   const std::vector<std::string>& env = {}) {
        return RunNative(HostTree(), argv, input, env);
    }

    void ExpectSame(const std::vector<std::string>& applet_args, const std::string& input = "",
                    bool sort_lines = false) {
        std::vector<std::string> argv = {kBusybox};
        argv.insert(argv.end(), applet_args.begin(), applet_args.end());
        ExpectSameRun(argv, Vm(argv, input), Native(argv, input), sort_lines);
    }
};

TEST_P(Programs, ReadingAppletsMatchNative) {
    ExpectSame({"echo", "-n", "hello", "from", "busybox"});
    ExpectSame({"cat", "data/a.txt", "data/lines.txt"});
    ExpectSame({"cat", "data/big.bin"});
    ExpectSame({"cat", "data/nope.txt"});  // fails alike
    ExpectSame({"sha256sum", "data/a.txt", "data/big.bin"});
    ExpectSame({"sha256sum"}, Lines(5000, 5));
    ExpectSame({"md5sum", "data/big.bin", "data/lines.txt"});
    ExpectSame({"wc", "data/a.txt", "data/lines.txt", "data/big.bin"});
    ExpectSame({"head", "-n", "7", "data/lines.txt"});
    ExpectSame({"tail", "-c", "333", "data/big.bin"});
    ExpectSame({"sort", "-n", "-r", "data/numbers.txt"});
    ExpectSame({"sort"}, Lines(3000, 7));
    ExpectSame({"uniq", "-c", "data/sorted.txt"});
    ExpectSame({"grep", "-rn", "deep", "data/sub"});
    ExpectSame({"grep", "nothing-matches", "data/a.txt"});  // exit status 1
    ExpectSame({"sed", "-n", "3,5p", "data/lines.txt"});
    ExpectSame({"awk", "-F:", "{ print $1, $3 }", "data/passwd.txt"});
    ExpectSame({"tr", "a-z", "A-Z"}, Lines(100, 8));
    ExpectSame({"cut", "-d:", "-f1,3,6", "data/passwd.txt"});
    ExpectSame({"ls", "-a", "-1", "data/sub"});
    ExpectSame({"ls", "-R", "data"});
    ExpectSame({"od", "-A", "x", "-t", "x1z", "-N", "256", "data/big.bin"});
    ExpectSame({"find", "data", "-name", "*.txt", "-type", "f"}, "", /*sort_lines=*/true);
    ExpectSame({"gzip", "-c", "data/lines.txt"});
}

// Each step runs in both worlds on a scratch directory of its own; then the trees' listings
// and contents are compared.
TEST_P(Programs, WritingAppletsMatchNative) {
    const std::string s = Scratch();
    ExpectSame({"mkdir", "-p", s + "/x/y/z"});
    ExpectSame({"mkdir", s + "/x"});  // exists: fails alike
    ExpectSame({"cp", "data/a.txt", s + "/x/copy.txt"});
    ExpectSame({"cp", "data/big.bin", s + "/big"});
    ExpectSame({"mv", s + "/x/copy.txt", s + "/x/y/moved.txt"});
    ExpectSame({"touch", s + "/x/new.txt"});
    ExpectSame({"rm", s + "/big"});
    ExpectSame({"rm", s + "/big"});  // gone: fails alike
    ExpectSame({"tar", "cf", s + "/out.tar", "data/a.txt", "data/sub"});
    // Members follow the directory's order and carry owner names, which differ between ext4
    // in the System VM, a host directory and a tenant with no /etc/passwd; the member list
    // and the unpacked files must not.
    ExpectSame({"tar", "tf", s + "/out.tar"}, "", /*sort_lines=*/true);
    ExpectSame({"mkdir", s + "/unpacked"});
    ExpectSame({"tar", "xf", s + "/out.tar", "-C", s + "/unpacked"});
    ExpectSame({"cat", s + "/unpacked/data/sub/deep/file.txt"});
    ExpectSame({"cp", "data/lines.txt", s + "/lines.txt"});
    ExpectSame({"gzip", s + "/lines.txt"});
    ExpectSame({"gzip", "-d", "-c", s + "/lines.txt.gz"});
    ExpectSame({"rmdir", s + "/x/y/z"});
    ExpectSame({"rm", "-r", s + "/unpacked/data/sub"});
    ExpectSame({"ls", "-R", s});
    ExpectSame({"sha256sum", s + "/x/y/moved.txt", s + "/lines.txt.gz",
                s + "/unpacked/data/a.txt"});
}

TEST_P(Programs, CxxStaticAndStaticPieMatchNative) {
    const std::string file = Scratch() + "-probe.txt";
    for (const auto& [in_tenant, on_host] :
         {std::pair{"/bin/cxx_static", kCxxStatic}, std::pair{"/bin/cxx_pie", kCxxPie}}) {
        std::vector<std::string> args = {file, "42", "an argument", ""};
        std::vector<std::string> vm_argv = {in_tenant};
        std::vector<std::string> native_argv = {on_host};
        vm_argv.insert(vm_argv.end(), args.begin(), args.end());
        native_argv.insert(native_argv.end(), args.begin(), args.end());
        Outcome vm = Vm(vm_argv, "", {"PROBE_VAR=sandboxed value"});
        Outcome native = Native(native_argv, "", {"PROBE_VAR=sandboxed value"});
        EXPECT_EQ(vm.out, native.out) << in_tenant << ": " << vm.err;
        EXPECT_EQ(vm.status, 42) << in_tenant << ": " << vm.err;
        EXPECT_EQ(native.status, 42);
        EXPECT_NE(vm.out.find("caught: thrown from the bottom"), std::string::npos) << vm.out;
        // What the program wrote is in the tenant's storage, read back by another micro-VM.
        Outcome back = Vm({kBusybox, "head", "-n", "1", file});
        EXPECT_EQ(back.out, "first line\n") << back.err;
    }
}

// Every trap resolves inside the tenant root, where the files it aims at do not exist: the
// guest gets ENOENT, as it would from a chroot at the tenant root.
TEST_P(Programs, SymlinksAndDotDotStayInsideTheTenantRoot) {
    Outcome root = Vm({kBusybox, "ls", "/"});
    ASSERT_EQ(root.status, 0) << root.err;
    EXPECT_NE(root.out.find("traps"), std::string::npos) << root.out;
    for (const char* dir : {"traps/root", "traps/up", "/..", "../../..", "traps/up/../.."}) {
        Outcome ls = Vm({kBusybox, "ls", dir});
        EXPECT_EQ(ls.status, 0) << dir << ": " << ls.err;
        EXPECT_EQ(ls.out, root.out) << dir << " is not the tenant root";
    }
    Outcome link = Vm({kBusybox, "readlink", "traps/root"});
    EXPECT_EQ(link.out, "/\n") << link.err;

    for (const char* path :
         {"traps/up/other/secret.txt", "traps/up/../other/secret.txt", "traps/chain1/secret.txt",
          "traps/root/../other/secret.txt", "/../other/secret.txt", "../../other/secret.txt",
          "traps/up/../../outside-the-tenants.txt", "/../../outside-the-tenants.txt",
          "traps/proc/etc/passwd", "/proc/self/root/etc/passwd", "/proc/1/root/init",
          "/etc/shadow", "traps/etc/shadow", "/init", "/../../../init"}) {
        Outcome cat = Vm({kBusybox, "cat", path});
        EXPECT_EQ(cat.status, 1) << path << " was readable: " << cat.out;
        EXPECT_EQ(cat.out, "") << path;
        EXPECT_NE(cat.err.find("No such file or directory"), std::string::npos)
            << path << ": " << cat.err;
    }
    Outcome loop = Vm({kBusybox, "cat", "traps/loop"});
    EXPECT_EQ(loop.status, 1);
    EXPECT_NE(loop.err.find("Too many levels of symbolic links"), std::string::npos) << loop.err;

    // The files the traps aim at do exist, for their owner.
    Outcome own = Agent({"run", "--isolation", Mode(), "--tenant", "other", "--", kBusybox, "cat",
                         "/secret.txt"});
    EXPECT_EQ(own.status, 0) << own.err;
    EXPECT_EQ(own.out, "the secret of tenant other\n");
}

// One program holding every file its guest may open must not starve anyone else of the I/O
// server: in system-vm mode all sessions share the one server process in the System VM.
TEST_P(Programs, AProgramHoldingAllItsFilesStarvesNoOne) {
    const std::string ready = "/tmp/" + Scratch() + "-ready";
    Outcome hog;
    std::thread holder([&] {
        hog = Agent({"run", "--isolation", Mode(), "--timeout", "10", "--", "/bin/fd_hog", ready});
    });
    Outcome seen;
    for (int i = 0; i < 250; ++i) {
        seen = Vm({kBusybox, "test", "-e", ready});
        if (seen.status == 0) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(seen.status, 0) << "fd_hog never got ready: " << seen.err;

    for (int i = 0; i < 3; ++i) {
        ExpectSame({"sha256sum", "data/a.txt", "data/lines.txt"});
    }
    Outcome copied = Agent({"cp", "--isolation", Mode(), "default:/data/a.txt",
                            (kWork / (Scratch() + "-a.txt")).string()});
    EXPECT_EQ(copied.status, 0) << copied.err;

    holder.join();
    EXPECT_EQ(hog.status, 124) << hog.err;  // killed at its --timeout, still holding them
    EXPECT_NE(hog.out.find("opened 10"), std::string::npos) << hog.out;  // 10xx files
}

INSTANTIATE_TEST_SUITE_P(Agent, Programs, ::testing::Values("in-process", "system-vm"),
                         [](const auto& param_info) {
                             return param_info.param == "in-process" ? "InProcess" : "SystemVm";
                         });

}  // namespace
}  // namespace tw::test
