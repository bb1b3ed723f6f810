// System call names for diagnostics.
#pragma once

#include <cstdint>
#include <string_view>

namespace tw::hyperlight {

// "openat" for 257; "unknown" for a number Linux does not define.
std::string_view SyscallName(uint64_t nr);

}  // namespace tw::hyperlight
