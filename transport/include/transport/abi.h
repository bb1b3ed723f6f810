// The wire ABI of the Twinwall I/O protocol, shared by every client (a VMM, the agent) and
// every I/O server (in-process thread, System VM). docs/protocol.md is the prose version.
//
// A frame is a 32-byte FrameHeader followed by `payload_len` bytes of payload. All integers are
// little-endian; the structs below are laid out exactly as they travel, so both sides
// memcpy them (the static_asserts pin sizes and offsets; a change there is an ABI change and
// needs a new kAbiVersion).
//
// Requests carry a MsgType; the reply to a request carries the same type with kReplyBit set,
// the same session_id and request_id, and a payload that starts with an int64 result
// (>= 0 success, -errno failure) followed by op-specific data. A failed request has no side
// effect and no reply data.
#pragma once

#include <bit>
#include <climits>
#include <cstddef>
#include <cstdint>

namespace tw::transport {

static_assert(std::endian::native == std::endian::little,
              "the wire format is little-endian and the codec memcpys it; a big-endian port "
              "needs byte swapping in codec.cc");

inline constexpr uint32_t kMagic = 0x4C575754;  // "TWWL" in memory order.
inline constexpr uint16_t kAbiVersion = 1;

// Upper bound of a frame's payload; a receiver rejects a larger payload_len before reading it.
inline constexpr uint32_t kMaxPayload = 256 * 1024;
// File data carried by one read/write/getdents/readlink frame; the rest of kMaxPayload leaves
// room for the fixed fields, so a data frame always fits.
inline constexpr uint32_t kMaxData = 128 * 1024;
// Longest path accepted on the wire, in bytes without a terminating NUL (Linux: PATH_MAX
// includes the NUL, so a path of PATH_MAX bytes fails with ENAMETOOLONG in the kernel).
inline constexpr uint32_t kMaxPathLen = PATH_MAX;
// Tenant names are [a-z0-9_-]{1,kMaxTenantNameLen}.
inline constexpr uint32_t kMaxTenantNameLen = 64;

// Session 0 carries control messages; sessions 1.. carry one tenant's file calls each.
inline constexpr uint32_t kControlSession = 0;

inline constexpr uint16_t kReplyBit = 0x8000;

enum class MsgType : uint16_t {
    // Control, session 0 only.
    kHello = 1,       // readiness handshake: HelloRequest -> HelloReply + description
    kTenantList = 2,  // -> result = count, TenantEntry records
    kShutdown = 3,    // server syncs, replies, and stops serving the link

    // Session lifecycle.
    kSessionOpen = 16,   // payload: tenant name bytes -> result 0
    kSessionClose = 17,  // empty -> result 0

