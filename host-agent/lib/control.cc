#include "host_agent/control.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace tw::agent {
namespace {

constexpr size_t kMaxLine = 64 * 1024;

Result<sockaddr_un> UnixAddress(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
        return Error(ENAMETOOLONG, "socket path too long: " + path);
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

}  // namespace

Result<UniqueFd> ConnectUnix(const std::string& path) {
    TW_ASSIGN_OR_RETURN(sockaddr_un addr, UnixAddress(path));
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        return Error::FromErrno("socket");
    }
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        return Error::FromErrno("connect " + path);
    }
    return fd;
}

Result<UniqueFd> ListenUnix(const std::string& path) {
    TW_ASSIGN_OR_RETURN(sockaddr_un addr, UnixAddress(path));
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        return Error::FromErrno("socket");
    }
    // The caller holds the agent lock, so a socket file left here is stale.
    ::unlink(path.c_str());
    mode_t old_mask = ::umask(0177);
    int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::umask(old_mask);
    if (rc != 0) {
        return Error::FromErrno("bind " + path);
    }
    if (::listen(fd.get(), 64) != 0) {
        return Error::FromErrno("listen " + path);
    }
    return fd;
}

Result<std::string> ReadLine(int fd, std::chrono::milliseconds timeout) {
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return Error(ETIMEDOUT, "no reply on control socket");
        }
        pollfd pfd{fd, POLLIN, 0};
        int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready < 0) {
            return Error::FromErrno("poll control socket");
        }
        if (ready == 0) {
            continue;
        }
        char buf[4096];
        ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_PEEK);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return Error::FromErrno("read control socket");
        }
        if (n == 0) {
            return Error(EPIPE, "control socket closed");
        }
        // Consume up to and including the newline only, so no byte of a next line is lost.
        const char* nl = static_cast<const char*>(std::memchr(buf, '\n', static_cast<size_t>(n)));
        size_t take = nl ? static_cast<size_t>(nl - buf) + 1 : static_cast<size_t>(n);
        ssize_t got = ::recv(fd, buf, take, 0);
        if (got < 0) {
            return Error::FromErrno("read control socket");
        }
        line.append(buf, static_cast<size_t>(got));
        if (!line.empty() && line.back() == '\n') {
            line.pop_back();
            return line;
        }
        if (line.size() > kMaxLine) {
            return Error(EMSGSIZE, "control line over 64 KiB");
        }
    }
}

Result<void> WriteAll(int fd, const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return Error::FromErrno("write control socket");
        }
        done += static_cast<size_t>(n);
    }
    return Ok();
}

Result<boost::json::object> ControlCall(const std::string& socket_path,
                                        const boost::json::object& request,
                                        std::chrono::milliseconds timeout) {
    TW_ASSIGN_OR_RETURN(UniqueFd fd, ConnectUnix(socket_path));
    TW_RETURN_IF_ERROR(WriteAll(fd.get(), boost::json::serialize(request) + "\n"));
    TW_ASSIGN_OR_RETURN(std::string line, ReadLine(fd.get(), timeout));

    boost::system::error_code ec;
    boost::json::value reply = boost::json::parse(line, ec);
    if (ec || !reply.is_object()) {
        return Error(EPROTO, "malformed reply on control socket");
    }
    return reply.as_object();
}

}  // namespace tw::agent
