// Asking a shard whether it serves: one Health RPC over its unix socket. gRPC stays in the .cc.
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace tg::launcher {

class ShardHealthProbe {
 public:
  explicit ShardHealthProbe(std::string socket_path);
  ~ShardHealthProbe();
  ShardHealthProbe(ShardHealthProbe&&) noexcept;
  ShardHealthProbe& operator=(ShardHealthProbe&&) noexcept;

  const std::string& socket_path() const { return socket_path_; }
  // True when the socket exists and Health answers OK within `timeout`; the last error is kept
  // for the message shown if the shard never becomes healthy.
  bool Check(std::chrono::milliseconds timeout);
  const std::string& last_error() const { return last_error_; }

 private:
  struct Channel;
  std::string socket_path_;
  std::unique_ptr<Channel> channel_;
  std::string last_error_ = "socket not created yet";
};

}  // namespace tg::launcher
