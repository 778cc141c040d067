#include "shard/parallel/tcp_socket.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "common/error.h"

namespace tg::parallel::net {
namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

struct AddrInfoDeleter {
  void operator()(addrinfo* info) const { freeaddrinfo(info); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;

// getaddrinfo for TCP; returns nullptr and sets *error when the name does not resolve.
AddrInfoPtr Resolve(const std::string& host, uint16_t port, bool passive, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* result = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &result);
  if (rc != 0) {
    *error = "cannot resolve '" + host + "': " + gai_strerror(rc);
    return nullptr;
  }
  return AddrInfoPtr(result);
}

// Milliseconds left until `deadline`, clamped to [0, INT_MAX] for poll().
int MillisLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1 << 30));
}

// Polls one fd for `events`; false on timeout (sets *error) or poll failure.
bool WaitFor(int fd, short events, Clock::time_point deadline, std::string* error) {
  while (true) {
    pollfd p{.fd = fd, .events = events, .revents = 0};
    int rc = poll(&p, 1, MillisLeft(deadline));
    if (rc > 0) return true;
    if (rc == 0) {
      *error = "timed out";
      return false;
    }
    if (errno != EINTR) {
      *error = ErrnoText(errno);
      return false;
    }
  }
}

bool SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

uint16_t BoundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return 0;
}

// socket + SO_REUSEADDR + bind + listen on one address; on failure an invalid socket, with
// *error and *err_no set.
Socket ListenOn(const sockaddr* addr, socklen_t len, int family, std::string* error, int* err_no) {
  Socket socket(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  if (!socket.valid() ||
      setsockopt(socket.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(socket.fd(), addr, len) != 0 || listen(socket.fd(), 128) != 0 ||
      !SetNonBlocking(socket.fd())) {
    *err_no = errno;
    *error = ErrnoText(errno);
    return {};
  }
  return socket;
}

}  // namespace

Socket::~Socket() {
  if (fd_ >= 0) close(fd_);
}
Socket::Socket(Socket&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

Socket Listen(const std::string& host, uint16_t port, uint16_t* bound_port) {
  std::string error;
  AddrInfoPtr addrs = Resolve(host, port, /*passive=*/true, &error);
  TG_CHECK(addrs != nullptr, kUnavailable, "bootstrap: " + error);
  for (addrinfo* a = addrs.get(); a != nullptr; a = a->ai_next) {
    int err_no = 0;
    Socket socket = ListenOn(a->ai_addr, a->ai_addrlen, a->ai_family, &error, &err_no);
    if (!socket.valid() && err_no == EADDRNOTAVAIL) {
      // The master address is not one of this host's (NAT, a load-balanced name): listen on
      // every interface of the same family instead.
      AddrInfoPtr any = Resolve("", port, /*passive=*/true, &error);
      for (addrinfo* b = any.get(); b != nullptr && !socket.valid(); b = b->ai_next) {
        if (b->ai_family == a->ai_family) {
          socket = ListenOn(b->ai_addr, b->ai_addrlen, b->ai_family, &error, &err_no);
        }
      }
    }
    if (socket.valid()) {
      *bound_port = BoundPort(socket.fd());
      return socket;
    }
  }
  throw Error(ErrorKind::kUnavailable,
              "bootstrap: cannot listen on " + host + ":" + std::to_string(port) + ": " + error);
}

Socket Accept(const Socket& listener, std::chrono::milliseconds timeout) {
  std::string error;
  if (!WaitFor(listener.fd(), POLLIN, Clock::now() + timeout, &error)) return {};
  return Socket(accept4(listener.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

Socket Connect(const std::string& host, uint16_t port, Clock::time_point deadline,
               std::string* error) {
  AddrInfoPtr addrs = Resolve(host, port, /*passive=*/false, error);
  if (addrs == nullptr) return {};
  for (addrinfo* a = addrs.get(); a != nullptr; a = a->ai_next) {
    Socket socket(::socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!socket.valid()) {
      *error = ErrnoText(errno);
      continue;
    }
    if (connect(socket.fd(), a->ai_addr, a->ai_addrlen) == 0) return socket;
    if (errno != EINPROGRESS) {
      *error = ErrnoText(errno);
      continue;
    }
    if (!WaitFor(socket.fd(), POLLOUT, deadline, error)) continue;
    int so_error = 0;
    socklen_t len = sizeof(so_error);
    getsockopt(socket.fd(), SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error == 0) return socket;
    *error = ErrnoText(so_error);
  }
  return {};
}

bool SendAll(const Socket& socket, const void* data, size_t size, Clock::time_point deadline,
             std::string* error) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = send(socket.fd(), bytes, size, MSG_NOSIGNAL);
    if (n > 0) {
      bytes += n;
      size -= static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (!WaitFor(socket.fd(), POLLOUT, deadline, error)) return false;
    } else {
      *error = ErrnoText(errno);
      return false;
    }
  }
  return true;
}

bool RecvAll(const Socket& socket, void* data, size_t size, Clock::time_point deadline,
             std::string* error) {
  auto* bytes = static_cast<uint8_t*>(data);
  while (size > 0) {
    ssize_t n = recv(socket.fd(), bytes, size, 0);
    if (n > 0) {
      bytes += n;
      size -= static_cast<size_t>(n);
    } else if (n == 0) {
      *error = "connection closed by peer";
      return false;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      if (!WaitFor(socket.fd(), POLLIN, deadline, error)) return false;
    } else {
      *error = ErrnoText(errno);
      return false;
    }
  }
  return true;
}

bool WaitReadable(const Socket& socket, std::chrono::milliseconds timeout) {
  std::string error;
  return WaitFor(socket.fd(), POLLIN, Clock::now() + timeout, &error);
}

std::string LocalAddress(const Socket& socket) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(socket.fd(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "";
  char host[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof(host), nullptr, 0,
                  NI_NUMERICHOST) != 0) {
    return "";
  }
  return host;
}

}  // namespace tg::parallel::net
