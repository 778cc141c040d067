// The sharded gRPC client: the same call to every tensor-parallel rank, concurrently.
//
// Generations come from rank 0 (all ranks compute the same tokens); timings are the slowest
// rank's; any failed rank fails the whole call with tg::Error(kUnavailable), which the engine
// turns into 424 for the in-flight requests. gRPC stays behind a pimpl. The engine sees it only
// as a ShardClient (engine types; router/client/convert.cc converts).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "generate.pb.h"
#include "router/client/shard_client.h"

namespace tg::client {

class ShardedClient : public ShardClient {
 public:
  // Connects to the master shard's socket path (e.g. /tmp/text-gen-server-0), asks it for the
  // addresses of all ranks (ServiceDiscovery) and connects to each.
  static std::unique_ptr<ShardedClient> Connect(const std::string& master_uds_path,
                                                std::chrono::seconds connect_timeout);
  ~ShardedClient() override;

  size_t world_size() const;
  const std::vector<std::string>& urls() const;

  // Rank 0's answer; throws if ranks disagree on block size.
  textgen::v1::InfoResponse Info();
  void Health();
  // Minimum max_supported_total_tokens and num_blocks over ranks.
  textgen::v1::WarmupResponse Warmup(const textgen::v1::WarmupRequest& request);
  std::unique_ptr<PendingStep> StartPrefill(const PrefillCall& call) override;
  std::unique_ptr<PendingStep> StartDecode(const DecodeCall& call) override;
  void ClearCache(std::optional<uint64_t> batch_id) override;

 private:
  struct Impl;
  explicit ShardedClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tg::client
