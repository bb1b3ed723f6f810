// libFuzzer target: whatever bytes arrive, the decoders return an error or a value that
// re-encodes to the same request, and the stream link turns any byte stream into frames,
// EPROTO or EPIPE - never a crash, an over-read (ASan) or undefined behaviour (UBSan).
//
// Input layout: byte 0 selects what to exercise, the rest is the material.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "transport/codec.h"
#include "transport/link.h"

namespace tw::transport {
namespace {

void Check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

bool SameRequest(const Request& a, const Request& b) {
    return a.type == b.type && a.handle == b.handle && a.handle2 == b.handle2 &&
           a.flags == b.flags && a.arg == b.arg && a.offset == b.offset && a.path == b.path &&
           a.path2 == b.path2 && a.data.size() == b.data.size() &&
           (a.data.empty() || std::memcmp(a.data.data(), b.data.data(), a.data.size()) == 0);
}

// Two bytes of message type, then a request payload.
void FuzzRequest(std::span<const std::byte> in) {
    if (in.size() < 2) {
        return;
    }
    uint16_t type;
    std::memcpy(&type, in.data(), 2);
    // Mostly defined types, so the fuzzer spends its time in real layouts.
    if (!(type & 0x8000)) {
        type = static_cast<uint16_t>(type % kMsgTypeLimit);
    }
    std::span<const std::byte> payload = in.subspan(2);
    Request req;
    if (DecodeRequest(type, payload, &req) < 0) {
        return;
    }
    Check(req.path.size() <= kMaxPathLen && req.path2.size() <= kMaxPathLen);
    Check(CheckWirePath(req.path) == 0 && CheckWirePath(req.path2) == 0);
    std::vector<std::byte> again = EncodeRequest(req);
    Request req2;
    Check(DecodeRequest(type, again, &req2) == 0);
    Check(SameRequest(req, req2));
}

void FuzzReply(std::span<const std::byte> in) {
    Reply reply;
    if (DecodeReply(in, &reply) < 0) {
        return;
    }
    Check(reply.result >= -4095);
    Check(reply.result >= 0 || reply.data.empty());
    HelloInfo hello;
    if (DecodeHelloData(reply.data, &hello) == 0) {
        Check(hello.description.size() <= kMaxHelloDescLen);
    }
    std::vector<std::string> names;
    if (DecodeTenantList(reply.data, reply.result, &names) == 0) {
        for (const std::string& n : names) {
            Check(IsValidTenantName(n));
        }
    }
}

// The bytes as a stream: every frame the link returns has a valid header and exactly the
// payload it announced; the stream ends in EPIPE (clean end, truncated frame) or EPROTO.
void FuzzStream(std::span<const std::byte> in) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        return;
    }
    UniqueFd r(fds[0]), w(fds[1]);
    // libFuzzer's default -max_len (4096) is far below a pipe's 64 KiB buffer.
    if (in.size() > 60000 ||
        write(w.get(), in.data(), in.size()) != static_cast<ssize_t>(in.size())) {
        return;
    }
    w.Reset();
    std::unique_ptr<Link> link = MakeStreamLink(std::move(r));
    for (;;) {
        Result<Frame> f = link->Receive();
        if (!f.ok()) {
            Check(f.error().err() == EPIPE || f.error().err() == EPROTO);
            return;
        }
        Check(ValidateHeader(f->header) == 0);
        Check(f->payload.size() == f->header.payload_len);
        Request req;
        (void)DecodeRequest(f->header.type, f->payload, &req);
    }
}

}  // namespace
}  // namespace tw::transport

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) {
        return 0;
    }
    auto in = std::as_bytes(std::span(data + 1, size - 1));
    switch (data[0] % 3) {
        case 0:
            tw::transport::FuzzRequest(in);
            break;
        case 1:
            tw::transport::FuzzReply(in);
            break;
        case 2:
            tw::transport::FuzzStream(in);
            break;
    }
    return 0;
}
