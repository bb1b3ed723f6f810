#include "daemon/mux.h"

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "system_vm/io_server.h"
#include "common/unique_fd.h"
#include "transport/codec.h"
#include "transport/file_client.h"

namespace tw::agent {
namespace {

namespace fs = std::filesystem;
using transport::Frame;
using transport::MsgType;

// A real I/O server on an in-process link stands in for the System VM: the mux only sees
// frames, so this exercises the same routing the agent does over virtio-serial.
class MuxTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("mux_test_" + std::to_string(::getpid()));
        fs::create_directories(dir_ / "alpha");
        fs::create_directories(dir_ / "beta");
        std::ofstream(dir_ / "alpha" / "secret") << "alpha's data";

        auto [up_client, up_server] = transport::MakeInProcessPair();
        upstream_ = std::move(up_client);
        server_link_ = std::move(up_server);
        server_ = std::thread([this] { (void)system_vm::IoServer(dir_.string()).Serve(*server_link_); });
        mux_ = std::make_unique<SessionMux>(upstream_, std::set<std::string>{"alpha", "beta"});
        ASSERT_TRUE(mux_->Start().ok());
    }

    void TearDown() override {
        mux_->Stop();
        server_link_->Close();
        upstream_->Close();
        server_.join();
        for (auto& t : client_threads_) {
            t.join();
        }
        mux_.reset();
        fs::remove_all(dir_);
    }

    // Connects a client to the mux and returns its end.
    std::unique_ptr<transport::Link> Connect() {
        auto [client_end, mux_end] = transport::MakeInProcessPair();
        std::shared_ptr<transport::Link> shared(std::move(mux_end));
        client_threads_.emplace_back([this, shared] { mux_->ServeClient(shared); });
        return std::move(client_end);
    }

    fs::path dir_;
    std::shared_ptr<transport::Link> upstream_;
    std::unique_ptr<transport::Link> server_link_;
    std::thread server_;
    std::unique_ptr<SessionMux> mux_;
    std::vector<std::thread> client_threads_;
};

TEST_F(MuxTest, TwoClientsWithTheSameSessionIdStayApart) {
    auto a = transport::FileClient::Open(Connect(), /*session_id=*/1, "alpha");
    auto b = transport::FileClient::Open(Connect(), /*session_id=*/1, "beta");
    ASSERT_TRUE(a.ok()) << a.error().ToString();
    ASSERT_TRUE(b.ok()) << b.error().ToString();

    int64_t h = (*a)->OpenAt(transport::kCwdHandle, "/secret", O_RDONLY, 0);
    ASSERT_GE(h, 0);
    std::byte buf[64];
    EXPECT_EQ((*a)->Read(static_cast<transport::Handle>(h), buf), 12);
    EXPECT_EQ(std::memcmp(buf, "alpha's data", 12), 0);

    // The same handle number means nothing in beta's session, and beta's root has no secret.
    EXPECT_LT((*b)->Read(static_cast<transport::Handle>(h), buf), 0);
    EXPECT_EQ((*b)->OpenAt(transport::kCwdHandle, "/secret", O_RDONLY, 0), -ENOENT);
    EXPECT_EQ((*b)->OpenAt(transport::kCwdHandle, "../alpha/secret", O_RDONLY, 0), -ENOENT);
}

TEST_F(MuxTest, ClientsCannotSendControlMessages) {
    auto link = Connect();
    Frame shutdown;
    shutdown.header.magic = transport::kMagic;
    shutdown.header.version = transport::kAbiVersion;
    shutdown.header.type = static_cast<uint16_t>(MsgType::kShutdown);
    shutdown.header.request_id = 42;
    ASSERT_TRUE(link->Send(shutdown).ok());

    auto reply = link->Receive();
    ASSERT_TRUE(reply.ok());
    EXPECT_EQ(reply->header.request_id, 42u);
    int64_t result = 0;
    ASSERT_GE(reply->payload.size(), sizeof(result));
    std::memcpy(&result, reply->payload.data(), sizeof(result));
    EXPECT_EQ(result, -EPERM);
    EXPECT_EQ(mux_->refused(), 1u);

    // The server is still serving: a new session works.
    auto c = transport::FileClient::Open(Connect(), 5, "alpha");
    EXPECT_TRUE(c.ok());
}

