#include "router/engine/engine_core.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "router/engine/stopping.h"
#include "router/metrics/metrics.h"

namespace tg::engine {
namespace {

using Clock = EngineCore::Clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Prompt-only requests (max_new_tokens 0) still run one prefill step: the shard always samples.
uint32_t ShardMaxNewTokens(const api::StoppingParams& s) {
  return std::max<uint32_t>(1, s.max_new_tokens);
}

}  // namespace

struct EngineCore::Entry {
  explicit Entry(Submission s)
      : permit(std::move(s.permit)),
        id(s.id),
        request(std::move(s.request)),
        callbacks(std::move(s.callbacks)),
        handle(std::move(s.handle)),
        queued_at(s.queued_at) {}

  Permit permit;  // returned when the entry is dropped, however the request ended
  uint64_t id = 0;
  const api::ValidatedRequest request;
  Callbacks callbacks;
  std::shared_ptr<RequestHandle> handle;
  Clock::time_point queued_at;
  Clock::time_point batched_at;
  Clock::time_point first_token_at;
  std::unique_ptr<StreamDecoder> decoder;
  GenerationResult result;
  bool done = false;
};

EngineCore::EngineCore(EngineConfig config, client::ShardClient& shard, const TextCodec& codec,
                       metrics::Registry& metrics)
    : config_(std::move(config)),
      shard_(shard),
      codec_(codec),
      metrics_(metrics),
      state_(config_.scheduler) {
  metrics_.Set("tgi_kv_blocks_total", state_.allocator().total_blocks());
}

EngineCore::~EngineCore() = default;

void EngineCore::Add(Submission s) {
  auto entry = std::make_unique<Entry>(std::move(s));
  entry->result.input_tokens = static_cast<uint32_t>(entry->request.input_ids().size());
  // The seed validation decided is the one reported: the engine never draws its own.
  if (entry->request.sampling().do_sample) entry->result.seed = entry->request.sampling().seed;
  try {
    scheduler::QueuedRequest queued{.id = entry->id,
                                    .input_tokens = entry->result.input_tokens,
                                    .max_new_tokens = ShardMaxNewTokens(entry->request.stopping())};
    // Prompt logprobs need every prompt position computed in one call, so those requests skip
    // the cache and are not chunked.
    if (config_.scheduler.prefix_caching && !entry->request.decoder_input_details()) {
      queued.prompt_ids = entry->request.input_ids();
    }
    queued.chunkable = !entry->request.decoder_input_details();
    state_.Enqueue(queued);
  } catch (const Error& e) {
    Fail(*entry, e.kind(), e.message());
    return;  // the entry goes here, permit and all
  }
  queued_[entry->id] = std::move(entry);
}

bool EngineCore::Step() {
  bool stepped = false;
  try {
    if (in_flight_.empty()) {
      DropCancelled();
      ReconcileWithShard();
      const scheduler::StepPlan plan = state_.Schedule();
      ApplyPreemption(plan);
      if (!plan.empty()) Send(plan, /*pipelined=*/false);
    }
    if (!in_flight_.empty()) {
      if (CanPipeline()) {
        DropCancelled();
        const scheduler::StepPlan plan = state_.Schedule();
        if (!NeedsTheAnswerAhead(plan)) {
          if (!plan.empty()) Send(plan, /*pipelined=*/true);
        } else {
          CompleteOldest();  // reconciles batches_ with its answer
          ApplyPreemption(plan);
          if (!plan.empty()) Send(plan, /*pipelined=*/false);
        }
      }
      CompleteOldest();
      stepped = true;
    }
  } catch (const Error& e) {
    OnShardFailure(e.message());
  }
  // An idle engine's wait for new requests is not router time between steps.
  if (!stepped || !has_work()) last_call_end_.reset();
  UpdateGauges();
  return stepped;
}

bool EngineCore::CanPipeline() const {
  return config_.async_scheduling && in_flight_.size() == 1 && has_work();
}

bool EngineCore::NeedsTheAnswerAhead(const scheduler::StepPlan& plan) {
  // A preempted request leaves the batch the call ahead will leave, and one prefilled again
  // goes with every token it generated, including the one that call brings.
  return !plan.preempted.empty() ||
         std::any_of(plan.chunks.begin(), plan.chunks.end(),
                     [](const scheduler::PrefillChunk& chunk) { return chunk.generated > 0; });
}

void EngineCore::StartShardCall(Clock::time_point now, bool pipelined) {
  // A pipelined call waits at the shard before the one ahead of it ends: the shard does not
  // wait for the router at all.
  if (pipelined) {
    metrics_.Observe("tgi_batch_host_duration", 0.0);
  } else if (last_call_end_) {
    metrics_.Observe("tgi_batch_host_duration", Seconds(now - *last_call_end_));
  }
}

void EngineCore::EndShardCall(Clock::time_point now) { last_call_end_ = now; }

void EngineCore::OnShardFailure(const std::string& message) {
  spdlog::error("shard call failed: {}", message);
  healthy_.store(false);
  FailAll(ErrorKind::kUnavailable, message);  // waits out the other call in flight first
  try {
    shard_.ClearCache(std::nullopt);
  } catch (const Error& clear_error) {
    spdlog::error("ClearCache after failure: {}", clear_error.message());
  }
}

void EngineCore::DropCancelled() {
  std::vector<uint64_t> cancelled;
  for (auto& [id, entry] : queued_) {
    if (entry->handle->cancelled()) cancelled.push_back(id);
  }
  for (uint64_t id : cancelled) {
    state_.Release(id);
    queued_.erase(id);
    metrics_.Increment("tgi_request_cancelled");
  }
  cancelled.clear();
  for (auto& [id, entry] : running_) {
    if (entry->handle->cancelled()) cancelled.push_back(id);
  }
  for (uint64_t id : cancelled) {
    metrics_.Increment("tgi_request_cancelled");
    Remove(id);
  }
}

client::ShardRequest EngineCore::ChunkRequest(const scheduler::PrefillChunk& chunk) {
  Entry& entry = *queued_.at(chunk.id);
  const api::ValidatedRequest& r = entry.request;
  client::ShardRequest out{.id = chunk.id,
                           .inputs = r.inputs(),
                           .input_ids = r.input_ids(),
                           .truncate = r.truncate(),
                           .sampling = r.sampling(),
                           .grammar = r.grammar(),
                           .max_new_tokens = ShardMaxNewTokens(r.stopping()),
                           .min_new_tokens = r.stopping().min_new_tokens,
                           .stop_token_ids = r.stopping().stop_token_ids,
                           .ignore_eos = r.stopping().ignore_eos,
                           .prefill_logprobs = r.decoder_input_details() && chunk.generated == 0,
                           .top_n_tokens = r.top_n_tokens(),
                           .token_logprobs = r.token_logprobs(),
                           .blocks = chunk.blocks,
                           .cache_len = chunk.start,
                           .chunk_len = chunk.length};
  // After a preemption the tokens it had generated are prefilled again behind the prompt.
  for (uint32_t i = 0; i < chunk.generated; ++i) {
    out.generated_ids.push_back(entry.result.tokens[i].id);
  }
  const auto now = Clock::now();
  if (chunk.first) {
    metrics_.Increment("tgi_prompt_tokens", "", entry.result.input_tokens);
    metrics_.Increment("tgi_prefix_cache_hit_tokens", "", chunk.start);
    entry.batched_at = now;
    entry.decoder = codec_.NewStreamDecoder();
    metrics_.Observe("tgi_request_queue_duration", Seconds(now - entry.queued_at));
  }
  if (chunk.last) {
    // It joins the shard's batch with this step.
    running_[chunk.id] = std::move(queued_.at(chunk.id));
    queued_.erase(chunk.id);
  }
  return out;
}

void EngineCore::ApplyPreemption(const scheduler::StepPlan& plan) {
  for (uint64_t id : plan.preempted) {
    metrics_.Increment("tgi_request_preempted");
    auto it = running_.find(id);
    if (it == running_.end()) continue;  // part-way through its prompt, or it ended meanwhile
    queued_[id] = std::move(it->second);
    running_.erase(it);
  }
  if (!plan.preempted.empty()) ReconcileWithShard();
}

void EngineCore::Send(const scheduler::StepPlan& plan, bool pipelined) {
  std::vector<client::BlockGrant> grants;
  for (const scheduler::BlockGrant& g : plan.grants) {
    // A grant to a request that ended meanwhile is dropped; its blocks went back with it.
    if (running_.contains(g.id)) grants.push_back({.request_id = g.id, .blocks = g.blocks});
  }
  std::vector<client::CachedBatch> cached = batches_;
  if (pipelined) {
    // The batch the call in flight will leave: its requests, less those that ended here since
    // and those whose last token (by length) it brings.
    client::CachedBatch next = in_flight_.back().expected;
    std::erase_if(next.request_ids, [&](uint64_t id) {
      auto it = running_.find(id);
      return it == running_.end() || it->second->result.generated_tokens + 1 >=
                                         it->second->request.stopping().max_new_tokens;
    });
    std::erase_if(grants, [&](const client::BlockGrant& g) {
      return std::find(next.request_ids.begin(), next.request_ids.end(), g.request_id) ==
             next.request_ids.end();
    });
    next.size = static_cast<uint32_t>(next.request_ids.size());
    cached.clear();
    if (!next.request_ids.empty()) cached.push_back(std::move(next));
  }
  InFlight call;
  if (!cached.empty()) call.expected.id = cached.front().id;
  for (const client::CachedBatch& b : cached) {
    call.expected.request_ids.insert(call.expected.request_ids.end(), b.request_ids.begin(),
                                     b.request_ids.end());
  }
  // A chunk of a request that ended while this plan waited for the call ahead of it goes too.
  std::vector<const scheduler::PrefillChunk*> chunks;
  for (const scheduler::PrefillChunk& chunk : plan.chunks) {
    if (queued_.contains(chunk.id)) chunks.push_back(&chunk);
  }
  call.prefill = !chunks.empty();
  if (!call.prefill && call.expected.request_ids.empty()) return;  // nothing left to step
  const uint64_t step = next_step_++;
  if (call.prefill) {
    client::PrefillCall prefill{.batch_id = next_batch_id_++,
                                .cached = std::move(cached),
                                .grants = std::move(grants),
                                .step = step,
                                .pipelined = pipelined};
    for (const scheduler::PrefillChunk* chunk : chunks) {
      prefill.requests.push_back(ChunkRequest(*chunk));
      if (chunk->last) call.expected.request_ids.push_back(chunk->id);
    }
    call.expected.id = prefill.batch_id;
    call.sent = Clock::now();
    StartShardCall(call.sent, pipelined);
    call.call = shard_.StartPrefill(prefill);
  } else {
    call.sent = Clock::now();
    StartShardCall(call.sent, pipelined);
    call.call = shard_.StartDecode({.batches = std::move(cached),
                                    .grants = std::move(grants),
                                    .step = step,
                                    .pipelined = pipelined});
  }
  in_flight_.push_back(std::move(call));
}

void EngineCore::CompleteOldest() {
  InFlight call = std::move(in_flight_.front());
  in_flight_.pop_front();
  const client::StepResult result = call.call->Wait();
  const auto end = Clock::now();
  // The shard's time for this call: from when it was sent, or from when the call ahead of it
  // returned if it was queued behind that one, so that the calls' times add up to the run.
  const Clock::time_point start =
      last_call_end_ && *last_call_end_ > call.sent ? *last_call_end_ : call.sent;
  EndShardCall(end);
  const char* method = call.prefill ? "method=\"prefill\"" : "method=\"decode\"";
  metrics_.Observe("tgi_batch_inference_duration", Seconds(end - start), method);
  metrics_.Observe("tgi_batch_forward_duration", result.timings.forward_ns * 1e-9, method);
  metrics_.Observe("tgi_batch_shard_duration", result.timings.total_ns * 1e-9, method);
  batches_.clear();
  if (result.batch) batches_.push_back(*result.batch);
  // The step's K/V are written: full prompt blocks may now be shared.
  state_.CommitStep();
  HandleResult(result, call.prefill);
  FailLost(call.expected);
  ReconcileWithShard();
}

void EngineCore::DrainInFlight() {
  while (!in_flight_.empty()) {
    try {
      in_flight_.front().call->Wait();
    } catch (const Error&) {
      // Already failing: this call's outcome changes nothing.
    }
    in_flight_.pop_front();
  }
}

void EngineCore::HandleResult(const client::StepResult& result, bool prefill) {
  for (const client::ShardRequestError& error : result.errors) {
    auto it = running_.find(error.request_id);
    if (it != running_.end()) {
      Fail(*it->second, error.kind, error.message);
      Remove(error.request_id);
      continue;
    }
    auto queued = queued_.find(error.request_id);  // a prompt chunk that failed
    if (queued == queued_.end()) continue;
    Fail(*queued->second, error.kind, error.message);
    state_.Release(error.request_id);
    queued_.erase(queued);
  }
  for (const client::ShardGeneration& gen : result.generations) {
    auto it = running_.find(gen.request_id);
    if (it == running_.end()) continue;  // cancelled or failed meanwhile
    Entry& entry = *it->second;
    if (prefill && entry.request.decoder_input_details()) HandlePrefillTokens(entry, gen);
    if (entry.request.stopping().max_new_tokens == 0) {
      CompletePromptOnly(entry);
      Remove(entry.id);
      continue;
    }
    for (size_t i = 0; i < gen.tokens.ids.size() && !entry.done; ++i) HandleToken(entry, gen, i);
    if (!entry.done && entry.result.generated_tokens >= entry.request.stopping().max_new_tokens) {
      // The shard owns the length rule; a shard that breaks it must not run on unbounded.
      Fail(entry, ErrorKind::kUnavailable, "the shard generated past max_new_tokens");
    }
    if (entry.done) Remove(entry.id);
  }
}

void EngineCore::HandlePrefillTokens(Entry& entry, const client::ShardGeneration& gen) {
  const client::ShardTokens& p = gen.prefill_tokens;
  // Decoded in sequence, so that pieces keep their leading spaces and add up to the prompt.
  std::unique_ptr<StreamDecoder> decoder = codec_.NewStreamDecoder();
  for (size_t i = 0; i < p.ids.size(); ++i) {
    const bool special = codec_.IsSpecial(p.ids[i]);
    entry.result.prefill.push_back(
        {.id = p.ids[i],
         .logprob = i < p.logprobs.size() ? p.logprobs[i] : std::nanf(""),
         .text =
             special ? codec_.Decode({p.ids[i]}, /*skip_special=*/false) : decoder->Push(p.ids[i]),
         .special = special});
  }
  if (!entry.result.prefill.empty()) entry.result.prefill.back().text += decoder->Flush();
  for (const client::ShardTokens& top : gen.prefill_top_tokens) {
    entry.result.prefill_top_tokens.push_back(TokenInfos(top));
  }
}

void EngineCore::HandleToken(Entry& entry, const client::ShardGeneration& gen, size_t index) {
  const client::ShardTokens& tokens = gen.tokens;
  GenerationResult& result = entry.result;
  TokenEvent event;
  event.so_far = &result;
  event.index = result.generated_tokens;
  event.token.id = tokens.ids[index];
  event.token.logprob = index < tokens.logprobs.size() ? tokens.logprobs[index] : 0.0f;
  event.token.special = index < tokens.is_special.size() ? tokens.is_special[index]
                                                         : codec_.IsSpecial(event.token.id);
  if (event.token.special) {
    // Shown in the token stream like TGI, never in generated_text.
    event.token.text = codec_.Decode({event.token.id}, /*skip_special=*/false);
  } else {
    event.token.text = entry.decoder->Push(event.token.id);
  }
  if (index < gen.top_tokens.size()) event.top_tokens = TokenInfos(gen.top_tokens[index]);
  if (result.generated_tokens == 0) {
    entry.first_token_at = Clock::now();
    metrics_.Observe("tgi_request_time_to_first_token",
                     Seconds(entry.first_token_at - entry.queued_at));
  }
  ++result.generated_tokens;

  const size_t previous_length = result.generated_text.size();
  if (!event.token.special) result.generated_text += event.token.text;
  // Stop strings and stop token ids are matched here; EOS and length are the shard's (see
  // stopping.h), reported with the step's last token.
  std::optional<FinishReason> finish =
      MatchStop(entry.request.stopping(), event.token.id, previous_length, result);
  if (!finish && index + 1 == tokens.ids.size()) finish = gen.finish;
  result.tokens.push_back(event.token);
  result.top_tokens.push_back(event.top_tokens);
  if (!finish) {
    if (entry.callbacks.on_token) entry.callbacks.on_token(event, nullptr);
    return;
  }
  if (*finish != FinishReason::kStopSequence) {
    // Bytes held back by the decoder (an incomplete code point at the end) belong to the text.
    const std::string tail = entry.decoder->Flush();
    result.generated_text += tail;
    event.token.text += tail;
    result.tokens.back().text = event.token.text;
  }
  result.finish_reason = *finish;
  Finalize(entry);
  if (entry.callbacks.on_token) entry.callbacks.on_token(event, &result);
}

std::vector<TokenInfo> EngineCore::TokenInfos(const client::ShardTokens& tokens) const {
  std::vector<TokenInfo> out;
  for (size_t k = 0; k < tokens.ids.size(); ++k) {
    out.push_back({.id = tokens.ids[k],
                   .logprob = k < tokens.logprobs.size() ? tokens.logprobs[k] : 0.0f,
                   .text = codec_.Decode({tokens.ids[k]}, /*skip_special=*/false),
                   .special = codec_.IsSpecial(tokens.ids[k])});
  }
  return out;
}

void EngineCore::CompletePromptOnly(Entry& entry) {
  entry.first_token_at = Clock::now();
  entry.result.finish_reason = FinishReason::kLength;
  Finalize(entry);
  if (entry.callbacks.on_token) {
    entry.callbacks.on_token(TokenEvent{.so_far = &entry.result}, &entry.result);
  }
}

void EngineCore::Finalize(Entry& entry) {
  GenerationResult& result = entry.result;
  const auto now = Clock::now();
  result.queue_seconds = Seconds(entry.batched_at - entry.queued_at);
  result.inference_seconds = Seconds(now - entry.batched_at);
  result.total_seconds = Seconds(now - entry.queued_at);
  result.time_per_token_seconds =
      result.generated_tokens > 1
          ? Seconds(now - entry.first_token_at) / (result.generated_tokens - 1)
          : result.inference_seconds;
  metrics_.Increment("tgi_request_success");
  metrics_.Observe("tgi_request_inference_duration", result.inference_seconds);
  metrics_.Observe("tgi_request_duration", result.total_seconds);
  metrics_.Observe("tgi_request_mean_time_per_token_duration", result.time_per_token_seconds);
  metrics_.Observe("tgi_request_input_length", result.input_tokens);
  metrics_.Observe("tgi_request_generated_tokens", result.generated_tokens);
  entry.done = true;
}

void EngineCore::Fail(Entry& entry, ErrorKind kind, const std::string& message) {
  if (entry.done) return;
  entry.done = true;
  metrics_.Increment("tgi_request_failure", kind == ErrorKind::kInvalidArgument
                                                ? "err=\"validation\""
                                                : "err=\"generation\"");
  if (entry.callbacks.on_error) entry.callbacks.on_error(kind, message);
}

void EngineCore::Remove(uint64_t id) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  state_.Release(id);
  running_.erase(it);
}

