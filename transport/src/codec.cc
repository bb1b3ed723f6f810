#include "transport/codec.h"

#include <cerrno>

namespace tw::transport {
namespace {

constexpr int64_t kMaxErrno = 4095;  // Linux's MAX_ERRNO: -4095..-1 are errors.

// Which fixed struct a request type carries.
enum class Shape {
    kUnknown,
    kEmpty,
    kHello,
    kTenantName,
    kHandle,
    kIo,
    kIoWithData,
    kSeek,
    kFcntl,
    kFtruncate,
    kPath,
    kRename,
};

Shape ShapeOf(uint16_t type) {
    if (IsReply(type)) {
        return Shape::kUnknown;
    }
    switch (static_cast<MsgType>(type)) {
        case MsgType::kHello:
            return Shape::kHello;
        case MsgType::kTenantList:
        case MsgType::kShutdown:
        case MsgType::kSessionClose:
        case MsgType::kGetcwd:
            return Shape::kEmpty;
        case MsgType::kSessionOpen:
            return Shape::kTenantName;
        case MsgType::kClose:
        case MsgType::kFstat:
        case MsgType::kFsync:
            return Shape::kHandle;
        case MsgType::kRead:
        case MsgType::kPread:
        case MsgType::kGetdents64:
            return Shape::kIo;
        case MsgType::kWrite:
        case MsgType::kPwrite:
            return Shape::kIoWithData;
        case MsgType::kLseek:
            return Shape::kSeek;
        case MsgType::kFcntl:
            return Shape::kFcntl;
        case MsgType::kFtruncate:
            return Shape::kFtruncate;
        case MsgType::kOpenAt:
        case MsgType::kStatAt:
        case MsgType::kStatx:
        case MsgType::kReadlinkAt:
        case MsgType::kMkdirAt:
        case MsgType::kUnlinkAt:
        case MsgType::kFaccessAt:
        case MsgType::kChdirAt:
            return Shape::kPath;
        case MsgType::kRenameAt2:
            return Shape::kRename;
    }
    return Shape::kUnknown;
}

std::span<const std::byte> AsBytes(std::string_view s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

}  // namespace

int64_t ValidateHeader(const FrameHeader& h) {
    if (h.magic != kMagic || h.version != kAbiVersion || h.payload_len > kMaxPayload) {
        return -EPROTO;
    }
    return 0;
}

FrameHeader HeaderFromBytes(std::span<const std::byte, sizeof(FrameHeader)> bytes) {
    FrameHeader h;
    std::memcpy(&h, bytes.data(), sizeof(h));
    return h;
}

Frame MakeRequestFrame(MsgType type, uint32_t session_id, uint64_t request_id,
                       std::vector<std::byte> payload) {
    Frame f;
    f.header.magic = kMagic;
    f.header.version = kAbiVersion;
    f.header.type = static_cast<uint16_t>(type);
    f.header.session_id = session_id;
    f.header.request_id = request_id;
    f.header.payload_len = static_cast<uint32_t>(payload.size());
    f.payload = std::move(payload);
    return f;
}

Frame MakeReplyFrame(const FrameHeader& request, int64_t result, std::span<const std::byte> data) {
    Frame f;
    f.header.magic = kMagic;
    f.header.version = kAbiVersion;
    f.header.type = request.type | kReplyBit;
    f.header.session_id = request.session_id;
    f.header.request_id = request.request_id;
    f.payload = EncodeReply(result, data);
    f.header.payload_len = static_cast<uint32_t>(f.payload.size());
    return f;
}

int64_t CheckWirePath(std::string_view path) {
    if (path.size() > kMaxPathLen || path.find('\0') != std::string_view::npos) {
        return -EINVAL;
    }
    return 0;
}

bool IsValidTenantName(std::string_view name) {
    if (name.empty() || name.size() > kMaxTenantNameLen) {
        return false;
    }
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

// Wire layouts, per shape (all little-endian, see abi.h):
//   kEmpty      (nothing)
//   kHello      HelloRequest
//   kTenantName name bytes, the whole payload
//   kHandle     HandleRequest
//   kIo         IoRequest
//   kIoWithData IoRequest, count bytes
//   kSeek       SeekRequest          kFcntl FcntlRequest          kFtruncate FtruncateRequest
//   kPath       PathRequest, path_len bytes
//   kRename     RenameRequest, old_len bytes, new_len bytes
std::vector<std::byte> EncodeRequest(const Request& req) {
    ByteWriter w;
    switch (ShapeOf(static_cast<uint16_t>(req.type))) {
        case Shape::kUnknown:
        case Shape::kEmpty:
            break;
        case Shape::kHello:
            w.Put(HelloRequest{.version = req.arg, .reserved = 0});
            break;
        case Shape::kTenantName:
            w.PutString(req.path);
            break;
        case Shape::kHandle:
            w.Put(HandleRequest{.handle = req.handle, .reserved = 0});
            break;
        case Shape::kIo:
            w.Put(IoRequest{.handle = req.handle, .count = req.arg, .offset = req.offset});
            break;
        case Shape::kIoWithData:
            w.Reserve(sizeof(IoRequest) + req.data.size());
            w.Put(IoRequest{.handle = req.handle,
                            .count = static_cast<uint32_t>(req.data.size()),
                            .offset = req.offset});
            w.PutBytes(req.data);
            break;
        case Shape::kSeek:
            w.Put(SeekRequest{.handle = req.handle, .whence = req.flags, .offset = req.offset});
            break;
        case Shape::kFcntl:
            w.Put(FcntlRequest{.handle = req.handle, .cmd = req.flags, .arg = req.offset});
            break;
        case Shape::kFtruncate:
            w.Put(FtruncateRequest{.handle = req.handle, .reserved = 0, .length = req.offset});
            break;
        case Shape::kPath:
            w.Reserve(sizeof(PathRequest) + req.path.size());
            w.Put(PathRequest{.dir = req.handle,
                              .flags = req.flags,
                              .arg = req.arg,
                              .path_len = static_cast<uint32_t>(req.path.size())});
            w.PutString(req.path);
            break;
        case Shape::kRename:
            w.Reserve(sizeof(RenameRequest) + req.path.size() + req.path2.size());
            w.Put(RenameRequest{.old_dir = req.handle,
                                .new_dir = req.handle2,
                                .flags = static_cast<uint32_t>(req.flags),
                                .old_len = static_cast<uint32_t>(req.path.size()),
                                .new_len = static_cast<uint32_t>(req.path2.size()),
                                .reserved = 0});
            w.PutString(req.path);
            w.PutString(req.path2);
            break;
    }
    return w.Take();
}

int64_t DecodeRequest(uint16_t type, std::span<const std::byte> payload, Request* out) {
    Shape shape = ShapeOf(type);
    if (shape == Shape::kUnknown) {
        return -ENOSYS;
    }
    *out = Request{};
    out->type = static_cast<MsgType>(type);
    ByteReader r(payload);

    switch (shape) {
        case Shape::kUnknown:
        case Shape::kEmpty:
            break;
        case Shape::kHello: {
            HelloRequest h;
            if (!r.Get(&h)) {
                return -EINVAL;
            }
            out->arg = h.version;
            break;
        }
        case Shape::kTenantName:
            if (!r.GetString(r.remaining(), &out->path) || !IsValidTenantName(out->path)) {
                return -EINVAL;
            }
            break;
        case Shape::kHandle: {
            HandleRequest h;
            if (!r.Get(&h)) {
                return -EINVAL;
            }
            out->handle = h.handle;
            break;
        }
        case Shape::kIo:
        case Shape::kIoWithData: {
            IoRequest io;
            if (!r.Get(&io) || io.count > kMaxData) {
                return -EINVAL;
            }
            out->handle = io.handle;
            out->arg = io.count;
            out->offset = io.offset;
            if (shape == Shape::kIoWithData && !r.GetBytes(io.count, &out->data)) {
                return -EINVAL;
            }
            break;
        }
        case Shape::kSeek: {
            SeekRequest s;
            if (!r.Get(&s)) {
                return -EINVAL;
            }
            out->handle = s.handle;
            out->flags = s.whence;
            out->offset = s.offset;
            break;
        }
        case Shape::kFcntl: {
            FcntlRequest f;
            if (!r.Get(&f)) {
                return -EINVAL;
            }
            out->handle = f.handle;
            out->flags = f.cmd;
            out->offset = f.arg;
            break;
        }
        case Shape::kFtruncate: {
            FtruncateRequest f;
            if (!r.Get(&f)) {
                return -EINVAL;
            }
            out->handle = f.handle;
            out->offset = f.length;
            break;
        }
        case Shape::kPath: {
            PathRequest p;
            if (!r.Get(&p) || p.path_len > kMaxPathLen || !r.GetString(p.path_len, &out->path) ||
                CheckWirePath(out->path) < 0) {
                return -EINVAL;
            }
            out->handle = p.dir;
            out->flags = p.flags;
            out->arg = p.arg;
            break;
        }
        case Shape::kRename: {
            RenameRequest rr;
            if (!r.Get(&rr) || rr.old_len > kMaxPathLen || rr.new_len > kMaxPathLen ||
                !r.GetString(rr.old_len, &out->path) || !r.GetString(rr.new_len, &out->path2) ||
                CheckWirePath(out->path) < 0 || CheckWirePath(out->path2) < 0) {
                return -EINVAL;
            }
            out->handle = rr.old_dir;
            out->handle2 = rr.new_dir;
            out->flags = static_cast<int32_t>(rr.flags);
            break;
        }
    }

    // Trailing bytes mean the sender and we disagree about the layout: refuse rather than
    // guess.
    return r.done() ? 0 : -EINVAL;
}

// Reply layout: ReplyHeader{result}, then op data (none when result < 0).
std::vector<std::byte> EncodeReply(int64_t result, std::span<const std::byte> data) {
    ByteWriter w;
    w.Reserve(sizeof(ReplyHeader) + data.size());
    w.Put(ReplyHeader{.result = result});
    if (result >= 0) {
        w.PutBytes(data);
    }
    return w.Take();
}

int64_t DecodeReply(std::span<const std::byte> payload, Reply* out) {
    ByteReader r(payload);
    ReplyHeader h;
    if (!r.Get(&h)) {
        return -EINVAL;
    }
    if (h.result < 0 && (h.result < -kMaxErrno || !r.done())) {
        return -EINVAL;
    }
    out->result = h.result;
    std::span<const std::byte> rest;
    (void)r.GetBytes(r.remaining(), &rest);
    out->data = rest;
    return 0;
}

// Hello data layout: HelloReply, desc_len bytes of description.
std::vector<std::byte> EncodeHelloData(const HelloInfo& info) {
    std::string_view desc = info.description;
    if (desc.size() > kMaxHelloDescLen) {
        desc = desc.substr(0, kMaxHelloDescLen);
    }
    ByteWriter w;
    w.Put(HelloReply{.version = info.version,
                     .max_payload = info.max_payload,
                     .max_data = info.max_data,
                     .desc_len = static_cast<uint32_t>(desc.size())});
    w.PutString(desc);
    return w.Take();
}

int64_t DecodeHelloData(std::span<const std::byte> data, HelloInfo* out) {
    ByteReader r(data);
    HelloReply h;
    std::string_view desc;
    if (!r.Get(&h) || h.desc_len > kMaxHelloDescLen || !r.GetString(h.desc_len, &desc) ||
        !r.done()) {
        return -EINVAL;
    }
    out->version = h.version;
    out->max_payload = h.max_payload;
    out->max_data = h.max_data;
    out->description = std::string(desc);
    return 0;
}

// Tenant list layout: per name, one length byte then the name.
std::vector<std::byte> EncodeTenantList(std::span<const std::string> names, size_t* count) {
    ByteWriter w;
    size_t size = sizeof(ReplyHeader);
    *count = 0;
    for (const std::string& name : names) {
        if (!IsValidTenantName(name)) {
            continue;
        }
        if (size + kTenantEntryOverhead + name.size() > kMaxPayload) {
            break;
        }
        w.Put(static_cast<uint8_t>(name.size()));
        w.PutBytes(AsBytes(name));
        size += kTenantEntryOverhead + name.size();
        ++*count;
    }
    return w.Take();
}

int64_t DecodeTenantList(std::span<const std::byte> data, int64_t count,
                         std::vector<std::string>* out) {
    out->clear();
    ByteReader r(data);
    for (int64_t i = 0; i < count; ++i) {
        uint8_t len;
        std::string_view name;
        if (!r.Get(&len) || !r.GetString(len, &name) || !IsValidTenantName(name)) {
            return -EINVAL;
        }
        out->emplace_back(name);
    }
    return r.done() ? 0 : -EINVAL;
}

}  // namespace tw::transport
