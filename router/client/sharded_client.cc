#include "router/client/sharded_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <future>
#include <thread>

#include "common/error.h"
#include "generate.grpc.pb.h"
#include "router/client/convert.h"

namespace tg::client {
namespace {

namespace pb = textgen::v1;
using Stub = pb::TextGenerationService::Stub;

std::string ToTarget(const std::string& url_or_path) {
  if (url_or_path.rfind("unix:", 0) == 0 || url_or_path.find("://") != std::string::npos) {
    return url_or_path;
  }
  if (!url_or_path.empty() && url_or_path[0] == '/') return "unix://" + url_or_path;
  return url_or_path;  // host:port
}

std::unique_ptr<Stub> MakeStub(const std::string& url) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  auto channel = grpc::CreateCustomChannel(ToTarget(url), grpc::InsecureChannelCredentials(), args);
  return pb::TextGenerationService::NewStub(channel);
}

void CheckStatus(const grpc::Status& status, const char* rpc, size_t rank) {
  if (!status.ok()) {
    throw Error(ErrorKind::kUnavailable, std::string(rpc) + " failed on rank " +
                                             std::to_string(rank) + ": " + status.error_message());
  }
}

// The step calls' completion queue. Only the engine thread sends step calls and waits for them,
// so it pumps the queue itself: an answer wakes the thread that waits for it, with no hop
// through a gRPC thread (as with the sync API), and a call's answer that arrives while the
// thread waits for another call is recorded for it.
class StepQueue {
 public:
  // What one rank's answer completes: `remaining` of the call it belongs to.
  struct Tag {
    size_t* remaining = nullptr;
  };

  ~StepQueue() {
    queue_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (queue_.Next(&tag, &ok)) {
    }
  }

  grpc::CompletionQueue* queue() { return &queue_; }

  // Takes answers off the queue until `remaining` is 0.
  void WaitFor(const size_t& remaining) {
    while (remaining > 0) {
      void* tag = nullptr;
      bool ok = false;
      TG_CHECK(queue_.Next(&tag, &ok), kInternal, "the step completion queue shut down");
      --*static_cast<Tag*>(tag)->remaining;
    }
  }

 private:
  grpc::CompletionQueue queue_;
};

}  // namespace

struct ShardedClient::Impl {
  std::vector<std::string> urls;
  std::vector<std::unique_ptr<Stub>> stubs;
  std::chrono::seconds connect_timeout{0};
  StepQueue step_queue;

  // Runs `call(rank, stub, context)` on every rank at once and returns the responses in rank
  // order; the first failure (in rank order) is rethrown after all calls have returned.
  template <typename Response, typename Call>
  std::vector<Response> All(const char* rpc, Call call) {
    std::vector<Response> responses(stubs.size());
    if (stubs.size() == 1) {
      grpc::ClientContext context;
      CheckStatus(call(*stubs[0], &context, &responses[0]), rpc, 0);
      return responses;
    }
    std::vector<std::future<grpc::Status>> pending;
    for (size_t r = 0; r < stubs.size(); ++r) {
      pending.push_back(std::async(std::launch::async, [&, r] {
        grpc::ClientContext context;
        return call(*stubs[r], &context, &responses[r]);
      }));
    }
    std::vector<grpc::Status> statuses;
    for (auto& p : pending) statuses.push_back(p.get());
    for (size_t r = 0; r < statuses.size(); ++r) CheckStatus(statuses[r], rpc, r);
    return responses;
  }
};

template <typename Response>
static void KeepSlowestTimings(std::vector<Response>& responses) {
  for (size_t r = 1; r < responses.size(); ++r) {
    if (responses[r].timings().total_ns() > responses[0].timings().total_ns()) {
      *responses[0].mutable_timings() = responses[r].timings();
    }
  }
}

namespace {

// One step call to every rank at once. No thread of ours blocks until Wait(), so the engine
// thread plans the next step meanwhile (and no thread is started per rank and call).
template <typename Request, typename Response>
class PendingCall final : public PendingStep {
 public:
  // Prepares the RPC on one stub: stub.PrepareAsyncMethod(context, request, queue).
  using Prepare = std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> (*)(
      Stub&, grpc::ClientContext*, const Request&, grpc::CompletionQueue*);

  PendingCall(const char* rpc, Request request, const std::vector<std::unique_ptr<Stub>>& stubs,
              StepQueue& queue, Prepare prepare)
      : rpc_(rpc),
        request_(std::move(request)),
        queue_(queue),
        contexts_(stubs.size()),
        responses_(stubs.size()),
        statuses_(stubs.size()),
        tags_(stubs.size(), StepQueue::Tag{&remaining_}),
        remaining_(stubs.size()) {
    for (size_t r = 0; r < stubs.size(); ++r) {
      readers_.push_back(prepare(*stubs[r], &contexts_[r], request_, queue_.queue()));
      readers_.back()->StartCall();
      readers_.back()->Finish(&responses_[r], &statuses_[r], &tags_[r]);
    }
  }
  ~PendingCall() override { queue_.WaitFor(remaining_); }

