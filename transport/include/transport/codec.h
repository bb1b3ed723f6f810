// Codec: builds and parses the payloads described in transport/abi.h. Both sides use it: the
// client (FileClient, the agent's control calls) encodes requests and decodes replies; the
// server decodes requests and encodes replies.
//
// Decoding never trusts a length field: every Decode* function checks the payload against the
// fixed struct size and the declared string/data lengths and fails with -EINVAL (or -ENOSYS
// for an unknown message type) instead of reading past the end. Decoded strings and data are
// views into the payload they were decoded from; keep the payload alive while using them.
//
//   Request req{.type = MsgType::kOpenAt, .handle = AT_FDCWD, .flags = O_RDONLY, .path = "/x"};
//   Frame f = MakeRequestFrame(MsgType::kOpenAt, session, ++request_id, EncodeRequest(req));
//   ...
//   Request got;
//   if (int64_t err = DecodeRequest(f.header.type, f.payload, &got); err < 0) reply(err);
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "transport/abi.h"
#include "transport/link.h"

namespace tw::transport {

// Appends little-endian fixed structs and raw bytes to a growing payload.
class ByteWriter {
public:
    template <typename T>
    void Put(const T& value) {
        static_assert(std::is_trivially_copyable_v<T>);
        PutBytes(std::as_bytes(std::span<const T, 1>(&value, 1)));
    }
    void PutBytes(std::span<const std::byte> bytes) {
        out_.insert(out_.end(), bytes.begin(), bytes.end());
    }
    void PutString(std::string_view s) { PutBytes(std::as_bytes(std::span(s.data(), s.size()))); }
    void Reserve(size_t n) { out_.reserve(n); }
    std::vector<std::byte> Take() { return std::move(out_); }

private:
    std::vector<std::byte> out_;
};

// Reads fixed structs and length-delimited bytes from a payload; every read is bounds-checked
// and a failed read leaves the position unchanged.
class ByteReader {
public:
    explicit ByteReader(std::span<const std::byte> in) : in_(in) {}

    template <typename T>
    [[nodiscard]] bool Get(T* out) {
        static_assert(std::is_trivially_copyable_v<T>);
        if (remaining() < sizeof(T)) {
            return false;
        }
        std::memcpy(out, in_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return true;
    }
    [[nodiscard]] bool GetBytes(size_t n, std::span<const std::byte>* out) {
        if (remaining() < n) {
            return false;
        }
        *out = in_.subspan(pos_, n);
        pos_ += n;
        return true;
    }
    [[nodiscard]] bool GetString(size_t n, std::string_view* out) {
        std::span<const std::byte> bytes;
        if (!GetBytes(n, &bytes)) {
            return false;
        }
        *out = std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        return true;
    }
    size_t remaining() const { return in_.size() - pos_; }
    bool done() const { return pos_ == in_.size(); }

private:
    std::span<const std::byte> in_;
    size_t pos_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Headers and frames.

// 0 when `h` is a frame this ABI version can carry, else -EPROTO (bad magic, other version,
// payload_len over kMaxPayload). Links call this on every received header.
int64_t ValidateHeader(const FrameHeader& h);

FrameHeader HeaderFromBytes(std::span<const std::byte, sizeof(FrameHeader)> bytes);

// A request frame with magic, version and payload_len filled in.
Frame MakeRequestFrame(MsgType type, uint32_t session_id, uint64_t request_id,
                       std::vector<std::byte> payload);
// The reply to `request`: same session and request id, type | kReplyBit, `result` then `data`.
Frame MakeReplyFrame(const FrameHeader& request, int64_t result,
                     std::span<const std::byte> data = {});

// ---------------------------------------------------------------------------------------------
// Paths and names.

// 0, or -EINVAL for a path longer than kMaxPathLen or holding a NUL byte.
int64_t CheckWirePath(std::string_view path);

// True for [a-z0-9_-]{1,kMaxTenantNameLen}.
bool IsValidTenantName(std::string_view name);

// ---------------------------------------------------------------------------------------------
// Requests.

// Every request flattened into one struct; each op uses the fields its wire struct carries:
//   handle  - dir or handle (old_dir for kRenameAt2)     handle2 - new_dir for kRenameAt2
//   flags   - O_*/AT_* flags, whence, fcntl cmd, rename flags
//   arg     - mode, statx mask, readlink size, access mode, I/O count, client version (kHello)
//   offset  - I/O offset, lseek offset, fcntl arg, ftruncate length
//   path, path2 - path (old/new for rename), tenant name for kSessionOpen
//   data    - bytes to write
struct Request {
    MsgType type = MsgType::kHello;
    int32_t handle = 0;
    int32_t handle2 = 0;
    int32_t flags = 0;
    uint32_t arg = 0;
    int64_t offset = 0;
    std::string_view path = {};
    std::string_view path2 = {};
    std::span<const std::byte> data = {};
};

// Encodes `req` for `req.type`. The caller has already checked lengths (paths with
// CheckWirePath, data within kMaxData); the server re-checks them all when decoding.
std::vector<std::byte> EncodeRequest(const Request& req);

// Decodes a request payload of message type `type` into `out` (views into `payload`).
// Returns 0, -ENOSYS for a type that is not a request of this ABI, or -EINVAL for a payload
// that is short, has trailing bytes, or carries an invalid length, path or count.
int64_t DecodeRequest(uint16_t type, std::span<const std::byte> payload, Request* out);

// ---------------------------------------------------------------------------------------------
// Replies.

struct Reply {
    int64_t result = 0;
    std::span<const std::byte> data;  // op-specific data after the result
};

std::vector<std::byte> EncodeReply(int64_t result, std::span<const std::byte> data = {});

// Returns 0, or -EINVAL for a payload shorter than the result, a negative result outside
// [-4095, -1], or a failed result followed by data.
int64_t DecodeReply(std::span<const std::byte> payload, Reply* out);

struct HelloInfo {
    uint32_t version = 0;
    uint32_t max_payload = 0;
    uint32_t max_data = 0;
    std::string description;
};

// The data of a successful kHello reply; the description is cut at kMaxHelloDescLen.
std::vector<std::byte> EncodeHelloData(const HelloInfo& info);
int64_t DecodeHelloData(std::span<const std::byte> data, HelloInfo* out);

// The data of a kTenantList reply: as many of `names` as fit in kMaxPayload. `*count` gets
// the number encoded (the reply's result).
std::vector<std::byte> EncodeTenantList(std::span<const std::string> names, size_t* count);
// Fails with -EINVAL unless `data` holds exactly `count` valid tenant names.
int64_t DecodeTenantList(std::span<const std::byte> data, int64_t count,
                         std::vector<std::string>* out);

}  // namespace tw::transport
