// The stream link: frames over a connected byte stream (Unix socket, socketpair, pipe-like
// character device such as a virtio-serial port).
//
// Close() must wake a Receive() blocked in another thread:
//  - on a socket, shutdown(SHUT_RDWR) ends the blocked recv() with end-of-stream;
//  - on anything else (a virtio-serial port, a pipe, a tty) there is no such call, so
//    Receive() waits in poll() on the fd plus an eventfd that Close() signals, and reads only
//    when poll says the fd is readable. The fd itself is closed by the destructor, never by
//    Close(), so a concurrent reader never sees the number reused.
// Writes never raise SIGPIPE: sockets use MSG_NOSIGNAL; for other fds SIGPIPE is blocked in
// the writing thread around the write and a SIGPIPE the write itself raised is consumed.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "transport/codec.h"
#include "transport/link.h"

namespace tw::transport {
namespace {

// Read buffer: a frame's header and a small payload usually arrive in one read().
constexpr size_t kReadBufferSize = 64 * 1024;

class StreamLink final : public Link {
public:
    explicit StreamLink(UniqueFd fd) : fd_(std::move(fd)) {
        struct stat st;
        is_socket_ = fstat(fd_.get(), &st) == 0 && S_ISSOCK(st.st_mode);
        if (!is_socket_) {
            wake_.Reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        }
        rbuf_.resize(kReadBufferSize);
    }

    ~StreamLink() override { Close(); }

    Result<void> Send(const Frame& frame) override {
        if (frame.payload.size() > kMaxPayload) {
            return Error(EMSGSIZE, "stream link: payload over kMaxPayload");
        }
        FrameHeader h = frame.header;
        h.magic = kMagic;
        h.version = kAbiVersion;
        h.payload_len = static_cast<uint32_t>(frame.payload.size());

        std::lock_guard lock(send_mu_);
        if (closed_.load()) {
            return Error(EPIPE, "stream link closed");
        }
        iovec iov[2] = {
            {.iov_base = &h, .iov_len = sizeof(h)},
            {.iov_base = const_cast<std::byte*>(frame.payload.data()),
             .iov_len = frame.payload.size()},
        };
        Result<void> written = WriteAll(iov, frame.payload.empty() ? 1 : 2);
        if (!written.ok()) {
            // A failed write may have sent part of the frame; whatever came next would be read
            // as garbage, so the link is finished for both directions.
            Close();
        }
        return written;
    }

    Result<Frame> Receive() override {
        Frame f;
        std::byte hbuf[sizeof(FrameHeader)];
        TW_RETURN_IF_ERROR(ReadExact(hbuf, sizeof(hbuf)));
        f.header = HeaderFromBytes(std::span<const std::byte, sizeof(FrameHeader)>(hbuf));
        if (ValidateHeader(f.header) < 0) {
            // The stream is no longer in step with the peer; nothing after this can be trusted.
            return Error(EPROTO, "stream link: bad frame header");
        }
        f.payload.resize(f.header.payload_len);
        TW_RETURN_IF_ERROR(ReadExact(f.payload.data(), f.payload.size()));
        return f;
    }

    void Close() override {
        if (closed_.exchange(true)) {
            return;
        }
        if (is_socket_) {
            shutdown(fd_.get(), SHUT_RDWR);
        } else if (wake_.valid()) {
            uint64_t one = 1;
            // An eventfd write of 1 cannot fail short of counter overflow, which one write
            // per link lifetime never reaches.
            (void)!write(wake_.get(), &one, sizeof(one));
        }
    }

private:
    Result<void> WriteAll(iovec* iov, int iovcnt) {
        while (iovcnt > 0) {
            ssize_t n = WriteOnce(iov, iovcnt);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno == EAGAIN && (fcntl(fd_.get(), F_GETFL) & O_NONBLOCK) != 0) {
                    pollfd p{.fd = fd_.get(), .events = POLLOUT, .revents = 0};
                    (void)poll(&p, 1, -1);
                    continue;
                }
                if (errno == EAGAIN) {
                    // A blocking fd says EAGAIN only when its SO_SNDTIMEO ran out: the peer
                    // stopped reading, and waiting longer is what the timeout forbids.
                    return Error(ETIMEDOUT, "stream link: write: the peer stopped reading");
                }
                int err = errno == ECONNRESET ? EPIPE : errno;
                return Error(err, "stream link: write");
            }
            // Advance past what was written; a partial write leaves a partial iovec.
            size_t left = static_cast<size_t>(n);
            while (iovcnt > 0 && left >= iov->iov_len) {
                left -= iov->iov_len;
                ++iov;
                --iovcnt;
            }
            if (iovcnt > 0) {
                iov->iov_base = static_cast<char*>(iov->iov_base) + left;
                iov->iov_len -= left;
            }
        }
        return Ok();
    }

