// Minimal blocking TCP helpers with deadlines, for the rank bootstrap (bootstrap.cc). Every call
// that can wait takes an absolute deadline, so no peer can make a rank hang.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace tg::parallel::net {

using Clock = std::chrono::steady_clock;

// An owned file descriptor.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket();
  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// Listens on host:port; binds the wildcard address of the same family when `host` is not an
// address of this machine (e.g. a name that resolves to a NAT address). port 0 takes any free
// port; *bound_port receives the port bound. Throws tg::Error(kUnavailable) on failure.
Socket Listen(const std::string& host, uint16_t port, uint16_t* bound_port);

// Waits until a connection arrives or `timeout` passes; returns an invalid socket on timeout.
Socket Accept(const Socket& listener, std::chrono::milliseconds timeout);

// One connection attempt to host:port that gives up at `deadline`. On failure returns an invalid
// socket and sets *error to a short reason ("Connection refused", "cannot resolve ...").
Socket Connect(const std::string& host, uint16_t port, Clock::time_point deadline,
               std::string* error);

// Send/receive exactly `size` bytes before `deadline`. On failure return false and set *error
// ("timed out", "connection closed by peer", strerror text).
bool SendAll(const Socket& socket, const void* data, size_t size, Clock::time_point deadline,
             std::string* error);
bool RecvAll(const Socket& socket, void* data, size_t size, Clock::time_point deadline,
             std::string* error);

// True once `socket` has data to read or the peer closed it, false when `timeout` passes first.
bool WaitReadable(const Socket& socket, std::chrono::milliseconds timeout);

// The numeric address of this side of a connected socket ("10.0.0.2", "::1"): the interface
// that routes to the peer, which is what other hosts can reach this one on. "" on failure.
std::string LocalAddress(const Socket& socket);

}  // namespace tg::parallel::net
