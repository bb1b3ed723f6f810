#include "memory/vma.h"

#include <algorithm>
#include <cerrno>
#include <iterator>

namespace tw::hyperlight {

namespace {

// True when `b` starts where `a` ends and the two would be one area.
bool Mergeable(const Vma& a, const Vma& b) {
    return a.end == b.start && a.prot == b.prot && a.kind == b.kind;
}

}  // namespace

const Vma* VmaSet::Find(uint64_t addr) const {
    auto it = by_start_.upper_bound(addr);
    if (it == by_start_.begin()) {
        return nullptr;
    }
    --it;
    return addr < it->second.end ? &it->second : nullptr;
}

bool VmaSet::IsFree(uint64_t start, uint64_t end) const {
    auto it = by_start_.lower_bound(start);
    if (it != by_start_.end() && it->second.start < end) {
        return false;
    }
    if (it != by_start_.begin() && std::prev(it)->second.end > start) {
        return false;
    }
    return true;
}

bool VmaSet::IsFullyMapped(uint64_t start, uint64_t end) const {
    uint64_t cursor = start;
    while (cursor < end) {
        const Vma* vma = Find(cursor);
        if (vma == nullptr) {
            return false;
        }
        cursor = vma->end;
    }
    return true;
}

std::optional<uint64_t> VmaSet::FindFreeTopDown(uint64_t len, uint64_t lowest,
                                                uint64_t highest) const {
    if (len == 0 || highest < lowest || highest - lowest < len) {
        return std::nullopt;
    }
    // Walk the areas below `highest` downwards; the gap under the current top ends at
    // gap_end and starts at the end of the next area down.
    uint64_t gap_end = highest;
    auto it = by_start_.lower_bound(highest);
    while (it != by_start_.begin()) {
        const Vma& below = std::prev(it)->second;
        if (below.end <= lowest) {
            break;
        }
        uint64_t gap_start = std::max(below.end, lowest);
        if (gap_end >= gap_start && gap_end - gap_start >= len) {
            return gap_end - len;
        }
        gap_end = std::min(gap_end, below.start);
        if (gap_end <= lowest) {
            return std::nullopt;
        }
        --it;
    }
    if (gap_end - lowest >= len) {
        return gap_end - len;
    }
    return std::nullopt;
}

size_t VmaSet::CountAfter(uint64_t start, uint64_t end, const std::vector<Vma>& inside) const {
    // Only the areas that intersect the range and its two neighbours can change; rebuild that
    // stretch as it will be and count it with its merges.
    std::vector<Vma> stretch;
    size_t replaced = 0;
    auto it = by_start_.lower_bound(start);
    if (it != by_start_.begin() && std::prev(it)->second.end > start) {
        --it;
    }
    if (it != by_start_.begin()) {
        stretch.push_back(std::prev(it)->second);
        ++replaced;
    }
    std::optional<Vma> right;
    for (; it != by_start_.end() && it->second.start < end; ++it) {
        ++replaced;
        const Vma& vma = it->second;
        if (vma.start < start) {
            Vma left = vma;
            left.end = start;
            stretch.push_back(left);
        }
        if (vma.end > end) {
            right = vma;
            right->start = end;
        }
    }
    stretch.insert(stretch.end(), inside.begin(), inside.end());
    if (right) {
        stretch.push_back(*right);
    }
    if (it != by_start_.end()) {
        stretch.push_back(it->second);
        ++replaced;
    }
    size_t count = 0;
    for (size_t i = 0; i < stretch.size(); ++i) {
        if (i == 0 || !Mergeable(stretch[i - 1], stretch[i])) {
            ++count;
        }
    }
    return by_start_.size() - replaced + count;
}

Result<void> VmaSet::CheckCount(size_t count) const {
    // A change that adds no area is always allowed, so a program at the cap can still unmap.
    if (count > max_areas_ && count > by_start_.size()) {
        return Error(ENOMEM, "too many memory areas");
    }
    return Ok();
}

Result<void> VmaSet::Insert(const Vma& vma) {
    TW_RETURN_IF_ERROR(CheckCount(CountAfter(vma.start, vma.end, {vma})));
    by_start_[vma.start] = vma;
    MergeAround(vma.start);
    MergeAround(vma.end);
    return Ok();
}

Result<void> VmaSet::Replace(const Vma& vma) {
    TW_RETURN_IF_ERROR(CheckCount(CountAfter(vma.start, vma.end, {})));
    TW_RETURN_IF_ERROR(CheckCount(CountAfter(vma.start, vma.end, {vma})));
    (void)Remove(vma.start, vma.end);  // checked above
    return Insert(vma);                // likewise, on the set with the range now free
}

void VmaSet::SplitAt(uint64_t addr) {
    auto it = by_start_.upper_bound(addr);
    if (it == by_start_.begin()) {
        return;
    }
    --it;
    Vma& vma = it->second;
    if (vma.start < addr && addr < vma.end) {
        Vma upper = vma;
        upper.start = addr;
        vma.end = addr;
        by_start_[addr] = upper;
    }
}

// Merges the area ending at `addr` with the one starting there when they are alike.
void VmaSet::MergeAround(uint64_t addr) {
    auto next = by_start_.find(addr);
    if (next == by_start_.end() || next == by_start_.begin()) {
        return;
    }
    auto prev = std::prev(next);
    if (prev->second.end == addr && prev->second.prot == next->second.prot &&
        prev->second.kind == next->second.kind) {
        prev->second.end = next->second.end;
        by_start_.erase(next);
    }
}

Result<std::vector<Vma>> VmaSet::Remove(uint64_t start, uint64_t end) {
    std::vector<Vma> removed;
    if (start >= end) {
        return removed;
    }
    TW_RETURN_IF_ERROR(CheckCount(CountAfter(start, end, {})));
    SplitAt(start);
    SplitAt(end);
    auto it = by_start_.lower_bound(start);
    while (it != by_start_.end() && it->second.start < end) {
        removed.push_back(it->second);
        it = by_start_.erase(it);
    }
    return removed;
}

Result<std::vector<Vma>> VmaSet::Protect(uint64_t start, uint64_t end, int prot) {
    std::vector<Vma> changed;
    if (start >= end) {
        return changed;
    }
    std::vector<Vma> inside;
    for (auto it = by_start_.lower_bound(start); it != by_start_.end() && it->second.start < end;
         ++it) {
        inside.push_back(it->second);
    }
    if (const Vma* first = Find(start); first != nullptr && first->start < start) {
        inside.insert(inside.begin(), *first);
    }
    for (Vma& piece : inside) {
        piece.start = std::max(piece.start, start);
        piece.end = std::min(piece.end, end);
        piece.prot = prot;
    }
    TW_RETURN_IF_ERROR(CheckCount(CountAfter(start, end, inside)));
    SplitAt(start);
    SplitAt(end);
    for (auto it = by_start_.lower_bound(start); it != by_start_.end() && it->second.start < end;
         ++it) {
        if (it->second.prot != prot) {
            changed.push_back(it->second);
            it->second.prot = prot;
        }
    }
    // Re-merge every boundary inside the range and at both of its ends.
    std::vector<uint64_t> boundaries;
    for (auto it = by_start_.lower_bound(start); it != by_start_.end() && it->second.start <= end;
         ++it) {
        boundaries.push_back(it->second.start);
    }
    for (uint64_t b : boundaries) {
        MergeAround(b);
    }
    return changed;
}

std::vector<Vma> VmaSet::All() const {
    std::vector<Vma> all;
    all.reserve(by_start_.size());
    for (const auto& [start, vma] : by_start_) {
        all.push_back(vma);
    }
    return all;
}

}  // namespace tw::hyperlight
