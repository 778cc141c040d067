// The gRPC TextGenerationService of one shard rank. Calls are serialised on one mutex: the
// engine runs one batch at a time. The router may have two step calls in flight (its async
// scheduling); they run in their `step` order (Guarded).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.h"
#include "generate.grpc.pb.h"
#include "shard/engine/engine.h"
#include "shard/parallel/communicator.h"

namespace tg::shard {

// The shard's exit status after a sticky device error (ErrorKind::kDeviceLost).
inline constexpr int kDeviceLostExitCode = 3;

[[noreturn]] void ExitOnDeviceLost(const Error& error);

// Static facts reported by Info and ServiceDiscovery.
struct ServiceInfo {
  std::string model_id;
  std::string dtype;        // "float32", ...
  std::string device_type;  // "cpu" / "cuda"
  std::string device_name;
  uint32_t rank = 0;
  uint32_t world_size = 1;
  std::string nccl_version;       // empty on one rank / the CPU
  std::vector<std::string> urls;  // every rank's unix:// address, in rank order
};

class ShardService final : public textgen::v1::TextGenerationService::Service {
 public:
  // `group` (optional, must outlive the service): the tensor-parallel communicator; Health then
  // reports UNAVAILABLE once it has failed (a peer died or a collective timed out), which no
  // self-test can repair: the whole group has to be restarted.
  // `bind_thread` (optional) runs on the handler thread before every call that touches the
  // device: it makes the rank's GPU current there (the CUDA runtime's device is per thread).
  ShardService(Engine& engine, const model::ModelConfig& config, ServiceInfo info,
               parallel::Communicator* group = nullptr, std::function<void()> bind_thread = {});

  grpc::Status Info(grpc::ServerContext*, const textgen::v1::InfoRequest*,
                    textgen::v1::InfoResponse* response) override;
  grpc::Status Health(grpc::ServerContext*, const textgen::v1::HealthRequest*,
                      textgen::v1::HealthResponse*) override;
  grpc::Status ServiceDiscovery(grpc::ServerContext*, const textgen::v1::ServiceDiscoveryRequest*,
                                textgen::v1::ServiceDiscoveryResponse* response) override;
  grpc::Status Warmup(grpc::ServerContext*, const textgen::v1::WarmupRequest* request,
                      textgen::v1::WarmupResponse* response) override;
  grpc::Status Prefill(grpc::ServerContext*, const textgen::v1::PrefillRequest* request,
                       textgen::v1::PrefillResponse* response) override;
  grpc::Status Decode(grpc::ServerContext*, const textgen::v1::DecodeRequest* request,
                      textgen::v1::DecodeResponse* response) override;
  grpc::Status FilterBatch(grpc::ServerContext*, const textgen::v1::FilterBatchRequest* request,
                           textgen::v1::FilterBatchResponse* response) override;
  grpc::Status ClearCache(grpc::ServerContext*, const textgen::v1::ClearCacheRequest* request,
                          textgen::v1::ClearCacheResponse*) override;

 private:
  // Runs fn under the engine lock, converting any exception with ToGrpcStatus; a failure marks
  // the shard unhealthy until a real forward succeeds again.
  // A step call (`step` != 0, proto PrefillRequest.step) first waits for the step before it.
  template <typename Fn>
  grpc::Status Guarded(Fn&& fn, uint64_t step = 0);
  // A step call's cached batches name the requests the router still wants: the finished and
  // cancelled ones are left out rather than filtered by a FilterBatch call before the step, so
  // a step is one round trip. Filters each batch to its list and returns the ids to step.
  std::vector<uint64_t> KeepRequested(
      const google::protobuf::RepeatedPtrField<textgen::v1::CachedBatch>& batches);

  static constexpr std::chrono::seconds kStepOrderTimeout{10};

  std::mutex mutex_;
  std::condition_variable step_done_;
  uint64_t last_step_ = 0;  // the last step call that ran (0 after Warmup)
  Engine& engine_;
  const model::ModelConfig& config_;
  ServiceInfo info_;
  parallel::Communicator* group_;
  std::function<void()> bind_thread_;
  bool failed_ = false;
};

}  // namespace tg::shard
