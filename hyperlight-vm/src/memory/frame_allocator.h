// FrameAllocator: hands out the guest-physical pages of the frame pool, one 4 KiB frame at a
// time. A frame comes back zeroed: never-used frames are zero in a fresh anonymous mapping,
// and the memory manager discards every frame it frees before returning it here.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "hyperlight_vm/addr.h"

namespace tw::hyperlight {

class FrameAllocator {
public:
    // Manages the frames of [first, end), both page aligned.
    FrameAllocator(GuestPhysAddr first, GuestPhysAddr end);

    std::optional<GuestPhysAddr> Allocate();
    // `frame` must have come from Allocate() and be zero again.
    void Free(GuestPhysAddr frame);

    uint64_t free_frames() const { return (end_ - next_) / kPageSize + free_.size(); }
    uint64_t total_frames() const { return total_; }

private:
    uint64_t next_;  // bump pointer over never-used frames
    uint64_t end_;
    uint64_t total_;
    std::vector<uint64_t> free_;  // recycled frames, used first (LIFO)
};

}  // namespace tw::hyperlight
