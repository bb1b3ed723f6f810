#include "transport/codec.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <string>

namespace tw::transport {
namespace {

std::span<const std::byte> Bytes(std::string_view s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

// Decoded views point into the payload, so every payload encoded here is kept for the life of
// the test binary.
Request RoundTrip(const Request& in) {
    static thread_local std::vector<std::vector<std::byte>> keep;
    std::vector<std::byte>& payload = keep.emplace_back(EncodeRequest(in));
    Request out;
    EXPECT_EQ(DecodeRequest(static_cast<uint16_t>(in.type), payload, &out), 0);
    // Re-encoding what was decoded gives the same bytes: nothing is lost or invented.
    EXPECT_EQ(EncodeRequest(out), payload);
    return out;
}

TEST(Codec, PathRequestRoundTrips) {
    Request out = RoundTrip({.type = MsgType::kOpenAt,
                             .handle = AT_FDCWD,
                             .flags = O_RDWR | O_CREAT,
                             .arg = 0644,
                             .path = "/a/b/c"});
    EXPECT_EQ(out.type, MsgType::kOpenAt);
    EXPECT_EQ(out.handle, AT_FDCWD);
    EXPECT_EQ(out.flags, O_RDWR | O_CREAT);
    EXPECT_EQ(out.arg, 0644u);
    EXPECT_EQ(out.path, "/a/b/c");
}

TEST(Codec, EveryPathOpRoundTrips) {
    for (MsgType t : {MsgType::kStatAt, MsgType::kStatx, MsgType::kReadlinkAt, MsgType::kMkdirAt,
                      MsgType::kUnlinkAt, MsgType::kFaccessAt, MsgType::kChdirAt}) {
        Request out = RoundTrip({.type = t, .handle = 3, .flags = 0x100, .arg = 7, .path = "x"});
        EXPECT_EQ(out.handle, 3);
        EXPECT_EQ(out.flags, 0x100);
        EXPECT_EQ(out.arg, 7u);
        EXPECT_EQ(out.path, "x");
    }
}

TEST(Codec, RenameRoundTrips) {
    Request out = RoundTrip({.type = MsgType::kRenameAt2,
                             .handle = 4,
                             .handle2 = AT_FDCWD,
                             .flags = 1,
                             .path = "old",
                             .path2 = "/new/name"});
    EXPECT_EQ(out.handle, 4);
    EXPECT_EQ(out.handle2, AT_FDCWD);
    EXPECT_EQ(out.flags, 1);
    EXPECT_EQ(out.path, "old");
    EXPECT_EQ(out.path2, "/new/name");
}

TEST(Codec, IoRequestsRoundTrip) {
    std::string data = "hello world";
    Request w =
        RoundTrip({.type = MsgType::kPwrite, .handle = 9, .offset = 1234, .data = Bytes(data)});
    EXPECT_EQ(w.handle, 9);
    EXPECT_EQ(w.offset, 1234);
    EXPECT_EQ(w.arg, data.size());
    ASSERT_EQ(w.data.size(), data.size());
    EXPECT_EQ(std::memcmp(w.data.data(), data.data(), data.size()), 0);

    Request r = RoundTrip({.type = MsgType::kPread, .handle = 2, .arg = 4096, .offset = -5});
    EXPECT_EQ(r.arg, 4096u);
    EXPECT_EQ(r.offset, -5);

    Request s = RoundTrip({.type = MsgType::kLseek, .handle = 1, .flags = SEEK_END, .offset = -1});
    EXPECT_EQ(s.flags, SEEK_END);
    EXPECT_EQ(s.offset, -1);

    Request f = RoundTrip({.type = MsgType::kFcntl, .handle = 1, .flags = F_SETFL, .offset = 8});
    EXPECT_EQ(f.flags, F_SETFL);
    EXPECT_EQ(f.offset, 8);

    Request t = RoundTrip({.type = MsgType::kFtruncate, .handle = 5, .offset = 1 << 20});
    EXPECT_EQ(t.offset, 1 << 20);

    for (MsgType type : {MsgType::kClose, MsgType::kFstat, MsgType::kFsync}) {
        EXPECT_EQ(RoundTrip({.type = type, .handle = 77}).handle, 77);
    }
}

TEST(Codec, ControlAndSessionRequestsRoundTrip) {
    EXPECT_EQ(RoundTrip({.type = MsgType::kHello, .arg = kAbiVersion}).arg, kAbiVersion);
    EXPECT_EQ(RoundTrip({.type = MsgType::kSessionOpen, .path = "tenant-1_a"}).path, "tenant-1_a");
    for (MsgType type :
         {MsgType::kTenantList, MsgType::kShutdown, MsgType::kSessionClose, MsgType::kGetcwd}) {
        EXPECT_TRUE(EncodeRequest({.type = type}).empty());
        RoundTrip({.type = type});
    }
}

TEST(Codec, ShortPayloadIsEinval) {
    std::vector<std::byte> payload =
        EncodeRequest({.type = MsgType::kOpenAt, .handle = AT_FDCWD, .path = "/etc/passwd"});
    for (size_t len = 0; len < payload.size(); ++len) {
        Request out;
        EXPECT_EQ(DecodeRequest(static_cast<uint16_t>(MsgType::kOpenAt),
                                std::span(payload).first(len), &out),
                  -EINVAL)
            << "len=" << len;
    }
}

TEST(Codec, TrailingBytesAreEinval) {
    std::vector<std::byte> payload = EncodeRequest({.type = MsgType::kClose, .handle = 1});
    payload.push_back(std::byte{0});
    Request out;
    EXPECT_EQ(DecodeRequest(static_cast<uint16_t>(MsgType::kClose), payload, &out), -EINVAL);
}

TEST(Codec, PathLengthIsNotTrusted) {
    PathRequest p{.dir = AT_FDCWD, .flags = 0, .arg = 0, .path_len = 0xFFFFFFFF};
    ByteWriter w;
    w.Put(p);
    w.PutString("short");
    std::vector<std::byte> payload = w.Take();
    Request out;
    EXPECT_EQ(DecodeRequest(static_cast<uint16_t>(MsgType::kStatAt), payload, &out), -EINVAL);
}

TEST(Codec, OverlongPathIsEinval) {
    std::string path(kMaxPathLen + 1, 'a');
    std::vector<std::byte> payload =
        EncodeRequest({.type = MsgType::kMkdirAt, .handle = AT_FDCWD, .path = path});
    Request out;
    EXPECT_EQ(DecodeRequest(static_cast<uint16_t>(MsgType::kMkdirAt), payload, &out), -EINVAL);

    std::string longest(kMaxPathLen, 'a');
    payload = EncodeRequest({.type = MsgType::kMkdirAt, .handle = AT_FDCWD, .path = longest});
    EXPECT_EQ(DecodeRequest(static_cast<uint16_t>(MsgType::kMkdirAt), payload, &out), 0);
}

TEST(Codec, PathWithNulIsEinval) {
    std::string path("/tmp/a\0/etc/shadow", 18);
    for (MsgType t : {MsgType::kOpenAt, MsgType::kRenameAt2}) {
        std::vector<std::byte> payload = EncodeRequest({.type = t, .path = path, .path2 = path});
        Request out;
        EXPECT_EQ(DecodeRequest(static_cast<uint16_t>(t), payload, &out), -EINVAL);
    }
}

TEST(Codec, WriteCountMustMatchData) {
    std::string data = "abcdef";
    std::vector<std::byte> payload =
        EncodeRequest({.type = MsgType::kWrite, .handle = 1, .data = Bytes(data)});
    IoRequest io;
    std::memcpy(&io, payload.data(), sizeof(io));
    io.count = 7;
    std::memcpy(payload.data(), &io, sizeof(io));
    Request out;
    EXPECT_EQ(DecodeRequest(static_cast<uint16_t>(MsgType::kWrite), payload, &out), -EINVAL);
}

TEST(Codec, IoCountOverMaxDataIsEinval) {
    std::vector<std::byte> payload =
        EncodeRequest({.type = MsgType::kRead, .handle = 1, .arg = kMaxData + 1});
    Request out;
    EXPECT_EQ(DecodeRequest(static_cast<uint16_t>(MsgType::kRead), payload, &out), -EINVAL);
}

TEST(Codec, UnknownTypeAndReplyBitAreEnosys) {
    Request out;
    EXPECT_EQ(DecodeRequest(0, {}, &out), -ENOSYS);
    EXPECT_EQ(DecodeRequest(999, {}, &out), -ENOSYS);
    EXPECT_EQ(DecodeRequest(ReplyType(MsgType::kClose), {}, &out), -ENOSYS);
}

TEST(Codec, TenantNames) {
    EXPECT_TRUE(IsValidTenantName("default"));
    EXPECT_TRUE(IsValidTenantName("a-b_c-09"));
    EXPECT_TRUE(IsValidTenantName(std::string(kMaxTenantNameLen, 'z')));
    EXPECT_FALSE(IsValidTenantName(""));
    EXPECT_FALSE(IsValidTenantName(std::string(kMaxTenantNameLen + 1, 'z')));
    EXPECT_FALSE(IsValidTenantName(".."));
    EXPECT_FALSE(IsValidTenantName("a/b"));
    EXPECT_FALSE(IsValidTenantName("Upper"));
    EXPECT_FALSE(IsValidTenantName(std::string("a\0b", 3)));

    std::vector<std::byte> payload = EncodeRequest({.type = MsgType::kSessionOpen, .path = "../x"});
    Request out;
    EXPECT_EQ(DecodeRequest(static_cast<uint16_t>(MsgType::kSessionOpen), payload, &out), -EINVAL);
}

TEST(Codec, ReplyRoundTrips) {
    std::string data = "payload";
    std::vector<std::byte> p = EncodeReply(7, Bytes(data));
    Reply r;
    ASSERT_EQ(DecodeReply(p, &r), 0);
    EXPECT_EQ(r.result, 7);
    EXPECT_EQ(r.data.size(), data.size());

    p = EncodeReply(-ENOENT, Bytes(data));  // data on a failure is dropped by the encoder
    ASSERT_EQ(DecodeReply(p, &r), 0);
    EXPECT_EQ(r.result, -ENOENT);
    EXPECT_TRUE(r.data.empty());
}

TEST(Codec, MalformedRepliesAreRejected) {
    Reply r;
    std::vector<std::byte> p(7);
    EXPECT_EQ(DecodeReply(p, &r), -EINVAL);

    ByteWriter w;
    w.Put(ReplyHeader{.result = -5000});
    EXPECT_EQ(DecodeReply(w.Take(), &r), -EINVAL);

    ByteWriter w2;
    w2.Put(ReplyHeader{.result = -EIO});
    w2.PutString("x");
    EXPECT_EQ(DecodeReply(w2.Take(), &r), -EINVAL);
}

TEST(Codec, HelloDataRoundTrips) {
    HelloInfo in{.version = 1, .max_payload = 2, .max_data = 3, .description = "server x"};
    HelloInfo out;
    ASSERT_EQ(DecodeHelloData(EncodeHelloData(in), &out), 0);
    EXPECT_EQ(out.version, 1u);
    EXPECT_EQ(out.max_payload, 2u);
    EXPECT_EQ(out.max_data, 3u);
    EXPECT_EQ(out.description, "server x");

    std::vector<std::byte> bad = EncodeHelloData(in);
    bad.pop_back();
    EXPECT_EQ(DecodeHelloData(bad, &out), -EINVAL);
}

TEST(Codec, TenantListRoundTrips) {
    std::vector<std::string> names = {"alpha", "beta-2", "Bad Name", "c"};
    size_t count = 0;
    std::vector<std::byte> data = EncodeTenantList(names, &count);
    EXPECT_EQ(count, 3u);  // the invalid name is skipped
    std::vector<std::string> out;
    ASSERT_EQ(DecodeTenantList(data, static_cast<int64_t>(count), &out), 0);
    EXPECT_EQ(out, (std::vector<std::string>{"alpha", "beta-2", "c"}));
    EXPECT_EQ(DecodeTenantList(data, 2, &out), -EINVAL);
    EXPECT_EQ(DecodeTenantList(data, 4, &out), -EINVAL);
}

TEST(Codec, HeaderValidation) {
    Frame f = MakeRequestFrame(MsgType::kClose, 3, 99, {});
    EXPECT_EQ(ValidateHeader(f.header), 0);
    FrameHeader h = f.header;
    h.magic ^= 1;
    EXPECT_EQ(ValidateHeader(h), -EPROTO);
    h = f.header;
    h.version = kAbiVersion + 1;
    EXPECT_EQ(ValidateHeader(h), -EPROTO);
    h = f.header;
    h.payload_len = kMaxPayload + 1;
    EXPECT_EQ(ValidateHeader(h), -EPROTO);
    h.payload_len = kMaxPayload;
    EXPECT_EQ(ValidateHeader(h), 0);
}

TEST(Codec, ReplyFrameEchoesRequest) {
    Frame req = MakeRequestFrame(MsgType::kRead, 12, 0x1122334455667788ULL, {});
    Frame rep = MakeReplyFrame(req.header, 3, Bytes("abc"));
    EXPECT_EQ(rep.header.type, ReplyType(MsgType::kRead));
    EXPECT_EQ(rep.header.session_id, 12u);
    EXPECT_EQ(rep.header.request_id, 0x1122334455667788ULL);
    EXPECT_EQ(rep.header.payload_len, rep.payload.size());
    EXPECT_EQ(rep.payload.size(), sizeof(ReplyHeader) + 3);
}

TEST(Codec, LargestDataFrameFits) {
    std::vector<std::byte> data(kMaxData);
    std::vector<std::byte> payload =
        EncodeRequest({.type = MsgType::kPwrite, .handle = 0, .data = data});
    EXPECT_LE(payload.size(), kMaxPayload);
    EXPECT_LE(EncodeReply(kMaxData, data).size(), kMaxPayload);
}

}  // namespace
}  // namespace tw::transport