  StepResult Wait() override {
    queue_.WaitFor(remaining_);
    for (size_t r = 0; r < statuses_.size(); ++r) CheckStatus(statuses_[r], rpc_, r);
    KeepSlowestTimings(responses_);
    return FromProto(responses_[0]);
  }

 private:
  const char* rpc_;
  const Request request_;
  StepQueue& queue_;
  std::vector<grpc::ClientContext> contexts_;
  std::vector<Response> responses_;
  std::vector<grpc::Status> statuses_;
  std::vector<StepQueue::Tag> tags_;
  std::vector<std::unique_ptr<grpc::ClientAsyncResponseReader<Response>>> readers_;
  size_t remaining_;
};

}  // namespace

ShardedClient::ShardedClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ShardedClient::~ShardedClient() = default;

std::unique_ptr<ShardedClient> ShardedClient::Connect(const std::string& master_uds_path,
                                                      std::chrono::seconds connect_timeout) {
  auto master = MakeStub(master_uds_path);
  pb::ServiceDiscoveryResponse discovery;
  grpc::ClientContext context;
  context.set_wait_for_ready(true);
  context.set_deadline(std::chrono::system_clock::now() + connect_timeout);
  CheckStatus(master->ServiceDiscovery(&context, pb::ServiceDiscoveryRequest(), &discovery),
              "ServiceDiscovery", 0);
  auto impl = std::make_unique<Impl>();
  impl->connect_timeout = connect_timeout;
  for (const std::string& url : discovery.urls()) {
    impl->urls.push_back(url);
    impl->stubs.push_back(MakeStub(url));
  }
  if (impl->urls.empty()) {  // a single shard may answer with no list; it is the only rank
    impl->urls.push_back(master_uds_path);
    impl->stubs.push_back(std::move(master));
  }
  return std::unique_ptr<ShardedClient>(new ShardedClient(std::move(impl)));
}

size_t ShardedClient::world_size() const { return impl_->stubs.size(); }
const std::vector<std::string>& ShardedClient::urls() const { return impl_->urls; }

pb::InfoResponse ShardedClient::Info() {
  // The first call to every rank: the master answered ServiceDiscovery once its group formed,
  // but another node's rank may open its gRPC port a moment later, so each waits to connect.
  const auto deadline = std::chrono::system_clock::now() + impl_->connect_timeout;
  auto responses = impl_->All<pb::InfoResponse>(
      "Info", [&](Stub& s, grpc::ClientContext* c, pb::InfoResponse* out) {
        c->set_wait_for_ready(true);
        c->set_deadline(deadline);
        return s.Info(c, pb::InfoRequest(), out);
      });
  for (const auto& r : responses) {
    TG_CHECK(r.block_size() == responses[0].block_size(), kInternal,
             "shards disagree on the KV block size");
  }
  return responses[0];
}

void ShardedClient::Health() {
  impl_->All<pb::HealthResponse>(
      "Health", [](Stub& s, grpc::ClientContext* c, pb::HealthResponse* out) {
        c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        return s.Health(c, pb::HealthRequest(), out);
      });
}

pb::WarmupResponse ShardedClient::Warmup(const pb::WarmupRequest& request) {
  auto responses = impl_->All<pb::WarmupResponse>(
      "Warmup", [&](Stub& s, grpc::ClientContext* c, pb::WarmupResponse* out) {
        return s.Warmup(c, request, out);
      });
  pb::WarmupResponse result = responses[0];
  for (const auto& r : responses) {
    result.set_max_supported_total_tokens(
        std::min(result.max_supported_total_tokens(), r.max_supported_total_tokens()));
    result.set_num_blocks(std::min(result.num_blocks(), r.num_blocks()));
  }
  return result;
}

std::unique_ptr<PendingStep> ShardedClient::StartPrefill(const PrefillCall& call) {
  return std::make_unique<PendingCall<pb::PrefillRequest, pb::PrefillResponse>>(
      "Prefill", ToProto(call), impl_->stubs, impl_->step_queue,
      [](Stub& stub, grpc::ClientContext* context, const pb::PrefillRequest& request,
         grpc::CompletionQueue* queue) {
        return stub.PrepareAsyncPrefill(context, request, queue);
      });
}

std::unique_ptr<PendingStep> ShardedClient::StartDecode(const DecodeCall& call) {
  return std::make_unique<PendingCall<pb::DecodeRequest, pb::DecodeResponse>>(
      "Decode", ToProto(call), impl_->stubs, impl_->step_queue,
      [](Stub& stub, grpc::ClientContext* context, const pb::DecodeRequest& request,
         grpc::CompletionQueue* queue) {
        return stub.PrepareAsyncDecode(context, request, queue);
      });
}

void ShardedClient::ClearCache(std::optional<uint64_t> batch_id) {
  pb::ClearCacheRequest request;
  if (batch_id) request.set_id(*batch_id);
  impl_->All<pb::ClearCacheResponse>(
      "ClearCache", [&](Stub& s, grpc::ClientContext* c, pb::ClearCacheResponse* out) {
        return s.ClearCache(c, request, out);
      });
}

}  // namespace tg::client
