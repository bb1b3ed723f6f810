#include "host_agent/tenants.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace tw::agent {
namespace {

namespace fs = std::filesystem;

class TenantsTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("tw-tenants-test-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_ / "images");
        config_.state_dir = (dir_ / "state").string();
        config_.system_vm.image_dir = (dir_ / "images").string();
        config_.tenants = {"default", "other"};
    }
    void TearDown() override { fs::remove_all(dir_); }

    fs::path dir_;
    AgentConfig config_;
};

void WriteAt(const fs::path& path, off_t offset, const std::string& bytes) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), offset),
              static_cast<ssize_t>(bytes.size()));
    ::close(fd);
}

std::string ReadAll(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(TenantsTest, SystemVmDiskIsASparseCopyOfTheTemplate) {
    fs::path image = dir_ / "images/tenants.img";
    WriteAt(image, 0, "superblock");
    WriteAt(image, 8 << 20, std::string(8192, 'x'));
    fs::resize_file(image, 32 << 20);

    ASSERT_TRUE(EnsureSystemVmDisk(config_).ok());
    fs::path disk = config_.SystemVmDisk();
    EXPECT_EQ(fs::file_size(disk), fs::file_size(image));
    EXPECT_EQ(ReadAll(disk), ReadAll(image));
    struct stat st {};
    ASSERT_EQ(::stat(disk.c_str(), &st), 0);
    EXPECT_LT(st.st_blocks * 512, 4 << 20) << "the holes were filled in";
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_FALSE(fs::exists(disk.string() + ".partial"));
}

TEST_F(TenantsTest, AnExistingSystemVmDiskIsKept) {
    WriteAt(dir_ / "images/tenants.img", 0, "template");
    fs::create_directories(fs::path(config_.SystemVmDisk()).parent_path());
    WriteAt(config_.SystemVmDisk(), 0, "tenant data");
    ASSERT_TRUE(EnsureSystemVmDisk(config_).ok());
    EXPECT_EQ(ReadAll(config_.SystemVmDisk()), "tenant data");
}

TEST_F(TenantsTest, MissingTemplateSaysHowToBuildIt) {
    auto result = EnsureSystemVmDisk(config_);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().err(), ENOENT);
    EXPECT_NE(result.error().ToString().find("images"), std::string::npos);
    EXPECT_FALSE(fs::exists(config_.SystemVmDisk()));
}

TEST_F(TenantsTest, InProcessDefaultTenantIsSeededWithBusybox) {
    ASSERT_TRUE(EnsureInProcessTenant(config_, "default").ok());
    fs::path root = fs::path(config_.InProcessTenantsDir()) / "default";
    EXPECT_TRUE(fs::is_regular_file(root / "bin/busybox"));
    EXPECT_TRUE(fs::is_directory(root / "tmp"));
    EXPECT_FALSE(fs::exists(root.string() + ".new"));

    ASSERT_TRUE(EnsureInProcessTenant(config_, "other").ok());
    EXPECT_FALSE(fs::exists(fs::path(config_.InProcessTenantsDir()) / "other/bin/busybox"));
}

TEST_F(TenantsTest, UnknownOrInvalidTenantIsRefused) {
    EXPECT_FALSE(EnsureInProcessTenant(config_, "nobody").ok());
    EXPECT_FALSE(EnsureInProcessTenant(config_, "../default").ok());
    EXPECT_FALSE(fs::exists(config_.InProcessTenantsDir()));
}

}  // namespace
}  // namespace tw::agent
