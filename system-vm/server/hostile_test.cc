// A hostile client: raw bytes and hand-made frames on a socket to the server. Every frame gets
// an error reply or the link is closed; the server never crashes, hangs or leaves the root.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <random>

#include "test_util.h"
#include "transport/codec.h"

namespace tw::system_vm {
namespace {

using testing::ServerThread;
using testing::TempDir;
using testing::WriteFile;
using transport::Frame;
using transport::FrameHeader;
using transport::MsgType;

class HostileTest : public ::testing::Test {
protected:
    void SetUp() override {
        tenants_ = dir_.path() + "/tenants";
        root_ = tenants_ + "/t";
        ASSERT_EQ(mkdir(tenants_.c_str(), 0755), 0);
        ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
        WriteFile(root_ + "/file", "data");
        WriteFile(dir_.path() + "/MARKER", "outside");

        int fds[2];
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        raw_.Reset(fds[0]);
        server_ =
            std::make_unique<ServerThread>(tenants_, transport::MakeStreamLink(UniqueFd(fds[1])));
    }

    void TearDown() override {
        raw_.Reset();
        server_.reset();
        EXPECT_EQ(testing::ReadFile(dir_.path() + "/MARKER"), "outside");
    }

    void SendRaw(const void* data, size_t len) {
        const char* p = static_cast<const char*>(data);
        while (len > 0) {
            ssize_t n = send(raw_.get(), p, len, MSG_NOSIGNAL);
            ASSERT_GT(n, 0) << std::strerror(errno);
            p += n;
            len -= static_cast<size_t>(n);
        }
    }

    void SendFrame(FrameHeader h, std::span<const std::byte> payload) {
        h.payload_len = static_cast<uint32_t>(payload.size());
        SendRaw(&h, sizeof(h));
        if (!payload.empty()) {
            SendRaw(payload.data(), payload.size());
        }
    }

    static FrameHeader Header(uint16_t type, uint32_t session, uint64_t id) {
        return transport::MakeRequestFrame(static_cast<MsgType>(type), session, id, {}).header;
    }

    // Reads exactly `len` bytes, or fails the test after 10 s (a hung server).
    bool RecvExact(void* out, size_t len) {
        char* p = static_cast<char*>(out);
        while (len > 0) {
            pollfd pfd{.fd = raw_.get(), .events = POLLIN, .revents = 0};
            if (poll(&pfd, 1, 10000) != 1) {
                ADD_FAILURE() << "server did not answer within 10 s";
                return false;
            }
            ssize_t n = recv(raw_.get(), p, len, 0);
            if (n <= 0) {
                return false;
            }
            p += n;
            len -= static_cast<size_t>(n);
        }
        return true;
    }

    // The next reply: its header and result; false if the server closed the link.
    bool RecvReply(FrameHeader* h, int64_t* result, std::vector<std::byte>* data = nullptr) {
        if (!RecvExact(h, sizeof(*h))) {
            return false;
        }
        EXPECT_EQ(transport::ValidateHeader(*h), 0);
        std::vector<std::byte> payload(h->payload_len);
        if (!RecvExact(payload.data(), payload.size())) {
            return false;
        }
        transport::Reply reply;
        EXPECT_EQ(transport::DecodeReply(payload, &reply), 0);
        *result = reply.result;
        if (data != nullptr) {
            data->assign(reply.data.begin(), reply.data.end());
        }
        return true;
    }

    // Sends one request and returns its result, checking the reply echoes the request.
    int64_t Call(uint16_t type, uint32_t session, std::span<const std::byte> payload,
                 std::vector<std::byte>* data = nullptr) {
        uint64_t id = ++next_id_;
        SendFrame(Header(type, session, id), payload);
        FrameHeader h;
        int64_t result = 0;
        if (!RecvReply(&h, &result, data)) {
            ADD_FAILURE() << "link closed instead of a reply to type " << type;
            return INT64_MIN;
        }
        EXPECT_EQ(h.type, type | transport::kReplyBit);
        EXPECT_EQ(h.request_id, id);
        EXPECT_EQ(h.session_id, session);
        return result;
    }

    int64_t Call(const transport::Request& req, uint32_t session,
                 std::vector<std::byte>* data = nullptr) {
        return Call(static_cast<uint16_t>(req.type), session, transport::EncodeRequest(req), data);
    }

