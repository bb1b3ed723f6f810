// `host-agent cp`: copies a file between the host and a tenant's storage, through the same
// I/O server and protocol a micro-VM uses, so the copy is confined to the tenant root exactly
// as a guest's I/O is. A failed copy never leaves a partial destination: data goes to a
// temporary name first and is renamed into place only when complete.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <random>
#include <vector>

#include "cli/commands.h"
#include "host_agent/session.h"

namespace tw::agent {
namespace {

constexpr size_t kChunk = 128 * 1024;

struct TenantPath {
    std::string tenant;
    std::string path;
};

// "NAME:/PATH" names tenant storage (true); anything else is a host path (false).
bool ParseTenantPath(const std::string& spec, TenantPath& out) {
    size_t colon = spec.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 >= spec.size() ||
        spec[colon + 1] != '/' || spec.find('/') < colon) {
        return false;
    }
    out.tenant = spec.substr(0, colon);
    out.path = spec.substr(colon + 1);
    return true;
}

std::string BaseName(const std::string& path) {
    size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string TempSuffix() {
    std::random_device rd;
    return ".twinwall-cp-" + std::to_string(rd() % 1000000);
}

Result<void> CheckWrite(int64_t n, size_t want, const std::string& what) {
    if (n < 0) {
        return Error(static_cast<int>(-n), what);
    }
    if (static_cast<size_t>(n) != want) {
        return Error(EIO, what + ": short write");
    }
    return Ok();
}

Result<void> HostToTenant(transport::FileClient& client, const std::string& host_path,
                          const std::string& tenant_path) {
    UniqueFd in(::open(host_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) {
        return Error::FromErrno("open " + host_path);
    }
    struct stat st {};
    if (::fstat(in.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        return Error(EINVAL, host_path + " is not a regular file");
    }

    std::string temp = tenant_path + TempSuffix();
    int64_t h = client.OpenAt(transport::kCwdHandle, temp, O_WRONLY | O_CREAT | O_EXCL,
                              st.st_mode & 07777);
    if (h < 0) {
        return Error(static_cast<int>(-h), "create " + temp);
    }
    auto copy = [&]() -> Result<void> {
        std::vector<std::byte> buf(kChunk);
        for (;;) {
            ssize_t n = ::read(in.get(), buf.data(), buf.size());
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                return Error::FromErrno("read " + host_path);
            }
            if (n == 0) {
                break;
            }
            auto chunk = std::span<const std::byte>(buf.data(), static_cast<size_t>(n));
            TW_RETURN_IF_ERROR(CheckWrite(client.Write(static_cast<transport::Handle>(h), chunk),
                                          chunk.size(), "write " + temp));
        }
        int64_t rc = client.Fsync(static_cast<transport::Handle>(h));
        if (rc < 0) {
            return Error(static_cast<int>(-rc), "fsync " + temp);
        }
        return Ok();
    };
    Result<void> copied = copy();
    (void)client.Close(static_cast<transport::Handle>(h));
    if (copied.ok()) {
        int64_t rc = client.RenameAt2(transport::kCwdHandle, temp, transport::kCwdHandle,
                                      tenant_path, 0);
        if (rc == 0) {
            return Ok();
        }
        copied = Error(static_cast<int>(-rc), "rename into " + tenant_path);
    }
    (void)client.UnlinkAt(transport::kCwdHandle, temp, 0);
    return copied;
}

Result<void> TenantToHost(transport::FileClient& client, const std::string& tenant_path,
                          const std::string& host_path) {
    int64_t h = client.OpenAt(transport::kCwdHandle, tenant_path, O_RDONLY, 0);
    if (h < 0) {
        return Error(static_cast<int>(-h), "open " + tenant_path);
    }
    auto handle = static_cast<transport::Handle>(h);
    struct stat st {};
    int64_t rc = client.Fstat(handle, &st);
    if (rc < 0 || !S_ISREG(st.st_mode)) {
        (void)client.Close(handle);
        return Error(rc < 0 ? static_cast<int>(-rc) : EINVAL,
                     tenant_path + " is not a regular file");
    }

    std::string temp = host_path + TempSuffix();
    UniqueFd out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 0777));
    if (!out) {
        (void)client.Close(handle);
        return Error::FromErrno("create " + temp);
    }
    auto copy = [&]() -> Result<void> {
        std::vector<std::byte> buf(kChunk);
        for (;;) {
            int64_t n = client.Read(handle, buf);
            if (n < 0) {
                return Error(static_cast<int>(-n), "read " + tenant_path);
            }
            if (n == 0) {
                break;
            }
            size_t done = 0;
            while (done < static_cast<size_t>(n)) {
                ssize_t w = ::write(out.get(), buf.data() + done, static_cast<size_t>(n) - done);
                if (w < 0 && errno == EINTR) {
                    continue;
                }
                if (w < 0) {
                    return Error::FromErrno("write " + temp);
                }
                done += static_cast<size_t>(w);
            }
        }
        if (::fsync(out.get()) != 0) {
            return Error::FromErrno("fsync " + temp);
        }
        return Ok();
    };
    Result<void> copied = copy();
    (void)client.Close(handle);
    if (copied.ok() && ::rename(temp.c_str(), host_path.c_str()) != 0) {
        copied = Error::FromErrno("rename into " + host_path);
    }
    if (!copied.ok()) {
        ::unlink(temp.c_str());
    }
    return copied;
}

}  // namespace

int CmdCp(const AgentConfig& config, Isolation isolation, const std::string& from,
          const std::string& to) {
    TenantPath src;
    TenantPath dst;
    bool from_tenant = ParseTenantPath(from, src);
    bool to_tenant = ParseTenantPath(to, dst);
    if (from_tenant == to_tenant) {
        std::cerr << "host-agent cp: exactly one side must be TENANT:/PATH "
                     "(e.g. default:/data/in.txt)\n";
        return kExitUsage;
    }
    const std::string& tenant = from_tenant ? src.tenant : dst.tenant;
    if (!ValidTenantName(tenant)) {
        std::cerr << "host-agent cp: '" << tenant
                  << "' is not a tenant name (lower-case letters, digits, '-' and '_')\n";
        return kExitAgentError;
    }
    // A destination that is a directory (a host directory, or a tenant path ending in '/')
    // gets the source's file name, as cp(1) does.
    std::string host_to = to;
    if (from_tenant && std::filesystem::is_directory(to)) {
        host_to = (std::filesystem::path(to) / BaseName(src.path)).string();
    }
    if (to_tenant && dst.path.back() == '/') {
        dst.path += BaseName(from);
    }
    if (std::find(config.tenants.begin(), config.tenants.end(), tenant) == config.tenants.end()) {
        std::cerr << "host-agent cp: unknown tenant '" << tenant << "'\n";
        return kExitAgentError;
    }

    auto session = TenantSession::Open(config, isolation, tenant);
    if (!session.ok()) {
        std::cerr << "host-agent cp: " << session.error().ToString() << "\n";
        return kExitAgentError;
    }
    Result<void> copied = from_tenant ? TenantToHost((*session)->client(), src.path, host_to)
                                      : HostToTenant((*session)->client(), from, dst.path);
    if (!copied.ok()) {
        std::cerr << "host-agent cp: " << copied.error().ToString() << "\n";
        return 1;
    }
    return 0;
}

}  // namespace tw::agent