void EngineCore::FailLost(const client::CachedBatch& expected) {
  // Every request the call stepped is in the batch it left, unless it ended in the call (and
  // left running_ while its answer was handled). Requests that joined with a later call still
  // in flight are not in this one's list.
  std::unordered_set<uint64_t> held;
  for (const client::CachedBatch& b : batches_)
    held.insert(b.request_ids.begin(), b.request_ids.end());
  for (uint64_t id : expected.request_ids) {
    auto it = running_.find(id);
    if (it == running_.end() || held.contains(id)) continue;
    Fail(*it->second, ErrorKind::kUnavailable, "the shard dropped the request");
    Remove(id);
  }
}

void EngineCore::ReconcileWithShard() {
  // Requests finished or cancelled here leave the shard's batches: with the next step call,
  // which names the requests to keep (proto CachedBatch), so that it costs no round trip of its
  // own. A batch left empty is cleared now, no later call might name it; unless a call is in
  // flight, which the clearing could overtake: then that call's answer brings it back here.
  std::vector<client::CachedBatch> kept;
  for (client::CachedBatch& b : batches_) {
    std::erase_if(b.request_ids, [&](uint64_t id) { return !running_.contains(id); });
    if (b.request_ids.empty()) {
      if (in_flight_.empty()) shard_.ClearCache(b.id);
      continue;
    }
    b.size = static_cast<uint32_t>(b.request_ids.size());
    kept.push_back(std::move(b));
  }
  batches_ = std::move(kept);
}

void EngineCore::FailAll(ErrorKind kind, const std::string& message) {
  DrainInFlight();
  for (auto* table : {&running_, &queued_}) {
    for (auto& [id, entry] : *table) Fail(*entry, kind, message);
    table->clear();
  }
  batches_.clear();
  state_ = scheduler::State(config_.scheduler);
}

void EngineCore::UpdateGauges() {
  metrics_.Set("tgi_batch_current_size", static_cast<double>(running_.size()));
  metrics_.Set("tgi_kv_blocks_used", state_.used_blocks());
  metrics_.Set("tgi_prefix_cache_blocks", state_.prefix_cache().cached_blocks());
}

}  // namespace tg::engine
