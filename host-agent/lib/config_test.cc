#include "host_agent/config.h"

#include <gtest/gtest.h>

namespace tw::agent {
namespace {

TEST(Config, EmptyFileGivesDefaults) {
    auto config = ParseConfig("", "empty.toml");
    ASSERT_TRUE(config.ok()) << config.error().ToString();
    EXPECT_EQ(config->state_dir, "/var/lib/twinwall");
    EXPECT_EQ(config->run.isolation, Isolation::kSystemVm);
    EXPECT_EQ(config->system_vm.accelerator, "auto");
    EXPECT_EQ(config->tenants, std::vector<std::string>{"default"});
}

TEST(Config, OverridesKeys) {
    auto config = ParseConfig(R"(
state_dir = "/tmp/tw"
[system_vm]
accelerator = "tcg"
memory_mib = 1024
[run]
isolation = "in-process"
timeout_s = 5
tenants = ["default", "acme"]
)",
                              "a.toml");
    ASSERT_FALSE(config.ok());  // `tenants` after [run] belongs to the run table.
    EXPECT_NE(config.error().message().find("unknown key 'tenants'"), std::string::npos)
        << config.error().message();

    config = ParseConfig(R"(
state_dir = "/tmp/tw"
tenants = ["default", "acme"]
[system_vm]
accelerator = "tcg"
memory_mib = 1024
[run]
isolation = "in-process"
timeout_s = 5
)",
                         "b.toml");
    ASSERT_TRUE(config.ok()) << config.error().ToString();
    EXPECT_EQ(config->state_dir, "/tmp/tw");
    EXPECT_EQ(config->system_vm.accelerator, "tcg");
    EXPECT_EQ(config->system_vm.memory_mib, 1024u);
    EXPECT_EQ(config->run.isolation, Isolation::kInProcess);
    EXPECT_EQ(config->run.timeout_s, 5u);
    EXPECT_EQ(config->tenants.size(), 2u);
}

TEST(Config, RejectsBrokenInput) {
    const char* bad[] = {
        "state_dir = ",                         // syntax error
        "statedir = \"/x\"",                    // unknown key
        "[system_vm]\naccelerator = \"xen\"",   // bad enum
        "[system_vm]\nmemory_mib = \"512\"",    // wrong type
        "[system_vm]\nmemory_mib = 1",          // out of range
        "[run]\nisolation = \"container\"",     // bad mode
        "tenants = [\"../etc\"]",               // bad tenant name
        "tenants = []",                         // empty list
        "run = 3",                              // table expected
        "tenants = [\"a\", \"b\", \"a\"]",          // repeated tenant
        "state_dir = \"var/lib/twinwall\"",       // relative directory
        "run_dir = \"\"",                         // empty directory
    };
    for (const char* text : bad) {
        auto config = ParseConfig(text, "bad.toml");
        EXPECT_FALSE(config.ok()) << text;
        if (!config.ok()) {
            EXPECT_NE(config.error().message().find("bad.toml"), std::string::npos)
                << config.error().message();
        }
    }
}

TEST(Config, RunDirMustLeaveRoomForItsSockets) {
    EXPECT_TRUE(ParseConfig("run_dir = \"/" + std::string(70, 'a') + "\"", "x.toml").ok());
    auto config = ParseConfig("run_dir = \"/" + std::string(100, 'a') + "\"", "x.toml");
    ASSERT_FALSE(config.ok());
    EXPECT_NE(config.error().message().find("run_dir"), std::string::npos);
}

TEST(Config, TenantNames) {
    EXPECT_TRUE(ValidTenantName("default"));
    EXPECT_TRUE(ValidTenantName("team-a_2"));
    EXPECT_FALSE(ValidTenantName(""));
    EXPECT_FALSE(ValidTenantName("A"));
    EXPECT_FALSE(ValidTenantName(".."));
    EXPECT_FALSE(ValidTenantName("a/b"));
    EXPECT_FALSE(ValidTenantName(std::string(65, 'a')));
}

TEST(Config, MissingFileIsAnError) {
    auto config = LoadConfig("/nonexistent/twinwall.toml");
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.error().err(), ENOENT);
}

}  // namespace
}  // namespace tw::agent
