// AgentConfig: everything the agent can be told, with built-in defaults that work on a fresh
// machine, so `host-agent start` needs no file. `--config FILE` overrides keys from TOML:
//
//   state_dir = "/var/lib/twinwall"       # tenant storage and the System VM disk
//   run_dir = "/run/twinwall"             # sockets, pid, console log
//   log_level = "info"
//
//   [system_vm]
//   accelerator = "auto"                  # auto | kvm | tcg
//   memory_mib = 512
//   cpus = 1
//   boot_timeout_s = 120
//   image_dir = "/path/to/build/images"   # vmlinuz, initramfs.cpio.gz, tenants.img
//   qemu = "qemu-system-x86_64"
//
//   [run]
//   tenant = "default"
//   isolation = "system-vm"               # in-process | system-vm
//   timeout_s = 300                       # 0: no limit
//   memory_mib = 256
//   vmm = "/path/to/twinwall-vmm"
//
//   tenants = ["default"]                 # tenants the agent serves
//
// Unknown keys and values of the wrong type are errors, so a typo never silently falls back
// to a default.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace tw::agent {

enum class Isolation { kInProcess, kSystemVm };

Result<Isolation> ParseIsolation(const std::string& name);
const char* IsolationName(Isolation isolation);

struct SystemVmSettings {
    std::string accelerator = "auto";
    uint32_t memory_mib = 512;
    uint32_t cpus = 1;
    uint32_t boot_timeout_s = 120;
    std::string image_dir;
    std::string qemu = "qemu-system-x86_64";
};

struct RunSettings {
    std::string tenant = "default";
    Isolation isolation = Isolation::kSystemVm;
    uint32_t timeout_s = 300;
    uint32_t memory_mib = 256;
    std::string vmm;
};

struct AgentConfig {
    std::string state_dir = "/var/lib/twinwall";
    std::string run_dir = "/run/twinwall";
    std::string log_level = "info";
    SystemVmSettings system_vm;
    RunSettings run;
    std::vector<std::string> tenants = {"default"};

    // Paths derived from the settings above.
    std::string ControlSocket() const { return run_dir + "/agent.sock"; }
    std::string IoSocket() const { return run_dir + "/io.sock"; }
    std::string LockFile() const { return run_dir + "/agent.lock"; }
    std::string AgentLog() const { return state_dir + "/agent.log"; }
    std::string SystemVmDisk() const { return state_dir + "/system-vm/tenants.img"; }
    std::string InProcessTenantsDir() const { return state_dir + "/in-process/tenants"; }
};

// The built-in defaults (image_dir and vmm point into this build tree).
AgentConfig DefaultConfig();

// Defaults overridden by the TOML text; `origin` names the text in error messages.
Result<AgentConfig> ParseConfig(const std::string& toml_text, const std::string& origin);
Result<AgentConfig> LoadConfig(const std::string& path);

// Tenant names are [a-z0-9_-]{1,64}: they become directory names.
bool ValidTenantName(const std::string& name);

}  // namespace tw::agent
