// The shared fixture of the host-agent end-to-end tests: one agent with one real System VM
// (TCG on these machines), booted once for the whole binary, on a tenant disk the tests build
// themselves so that it holds their data and their symlink traps.
//
// Tenants: `default` (busybox, the C++ probes, data/, traps/), `other` (a secret that default
// must never read), and `empty` (configured, with no storage anywhere).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "subprocess.h"
#include "test_data.h"

namespace tw::test {

namespace fs = std::filesystem;

extern const fs::path kWork;        // Private to this binary; wiped at start.
extern const std::string kAgent;    // the host-agent binary

std::string ConfigPath();

// `host-agent --config ConfigPath() ARGS...`.
Outcome Agent(std::vector<std::string> args, const std::string& input = "", int timeout = 300);

// The host copy of tenant `default`'s initial tree, for native runs of the same commands.
fs::path HostTree();

// The in-process storage of a tenant, which the environment fills like the System VM disk.
fs::path InProcessTenant(const std::string& tenant);

std::string Sha256Hex(const fs::path& file);


// The C++ probe built -static and -static-pie (also copied into tenant default's /bin).
extern const std::string kCxxStatic;
extern const std::string kCxxPie;

}  // namespace tw::test
