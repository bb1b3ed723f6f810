// Logging: one spdlog logger per component, so every line carries its component prefix.
//
// Levels: error = a VM or request failed; warn = degraded but continuing; info = lifecycle
// events (a few per VM); debug = off by default. Messages are lower-case fragments with
// key=value facts: "vcpu exit unhandled: exit_reason=17 rip=0xffff8000". Hot paths count,
// they do not log.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace tw {

// Returns the logger for `component` ("vmm", "io-server", "agent", ...), creating it on first
// use. All loggers write to stderr.
std::shared_ptr<spdlog::logger> Logger(const std::string& component);

// Sets the level of every logger, present and future: "error", "warn", "info", "debug".
void SetLogLevel(const std::string& level);

}  // namespace tw
