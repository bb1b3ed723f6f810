#include "transport/control.h"

namespace tw::transport {
namespace {

// Sends a session-0 request and returns its reply frame, checked to be the matching reply.
Result<Frame> ControlCall(Link& link, const Request& req, uint64_t request_id) {
    TW_RETURN_IF_ERROR(
        link.Send(MakeRequestFrame(req.type, kControlSession, request_id, EncodeRequest(req))));
    TW_ASSIGN_OR_RETURN(Frame f, link.Receive());
    if (f.header.type != ReplyType(req.type) || f.header.request_id != request_id ||
        f.header.session_id != kControlSession) {
        return Error(EIO, "control: reply does not match the request");
    }
    return f;
}

Result<Reply> DecodeOrFail(const Frame& f, const char* what) {
    Reply reply;
    if (DecodeReply(f.payload, &reply) < 0) {
        return Error(EIO, std::string("control: malformed reply to ") + what);
    }
    if (reply.result < 0) {
        return Error(static_cast<int>(-reply.result), std::string("control: ") + what);
    }
    return reply;
}

}  // namespace

Result<HelloInfo> Hello(Link& link, uint64_t request_id) {
    TW_ASSIGN_OR_RETURN(
        Frame f, ControlCall(link, {.type = MsgType::kHello, .arg = kAbiVersion}, request_id));
    TW_ASSIGN_OR_RETURN(Reply reply, DecodeOrFail(f, "hello"));
    HelloInfo info;
    if (DecodeHelloData(reply.data, &info) < 0) {
        return Error(EIO, "control: malformed hello data");
    }
    if (info.version != kAbiVersion) {
        return Error(EPROTO, "control: server speaks abi version " + std::to_string(info.version));
    }
    return info;
}

Result<std::vector<std::string>> ListTenants(Link& link, uint64_t request_id) {
    TW_ASSIGN_OR_RETURN(Frame f, ControlCall(link, {.type = MsgType::kTenantList}, request_id));
    TW_ASSIGN_OR_RETURN(Reply reply, DecodeOrFail(f, "tenant list"));
    std::vector<std::string> names;
    if (DecodeTenantList(reply.data, reply.result, &names) < 0) {
        return Error(EIO, "control: malformed tenant list");
    }
    return names;
}

Result<void> Shutdown(Link& link, uint64_t request_id) {
    TW_ASSIGN_OR_RETURN(Frame f, ControlCall(link, {.type = MsgType::kShutdown}, request_id));
    TW_ASSIGN_OR_RETURN(Reply reply, DecodeOrFail(f, "shutdown"));
    (void)reply;
    return Ok();
}

}  // namespace tw::transport