    // File calls, one per FileClient method.
    kOpenAt = 32,      // PathRequest{dir, flags, arg=mode} + path -> handle
    kClose = 33,       // HandleRequest -> 0
    kRead = 34,        // IoRequest{handle, count} -> n, n bytes
    kPread = 35,       // IoRequest{handle, count, offset} -> n, n bytes
    kWrite = 36,       // IoRequest{handle, count} + count bytes -> n
    kPwrite = 37,      // IoRequest{handle, count, offset} + count bytes -> n
    kLseek = 38,       // SeekRequest -> new offset
    kFstat = 39,       // HandleRequest -> 0, struct stat
    kStatAt = 40,      // PathRequest{dir, flags} + path -> 0, struct stat
    kStatx = 41,       // PathRequest{dir, flags, arg=mask} + path -> 0, struct statx
    kGetdents64 = 42,  // IoRequest{handle, count} -> n, n bytes of linux_dirent64
    kReadlinkAt = 43,  // PathRequest{dir, arg=bufsiz} + path -> n, n bytes
    kMkdirAt = 44,     // PathRequest{dir, arg=mode} + path -> 0
    kUnlinkAt = 45,    // PathRequest{dir, flags} + path -> 0
    kRenameAt2 = 46,   // RenameRequest + old path + new path -> 0
    kFaccessAt = 47,   // PathRequest{dir, flags, arg=mode} + path -> 0
    kFcntl = 48,       // FcntlRequest -> F_GETFL flags or 0
    kFtruncate = 49,   // FtruncateRequest -> 0
    kFsync = 50,       // HandleRequest -> 0
    kGetcwd = 51,      // empty -> length with NUL, path + NUL
    kChdirAt = 52,     // PathRequest{dir} + path -> 0
};

// One past the largest MsgType value, for per-type counter tables.
inline constexpr size_t kMsgTypeLimit = 53;

constexpr bool IsReply(uint16_t type) {
    return (type & kReplyBit) != 0;
}
constexpr uint16_t ReplyType(MsgType type) {
    return static_cast<uint16_t>(type) | kReplyBit;
}

// ---------------------------------------------------------------------------------------------
// Frame header.

struct FrameHeader {
    uint32_t magic;        // kMagic
    uint16_t version;      // kAbiVersion
    uint16_t type;         // MsgType, | kReplyBit on replies
    uint32_t flags;        // none defined in version 1: sent as 0; a server refuses others
    uint32_t session_id;   // kControlSession or a session opened with kSessionOpen
    uint64_t request_id;   // chosen by the client, echoed in the reply
    uint32_t payload_len;  // bytes following the header, <= kMaxPayload
    uint32_t reserved;     // sent as 0, ignored
};
static_assert(sizeof(FrameHeader) == 32);
static_assert(offsetof(FrameHeader, magic) == 0);
static_assert(offsetof(FrameHeader, version) == 4);
static_assert(offsetof(FrameHeader, type) == 6);
static_assert(offsetof(FrameHeader, flags) == 8);
static_assert(offsetof(FrameHeader, session_id) == 12);
static_assert(offsetof(FrameHeader, request_id) == 16);
static_assert(offsetof(FrameHeader, payload_len) == 24);
static_assert(offsetof(FrameHeader, reserved) == 28);

// ---------------------------------------------------------------------------------------------
// Request payloads. "IN" fields are set by the client; reserved fields are sent as 0 and
// ignored by the server.

struct HelloRequest {
    uint32_t version;  // IN: the client's kAbiVersion
    uint32_t reserved;
};
static_assert(sizeof(HelloRequest) == 8);
static_assert(offsetof(HelloRequest, version) == 0);

// kClose, kFstat, kFsync.
struct HandleRequest {
    int32_t handle;  // IN
    uint32_t reserved;
};
static_assert(sizeof(HandleRequest) == 8);
static_assert(offsetof(HandleRequest, handle) == 0);

// kRead, kPread, kWrite, kPwrite, kGetdents64. For writes `count` bytes of data follow and
// must be exactly the rest of the payload. `offset` is used by kPread/kPwrite only.
struct IoRequest {
    int32_t handle;  // IN
    uint32_t count;  // IN: <= kMaxData
    int64_t offset;  // IN
};
static_assert(sizeof(IoRequest) == 16);
static_assert(offsetof(IoRequest, handle) == 0);
static_assert(offsetof(IoRequest, count) == 4);
static_assert(offsetof(IoRequest, offset) == 8);

struct SeekRequest {
    int32_t handle;  // IN
    int32_t whence;  // IN
    int64_t offset;  // IN
};
static_assert(sizeof(SeekRequest) == 16);
static_assert(offsetof(SeekRequest, handle) == 0);
static_assert(offsetof(SeekRequest, whence) == 4);
static_assert(offsetof(SeekRequest, offset) == 8);

struct FcntlRequest {
    int32_t handle;  // IN
    int32_t cmd;     // IN: F_GETFL or F_SETFL
    int64_t arg;     // IN
};
static_assert(sizeof(FcntlRequest) == 16);
static_assert(offsetof(FcntlRequest, handle) == 0);
static_assert(offsetof(FcntlRequest, cmd) == 4);
static_assert(offsetof(FcntlRequest, arg) == 8);

struct FtruncateRequest {
    int32_t handle;  // IN
    uint32_t reserved;
    int64_t length;  // IN
};
static_assert(sizeof(FtruncateRequest) == 16);
static_assert(offsetof(FtruncateRequest, handle) == 0);
static_assert(offsetof(FtruncateRequest, length) == 8);

// Every call that names one path: kOpenAt, kStatAt, kStatx, kReadlinkAt, kMkdirAt, kUnlinkAt,
// kFaccessAt, kChdirAt. `path_len` bytes of path follow (no NUL) and must be exactly the rest
// of the payload. `arg` is the op's unsigned extra: open/mkdir mode, statx mask, readlink
// buffer size, access mode.
struct PathRequest {
    int32_t dir;        // IN: a handle, or AT_FDCWD for the session's working directory
    int32_t flags;      // IN: the call's flags argument (O_* or AT_*)
    uint32_t arg;       // IN
    uint32_t path_len;  // IN: <= kMaxPathLen
};
static_assert(sizeof(PathRequest) == 16);
static_assert(offsetof(PathRequest, dir) == 0);
static_assert(offsetof(PathRequest, flags) == 4);
static_assert(offsetof(PathRequest, arg) == 8);
static_assert(offsetof(PathRequest, path_len) == 12);

// kRenameAt2: old path then new path follow, old_len + new_len bytes in total.
struct RenameRequest {
    int32_t old_dir;   // IN
    int32_t new_dir;   // IN
    uint32_t flags;    // IN: RENAME_NOREPLACE, RENAME_EXCHANGE
    uint32_t old_len;  // IN: <= kMaxPathLen
    uint32_t new_len;  // IN: <= kMaxPathLen
    uint32_t reserved;
};
static_assert(sizeof(RenameRequest) == 24);
static_assert(offsetof(RenameRequest, old_dir) == 0);
static_assert(offsetof(RenameRequest, new_dir) == 4);
static_assert(offsetof(RenameRequest, flags) == 8);
static_assert(offsetof(RenameRequest, old_len) == 12);
static_assert(offsetof(RenameRequest, new_len) == 16);

// ---------------------------------------------------------------------------------------------
// Reply payloads.

struct ReplyHeader {
    int64_t result;  // OUT: >= 0, or -errno
};
static_assert(sizeof(ReplyHeader) == 8);

// Follows ReplyHeader in a successful kHello reply; `desc_len` bytes of description follow.
struct HelloReply {
    uint32_t version;      // OUT: the server's kAbiVersion
    uint32_t max_payload;  // OUT: the server's kMaxPayload
    uint32_t max_data;     // OUT: the server's kMaxData
    uint32_t desc_len;     // OUT: <= kMaxHelloDescLen
};
static_assert(sizeof(HelloReply) == 16);
static_assert(offsetof(HelloReply, version) == 0);
static_assert(offsetof(HelloReply, max_payload) == 4);
static_assert(offsetof(HelloReply, max_data) == 8);
static_assert(offsetof(HelloReply, desc_len) == 12);

inline constexpr uint32_t kMaxHelloDescLen = 256;

// A kTenantList reply holds `result` records, each a one-byte length then the name.
inline constexpr size_t kTenantEntryOverhead = 1;

// Sizes of the Linux x86-64 structures carried by kFstat/kStatAt and kStatx replies.
inline constexpr size_t kWireStatSize = 144;
inline constexpr size_t kWireStatxSize = 256;

}  // namespace tw::transport
