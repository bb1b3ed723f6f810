// End-to-end tests of host-agent itself: start, status, stop, restarts, refusals; with the real
// System VM the environment in agent_env.h shares between all tests.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <fstream>
#include <random>
#include <sstream>

#include "agent_env.h"

namespace tw::test {
namespace {

TEST(Agent, StatusReportsRunningSystemVm) {
    Outcome o = Agent({"status"});
    ASSERT_EQ(o.status, 0) << o.err;
    EXPECT_NE(o.out.find("system vm:    running"), std::string::npos) << o.out;
    // A paravirtualized KVM (kvm_pvm, as on these machines) hangs Linux in early boot, so the
    // agent must have chosen TCG there.
    if (fs::exists("/sys/module/kvm_pvm")) {
        EXPECT_NE(o.out.find("accelerator tcg"), std::string::npos) << o.out;
    }
    EXPECT_NE(o.out.find("\"default\""), std::string::npos) << o.out;

    Outcome json = Agent({"status", "--json"});
    ASSERT_EQ(json.status, 0);
    EXPECT_NE(json.out.find("\"state\":\"running\""), std::string::npos) << json.out;
}

TEST(Agent, SecondStartFailsAndLeavesTheFirstRunning) {
    Outcome o = Agent({"start"});
    EXPECT_EQ(o.status, 125);
    EXPECT_NE(o.err.find("already running"), std::string::npos) << o.err;
    EXPECT_EQ(Agent({"status"}).status, 0);
}

TEST(Agent, Sha256OfAFileServedByTheSystemVmMatchesTheHost) {
    fs::path sample = kWork / "sample.bin";
    {
        std::mt19937_64 rng(42);
        std::ofstream out(sample, std::ios::binary);
        for (int i = 0; i < 300000; ++i) {
            uint64_t v = rng();
            out.write(reinterpret_cast<const char*>(&v), sizeof(v));
        }
    }
    Outcome cp = Agent({"cp", sample.string(), "default:/tmp/sample.bin"});
    ASSERT_EQ(cp.status, 0) << cp.err;

    Outcome run = Agent(
        {"run", "--isolation", "system-vm", "--", "/bin/busybox", "sha256sum", "/tmp/sample.bin"});
    ASSERT_EQ(run.status, 0) << run.err;
    EXPECT_EQ(run.out, Sha256Hex(sample) + "  /tmp/sample.bin\n");

    // And back out, byte for byte.
    fs::path back = kWork / "back.bin";
    Outcome out = Agent({"cp", "default:/tmp/sample.bin", back.string()});
    ASSERT_EQ(out.status, 0) << out.err;
    EXPECT_EQ(Sha256Hex(back), Sha256Hex(sample));
}

TEST(Agent, GuestWritesLandInSystemVmStorageOnlyAndSurviveRestart) {
    Outcome w = Agent({"run", "--isolation", "system-vm", "--", "/bin/busybox", "cp",
                       "/bin/busybox", "/home/written-by-guest"});
    ASSERT_EQ(w.status, 0) << w.err;

    // Not in the host-side (in-process) storage of the same tenant.
    EXPECT_FALSE(fs::exists(kWork / "state/in-process/tenants/default/home/written-by-guest"));

    ASSERT_EQ(Agent({"stop"}).status, 0);
    Outcome again = Agent({"start"});
    ASSERT_EQ(again.status, 0) << again.err;

    Outcome r = Agent({"run", "--isolation", "system-vm", "--", "/bin/busybox", "cmp",
                       "/bin/busybox", "/home/written-by-guest"});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
}

TEST(Agent, TenantsSeeOnlyTheirOwnRoot) {
    Outcome ls = Agent({"run", "--isolation", "system-vm", "--", "/bin/busybox", "ls", "/"});
    ASSERT_EQ(ls.status, 0) << ls.err;
    EXPECT_NE(ls.out.find("bin"), std::string::npos);
    EXPECT_EQ(ls.out.find("other"), std::string::npos) << "another tenant is visible: " << ls.out;

    for (const char* path : {"/../other/secret.txt", "/../../etc/passwd", "/proc/self/root/etc/passwd",
                             "/etc/shadow", "../../../../init"}) {
        Outcome cat = Agent({"run", "--isolation", "system-vm", "--", "/bin/busybox", "cat", path});
        EXPECT_NE(cat.status, 0) << path << " was readable: " << cat.out;
    }
}

TEST(Agent, UnknownTenantIsRefused) {
    Outcome o = Agent({"run", "--tenant", "nobody", "--", "/bin/busybox", "true"});
    EXPECT_EQ(o.status, 125);
    EXPECT_NE(o.err.find("unknown tenant"), std::string::npos) << o.err;
}

TEST(Agent, ConfiguredTenantWithoutStorageIsAClearError) {
    Outcome o = Agent({"run", "--tenant", "empty", "--isolation", "system-vm", "--",
                       "/bin/busybox", "true"});
    EXPECT_NE(o.status, 0);
    EXPECT_NE(o.err.find("empty"), std::string::npos) << o.err;
}

TEST(Agent, SystemVmRunWithoutAnAgentSaysSo) {
    fs::path other = kWork / "no-agent.toml";
    std::ofstream(other) << "state_dir = \"" << (kWork / "none-state").string() << "\"\n"
                         << "run_dir = \"" << (kWork / "none-run").string() << "\"\n";
    Outcome o = RunCommand({kAgent, "--config", other.string(), "run", "--isolation",
                            "system-vm", "--", "/bin/busybox", "true"});
    EXPECT_EQ(o.status, 125);
    EXPECT_NE(o.err.find("not running"), std::string::npos) << o.err;

    Outcome status = RunCommand({kAgent, "--config", other.string(), "status"});
    EXPECT_EQ(status.status, 3);

    // An in-process run needs no agent.
    Outcome local = RunCommand({kAgent, "--config", other.string(), "run", "--isolation",
                                "in-process", "--", "/bin/busybox", "echo", "ok"});
    EXPECT_EQ(local.status, 0) << local.err;
    EXPECT_EQ(local.out, "ok\n");
}

TEST(Agent, BrokenConfigIsRefused) {
    fs::path bad = kWork / "bad.toml";
    std::ofstream(bad) << "[system_vm]\nmemory_mib = \"lots\"\n";
    Outcome o = RunCommand({kAgent, "--config", bad.string(), "status"});
    EXPECT_EQ(o.status, 125);
    EXPECT_NE(o.err.find("memory_mib"), std::string::npos) << o.err;
}

TEST(Agent, CpIntoDirectoriesKeepsTheFileName) {
    fs::path source = kWork / "cp-source.txt";
    WriteFile(source, "copied by name\n");
    Outcome in = Agent({"cp", source.string(), "default:/home/"});
    ASSERT_EQ(in.status, 0) << in.err;
    Outcome cat = Agent({"run", "--", "/bin/busybox", "cat", "/home/cp-source.txt"});
    EXPECT_EQ(cat.out, "copied by name\n") << cat.err;

    fs::path dir = kWork / "cp-out";
    fs::create_directories(dir);
    Outcome out = Agent({"cp", "default:/home/cp-source.txt", dir.string()});
    ASSERT_EQ(out.status, 0) << out.err;
    EXPECT_EQ(Sha256Hex(dir / "cp-source.txt"), Sha256Hex(source));
}

TEST(Agent, CpNamesABadTenantNameAsSuch) {
    Outcome o = Agent({"cp", "/etc/hostname", "Not_A_Tenant:/x"});
    EXPECT_EQ(o.status, 125);
    EXPECT_NE(o.err.find("not a tenant name"), std::string::npos) << o.err;
}

TEST(Agent, DeadSystemVmIsRestarted) {
    Outcome before = Agent({"status", "--json"});
    ASSERT_EQ(before.status, 0);
    size_t at = before.out.find("\"system_vm\":{");
    ASSERT_NE(at, std::string::npos);
    size_t pid_at = before.out.find("\"pid\":", at);
    ASSERT_NE(pid_at, std::string::npos);
    pid_t qemu = std::stoi(before.out.substr(pid_at + 6));
    ASSERT_GT(qemu, 1);
    ASSERT_EQ(::kill(qemu, SIGKILL), 0);

    // The agent keeps answering while it boots a new System VM, and says so.
    bool seen_restarting = false;
    for (int i = 0; i < 100 && !seen_restarting; ++i) {
        Outcome during = Agent({"status", "--json"});
        ASSERT_EQ(during.status, 0) << during.err;
        seen_restarting = during.out.find("\"state\":\"booting\"") != std::string::npos ||
                          during.out.find("\"state\":\"down\"") != std::string::npos;
        ::usleep(100 * 1000);
    }
    EXPECT_TRUE(seen_restarting);

    // The agent notices, boots a new System VM, and serves runs again.
    Outcome run;
    for (int i = 0; i < 120; ++i) {
        ::sleep(1);
        run = Agent({"run", "--isolation", "system-vm", "--", "/bin/busybox", "echo", "back"});
        if (run.status == 0) {
            break;
        }
    }
    EXPECT_EQ(run.status, 0) << run.err;
    EXPECT_EQ(run.out, "back\n");
    Outcome after = Agent({"status", "--json"});
    EXPECT_NE(after.out.find("\"restarts\":1"), std::string::npos) << after.out;
}

// A System VM that stops answering closes no link; the agent must notice by itself, keep
// answering meanwhile, and replace it. Runs against it end at their deadline, not never.
TEST(Agent, WedgedSystemVmIsReplaced) {
    Outcome before = Agent({"status", "--json"});
    size_t pid_at = before.out.find("\"pid\":", before.out.find("\"system_vm\":{"));
    ASSERT_NE(pid_at, std::string::npos) << before.out;
    pid_t qemu = std::stoi(before.out.substr(pid_at + 6));
    ASSERT_GT(qemu, 1);

    // Writes in flight when the VM stops fill the link's socket: the agent must not wait on
    // them for good.
    std::atomic<bool> done{false};
    std::thread writer([&done] {
        while (!done) {
            Agent({"run", "--timeout", "20", "--", "/bin/busybox", "dd", "if=/data/big.bin",
                   "of=/tmp/wedge-writes", "bs=128k"},
                  "", 60);
        }
    });
    ::sleep(2);
    ASSERT_EQ(::kill(qemu, SIGSTOP), 0);

    Outcome stuck = Agent({"run", "--timeout", "2", "--", "/bin/busybox", "echo", "x"}, "", 120);
    EXPECT_NE(stuck.status, 0);
    EXPECT_NE(stuck.status, 128 + SIGKILL) << "the run hung until the test killed it";

    Outcome run;
    for (int i = 0; i < 120; ++i) {
        Outcome status = Agent({"status"});
        ASSERT_EQ(status.status, 0) << status.err;
        run = Agent({"run", "--", "/bin/busybox", "echo", "replaced"});
        if (run.status == 0) {
            break;
        }
        ::sleep(1);
    }
    done = true;
    writer.join();
    ::kill(qemu, SIGKILL);  // already killed by the agent if it did its job
    EXPECT_EQ(run.out, "replaced\n") << run.err;
    Outcome after = Agent({"status", "--json"});
    EXPECT_EQ(after.out.find("\"pid\":" + std::to_string(qemu)), std::string::npos) << after.out;
}

}  // namespace
}  // namespace tw::test
