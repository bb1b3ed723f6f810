// Helpers shared by the I/O server's tests: a scratch tenants directory and a server running
// on its own thread behind a link.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "system_vm/io_server.h"
#include "transport/link.h"

namespace tw::system_vm::testing {

// A fresh directory under /tmp, removed with everything in it at the end of the test.
class TempDir {
public:
    TempDir() {
        std::string tmpl = "/tmp/tw-io-server-XXXXXX";
        char* p = mkdtemp(tmpl.data());
        EXPECT_NE(p, nullptr);
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

inline void WriteFile(const std::string& path, const std::string& content) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << content;
    ASSERT_TRUE(f.good()) << path;
}

inline std::string ReadFile(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

inline bool Exists(const std::string& path) {
    std::error_code ec;
    return std::filesystem::exists(std::filesystem::symlink_status(path, ec));
}

enum class LinkKind { kInProcess, kSocketStream };

inline std::string LinkKindName(const ::testing::TestParamInfo<LinkKind>& info) {
    return info.param == LinkKind::kInProcess ? "InProcess" : "SocketStream";
}

// Two connected links of the given kind: {client end, server end}.
inline std::pair<std::unique_ptr<transport::Link>, std::unique_ptr<transport::Link>> MakeLinks(
    LinkKind kind) {
    if (kind == LinkKind::kInProcess) {
        return transport::MakeInProcessPair();
    }
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    return {transport::MakeStreamLink(UniqueFd(fds[0])),
            transport::MakeStreamLink(UniqueFd(fds[1]))};
}

// An IoServer serving one link on a thread; the destructor waits for Serve() to return, which
// it does once the client side closes.
class ServerThread {
public:
    ServerThread(const std::string& tenants_dir, std::unique_ptr<transport::Link> link)
        : server_(tenants_dir), link_(std::move(link)) {
        thread_ = std::thread([this] { result_ = server_.Serve(*link_); });
    }
    ~ServerThread() { Join(); }

    void Join() {
        if (thread_.joinable()) {
            thread_.join();
        }
    }
    const Result<void>& result() const { return result_; }
    IoServer& server() { return server_; }

private:
    IoServer server_;
    std::unique_ptr<transport::Link> link_;
    Result<void> result_;
    std::thread thread_;
};

}  // namespace tw::system_vm::testing
