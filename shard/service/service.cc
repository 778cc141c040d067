#include "shard/service/service.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

#include "common/error.h"
#include "shard/service/convert.h"

namespace tg::shard {

ShardService::ShardService(Engine& engine, const model::ModelConfig& config, ServiceInfo info,
                           parallel::Communicator* group, std::function<void()> bind_thread)
    : engine_(engine),
      config_(config),
      info_(std::move(info)),
      group_(group),
      bind_thread_(std::move(bind_thread)) {}

// A poisoned device context fails every later call, so a live process would only look healthy
// while failing each request. Exit at once (no destructors: they would call into the dead
// context) and let the launcher stop or restart the group; the router sees the shard go away.
[[noreturn]] void ExitOnDeviceLost(const Error& error) {
  spdlog::critical("device lost, exiting with code {}: {}", kDeviceLostExitCode, error.what());
  spdlog::shutdown();
  std::fflush(nullptr);
  std::_Exit(kDeviceLostExitCode);
}

template <typename Fn>
grpc::Status ShardService::Guarded(Fn&& fn, uint64_t step) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (step != 0) {
    // A pipelined call may reach its handler before the call of the step before it. Past the
    // timeout that call is taken as lost, and this one runs anyway.
    step_done_.wait_for(lock, kStepOrderTimeout, [&] { return step <= last_step_ + 1; });
  }
  struct MarkDone {  // the next step may go once this one has run, whatever its outcome
    ShardService& service;
    uint64_t step;
    ~MarkDone() {
      if (step == 0) return;
      service.last_step_ = step;
      service.step_done_.notify_all();
    }
  } mark_done{*this, step};
  try {
    if (bind_thread_) bind_thread_();
    fn();
    return grpc::Status::OK;
  } catch (...) {
    const std::exception_ptr error = std::current_exception();
    try {
      std::rethrow_exception(error);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kDeviceLost) ExitOnDeviceLost(e);
      // Caller mistakes do not make the shard unhealthy; device or internal failures do.
      if (e.kind() == ErrorKind::kInternal) failed_ = true;
    } catch (...) {
      failed_ = true;
    }
    return ToGrpcStatus(error);
  }
}

grpc::Status ShardService::Info(grpc::ServerContext*, const textgen::v1::InfoRequest*,
                                textgen::v1::InfoResponse* response) {
  response->set_model_type(config_.model_type);
  response->set_model_id(info_.model_id);
  response->set_dtype(info_.dtype);
  response->set_device_type(info_.device_type);
  response->set_device_name(info_.device_name);
  response->set_requires_padding(false);
  response->set_window_size(config_.sliding_window.value_or(0));
  response->set_speculate(0);
  response->set_block_size(kBlockSize);
  response->set_vocab_size(config_.vocab_size);
  response->set_max_position_embeddings(config_.max_position_embeddings);
  response->set_rank(info_.rank);
  response->set_world_size(info_.world_size);
  response->set_nccl_version(info_.nccl_version);
  for (uint32_t id : config_.eos_token_ids) response->add_eos_token_ids(id);
  response->set_bos_token_id(config_.bos_token_id.value_or(0));
  response->set_has_bos_token(config_.bos_token_id.has_value());
  response->set_backend_version(TG_VERSION);
  response->set_mixed_batches(true);
  return grpc::Status::OK;
}

grpc::Status ShardService::Health(grpc::ServerContext*, const textgen::v1::HealthRequest*,
                                  textgen::v1::HealthResponse*) {
  return Guarded([&] {
    // Throws kUnavailable once the group has failed; the self-test below would only block in
    // its collectives.
    if (group_ != nullptr) group_->Fence();
    if (failed_ && engine_.warmed_up()) {
      // The self-test writes K/V into the first blocks, and after an internal failure the
      // cached batches are suspect anyway: drop them (the router re-prefills or fails them).
      engine_.Clear(std::nullopt);
      engine_.SelfTest();
      failed_ = false;
    }
  });
}

