#include "host_agent/config.h"

#include <algorithm>

#include <toml++/toml.h>

#include <fstream>
#include <set>
#include <sstream>

namespace tw::agent {
namespace {

// Checks that `table` holds only `known` keys; a typo must not silently become a default.
Result<void> CheckKeys(const toml::table& table, const std::set<std::string>& known,
                       const std::string& where) {
    for (const auto& [key, value] : table) {
        if (!known.contains(std::string(key.str()))) {
            std::ostringstream msg;
            msg << where << ": unknown key '" << key.str() << "' at line "
                << key.source().begin.line;
            return Error(EINVAL, msg.str());
        }
    }
    return Ok();
}

Error TypeError(const std::string& where, const std::string& key, const char* want) {
    return Error(EINVAL, where + ": '" + key + "' must be " + want);
}

Result<void> ReadString(const toml::table& t, const std::string& key, const std::string& where,
                        std::string& out) {
    const toml::node* node = t.get(key);
    if (node == nullptr) {
        return Ok();
    }
    auto value = node->value<std::string>();
    if (!value || value->empty()) {
        return TypeError(where, key, "a non-empty string");
    }
    out = *value;
    return Ok();
}

Result<void> ReadUint(const toml::table& t, const std::string& key, const std::string& where,
                      uint32_t min, uint32_t max, uint32_t& out) {
    const toml::node* node = t.get(key);
    if (node == nullptr) {
        return Ok();
    }
    auto value = node->value_exact<int64_t>();
    if (!value || *value < min || *value > max) {
        return TypeError(where, key,
                         ("an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                          "]")
                             .c_str());
    }
    out = static_cast<uint32_t>(*value);
    return Ok();
}

Result<void> ReadSystemVm(const toml::table& t, const std::string& where, SystemVmSettings& s) {
    TW_RETURN_IF_ERROR(CheckKeys(
        t, {"accelerator", "memory_mib", "cpus", "boot_timeout_s", "image_dir", "qemu"}, where));
    TW_RETURN_IF_ERROR(ReadString(t, "accelerator", where, s.accelerator));
    if (s.accelerator != "auto" && s.accelerator != "kvm" && s.accelerator != "tcg") {
        return TypeError(where, "accelerator", "one of auto, kvm, tcg");
    }
    TW_RETURN_IF_ERROR(ReadUint(t, "memory_mib", where, 128, 65536, s.memory_mib));
    TW_RETURN_IF_ERROR(ReadUint(t, "cpus", where, 1, 64, s.cpus));
    TW_RETURN_IF_ERROR(ReadUint(t, "boot_timeout_s", where, 1, 3600, s.boot_timeout_s));
    TW_RETURN_IF_ERROR(ReadString(t, "image_dir", where, s.image_dir));
    TW_RETURN_IF_ERROR(ReadString(t, "qemu", where, s.qemu));
    return Ok();
}

Result<void> ReadRun(const toml::table& t, const std::string& where, RunSettings& r) {
    TW_RETURN_IF_ERROR(
        CheckKeys(t, {"tenant", "isolation", "timeout_s", "memory_mib", "vmm"}, where));
    TW_RETURN_IF_ERROR(ReadString(t, "tenant", where, r.tenant));
    if (!ValidTenantName(r.tenant)) {
        return TypeError(where, "tenant", "a tenant name ([a-z0-9_-], at most 64)");
    }
    std::string isolation = IsolationName(r.isolation);
    TW_RETURN_IF_ERROR(ReadString(t, "isolation", where, isolation));
    auto parsed = ParseIsolation(isolation);
    if (!parsed.ok()) {
        return Error(EINVAL, where + ": " + parsed.error().message());
    }
    r.isolation = *parsed;
    TW_RETURN_IF_ERROR(ReadUint(t, "timeout_s", where, 0, 86400, r.timeout_s));
    TW_RETURN_IF_ERROR(ReadUint(t, "memory_mib", where, 16, 65536, r.memory_mib));
    TW_RETURN_IF_ERROR(ReadString(t, "vmm", where, r.vmm));
    return Ok();
}

}  // namespace

Result<Isolation> ParseIsolation(const std::string& name) {
    if (name == "in-process") {
        return Isolation::kInProcess;
    }
    if (name == "system-vm") {
        return Isolation::kSystemVm;
    }
    return Error(EINVAL, "unknown isolation mode '" + name + "' (in-process or system-vm)");
}

const char* IsolationName(Isolation isolation) {
    return isolation == Isolation::kInProcess ? "in-process" : "system-vm";
}

bool ValidTenantName(const std::string& name) {
    if (name.empty() || name.size() > 64) {
        return false;
    }
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

AgentConfig DefaultConfig() {
    AgentConfig config;
    config.system_vm.image_dir = TW_DEFAULT_IMAGE_DIR;
    config.run.vmm = TW_DEFAULT_VMM;
    return config;
}

Result<AgentConfig> ParseConfig(const std::string& toml_text, const std::string& origin) {
    toml::table root;
    try {
        root = toml::parse(toml_text, origin);
    } catch (const toml::parse_error& e) {
        std::ostringstream msg;
        msg << origin << ":" << e.source().begin.line << ": " << e.description();
        return Error(EINVAL, msg.str());
    }

    AgentConfig config = DefaultConfig();
    TW_RETURN_IF_ERROR(CheckKeys(
        root, {"state_dir", "run_dir", "log_level", "system_vm", "run", "tenants"}, origin));
    TW_RETURN_IF_ERROR(ReadString(root, "state_dir", origin, config.state_dir));
    TW_RETURN_IF_ERROR(ReadString(root, "run_dir", origin, config.run_dir));
    TW_RETURN_IF_ERROR(ReadString(root, "log_level", origin, config.log_level));
    static const std::set<std::string> kLevels = {"error", "warn", "info", "debug"};
    if (!kLevels.contains(config.log_level)) {
        return TypeError(origin, "log_level", "one of error, warn, info, debug");
    }

    if (const toml::node* node = root.get("system_vm")) {
        if (!node->is_table()) {
            return TypeError(origin, "system_vm", "a table");
        }
        TW_RETURN_IF_ERROR(ReadSystemVm(*node->as_table(), origin + " [system_vm]", config.system_vm));
    }
    if (const toml::node* node = root.get("run")) {
        if (!node->is_table()) {
            return TypeError(origin, "run", "a table");
        }
        TW_RETURN_IF_ERROR(ReadRun(*node->as_table(), origin + " [run]", config.run));
    }
    if (const toml::node* node = root.get("tenants")) {
        const toml::array* list = node->as_array();
        if (list == nullptr || list->empty()) {
            return TypeError(origin, "tenants", "a non-empty array of tenant names");
        }
        config.tenants.clear();
        for (const toml::node& item : *list) {
            auto name = item.value<std::string>();
            if (!name || !ValidTenantName(*name)) {
                return TypeError(origin, "tenants", "an array of tenant names ([a-z0-9_-])");
            }
            if (std::find(config.tenants.begin(), config.tenants.end(), *name) !=
                config.tenants.end()) {
                return Error(EINVAL, origin + ": tenant '" + *name + "' is listed twice");
            }
            config.tenants.push_back(*name);
        }
    }
    // Relative directories would depend on where each command happens to run, and the agent
    // and its runners run from different places.
    for (const auto& [key, dir] : {std::pair{"state_dir", &config.state_dir},
                                   std::pair{"run_dir", &config.run_dir}}) {
        if (dir->empty() || (*dir)[0] != '/') {
            return TypeError(origin, key, "an absolute path");
        }
    }
    // The longest socket the agent makes there must fit in sun_path (108 bytes with the NUL).
    if (config.run_dir.size() + std::string_view("/system-vm.sock").size() >= 108) {
        return TypeError(origin, "run_dir", "a path shorter than 92 bytes (it holds sockets)");
    }
    return config;
}

Result<AgentConfig> LoadConfig(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return Error::FromErrno("cannot read config " + path);
    }
    std::ostringstream text;
    text << in.rdbuf();
    return ParseConfig(text.str(), path);
}

}  // namespace tw::agent
