// Runs the real text-gen-shard binary on a unix socket in a fresh temp directory and hands out
// a gRPC stub to it. Stop() sends SIGTERM and returns the exit status.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "generate.grpc.pb.h"

namespace tg::shard::testing {

class ShardProcess {
 public:
  // Starts `text-gen-shard --model-id model --uds-path <tmp>/shard <extra_args>` and waits until
  // Health answers (throws std::runtime_error after a timeout or if the process dies).
  ShardProcess(const std::string& model, const std::vector<std::string>& extra_args);
  ~ShardProcess();

  textgen::v1::TextGenerationService::Stub& stub() { return *stub_; }
  const std::string& socket_path() const { return socket_path_; }
  const std::string& log_path() const { return log_path_; }
  // SIGTERM, then waits; returns the exit code (or 128 + signal).
  int Stop();

 private:
  std::string dir_, socket_path_, log_path_;
  pid_t pid_ = -1;
  std::unique_ptr<textgen::v1::TextGenerationService::Stub> stub_;
};

}  // namespace tg::shard::testing