grpc::Status ShardService::ServiceDiscovery(grpc::ServerContext*,
                                            const textgen::v1::ServiceDiscoveryRequest*,
                                            textgen::v1::ServiceDiscoveryResponse* response) {
  for (const std::string& url : info_.urls) response->add_urls(url);
  return grpc::Status::OK;
}

grpc::Status ShardService::Warmup(grpc::ServerContext*, const textgen::v1::WarmupRequest* request,
                                  textgen::v1::WarmupResponse* response) {
  return Guarded([&] {
    ToProto(engine_.Warmup(FromProto(*request)), response);
    last_step_ = 0;  // a router that warms the shard up numbers its steps from 1
  });
}

// The answer is built after the engine lock is released: with the router's async scheduling
// the next step call is already waiting for the lock, and its forward starts meanwhile.
grpc::Status ShardService::Prefill(grpc::ServerContext*, const textgen::v1::PrefillRequest* request,
                                   textgen::v1::PrefillResponse* response) {
  StepOutput step;
  const grpc::Status status = Guarded(
      [&] {
        std::vector<RequestSpec> specs;
        std::vector<RequestFailure> rejected;
        for (const textgen::v1::Request& r : request->batch().requests()) {
          try {
            specs.push_back(FromProto(r));
          } catch (const RequestError& e) {
            rejected.push_back({e.request_id(), e.message(), e.kind()});
          }
        }
        step = engine_.Prefill(request->batch().id(), std::move(specs),
                               KeepRequested(request->cached_batches()),
                               FromProto(request->block_grants()), request->pipelined());
        step.errors.insert(step.errors.end(), rejected.begin(), rejected.end());
      },
      request->step());
  if (status.ok()) ToProto(step, response);
  return status;
}

grpc::Status ShardService::Decode(grpc::ServerContext*, const textgen::v1::DecodeRequest* request,
                                  textgen::v1::DecodeResponse* response) {
  StepOutput step;
  const grpc::Status status = Guarded(
      [&] {
        step = engine_.Decode(KeepRequested(request->batches()), FromProto(request->block_grants()),
                              request->pipelined());
      },
      request->step());
  if (status.ok()) ToProto(step, response);
  return status;
}

std::vector<uint64_t> ShardService::KeepRequested(
    const google::protobuf::RepeatedPtrField<textgen::v1::CachedBatch>& batches) {
  std::vector<uint64_t> ids;
  for (const textgen::v1::CachedBatch& batch : batches) {
    const std::vector<uint64_t> keep(batch.request_ids().begin(), batch.request_ids().end());
    engine_.KeepOnly(batch.id(), keep);
    // A batch sent with no requests is only dropped; an unknown one fails in the step.
    if (!keep.empty()) ids.push_back(batch.id());
  }
  return ids;
}

grpc::Status ShardService::FilterBatch(grpc::ServerContext*,
                                       const textgen::v1::FilterBatchRequest* request,
                                       textgen::v1::FilterBatchResponse* response) {
  return Guarded([&] {
    const std::vector<uint64_t> keep(request->request_ids().begin(), request->request_ids().end());
    const std::optional<CachedBatchInfo> batch = engine_.Filter(request->batch_id(), keep);
    if (batch.has_value()) {
      ToProto(*batch, response->mutable_batch());
    } else {
      // An empty batch keeps its id so the router can tell which one it asked about.
      response->mutable_batch()->set_id(request->batch_id());
    }
  });
}

grpc::Status ShardService::ClearCache(grpc::ServerContext*,
                                      const textgen::v1::ClearCacheRequest* request,
                                      textgen::v1::ClearCacheResponse*) {
  return Guarded([&] {
    engine_.Clear(request->has_id() ? std::optional<uint64_t>(request->id()) : std::nullopt);
  });
}

}  // namespace tg::shard
