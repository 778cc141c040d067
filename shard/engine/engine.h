// The shard's generation engine: cached batches of requests over the paged KV cache, driven by
// the router's Prefill / Decode / FilterBatch / ClearCache calls.
//
// Requests keep their whole token history on the host (for penalties and stopping); their K/V
// live in the blocks the router assigned. A request that finishes (EOS, length) or fails is
// dropped from its batch at once, so a CachedBatch only ever lists running requests. Not
// thread-safe: the service serialises calls.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <unordered_set>
#include <vector>

#include "shard/backend/backend.h"
#include "shard/engine/decode_graph_runner.h"
#include "shard/engine/forward_batch.h"
#include "shard/engine/types.h"
#include "shard/grammar/engine_hooks.h"
#include "shard/models/model.h"

namespace tg::shard {

struct EngineOptions {
  // Fraction of FreeMemoryBytes() the KV pool may take when Warmup gets no token budget.
  double kv_memory_fraction = 0.5;
  // Test-only: the n-th Decode call (1-based) injects a fatal device fault first; 0 never does.
  // Set from TG_TEST_DEVICE_FAULT_AT_DECODE by text-gen-shard.
  uint64_t device_fault_at_decode = 0;
  // The vocabulary for constrained decoding (tokenizer.json, model directory or .gguf); empty:
  // constrained requests fail.
  std::string tokenizer_path;
};

class Engine {
 public:
  Engine(Model& model, backend::Backend& backend, EngineOptions options);

  // Sizes and allocates the KV pool, runs a real prefill and decode step, captures the decode
  // graphs, drops all batches. Without max_batch_total_tokens a device backend is profiled: the
  // largest prefill (max_batch_prefill_tokens) and a max_batch_size decode run on a temporary
  // cache, and the pool gets what the backend's plan (Backend::PlanKvBlocks) leaves; otherwise
  // kv_memory_fraction of the free memory.
  WarmupResult Warmup(const WarmupParams& params);
  bool warmed_up() const { return model_.kv_pool().allocated(); }

  // One forward pass over new requests (or prompt chunks, RequestSpec::chunk_len) and one decode
  // step of every request in `cached_batch_ids` (mixed batch); the survivors of both form batch
  // `batch_id`. `grants` extend the block tables of cached requests first.
  // `pipelined`: the call was made before the previous step's answer was seen (proto
  // PrefillRequest.pipelined), so cached batches and requests that step ended are skipped.
  StepOutput Prefill(uint64_t batch_id, std::vector<RequestSpec> requests,
                     std::vector<uint64_t> cached_batch_ids = {},
                     std::vector<BlockGrant> grants = {}, bool pipelined = false);
  // One step over the union of the given batches; the merged batch keeps the first id.
  StepOutput Decode(std::vector<uint64_t> batch_ids, std::vector<BlockGrant> grants = {},
                    bool pipelined = false);
  // Keeps only `keep` (ids no longer in the batch are ignored); nullopt when the batch is empty
  // or unknown.
  std::optional<CachedBatchInfo> Filter(uint64_t batch_id, const std::vector<uint64_t>& keep);
  // Filter without the description, for a step call's cached batches: a no-op that allocates
  // nothing when the batch already holds exactly `keep`, in order (the common step). False when
  // the batch is left empty (and dropped) or unknown.
  bool KeepOnly(uint64_t batch_id, const std::vector<uint64_t>& keep);
  void Clear(std::optional<uint64_t> batch_id);

  // Runs one real forward of a short prompt written into KV block 0 (so only call it when no
  // live request uses it: Warmup, or Health after clearing).
  void SelfTest();

 private:
  struct RequestState {
    RequestSpec spec;
    std::vector<int32_t> tokens;  // prompt + generated
    uint32_t generated = 0;
    std::shared_ptr<grammar::RequestMatcher> matcher;  // constrained decoding, else null
  };
  using Batch = std::vector<RequestState>;

  // Throws RequestError when the request cannot run positions [first, end) (bad ids, missing
  // blocks).
  void Validate(const RequestState& request, uint32_t first, uint32_t end) const;
  // Throws RequestError when one of the request's blocks is outside the pool.
  void CheckBlocks(const RequestState& request) const;
  // A pipelined call's names of what the step before it ended: drops those batches, and the
  // grants to requests in none of the batches left.
  void SkipEnded(std::vector<uint64_t>& batch_ids, std::vector<BlockGrant>& grants) const;
  // Removes the given batches (they must exist) and returns their requests in order, with
  // `grants` appended to their block tables.
  std::vector<RequestState> TakeBatches(const std::vector<uint64_t>& batch_ids,
                                        const std::vector<BlockGrant>& grants);
  // Appends each request's newest token as a one-token sequence to `batch`; requests that cannot
  // run are reported in `errors`, the others move to `runnable`.
  void AddDecodeRows(std::vector<RequestState>& requests, ForwardBatchBuilder& batch,
                     std::vector<RequestState>& runnable,
                     std::vector<RequestFailure>& errors) const;
  // Checks that `position` has a KV slot in the pool (and that a slot the router sent is where
  // the block table puts it); throws RequestError otherwise.
  void CheckSlot(const RequestState& request, uint32_t position) const;
  // Samples each request's next token from its logits row, applies stopping, and moves the
  // requests still running into `survivors`.
  // The request's logit bias for this step: its own entries, with EOS (unless ignored) and its
  // stop token ids banned until min_new_tokens tokens exist. Tokens stay distinct.
  std::vector<backend::LogitBias> StepLogitBias(const RequestState& request) const;
  // Top-n alternatives at each prompt position of the logprob rows (greedy, unprocessed logits).
  std::vector<std::vector<TokenInfo>> PromptTopTokens(const backend::Tensor& rows,
                                                      const std::vector<uint32_t>& top_n);
  void SampleAndStop(const backend::Tensor& logits, std::vector<RequestState>& requests,
                     std::vector<GenerationOut>& generations, Batch& survivors);
  CachedBatchInfo Describe(uint64_t id, const Batch& batch) const;
  // KV blocks from a profiled prefill + decode on a temporary cache; -1 when the backend does
  // not plan memory.
  int64_t ProfileKvBlocks(const WarmupParams& params, uint64_t block_bytes);
  // Captures the decode graphs (graphs_) for contexts up to max_total_tokens, batch sizes up to
  // the first >= max_batch_size.
  void CaptureDecodeGraphs(const WarmupParams& params);
  StepOutput Finish(uint64_t batch_id, Batch batch, StepOutput output);

  Model& model_;
  backend::Backend& backend_;
  EngineOptions options_;
  std::unique_ptr<grammar::GrammarRuntime> grammar_;
  std::unordered_set<int32_t> eos_ids_;
  std::map<uint64_t, Batch> batches_;
  DecodeGraphRunner graphs_;   // decode steps replayed from CUDA graphs
  uint64_t decode_calls_ = 0;  // for EngineOptions::device_fault_at_decode
};

}  // namespace tg::shard
