#include "router/scheduler/state.h"

#include <algorithm>
#include <string>

#include "common/error.h"

namespace tg::scheduler {

State::State(const SchedulerConfig& config)
    : config_(config),
      allocator_(config.num_blocks, config.block_size),
      cache_(config.block_size),
      // vLLM keeps 1% of the pool out of admissions so running decodes rarely preempt.
      watermark_blocks_(config.num_blocks / 100) {
  TG_CHECK(config.token_budget > 0, kInvalidArgument, "the step token budget must be positive");
}

std::optional<std::vector<uint32_t>> State::Allocate(uint32_t count) {
  auto blocks = allocator_.Allocate(count);
  if (blocks || count - allocator_.free_blocks() > cache_.evictable_blocks()) return blocks;
  allocator_.Free(cache_.Evict(count - allocator_.free_blocks()));
  return allocator_.Allocate(count);
}

void State::Return(const std::vector<uint32_t>& blocks) {
  for (uint32_t block : blocks) {
    if (cache_.Contains(block)) {
      cache_.Release(block);
    } else {
      allocator_.Free({block});
    }
  }
}

void State::Enqueue(const QueuedRequest& request) {
  const uint64_t tokens = uint64_t{request.input_tokens} + request.max_new_tokens;
  if (allocator_.BlocksFor(tokens) > allocator_.total_blocks()) {
    throw Error(ErrorKind::kInvalidArgument,
                "request needs " + std::to_string(tokens) + " KV tokens but the cache holds " +
                    std::to_string(uint64_t{allocator_.total_blocks()} * config_.block_size));
  }
  if (!config_.chunked_prefill && request.input_tokens > config_.token_budget) {
    throw Error(ErrorKind::kInvalidArgument, "input of " + std::to_string(request.input_tokens) +
                                                 " tokens exceeds max_batch_prefill_tokens " +
                                                 std::to_string(config_.token_budget));
  }
  TG_CHECK(request.input_tokens > 0, kInvalidArgument, "a request needs at least one input token");
  Sequence seq{.request = request};
  if (config_.prefix_caching && !request.prompt_ids.empty()) {
    seq.keys = cache_.BlockKeys(request.prompt_ids);
  }
  waiting_.push_back(std::move(seq));
}

PrefillChunk State::Advance(Sequence& seq, uint32_t length, bool first) {
  PrefillChunk chunk{.id = seq.request.id,
                     .start = seq.computed,
                     .length = length,
                     .last = seq.computed + length == seq.prefill_target(),
                     .first = first,
                     .generated = seq.generated,
                     .blocks = seq.blocks};
  seq.computed += length;
  if (chunk.last) {
    seq.prefilled = true;
    ++seq.generated;
  }
  last_step_.push_back(seq.request.id);
  return chunk;
}

void State::PreemptLast(StepPlan& plan) {
  Sequence seq = std::move(running_.back());
  running_.pop_back();
  Return(seq.blocks);
  seq.blocks.clear();
  seq.computed = 0;
  seq.prefilled = false;
  plan.preempted.push_back(seq.request.id);
  waiting_.push_front(std::move(seq));
}

std::optional<std::vector<uint32_t>> State::Grow(size_t index, uint32_t positions, StepPlan& plan) {
  const uint32_t have = static_cast<uint32_t>(running_[index].blocks.size());
  const uint32_t want = allocator_.BlocksFor(positions);
  if (want <= have) return std::vector<uint32_t>{};
  while (true) {
    auto fresh = Allocate(want - have);
    if (fresh) {
      std::vector<uint32_t>& blocks = running_[index].blocks;
      blocks.insert(blocks.end(), fresh->begin(), fresh->end());
      return fresh;
    }
    const bool self = running_.size() - 1 == index;
    PreemptLast(plan);
    if (self) return std::nullopt;
  }
}

std::optional<PrefillChunk> State::Admit(int64_t budget, bool alone) {
  Sequence& seq = waiting_.front();
  std::vector<uint32_t> hits = cache_.Acquire(seq.keys);
  const uint32_t computed = static_cast<uint32_t>(hits.size()) * config_.block_size;
  const uint32_t remaining = seq.prefill_target() - computed;
  const bool whole = !config_.chunked_prefill || !seq.request.chunkable;
  uint32_t length = remaining;
  bool fits = whole ? (remaining <= budget || alone) : budget > 0;
  if (!whole && fits) length = static_cast<uint32_t>(std::min<int64_t>(remaining, budget));
  const uint32_t need =
      allocator_.BlocksFor(computed + length) - static_cast<uint32_t>(hits.size());
  // Only the positions computed now get blocks; the watermark keeps room for running decodes.
  const uint32_t reserve = running_.empty() ? 0 : watermark_blocks_;
  fits = fits && need + reserve <= allocator_.free_blocks() + cache_.evictable_blocks();
  std::optional<std::vector<uint32_t>> fresh;
  if (fits) fresh = Allocate(need);
  if (!fresh) {
    Return(hits);
    return std::nullopt;
  }
  Sequence started = std::move(seq);
  waiting_.pop_front();
  started.blocks = std::move(hits);
  started.blocks.insert(started.blocks.end(), fresh->begin(), fresh->end());
  started.computed = computed;
  const bool first = !started.started;
  started.started = true;
  running_.push_back(std::move(started));
  return Advance(running_.back(), length, first);
}

StepPlan State::Schedule() {
  StepPlan plan;
  int64_t budget = config_.token_budget;
  if (config_.chunked_prefill) {
    for (const Sequence& seq : running_) budget -= seq.prefilled ? 1 : 0;
  }
  // Running requests in arrival order: decodes always, prompts part-way through get a chunk.
  for (size_t i = 0; i < running_.size(); ++i) {
    Sequence& seq = running_[i];
    if (seq.prefilled) {
      auto grown = Grow(i, seq.prefill_target(), plan);
      if (!grown) break;  // it was the last one left
      if (!grown->empty()) plan.grants.push_back({.id = seq.request.id, .blocks = *grown});
      plan.decodes.push_back(seq.request.id);
      ++running_[i].computed;
      ++running_[i].generated;
      continue;
    }
    if (budget <= 0) continue;
    const uint32_t length =
        static_cast<uint32_t>(std::min<int64_t>(seq.prefill_target() - seq.computed, budget));
    if (!Grow(i, seq.computed + length, plan)) break;
    plan.chunks.push_back(Advance(running_[i], length, /*first=*/false));
    budget -= length;
  }
  // Then the queue, in order, while the budget, the pool and the batch size allow.
  while (!waiting_.empty()) {
    if (config_.max_batch_size > 0 && running_.size() >= config_.max_batch_size) break;
    auto chunk = Admit(budget, /*alone=*/plan.chunks.empty());
    if (!chunk) break;
    budget -= chunk->length;
    plan.chunks.push_back(std::move(*chunk));
  }
  return plan;
}

void State::CommitStep() {
  for (uint64_t id : last_step_) {
    auto it = std::find_if(running_.begin(), running_.end(),
                           [id](const Sequence& s) { return s.request.id == id; });
    if (it == running_.end()) continue;
    // Blocks whose every position is written; a key another request cached first stays private.
    const size_t full = std::min<size_t>(it->keys.size(), it->computed / config_.block_size);
    for (size_t b = 0; b < full; ++b) {
      if (!cache_.Contains(it->blocks[b])) cache_.Insert(it->keys[b], it->blocks[b]);
    }
  }
  last_step_.clear();
}

bool State::Release(uint64_t id) {
  auto running = std::find_if(running_.begin(), running_.end(),
                              [id](const Sequence& s) { return s.request.id == id; });
  if (running != running_.end()) {
    Return(running->blocks);
    running_.erase(running);
    return true;
  }
  auto waiting = std::find_if(waiting_.begin(), waiting_.end(),
                              [id](const Sequence& s) { return s.request.id == id; });
  if (waiting == waiting_.end()) return false;
  Return(waiting->blocks);
  waiting_.erase(waiting);
  return true;
}

}  // namespace tg::scheduler