    void OpenSession(uint32_t session) {
        ASSERT_EQ(Call({.type = MsgType::kSessionOpen, .path = "t"}, session), 0);
    }

    // True when the server has closed its end (EOF within 10 s).
    bool ServerClosed() {
        char c;
        return !RecvExact(&c, 1);
    }

    TempDir dir_;
    std::string tenants_;
    std::string root_;
    UniqueFd raw_;
    std::unique_ptr<ServerThread> server_;
    uint64_t next_id_ = 0;
};

TEST_F(HostileTest, RandomBytesCloseTheLink) {
    std::mt19937 rng(1234);
    std::vector<uint8_t> junk(4096);
    for (auto& b : junk) {
        b = static_cast<uint8_t>(rng());
    }
    SendRaw(junk.data(), junk.size());
    EXPECT_TRUE(ServerClosed());
    server_->Join();
    ASSERT_FALSE(server_->result().ok());
    EXPECT_EQ(server_->result().error().err(), EPROTO);
}

TEST_F(HostileTest, OversizedLengthClosesTheLink) {
    FrameHeader h = Header(static_cast<uint16_t>(MsgType::kHello), 0, 1);
    h.payload_len = 0xFFFFFFF0;
    SendRaw(&h, sizeof(h));
    EXPECT_TRUE(ServerClosed());
    server_->Join();
    EXPECT_EQ(server_->result().error().err(), EPROTO);
}

TEST_F(HostileTest, OtherAbiVersionClosesTheLink) {
    FrameHeader h = Header(static_cast<uint16_t>(MsgType::kHello), 0, 1);
    h.version = 2;
    SendRaw(&h, sizeof(h));
    EXPECT_TRUE(ServerClosed());
}

TEST_F(HostileTest, TruncatedFrameThenHangupEndsServeCleanly) {
    FrameHeader h = Header(static_cast<uint16_t>(MsgType::kWrite), 1, 1);
    h.payload_len = 1000;
    SendRaw(&h, sizeof(h));
    SendRaw("abc", 3);
    raw_.Reset();
    server_->Join();
    EXPECT_TRUE(server_->result().ok());
}

TEST_F(HostileTest, RandomPayloadsOnEveryTypeGetReplies) {
    OpenSession(1);
    std::mt19937 rng(99);
    for (int i = 0; i < 3000; ++i) {
        // Types around and inside the defined range, on the open session, the control session
        // and a session never opened; payloads of random bytes and random lengths.
        uint16_t type = static_cast<uint16_t>(rng() % 60);
        if (type == static_cast<uint16_t>(MsgType::kShutdown) ||
            type == static_cast<uint16_t>(MsgType::kSessionClose)) {
            continue;  // both legitimately end what this loop exercises
        }
        uint32_t sessions[] = {0, 1, 2};
        uint32_t session = sessions[rng() % 3];
        std::vector<std::byte> payload(rng() % 64);
        for (auto& b : payload) {
            b = static_cast<std::byte>(rng());
        }
        int64_t r = Call(type, session, payload);
        ASSERT_NE(r, INT64_MIN) << "i=" << i;
        EXPECT_GE(r, -4095);
    }
}

TEST_F(HostileTest, WellFormedFramesWithHostileFields) {
    OpenSession(1);
    std::mt19937 rng(7);
    int32_t handles[] = {0, 1, -1, AT_FDCWD, INT32_MAX, INT32_MIN, 1023, 1024, 65536};
    for (int i = 0; i < 3000; ++i) {
        transport::Request req;
        req.type = static_cast<MsgType>(32 + rng() % 21);  // every file call
        req.handle = handles[rng() % std::size(handles)];
        req.handle2 = handles[rng() % std::size(handles)];
        req.flags = static_cast<int32_t>(rng());
        req.arg = rng() % 3 == 0 ? static_cast<uint32_t>(rng()) : rng() % 512;
        req.offset = static_cast<int64_t>(rng()) * (rng() % 2 ? -1 : 1);
        static const char* kPaths[] = {"",     "/",       "..",     "../../MARKER",
                                       "file", "/file/",  "x/y/z",  "/proc/self/root",
                                       ".",    "new-dir", "//..//", "file/.."};
        req.path = kPaths[rng() % std::size(kPaths)];
        req.path2 = kPaths[rng() % std::size(kPaths)];
        std::string data(rng() % 100, 'w');
        req.data = std::as_bytes(std::span(data.data(), data.size()));
        if (req.type == MsgType::kRead || req.type == MsgType::kPread ||
            req.type == MsgType::kGetdents64) {
            req.arg %= transport::kMaxData + 1;
        }
        int64_t r = Call(req, 1);
        ASSERT_NE(r, INT64_MIN) << "i=" << i;
        EXPECT_GE(r, -4095);
    }
}

TEST_F(HostileTest, HugeHandleNumbersAreEbadf) {
    OpenSession(1);
    for (int32_t h : {INT32_MAX, INT32_MIN, -1, 1024, 4096, 1 << 20}) {
        EXPECT_EQ(Call({.type = MsgType::kRead, .handle = h, .arg = 10}, 1), -EBADF) << h;
        EXPECT_EQ(Call({.type = MsgType::kClose, .handle = h}, 1), -EBADF) << h;
        EXPECT_EQ(Call({.type = MsgType::kFstat, .handle = h}, 1), -EBADF) << h;
        EXPECT_EQ(Call({.type = MsgType::kOpenAt, .handle = h, .path = "file"}, 1), -EBADF) << h;
    }
    EXPECT_EQ(Call({.type = MsgType::kRead, .handle = AT_FDCWD, .arg = 10}, 1), -EBADF);
}

TEST_F(HostileTest, PathWithNulIsEinval) {
    OpenSession(1);
    std::string path("file\0/../../MARKER", 18);
    EXPECT_EQ(Call({.type = MsgType::kOpenAt, .handle = AT_FDCWD, .path = path}, 1), -EINVAL);
    EXPECT_EQ(Call({.type = MsgType::kRenameAt2,
                    .handle = AT_FDCWD,
                    .handle2 = AT_FDCWD,
                    .path = "file",
                    .path2 = path},
                   1),
              -EINVAL);
    EXPECT_TRUE(testing::Exists(root_ + "/file"));
}

TEST_F(HostileTest, LyingLengthsAreEinval) {
    OpenSession(1);
    transport::ByteWriter w;
    w.Put(transport::PathRequest{.dir = AT_FDCWD, .flags = 0, .arg = 0, .path_len = 100000});
    w.PutString("file");
    EXPECT_EQ(Call(static_cast<uint16_t>(MsgType::kOpenAt), 1, w.Take()), -EINVAL);

    transport::ByteWriter w2;
    w2.Put(transport::IoRequest{.handle = 0, .count = 0xFFFFFFFF, .offset = 0});
    EXPECT_EQ(Call(static_cast<uint16_t>(MsgType::kRead), 1, w2.Take()), -EINVAL);

    transport::ByteWriter w3;
    w3.Put(transport::RenameRequest{.old_dir = AT_FDCWD,
                                    .new_dir = AT_FDCWD,
                                    .flags = 0,
                                    .old_len = 2,
                                    .new_len = 0xFFFFFFFE,
                                    .reserved = 0});
    w3.PutString("abcd");
    EXPECT_EQ(Call(static_cast<uint16_t>(MsgType::kRenameAt2), 1, w3.Take()), -EINVAL);

    std::vector<std::byte> truncated =
        transport::EncodeRequest({.type = MsgType::kStatAt, .handle = AT_FDCWD, .path = "file"});
    truncated.resize(truncated.size() - 2);
    EXPECT_EQ(Call(static_cast<uint16_t>(MsgType::kStatAt), 1, truncated), -EINVAL);
}

TEST_F(HostileTest, SessionRules) {
    // Never opened: ENOTCONN.
    EXPECT_EQ(Call({.type = MsgType::kRead, .handle = 0, .arg = 1}, 42), -ENOTCONN);
    EXPECT_EQ(Call({.type = MsgType::kSessionClose}, 42), -ENOTCONN);
    // File calls and session management on the control session: EINVAL.
    EXPECT_EQ(Call({.type = MsgType::kSessionOpen, .path = "t"}, 0), -EINVAL);
    EXPECT_EQ(Call({.type = MsgType::kGetcwd}, 0), -EINVAL);
    // Control calls on a file session: EINVAL.
    EXPECT_EQ(Call({.type = MsgType::kShutdown}, 5), -EINVAL);
    EXPECT_EQ(Call({.type = MsgType::kTenantList}, 5), -EINVAL);
    // Tenant names.
    EXPECT_EQ(Call({.type = MsgType::kSessionOpen, .path = "nobody"}, 3), -ENOENT);
    EXPECT_EQ(
        Call(static_cast<uint16_t>(MsgType::kSessionOpen), 3, std::as_bytes(std::span("..", 2))),
        -EINVAL);
    EXPECT_EQ(Call(static_cast<uint16_t>(MsgType::kSessionOpen), 3,
                   std::as_bytes(std::span("t/../..", 7))),
              -EINVAL);
    EXPECT_EQ(Call(static_cast<uint16_t>(MsgType::kSessionOpen), 3, {}), -EINVAL);
    // Open twice: EEXIST. Close then use: ENOTCONN.
    OpenSession(3);
    EXPECT_EQ(Call({.type = MsgType::kSessionOpen, .path = "t"}, 3), -EEXIST);
    EXPECT_EQ(Call({.type = MsgType::kSessionClose}, 3), 0);
    EXPECT_EQ(Call({.type = MsgType::kGetcwd}, 3), -ENOTCONN);
}

TEST_F(HostileTest, HandlesArePrivateToTheirSession) {
    OpenSession(1);
    OpenSession(2);
    int64_t h = Call({.type = MsgType::kOpenAt, .handle = AT_FDCWD, .path = "file"}, 1);
    ASSERT_EQ(h, 0);
    EXPECT_EQ(Call({.type = MsgType::kRead, .handle = 0, .arg = 4}, 2), -EBADF);
    std::vector<std::byte> data;
    EXPECT_EQ(Call({.type = MsgType::kRead, .handle = 0, .arg = 4}, 1, &data), 4);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(data.data()), data.size()), "data");
    // Each session has its own working directory.
    ASSERT_EQ(mkdir((root_ + "/d").c_str(), 0755), 0);
    EXPECT_EQ(Call({.type = MsgType::kChdirAt, .handle = AT_FDCWD, .path = "d"}, 1), 0);
    EXPECT_EQ(Call({.type = MsgType::kGetcwd}, 1, &data), 3);
    EXPECT_EQ(Call({.type = MsgType::kGetcwd}, 2, &data), 2);
}

