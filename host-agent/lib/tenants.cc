#include "host_agent/tenants.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace tw::agent {
namespace fs = std::filesystem;
namespace {

// Debian's busybox-static: the seed of the default tenant in every isolation mode.
constexpr const char* kBusybox = "/bin/busybox";

Result<void> MakeDirs(const fs::path& dir, fs::perms perms) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
        return Error(ec.value(), "create " + dir.string());
    }
    fs::permissions(dir, perms, ec);
    if (ec) {
        return Error(ec.value(), "chmod " + dir.string());
    }
    return Ok();
}

}  // namespace

Result<void> EnsureInProcessTenant(const AgentConfig& config, const std::string& tenant) {
    if (!ValidTenantName(tenant) ||
        std::find(config.tenants.begin(), config.tenants.end(), tenant) == config.tenants.end()) {
        return Error(ENOENT, "unknown tenant '" + tenant + "'");
    }
    fs::path root = fs::path(config.InProcessTenantsDir()) / tenant;
    if (fs::exists(root)) {
        return Ok();
    }

    // Build the tree beside its final name and rename it into place, so a crash half-way
    // never leaves a tenant without its seed.
    fs::path staging = root.string() + ".new";
    std::error_code ec;
    fs::remove_all(staging, ec);
    TW_RETURN_IF_ERROR(MakeDirs(config.InProcessTenantsDir(), fs::perms::owner_all));
    TW_RETURN_IF_ERROR(MakeDirs(staging / "bin", fs::perms(0755)));
    TW_RETURN_IF_ERROR(MakeDirs(staging / "home", fs::perms(0755)));
    TW_RETURN_IF_ERROR(MakeDirs(staging / "tmp", fs::perms(01777)));
    if (tenant == "default") {
        fs::copy_file(kBusybox, staging / "bin" / "busybox", ec);
        if (ec) {
            return Error(ec.value(), std::string("seed default tenant from ") + kBusybox);
        }
    }
    fs::permissions(staging, fs::perms(0755), ec);
    fs::rename(staging, root, ec);
    if (ec) {
        return Error(ec.value(), "install tenant root " + root.string());
    }
    return Ok();
}

Result<void> EnsureSystemVmDisk(const AgentConfig& config) {
    fs::path disk = config.SystemVmDisk();
    if (fs::exists(disk)) {
        return Ok();
    }
    fs::path image = fs::path(config.system_vm.image_dir) / "tenants.img";
    if (!fs::exists(image)) {
        return Error(ENOENT, "no tenant disk template at " + image.string() +
                                 " (build the images: cmake --build build --target images)");
    }
    TW_RETURN_IF_ERROR(MakeDirs(disk.parent_path(), fs::perms::owner_all));
    fs::path partial = disk.string() + ".partial";
    std::error_code ec;
    fs::copy_file(image, partial, fs::copy_options::overwrite_existing, ec);
    if (ec) {
        return Error(ec.value(), "copy " + image.string() + " to " + partial.string());
    }
    fs::rename(partial, disk, ec);
    if (ec) {
        return Error(ec.value(), "install " + disk.string());
    }
    return Ok();
}

}  // namespace tw::agent
