#include "host_agent/tenants.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "common/unique_fd.h"

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

// Copies `from` to `to` (created 0600) and keeps its holes: the template disk is mostly
// unallocated ext4, and a plain copy would write hundreds of MiB of zeros on every new state
// dir. The copy is synced before it is used as the disk of record.
Result<void> CopySparse(const fs::path& from, const fs::path& to) {
    UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) {
        return Error::FromErrno("open " + from.string());
    }
    UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!out) {
        return Error::FromErrno("create " + to.string());
    }
    struct stat st {};
    if (::fstat(in.get(), &st) != 0) {
        return Error::FromErrno("stat " + from.string());
    }
    if (::ftruncate(out.get(), st.st_size) != 0) {
        return Error::FromErrno("size " + to.string());
    }

    off_t data = 0;
    while ((data = ::lseek(in.get(), data, SEEK_DATA)) >= 0) {
        off_t hole = ::lseek(in.get(), data, SEEK_HOLE);
        if (hole < 0) {
            return Error::FromErrno("find the end of data in " + from.string());
        }
        off_t in_off = data;
        off_t out_off = data;
        while (in_off < hole) {
            ssize_t n = ::copy_file_range(in.get(), &in_off, out.get(), &out_off,
                                          static_cast<size_t>(hole - in_off), 0);
            if (n < 0) {
                return Error::FromErrno("copy " + from.string() + " to " + to.string());
            }
            if (n == 0) {
                break;  // the template shrank under us; what was copied is all there is
            }
        }
        data = hole;
    }
    if (errno != ENXIO) {  // ENXIO: no data past `data`, the normal end
        return Error::FromErrno("find data in " + from.string());
    }
    if (::fsync(out.get()) != 0) {
        return Error::FromErrno("sync " + to.string());
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
    if (auto copied = CopySparse(image, partial); !copied.ok()) {
        fs::remove(partial, ec);  // a full disk must not leave a half disk behind
        return copied;
    }
    fs::rename(partial, disk, ec);
    if (ec) {
        return Error(ec.value(), "install " + disk.string());
    }
    return Ok();
}

}  // namespace tw::agent
