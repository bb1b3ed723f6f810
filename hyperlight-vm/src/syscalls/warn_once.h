// WarnOnce: remembers which codes (system call numbers, ioctl requests) were already logged,
// so each is logged once, and remembers only so many.
//
// The codes come from the program, which can choose billions of distinct ones: without a cap
// the set, and the log, would grow for as long as the program keeps asking.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_set>

namespace tw::hyperlight {

class WarnOnce {
public:
    enum class Verdict {
        kLog,       // first time for this code: log it
        kLogLimit,  // the cap was just reached: say that further codes go unlogged
        kQuiet,     // logged before, or the cap was passed earlier: log nothing
    };

    explicit WarnOnce(size_t cap) : cap_(cap) {}

    Verdict Check(uint64_t code) {
        if (seen_.contains(code) || limit_reported_) {
            return Verdict::kQuiet;
        }
        if (seen_.size() >= cap_) {
            limit_reported_ = true;
            return Verdict::kLogLimit;
        }
        seen_.insert(code);
        return Verdict::kLog;
    }

    size_t size() const { return seen_.size(); }

private:
    size_t cap_;
    std::unordered_set<uint64_t> seen_;
    bool limit_reported_ = false;
};

}  // namespace tw::hyperlight
