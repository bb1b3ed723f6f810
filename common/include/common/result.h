// Result<T>: a value or an Error, used instead of exceptions across Twinwall's host code.
//
// An Error carries a Linux errno value (so it can travel across the transport unchanged, the
// way a forwarded system call reports failure) and a short human-readable context.
//
//   Result<UniqueFd> OpenRoot(const std::string& path) {
//       int fd = open(path.c_str(), O_DIRECTORY | O_CLOEXEC);
//       if (fd < 0) return Error::FromErrno("open tenant root " + path);
//       return UniqueFd(fd);
//   }
//
//   TW_ASSIGN_OR_RETURN(UniqueFd root, OpenRoot(dir));
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace tw {

class Error {
public:
    Error(int err, std::string message) : errno_(err), message_(std::move(message)) {}

    // Captures the current errno; call right after the failing library call.
    static Error FromErrno(std::string context) { return Error(errno, std::move(context)); }

    int err() const { return errno_; }
    const std::string& message() const { return message_; }

    // "context: strerror(errno)" for logs and command-line output.
    std::string ToString() const;

private:
    int errno_;
    std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design, like StatusOr.
    Result(Error error) : v_(std::move(error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const { return std::get<1>(v_); }
    Error&& take_error() { return std::get<1>(std::move(v_)); }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return error_; }
    Error&& take_error() { return std::move(error_); }

private:
    Error error_{0, {}};
    bool ok_ = true;
};

inline Result<void> Ok() { return Result<void>(); }

// Broken invariants only; never for input from a guest, a peer or a user.
[[noreturn]] inline void CheckFailed(const char* file, int line, const char* expr) {
    std::fprintf(stderr, "%s:%d: check failed: %s\n", file, line, expr);
    std::abort();
}

}  // namespace tw

#define TW_CONCAT_INNER_(a, b) a##b
#define TW_CONCAT_(a, b) TW_CONCAT_INNER_(a, b)

#define TW_RETURN_IF_ERROR(expr)                  \
    do {                                          \
        auto tw_status_ = (expr);                 \
        if (!tw_status_.ok()) {                   \
            return tw_status_.take_error();       \
        }                                         \
    } while (0)

#define TW_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
    auto tmp = (expr);                            \
    if (!tmp.ok()) {                              \
        return tmp.take_error();                  \
    }                                             \
    lhs = std::move(tmp).value()

#define TW_ASSIGN_OR_RETURN(lhs, expr) \
    TW_ASSIGN_OR_RETURN_IMPL_(TW_CONCAT_(tw_result_, __LINE__), lhs, expr)

#define TW_CHECK(expr)                               \
    do {                                             \
        if (!(expr)) {                               \
            ::tw::CheckFailed(__FILE__, __LINE__, #expr); \
        }                                            \
    } while (0)