TEST_F(HostileTest, RepliesAndFlagsSentToTheServerAreRefused) {
    OpenSession(1);
    uint16_t reply_type = transport::ReplyType(MsgType::kGetcwd);
    EXPECT_EQ(Call(reply_type, 1, transport::EncodeReply(0)), -EINVAL);
    FrameHeader h = Header(static_cast<uint16_t>(MsgType::kGetcwd), 1, 777);
    h.flags = 1;
    SendFrame(h, {});
    FrameHeader rh;
    int64_t result = 0;
    ASSERT_TRUE(RecvReply(&rh, &result));
    EXPECT_EQ(result, -EINVAL);
    EXPECT_EQ(rh.request_id, 777u);
}

TEST_F(HostileTest, UnknownTypesAreEnosys) {
    EXPECT_EQ(Call(0, 1, {}), -ENOSYS);
    EXPECT_EQ(Call(53, 1, {}), -ENOSYS);
    EXPECT_EQ(Call(0x7fff, 0, {}), -ENOSYS);
}

TEST_F(HostileTest, OversizedReadCountsAreBoundedByTheCodec) {
    OpenSession(1);
    ASSERT_EQ(Call({.type = MsgType::kOpenAt, .handle = AT_FDCWD, .path = "file"}, 1), 0);
    std::vector<std::byte> data;
    EXPECT_EQ(Call({.type = MsgType::kRead, .handle = 0, .arg = transport::kMaxData}, 1, &data), 4);
    EXPECT_EQ(
        Call({.type = MsgType::kReadlinkAt, .handle = AT_FDCWD, .arg = 0xFFFFFFFF, .path = "file"},
             1),
        -EINVAL);
}

}  // namespace
}  // namespace tw::system_vm
