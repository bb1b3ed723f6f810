#include "agent_env.h"

#include <gtest/gtest.h>

#include <fstream>

#include "test_data.h"

namespace tw::test {

const fs::path kWork = TW_TEST_WORK_DIR;
const std::string kAgent = TW_HOST_AGENT;
const std::string kCxxStatic = TW_PROG_CXX_STATIC;
const std::string kCxxPie = TW_PROG_CXX_PIE;

namespace {

const fs::path kImages = TW_IMAGE_DIR;  // this build's System VM kernel and initramfs
const std::string kBusybox = "/bin/busybox";

fs::path DiskRoot() { return kWork / "disk"; }  // the root of the test's tenant disk
fs::path ImageDir() { return kWork / "images"; }
fs::path StateDir() { return kWork / "state"; }

void Symlink(const std::string& target, const fs::path& link) {
    fs::create_directories(link.parent_path());
    fs::create_symlink(target, link);
}

// Tenant default: what the template disk has, the suites' data, the C++ probes, and symlinks
// that would leave the root if anything resolved them on the host's terms.
void FillDefaultTenant(const fs::path& root) {
    for (const char* dir : {"bin", "home", "tmp"}) {
        fs::create_directories(root / dir);
    }
    fs::permissions(root / "tmp", fs::perms(01777));
    fs::copy_file(kBusybox, root / "bin/busybox");
    fs::copy_file(kCxxStatic, root / "bin/cxx_static");
    fs::copy_file(kCxxPie, root / "bin/cxx_pie");
    fs::copy_file(TW_PROG_FD_HOG, root / "bin/fd_hog");
    WriteData(root);
    Symlink("../../..", root / "traps/up");
    Symlink("/", root / "traps/root");
    Symlink("/etc", root / "traps/etc");
    Symlink("chain2", root / "traps/chain1");
    Symlink("../traps/chain3", root / "traps/chain2");
    Symlink("../../other", root / "traps/chain3");
    Symlink("/proc/self/root", root / "traps/proc");
    Symlink("loop", root / "traps/loop");
    FixTimes(root);
}

void FillOtherTenant(const fs::path& root) {
    fs::create_directories(root / "bin");
    fs::copy_file(kBusybox, root / "bin/busybox");
    WriteFile(root / "secret.txt", "the secret of tenant other\n");
}

// Both storages of each tenant start alike: the System VM's disk (built here with mkfs.ext4
// -d, as images/ builds the template) and the in-process directory tree.
void BuildStorage() {
    fs::path tenants = DiskRoot() / "tenants";
    FillDefaultTenant(tenants / "default");
    FillOtherTenant(tenants / "other");
    fs::permissions(tenants, fs::perms::owner_all);
    // Beside the tenants on the disk: only a path that left the tenant root could reach it.
    WriteFile(DiskRoot() / "outside-the-tenants.txt", "the System VM's own file\n");

    fs::create_directories(StateDir() / "in-process");
    fs::copy(tenants, InProcessTenant("default").parent_path(),
             fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    FixTimes(InProcessTenant("default"));
    WriteFile(StateDir() / "in-process/outside-the-tenants.txt", "the host's own file\n");

    FillDefaultTenant(HostTree());

    fs::create_directories(ImageDir());
    fs::create_symlink(kImages / "vmlinuz", ImageDir() / "vmlinuz");
    fs::create_symlink(kImages / "initramfs.cpio.gz", ImageDir() / "initramfs.cpio.gz");
    std::string disk = (ImageDir() / "tenants.img").string();
    Outcome size = RunCommand({"/usr/bin/truncate", "-s", "256M", disk});
    ASSERT_EQ(size.status, 0) << size.err;
    Outcome mkfs = RunCommand({"/sbin/mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0", "-d",
                               DiskRoot().string(), disk});
    ASSERT_EQ(mkfs.status, 0) << mkfs.err;
}

class AgentEnvironment : public ::testing::Environment {
public:
    void SetUp() override {
        fs::remove_all(kWork);
        fs::create_directories(kWork);
        BuildStorage();
        if (::testing::Test::HasFatalFailure()) {
            return;
        }
        std::ofstream(ConfigPath()) << "state_dir = \"" << StateDir().string() << "\"\n"
                                    << "run_dir = \"" << (kWork / "run").string() << "\"\n"
                                    << "tenants = [\"default\", \"other\", \"empty\"]\n"
                                    << "[system_vm]\naccelerator = \"auto\"\n"
                                    << "image_dir = \"" << ImageDir().string() << "\"\n";
        Outcome started = Agent({"start"});
        ASSERT_EQ(started.status, 0) << started.out << started.err;
    }
    void TearDown() override {
        Outcome stopped = Agent({"stop"});
        EXPECT_EQ(stopped.status, 0) << stopped.out << stopped.err;
    }
};

}  // namespace

std::string ConfigPath() { return (kWork / "agent.toml").string(); }

Outcome Agent(std::vector<std::string> args, const std::string& input, int timeout) {
    args.insert(args.begin(), {kAgent, "--config", ConfigPath()});
    return RunCommand(args, input, timeout);
}

fs::path HostTree() { return kWork / "host"; }

fs::path InProcessTenant(const std::string& tenant) {
    return StateDir() / "in-process/tenants" / tenant;
}

std::string Sha256Hex(const fs::path& file) {
    Outcome o = RunCommand({"/usr/bin/sha256sum", file.string()});
    return o.out.substr(0, 64);
}

}  // namespace tw::test

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new tw::test::AgentEnvironment);
    return RUN_ALL_TESTS();
}
