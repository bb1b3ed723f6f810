#include "common/result.h"

#include <cstring>

namespace tw {

std::string Error::ToString() const {
    if (errno_ == 0) {
        return message_;
    }
    return message_ + ": " + std::strerror(errno_);
}

}  // namespace tw