TEST_F(MuxTest, AgentControlCallReachesTheServer) {
    auto reply = mux_->Call(MsgType::kTenantList, {}, std::chrono::seconds(5));
    ASSERT_TRUE(reply.ok()) << reply.error().ToString();
    int64_t count = 0;
    ASSERT_GE(reply->payload.size(), sizeof(count));
    std::memcpy(&count, reply->payload.data(), sizeof(count));
    EXPECT_EQ(count, 2);
}

TEST_F(MuxTest, SessionsOnlyForTheAgentsTenants) {
    // "gamma" exists on the server's disk but the agent does not serve it.
    fs::create_directories(dir_ / "gamma");
    auto gamma = transport::FileClient::Open(Connect(), 1, "gamma");
    ASSERT_FALSE(gamma.ok());
    EXPECT_EQ(gamma.error().err(), ENOENT);
    EXPECT_EQ(mux_->refused(), 1u);
    EXPECT_TRUE(transport::FileClient::Open(Connect(), 1, "alpha").ok());
}

// A client on a real socket that asks for far more than it reads is cut off; a client beside
// it keeps being served meanwhile, because replies never wait on a slow client.
TEST_F(MuxTest, ClientThatStopsReadingIsCutOffAndOthersCarryOn) {
    std::ofstream(dir_ / "alpha" / "big") << std::string(256 * 1024, 'x');
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    UniqueFd hog_end(fds[0]);
    std::shared_ptr<transport::Link> mux_end = transport::MakeStreamLink(UniqueFd(fds[1]));
    client_threads_.emplace_back([this, mux_end] { mux_->ServeClient(mux_end); });
    auto hog = transport::MakeStreamLink(std::move(hog_end));

    auto send = [&](MsgType type, uint64_t id, const transport::Request& req) {
        return hog->Send(transport::MakeRequestFrame(type, 1, id, transport::EncodeRequest(req)));
    };
    ASSERT_TRUE(send(MsgType::kSessionOpen, 1,
                     {.type = MsgType::kSessionOpen, .path = std::string_view("alpha")})
                    .ok());
    ASSERT_TRUE(hog->Receive().ok());
    ASSERT_TRUE(send(MsgType::kOpenAt, 2,
                     {.type = MsgType::kOpenAt,
                      .handle = transport::kCwdHandle,
                      .flags = O_RDONLY,
                      .path = std::string_view("/big")})
                    .ok());
    auto opened = hog->Receive();
    ASSERT_TRUE(opened.ok());
    transport::Reply decoded;
    ASSERT_EQ(transport::DecodeReply(opened->payload, &decoded), 0);
    ASSERT_GE(decoded.result, 0);
    for (uint64_t id = 3; id < 3 + 64; ++id) {  // 64 x 128 KiB = 8 MiB of replies, unread
        transport::Request read{.type = MsgType::kPread,
                                .handle = static_cast<int32_t>(decoded.result),
                                .arg = transport::kMaxData,
                                .offset = 0};
        if (!send(MsgType::kPread, id, read).ok()) {
            break;
        }
    }

    auto other = transport::FileClient::Open(Connect(), 1, "beta");
    ASSERT_TRUE(other.ok()) << other.error().ToString();
    for (int i = 0; i < 50; ++i) {
        EXPECT_EQ((*other)->FaccessAt(transport::kCwdHandle, "/", R_OK, 0), 0);
    }
    for (int i = 0; i < 500 && mux_->cut_off() == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(mux_->cut_off(), 1u);
}

TEST_F(MuxTest, UpstreamDeathDisconnectsClients) {
    auto link = Connect();
    auto client = transport::FileClient::Open(std::move(link), 1, "alpha");
    ASSERT_TRUE(client.ok());

    server_link_->Close();  // The System VM dies.
    upstream_->Close();
    for (int i = 0; i < 100 && mux_->upstream_alive(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_FALSE(mux_->upstream_alive());
    EXPECT_LT((*client)->OpenAt(transport::kCwdHandle, "/secret", O_RDONLY, 0), 0);
}

}  // namespace
}  // namespace tw::agent
