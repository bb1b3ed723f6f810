// The agent's control socket: one JSON object per line each way, over a Unix stream socket in
// the run directory (mode 0600, root only).
//
//   -> {"op":"status"}     <- {"ok":true,"state":"running","accelerator":"tcg",...}
//   -> {"op":"stop"}       <- {"ok":true}            (the agent then shuts down)
//
// A failed request answers {"ok":false,"error":"..."}.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace tw::agent {

// Connects to a Unix stream socket; ECONNREFUSED/ENOENT mean nobody listens there.
Result<UniqueFd> ConnectUnix(const std::string& path);

// Binds and listens on `path` (replacing a stale socket file) with mode 0600.
Result<UniqueFd> ListenUnix(const std::string& path);

// Sends one request line and reads one reply line, within `timeout`.
Result<boost::json::object> ControlCall(const std::string& socket_path,
                                        const boost::json::object& request,
                                        std::chrono::milliseconds timeout);

// Line framing for the server side; lines over 64 KiB are an error.
Result<std::string> ReadLine(int fd, std::chrono::milliseconds timeout);
Result<void> WriteAll(int fd, const std::string& data);

}  // namespace tw::agent
