#include "memory/frame_allocator.h"

namespace tw::hyperlight {

FrameAllocator::FrameAllocator(GuestPhysAddr first, GuestPhysAddr end)
    : next_(first.value()),
      end_(end.value() > first.value() ? end.value() : first.value()),
      total_((end_ - next_) / kPageSize) {}

std::optional<GuestPhysAddr> FrameAllocator::Allocate() {
    if (!free_.empty()) {
        uint64_t frame = free_.back();
        free_.pop_back();
        return GuestPhysAddr(frame);
    }
    if (end_ - next_ < kPageSize) {
        return std::nullopt;
    }
    uint64_t frame = next_;
    next_ += kPageSize;
    return GuestPhysAddr(frame);
}

void FrameAllocator::Free(GuestPhysAddr frame) {
    free_.push_back(frame.value());
}

}  // namespace tw::hyperlight
