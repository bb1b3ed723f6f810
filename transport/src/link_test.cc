#include "transport/link.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "transport/codec.h"

namespace tw::transport {
namespace {

// SIGPIPE at its default action kills the test binary, so a link that lets one through fails
// the test loudly instead of passing by accident.
class DefaultSigpipe {
public:
    DefaultSigpipe() { old_ = signal(SIGPIPE, SIG_DFL); }
    ~DefaultSigpipe() { signal(SIGPIPE, old_); }

private:
    sighandler_t old_;
};

std::pair<UniqueFd, UniqueFd> SocketPair() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::pair<UniqueFd, UniqueFd> Pipe() {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};  // read end, write end
}

Frame TestFrame(uint64_t id, size_t payload_size) {
    std::vector<std::byte> payload(payload_size);
    for (size_t i = 0; i < payload_size; ++i) {
        payload[i] = static_cast<std::byte>((i * 7 + id) & 0xff);
    }
    return MakeRequestFrame(MsgType::kWrite, 5, id, std::move(payload));
}

void WriteAllRaw(int fd, const void* data, size_t len) {
    const char* p = static_cast<const char*>(data);
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        ASSERT_GT(n, 0);
        p += n;
        len -= static_cast<size_t>(n);
    }
}

// ---------------------------------------------------------------------------------------------
// In-process link.

TEST(InProcessLink, DeliversFramesBothWays) {
    auto [a, b] = MakeInProcessPair();
    ASSERT_TRUE(a->Send(TestFrame(1, 10)).ok());
    ASSERT_TRUE(b->Send(TestFrame(2, 20)).ok());
    Result<Frame> at_b = b->Receive();
    Result<Frame> at_a = a->Receive();
    ASSERT_TRUE(at_b.ok());
    ASSERT_TRUE(at_a.ok());
    EXPECT_EQ(at_b->header.request_id, 1u);
    EXPECT_EQ(at_b->payload, TestFrame(1, 10).payload);
    EXPECT_EQ(at_a->header.request_id, 2u);
    EXPECT_EQ(at_a->header.payload_len, 20u);
}

TEST(InProcessLink, CloseWakesBlockedReceiverWithEpipe) {
    auto [a, b] = MakeInProcessPair();
    std::thread closer([&a = a] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        a->Close();
    });
    Result<Frame> r = b->Receive();
    closer.join();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().err(), EPIPE);
    EXPECT_EQ(a->Send(TestFrame(1, 0)).error().err(), EPIPE);
    EXPECT_EQ(b->Send(TestFrame(1, 0)).error().err(), EPIPE);
}

TEST(InProcessLink, FramesSentBeforeCloseAreStillDelivered) {
    auto [a, b] = MakeInProcessPair();
    ASSERT_TRUE(a->Send(TestFrame(7, 3)).ok());
    a.reset();  // destroying an end closes it
    Result<Frame> r = b->Receive();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->header.request_id, 7u);
    EXPECT_EQ(b->Receive().error().err(), EPIPE);
}

TEST(InProcessLink, OversizedPayloadIsRefused) {
    auto [a, b] = MakeInProcessPair();
    EXPECT_EQ(a->Send(TestFrame(1, kMaxPayload + 1)).error().err(), EMSGSIZE);
}

// ---------------------------------------------------------------------------------------------
// Stream link.

TEST(StreamLink, RoundTripsFramesOverSocketpair) {
    auto [x, y] = SocketPair();
    auto a = MakeStreamLink(std::move(x));
    auto b = MakeStreamLink(std::move(y));
    for (size_t size : {size_t{0}, size_t{1}, size_t{31}, size_t{4096}, size_t{kMaxPayload}}) {
        Frame sent = TestFrame(size, size);
        std::thread sender([&a = a, &sent] { ASSERT_TRUE(a->Send(sent).ok()); });
        Result<Frame> got = b->Receive();
        sender.join();
        ASSERT_TRUE(got.ok()) << got.error().ToString();
        EXPECT_EQ(got->header.request_id, size);
        EXPECT_EQ(got->header.type, sent.header.type);
        EXPECT_EQ(got->header.session_id, 5u);
        EXPECT_EQ(got->payload, sent.payload);
    }
}

