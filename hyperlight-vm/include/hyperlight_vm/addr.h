// Strong address types for the micro-VM: a guest-physical address cannot be passed where a
// guest-virtual one is expected, and neither converts to a host pointer. The only way from a
// guest address to host bytes is GuestMemory::Bytes (guest-physical) or the memory manager's
// user-pointer translation (guest-virtual), both bounds-checked.
#pragma once

#include <compare>
#include <cstdint>

namespace tw::hyperlight {

inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint64_t kPageShift = 12;

constexpr uint64_t PageDown(uint64_t v) {
    return v & ~(kPageSize - 1);
}
// Callers pass values below 2^64 - kPageSize (addresses and lengths that were range-checked).
constexpr uint64_t PageUp(uint64_t v) {
    return (v + kPageSize - 1) & ~(kPageSize - 1);
}
constexpr bool IsPageAligned(uint64_t v) {
    return (v & (kPageSize - 1)) == 0;
}

template <typename Tag>
class Addr {
public:
    constexpr Addr() = default;
    constexpr explicit Addr(uint64_t v) : v_(v) {}
    constexpr uint64_t value() const { return v_; }

    constexpr Addr operator+(uint64_t off) const { return Addr(v_ + off); }
    constexpr uint64_t operator-(Addr other) const { return v_ - other.v_; }
    constexpr Addr PageDown() const { return Addr(hyperlight::PageDown(v_)); }
    constexpr uint64_t PageOffset() const { return v_ & (kPageSize - 1); }
    constexpr bool IsPageAligned() const { return hyperlight::IsPageAligned(v_); }
    friend constexpr auto operator<=>(Addr, Addr) = default;

private:
    uint64_t v_ = 0;
};

using GuestPhysAddr = Addr<struct GuestPhysTag>;
using GuestVirtAddr = Addr<struct GuestVirtTag>;

}  // namespace tw::hyperlight
