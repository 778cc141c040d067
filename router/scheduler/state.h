// The scheduler state: what each engine step computes, over the router-owned KV blocks.
//
// A plain class with no threads, clocks or sockets: the engine's single actor thread drives it,
// and unit tests drive it directly. The policy (vLLM V1's, DESIGN.md "KV memory"):
//  - One token budget per step (`token_budget`). Every running decode takes one token of it and
//    always runs; prefill chunks fill what is left.
//  - Fairness is first come, first served: running requests (decoding or part-way through their
//    prompt) in arrival order, then the queue in order, never skipping ahead, so a large request
//    is not starved by small ones.
//  - With chunking, a prompt longer than what is left of the budget is split across steps;
//    without it (or for requests that need prompt logprobs) a prompt is computed in one step.
//  - Blocks are granted as sequences grow. When the pool runs dry, unreferenced prefix-cache
//    blocks are evicted (least recently used first); then the latest-arrived running request is
//    preempted by recompute: its blocks go back and it returns to the front of the queue, to be
//    prefilled again (prompt + the tokens it had generated).
//  - Prefix caching: a request's leading full prompt blocks that are already cached are taken by
//    reference at admission and not computed again; blocks join the cache once the step that
//    wrote them has returned (CommitStep).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "router/scheduler/block_allocator.h"
#include "router/scheduler/prefix_cache.h"

namespace tg::scheduler {

struct SchedulerConfig {
  uint32_t block_size = 16;
  uint32_t num_blocks = 0;
  // Tokens one step computes. With chunking: running decodes plus prefill chunks (vLLM's
  // max_num_batched_tokens). Without: prompt tokens of the step's prefills (TGI's
  // max_batch_prefill_tokens; decodes ride along).
  uint32_t token_budget = 4096;
  uint32_t max_batch_size = 0;  // running requests; 0: no limit
  bool prefix_caching = true;
  bool chunked_prefill = true;
};

struct QueuedRequest {
  uint64_t id = 0;
  uint32_t input_tokens = 0;
  uint32_t max_new_tokens = 0;
  // The prompt, for prefix caching; empty: this request neither uses nor fills the cache.
  std::vector<uint32_t> prompt_ids;
  // False: the whole prompt in one step (prompt logprobs are computed per position in one call).
  bool chunkable = true;
};

// Prompt positions [start, start + length) of a request, computed in this step. Positions before
// `start` are already in its blocks (prefix-cache hits or earlier chunks).
struct PrefillChunk {
  uint64_t id = 0;
  uint32_t start = 0;
  uint32_t length = 0;
  // Completes the sequence to prefill: the step samples the request's next token.
  bool last = false;
  // The request's first chunk ever (not after a preemption): `start` tokens came from the cache.
  bool first = false;
  // Tokens it had generated before a preemption; they are prefilled after the prompt.
  uint32_t generated = 0;
  std::vector<uint32_t> blocks;  // the request's whole block table
};

// Blocks appended to a running request's table (its next decode position needs them).
struct BlockGrant {
  uint64_t id = 0;
  std::vector<uint32_t> blocks;
};

struct StepPlan {
  std::vector<uint64_t> decodes;  // running requests that advance one token
  std::vector<BlockGrant> grants;
  std::vector<PrefillChunk> chunks;
  // Running requests whose blocks were taken back; they are queued again (front, in order).
  std::vector<uint64_t> preempted;
  bool empty() const { return decodes.empty() && chunks.empty(); }
};

class State {
 public:
  explicit State(const SchedulerConfig& config);

  // Appends to the queue. Throws kInvalidArgument when the request could never run: more KV
  // than the pool, or (whole prompts) more prompt tokens than the budget.
  void Enqueue(const QueuedRequest& request);

  // Plans the next step. The plan is assumed to run: positions count as computed and requests
  // whose prefill completes, or that decode, count one more generated token.
  StepPlan Schedule();
  // The steps planned so far returned: blocks they filled join the prefix cache. (With async
  // scheduling a step is planned before the step ahead of it returns; the shard runs steps in
  // order, so a later step never reads blocks an earlier one has yet to write.)
  void CommitStep();
  // Drops a request wherever it is (finished, failed, cancelled); its blocks go back (shared
  // ones stay cached). Returns false when it is unknown.
  bool Release(uint64_t id);

  uint32_t queue_size() const { return static_cast<uint32_t>(waiting_.size()); }
  uint32_t running() const { return static_cast<uint32_t>(running_.size()); }
  const BlockAllocator& allocator() const { return allocator_; }
  // Blocks held by requests (cached blocks nobody references count as free).
  uint32_t used_blocks() const { return allocator_.used_blocks() - cache_.evictable_blocks(); }
  const PrefixCache& prefix_cache() const { return cache_; }
  const SchedulerConfig& config() const { return config_; }

 private:
  struct Sequence {
    QueuedRequest request;
    std::vector<uint64_t> keys;  // prefix keys of the prompt's shareable blocks
    std::vector<uint32_t> blocks;
    uint32_t computed = 0;   // positions whose K/V are in `blocks`
    uint32_t generated = 0;  // tokens sampled so far
    bool started = false;    // scheduled at least once
    bool prefilled = false;  // its prefill completed: it decodes (the shard holds it)

    // Positions computed once the next token is sampled (prompt + generated, less the newest).
    uint32_t prefill_target() const { return request.input_tokens + generated; }
  };

  // Takes `count` free blocks, evicting unreferenced cached blocks as needed.
  std::optional<std::vector<uint32_t>> Allocate(uint32_t count);
  void Return(const std::vector<uint32_t>& blocks);
  // Grows running_[index] to hold `positions` and returns the blocks it added, preempting
  // later-arrived running requests when the pool runs dry; nullopt when running_[index] itself
  // had to be preempted.
  std::optional<std::vector<uint32_t>> Grow(size_t index, uint32_t positions, StepPlan& plan);
  // Moves the last running request back to the queue's front, its blocks back to the pool.
  void PreemptLast(StepPlan& plan);
  // Starts the queue's front with its first chunk of at most `budget` tokens; a whole prompt
  // over the budget may go when it is the step's only prefill (`alone`). nullopt: not now.
  std::optional<PrefillChunk> Admit(int64_t budget, bool alone);
  // Plans positions [computed, computed + length) of `seq` and advances it past them.
  PrefillChunk Advance(Sequence& seq, uint32_t length, bool first);

  SchedulerConfig config_;
  BlockAllocator allocator_;
  PrefixCache cache_;
  std::deque<Sequence> waiting_;
  std::vector<Sequence> running_;    // arrival order: the last is preempted first
  std::vector<uint64_t> last_step_;  // requests with chunks since the last CommitStep
  uint32_t watermark_blocks_ = 0;    // admissions leave this many blocks free for decodes
};

}  // namespace tg::scheduler