    ssize_t WriteOnce(iovec* iov, int iovcnt) {
        if (is_socket_) {
            msghdr msg{};
            msg.msg_iov = iov;
            msg.msg_iovlen = static_cast<size_t>(iovcnt);
            return sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
        }
        // Block SIGPIPE for this thread only; if the write raises one and none was pending
        // before, take it off the pending set so it is never delivered.
        sigset_t pipe_set, old_set, pending;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        sigemptyset(&pending);
        pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
        sigpending(&pending);
        bool was_pending = sigismember(&pending, SIGPIPE) == 1;

        ssize_t n = writev(fd_.get(), iov, iovcnt);
        int saved = errno;
        if (n < 0 && saved == EPIPE && !was_pending) {
            timespec zero{};
            while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
            }
        }
        pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
        errno = saved;
        return n;
    }

    // Copies `len` bytes into `dst`, from the read buffer first. End of stream fails with EPIPE
    // whether it comes between frames (a clean close) or inside one (a truncated frame).
    Result<void> ReadExact(std::byte* dst, size_t len) {
        while (len > 0) {
            if (rpos_ < rend_) {
                size_t n = std::min(len, rend_ - rpos_);
                std::memcpy(dst, rbuf_.data() + rpos_, n);
                rpos_ += n;
                dst += n;
                len -= n;
                continue;
            }
            // Large payloads go straight to their destination; small reads refill the buffer.
            bool direct = len >= rbuf_.size();
            ssize_t n;
            TW_RETURN_IF_ERROR(
                ReadSome(direct ? dst : rbuf_.data(), direct ? len : rbuf_.size(), &n));
            if (direct) {
                dst += n;
                len -= static_cast<size_t>(n);
            } else {
                rpos_ = 0;
                rend_ = static_cast<size_t>(n);
            }
        }
        return Ok();
    }

    // One read of at least one byte; EPIPE at end of stream or after Close().
    Result<void> ReadSome(std::byte* dst, size_t cap, ssize_t* got) {
        for (;;) {
            if (closed_.load()) {
                return Error(EPIPE, "stream link closed");
            }
            if (!is_socket_) {
                TW_RETURN_IF_ERROR(WaitReadable());
                if (closed_.load()) {
                    return Error(EPIPE, "stream link closed");
                }
            }
            ssize_t n = read(fd_.get(), dst, cap);
            if (n > 0) {
                *got = n;
                return Ok();
            }
            if (n == 0) {
                return Error(EPIPE, "stream link: end of stream");
            }
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            int err = errno == ECONNRESET ? EPIPE : errno;
            return Error(err, "stream link: read");
        }
    }

    Result<void> WaitReadable() {
        pollfd p[2] = {
            {.fd = fd_.get(), .events = POLLIN, .revents = 0},
            {.fd = wake_.get(), .events = POLLIN, .revents = 0},
        };
        for (;;) {
            int n = poll(p, wake_.valid() ? 2 : 1, -1);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                return Error::FromErrno("stream link: poll");
            }
            // POLLHUP/POLLERR fall through to read(), which reports EOF or the error.
            return Ok();
        }
    }

    UniqueFd fd_;
    UniqueFd wake_;
    bool is_socket_ = false;
    std::atomic<bool> closed_{false};
    std::mutex send_mu_;
    std::vector<std::byte> rbuf_;
    size_t rpos_ = 0;
    size_t rend_ = 0;
};

}  // namespace

std::unique_ptr<Link> MakeStreamLink(UniqueFd fd) {
    return std::make_unique<StreamLink>(std::move(fd));
}

}  // namespace tw::transport