// The agent bounds how long a reply may wait on a client with SO_SNDTIMEO; a peer that stops
// reading must turn into an error, not a wait without end.
TEST(StreamLink, SendTimeoutOnABlockingSocketIsETimedOut) {
    auto [x, y] = SocketPair();
    timeval tv{.tv_sec = 0, .tv_usec = 100 * 1000};
    ASSERT_EQ(setsockopt(x.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
    auto a = MakeStreamLink(std::move(x));
    Result<void> sent = Ok();
    for (int i = 0; i < 1000 && sent.ok(); ++i) {  // far more than any socket buffer holds
        sent = a->Send(TestFrame(i, kMaxPayload));
    }
    ASSERT_FALSE(sent.ok());
    EXPECT_EQ(sent.error().err(), ETIMEDOUT);
}

TEST(StreamLink, ReassemblesFrameSplitAcrossManyWrites) {
    auto [x, y] = SocketPair();
    auto b = MakeStreamLink(std::move(y));
    Frame f = TestFrame(42, 300);
    std::vector<std::byte> wire(sizeof(FrameHeader) + f.payload.size());
    std::memcpy(wire.data(), &f.header, sizeof(FrameHeader));
    std::memcpy(wire.data() + sizeof(FrameHeader), f.payload.data(), f.payload.size());
    // Two frames back to back, written a byte or three at a time with pauses.
    wire.insert(wire.end(), wire.begin(), wire.end());

    std::thread writer([&wire, fd = x.get()] {
        for (size_t i = 0; i < wire.size();) {
            size_t n = std::min<size_t>(1 + i % 3, wire.size() - i);
            WriteAllRaw(fd, wire.data() + i, n);
            i += n;
            if (i % 64 == 0) {
                std::this_thread::sleep_for(std::chrono::microseconds(200));
            }
        }
    });
    for (int i = 0; i < 2; ++i) {
        Result<Frame> got = b->Receive();
        ASSERT_TRUE(got.ok());
        EXPECT_EQ(got->header.request_id, 42u);
        EXPECT_EQ(got->payload, f.payload);
    }
    writer.join();
}

TEST(StreamLink, PeerClosedIsEpipeWithoutSigpipe) {
    DefaultSigpipe sigpipe;
    auto [x, y] = SocketPair();
    auto a = MakeStreamLink(std::move(x));
    y.Reset();
    EXPECT_EQ(a->Receive().error().err(), EPIPE);
    // The first send may be absorbed by the kernel before the peer is noticed; a dead peer
    // must surface as EPIPE within a few sends and never as a signal.
    int err = 0;
    for (int i = 0; i < 4 && err == 0; ++i) {
        Result<void> r = a->Send(TestFrame(1, 1000));
        err = r.ok() ? 0 : r.error().err();
    }
    EXPECT_EQ(err, EPIPE);
}

TEST(StreamLink, PipeWithoutReaderIsEpipeWithoutSigpipe) {
    DefaultSigpipe sigpipe;
    auto [r, w] = Pipe();
    auto link = MakeStreamLink(std::move(w));
    r.Reset();
    Result<void> sent = link->Send(TestFrame(1, 100));
    ASSERT_FALSE(sent.ok());
    EXPECT_EQ(sent.error().err(), EPIPE);
    sigset_t pending;
    sigpending(&pending);
    EXPECT_FALSE(sigismember(&pending, SIGPIPE));
}

TEST(StreamLink, TruncatedFrameIsEpipe) {
    auto [x, y] = SocketPair();
    auto b = MakeStreamLink(std::move(y));
    Frame f = TestFrame(1, 100);
    WriteAllRaw(x.get(), &f.header, sizeof(f.header));
    WriteAllRaw(x.get(), f.payload.data(), 50);
    x.Reset();
    EXPECT_EQ(b->Receive().error().err(), EPIPE);
}

TEST(StreamLink, OversizedLengthIsEproto) {
    auto [x, y] = SocketPair();
    auto b = MakeStreamLink(std::move(y));
    Frame f = TestFrame(1, 0);
    f.header.payload_len = kMaxPayload + 1;
    WriteAllRaw(x.get(), &f.header, sizeof(f.header));
    EXPECT_EQ(b->Receive().error().err(), EPROTO);

    auto [x2, y2] = SocketPair();
    auto b2 = MakeStreamLink(std::move(y2));
    f.header.payload_len = 0xFFFFFFFF;
    WriteAllRaw(x2.get(), &f.header, sizeof(f.header));
    EXPECT_EQ(b2->Receive().error().err(), EPROTO);
}

TEST(StreamLink, AbiVersionMismatchIsEproto) {
    auto [x, y] = SocketPair();
    auto b = MakeStreamLink(std::move(y));
    Frame f = TestFrame(1, 0);
    f.header.version = kAbiVersion + 1;
    WriteAllRaw(x.get(), &f.header, sizeof(f.header));
    EXPECT_EQ(b->Receive().error().err(), EPROTO);
}

TEST(StreamLink, BadMagicIsEproto) {
    auto [x, y] = SocketPair();
    auto b = MakeStreamLink(std::move(y));
    const char junk[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    WriteAllRaw(x.get(), junk, sizeof(junk));
    EXPECT_EQ(b->Receive().error().err(), EPROTO);
}

TEST(StreamLink, SendStampsMagicVersionAndLength) {
    auto [x, y] = SocketPair();
    auto a = MakeStreamLink(std::move(x));
    auto b = MakeStreamLink(std::move(y));
    Frame f;
    f.header.type = static_cast<uint16_t>(MsgType::kGetcwd);
    f.header.payload_len = 12345;  // wrong on purpose: the link writes the real length
    f.payload.resize(3);
    ASSERT_TRUE(a->Send(f).ok());
    Result<Frame> got = b->Receive();
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->header.magic, kMagic);
    EXPECT_EQ(got->header.version, kAbiVersion);
    EXPECT_EQ(got->header.payload_len, 3u);
}

TEST(StreamLink, CloseWakesBlockedReceiveOnSocket) {
    auto [x, y] = SocketPair();
    auto b = MakeStreamLink(std::move(y));
    std::thread closer([&b = b] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        b->Close();
    });
    Result<Frame> r = b->Receive();
    closer.join();
    EXPECT_EQ(r.error().err(), EPIPE);
}

TEST(StreamLink, CloseWakesBlockedReceiveOnPipe) {
    auto [r, w] = Pipe();
    auto link = MakeStreamLink(std::move(r));
    std::thread closer([&link = link] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        link->Close();
    });
    Result<Frame> got = link->Receive();
    closer.join();
    EXPECT_EQ(got.error().err(), EPIPE);
}

TEST(StreamLink, ConcurrentSendersNeverInterleaveFrames) {
    auto [x, y] = SocketPair();
    auto a = MakeStreamLink(std::move(x));
    auto b = MakeStreamLink(std::move(y));
    constexpr int kThreads = 4;
    constexpr int kPerThread = 50;
    std::vector<std::thread> senders;
    for (int t = 0; t < kThreads; ++t) {
        senders.emplace_back([&a = a, t] {
            for (int i = 0; i < kPerThread; ++i) {
                uint64_t id = static_cast<uint64_t>(t * 1000 + i);
                ASSERT_TRUE(a->Send(TestFrame(id, 1000 + static_cast<size_t>(i) * 97)).ok());
            }
        });
    }
    for (int n = 0; n < kThreads * kPerThread; ++n) {
        Result<Frame> got = b->Receive();
        ASSERT_TRUE(got.ok());
        uint64_t id = got->header.request_id;
        size_t i = id % 1000;
        EXPECT_EQ(got->payload, TestFrame(id, 1000 + i * 97).payload) << "id=" << id;
    }
    for (auto& t : senders) {
        t.join();
    }
}

}  // namespace
}  // namespace tw::transport
