// What the engine asks of its shards, in the engine's own types: no protobuf, no gRPC. The
// production ShardClient is the sharded gRPC client (router/client/sharded_client.h, converting
// in router/client/convert.cc, the mirror of shard/service/convert.cc); tests drive the engine
// with a fake one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "router/api/request.h"
#include "router/engine/generation.h"

namespace tg::client {

// One request (or one chunk of its prompt) joining the shard's batch.
struct ShardRequest {
  uint64_t id = 0;
  std::string inputs;  // the prompt text, for the shard's logs only
  std::vector<uint32_t> input_ids;
  std::vector<uint32_t> generated_ids;  // re-prefilled behind the prompt after a preemption
  uint32_t truncate = 0;
  api::SamplingParams sampling;
  api::GrammarRequest grammar;  // sent with every chunk; the shard matches once the prompt is done
  // Length and EOS are the shard's rules; stop token ids travel only to be banned before
  // min_new_tokens (router/engine/stopping.h).
  uint32_t max_new_tokens = 1;
  uint32_t min_new_tokens = 0;
  std::vector<uint32_t> stop_token_ids;
  bool ignore_eos = false;
  bool prefill_logprobs = false;
  uint32_t top_n_tokens = 0;
  bool token_logprobs = true;  // false: the shard may send NaN for generated tokens' logprobs
  std::vector<uint32_t> blocks;
  uint32_t cache_len = 0;  // prompt positions already in the KV cache
  uint32_t chunk_len = 0;  // positions computed now (0: all the rest)
};

// A batch the shard holds between steps.
struct CachedBatch {
  uint64_t id = 0;
  std::vector<uint64_t> request_ids;
  uint32_t size = 0;
  uint32_t max_tokens = 0;
  uint64_t current_tokens = 0;
};

// KV blocks appended to a cached request's table.
struct BlockGrant {
  uint64_t request_id = 0;
  std::vector<uint32_t> blocks;
};

struct ShardTokens {
  std::vector<uint32_t> ids;
  std::vector<float> logprobs;
  std::vector<bool> is_special;  // may be empty: the router's tokenizer knows
};

// One request's outcome of a step.
struct ShardGeneration {
  uint64_t request_id = 0;
  ShardTokens prefill_tokens;                   // when prefill_logprobs was asked
  std::vector<ShardTokens> prefill_top_tokens;  // ... with top_n_tokens, per prompt position
  ShardTokens tokens;                           // the tokens chosen this step
  std::vector<ShardTokens> top_tokens;          // one entry per chosen token
  // Set when the shard finished the request (EOS or length) with the step's last token.
  std::optional<engine::FinishReason> finish;
  std::optional<uint64_t> seed;
};

// One request failed inside a step; the others go on. `kind` is the shard's, so a request the
// shard finds invalid is answered 422 like any invalid request (kUnavailable: 424).
struct ShardRequestError {
  uint64_t request_id = 0;
  std::string message;
  ErrorKind kind = ErrorKind::kUnavailable;
};

struct StepTimings {
  uint64_t forward_ns = 0;
  uint64_t decode_ns = 0;
  uint64_t total_ns = 0;
};

struct StepResult {
  std::vector<ShardGeneration> generations;
  std::optional<CachedBatch> batch;  // absent when no request is left in the shard
  std::vector<ShardRequestError> errors;
  StepTimings timings;
};

// New requests or prompt chunks, run in one forward pass with a decode step of the cached
// batches (which the shard merges into one).
struct PrefillCall {
  uint64_t batch_id = 0;
  std::vector<ShardRequest> requests;
  std::vector<CachedBatch> cached;
  std::vector<BlockGrant> grants;
  uint64_t step = 0;  // proto PrefillRequest.step: the shard runs step calls in this order
  // Sent before the previous step call's answer (proto PrefillRequest.pipelined).
  bool pipelined = false;
};

struct DecodeCall {
  std::vector<CachedBatch> batches;
  std::vector<BlockGrant> grants;
  uint64_t step = 0;
  bool pipelined = false;
};

// A step call on its way to the shards. Wait() returns its result, or throws what the call
// would have; the destructor waits for a call nobody waited for.
class PendingStep {
 public:
  virtual ~PendingStep() = default;
  virtual StepResult Wait() = 0;
};

// Every call throws tg::Error(kUnavailable) when a shard failed; the engine then fails what is in
// flight and clears the shards' caches.
class ShardClient {
 public:
  virtual ~ShardClient() = default;
  // The step calls return at once: the engine may plan and send the next step while this one
  // runs (its async scheduling). Both name, in each cached batch, the requests still wanted:
  // the shard drops the others before the step (no FilterBatch call for finished requests).
  virtual std::unique_ptr<PendingStep> StartPrefill(const PrefillCall& call) = 0;
  virtual std::unique_ptr<PendingStep> StartDecode(const DecodeCall& call) = 0;
  // Drops one batch, or everything.
  virtual void ClearCache(std::optional<uint64_t> batch_id) = 0;
};

}  // namespace tg::client
