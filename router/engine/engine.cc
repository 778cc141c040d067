#include "router/engine/engine.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <random>
#include <unordered_set>

#include "router/client/sharded_client.h"
#include "router/engine/stopping.h"
#include "router/metrics/metrics.h"

namespace tg::engine {
namespace {

namespace pb = textgen::v1;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

FinishReason FromProto(pb::FinishReason reason) {
  switch (reason) {
    case pb::FINISH_REASON_EOS_TOKEN:
      return FinishReason::kEosToken;
    case pb::FINISH_REASON_STOP_SEQUENCE:
      return FinishReason::kStopSequence;
    default:
      return FinishReason::kLength;
  }
}

void FillGrammar(const api::GrammarRequest& g, pb::Request* out) {
  if (g.type == api::GrammarType::kNone) return;
  pb::Grammar* grammar = out->mutable_grammar();
  switch (g.type) {
    case api::GrammarType::kJsonSchema:
      grammar->set_type(pb::Grammar::TYPE_JSON_SCHEMA);
      break;
    case api::GrammarType::kJsonObject:
      grammar->set_type(pb::Grammar::TYPE_JSON_OBJECT);
      break;
    case api::GrammarType::kRegex:
      grammar->set_type(pb::Grammar::TYPE_REGEX);
      break;
    case api::GrammarType::kEbnf:
      grammar->set_type(pb::Grammar::TYPE_EBNF);
      break;
    case api::GrammarType::kNone:
      break;
  }
  grammar->set_value(g.value);
}

void FillSampling(const api::SamplingParams& s, pb::NextTokenChooserParameters* p) {
  p->set_temperature(s.temperature);
  p->set_top_k(s.top_k);
  p->set_top_p(s.top_p);
  p->set_typical_p(s.typical_p);
  p->set_min_p(s.min_p);
  p->set_do_sample(s.do_sample);
  p->set_seed(s.seed);
  p->set_repetition_penalty(s.repetition_penalty);
  p->set_frequency_penalty(s.frequency_penalty);
  p->set_presence_penalty(s.presence_penalty);
  for (const auto& [token, bias] : s.logit_bias) {
    pb::LogitBias* entry = p->add_logit_bias();
    entry->set_token(token);
    entry->set_bias(bias);
  }
}

// Prompt-only requests (max_new_tokens 0) still run one prefill step: the shard always samples.
uint32_t ShardMaxNewTokens(const api::StoppingParams& s) {
  return std::max<uint32_t>(1, s.max_new_tokens);
}

}  // namespace

struct Engine::Entry {
  uint64_t id = 0;
  api::ValidatedRequest request;
  Callbacks callbacks;
  std::shared_ptr<RequestHandle> handle;
  Clock::time_point queued_at;
  Clock::time_point batched_at;
  Clock::time_point first_token_at;
  std::unique_ptr<StreamDecoder> decoder;
  GenerationResult result;
  bool done = false;
};

Engine::Engine(EngineConfig config, client::ShardedClient& client, const TextCodec& codec,
               metrics::Registry& metrics)
    : config_(std::move(config)),
      client_(client),
      codec_(codec),
      metrics_(metrics),
      state_(config_.scheduler) {
  metrics_.Set("tgi_kv_blocks_total", state_.allocator().total_blocks());
  thread_ = std::thread([this] { Loop(); });
}

Engine::~Engine() { Stop(); }

void Engine::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Engine::Admit(uint32_t count) {
  uint32_t current = in_flight_.load();
  do {
    if (current + count > config_.max_concurrent_requests) {
      throw Error(ErrorKind::kResourceExhausted, "Model is overloaded");
    }
  } while (!in_flight_.compare_exchange_weak(current, current + count));
}

void Engine::Unadmit(uint32_t count) { in_flight_.fetch_sub(count); }

std::shared_ptr<RequestHandle> Engine::Submit(api::ValidatedRequest request, Callbacks callbacks) {
  auto entry = std::make_unique<Entry>();
  entry->id = next_request_id_.fetch_add(1);
  if (request.sampling.do_sample && !request.seed_given) {
    request.sampling.seed = std::random_device{}() * uint64_t{0x100000001} ^ entry->id;
  }
  entry->request = std::move(request);
  entry->callbacks = std::move(callbacks);
  entry->handle = std::make_shared<RequestHandle>();
  entry->queued_at = Clock::now();
  entry->result.input_tokens = static_cast<uint32_t>(entry->request.input_ids.size());
  if (entry->request.sampling.do_sample) entry->result.seed = entry->request.sampling.seed;
  auto handle = entry->handle;
  {
    std::lock_guard lock(mutex_);
    incoming_.push_back(std::move(entry));
    queue_size_.fetch_add(1);
  }
  wake_.notify_one();
  return handle;
}

void Engine::Loop() {
  while (true) {
    std::deque<std::unique_ptr<Entry>> incoming;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] {
        return stop_ || !incoming_.empty() || !running_.empty() || !queued_.empty();
      });
      if (stop_) break;
      incoming.swap(incoming_);
    }
    bool stepped = false;
    try {
      TakeIncoming(incoming);
      DropCancelled();
      ReconcileWithShard();
      stepped = RunStep();
    } catch (const Error& e) {
      spdlog::error("shard call failed: {}", e.message());
      healthy_.store(false);
      FailAll(ErrorKind::kUnavailable, e.message());
      batches_.clear();
      try {
        client_.ClearCache(std::nullopt);
      } catch (const Error& clear_error) {
        spdlog::error("ClearCache after failure: {}", clear_error.message());
      }
    }
    UpdateGauges();
    if (!stepped) {
      // Queued requests that cannot start yet (no KV blocks free): wait for news, not spin.
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(5),
                     [&] { return stop_ || !incoming_.empty(); });
    }
  }
  std::deque<std::unique_ptr<Entry>> incoming;
  {
    std::lock_guard lock(mutex_);
    incoming.swap(incoming_);
  }
  for (auto& e : incoming) queued_[e->id] = std::move(e);
  FailAll(ErrorKind::kUnavailable, "the server is shutting down");
}

void Engine::TakeIncoming(std::deque<std::unique_ptr<Entry>>& incoming) {
  for (auto& entry : incoming) {
    queue_size_.fetch_sub(1);
    const uint64_t id = entry->id;
    try {
      scheduler::QueuedRequest queued{
          .id = id,
          .input_tokens = static_cast<uint32_t>(entry->request.input_ids.size()),
          .max_new_tokens = ShardMaxNewTokens(entry->request.stopping)};
      // Prompt logprobs need every prompt position computed in one call, so those requests
      // skip the cache and are not chunked.
      if (config_.scheduler.prefix_caching && !entry->request.decoder_input_details) {
        queued.prompt_ids = entry->request.input_ids;
      }
      queued.chunkable = !entry->request.decoder_input_details;
      state_.Enqueue(queued);
    } catch (const Error& e) {
      Fail(*entry, e.kind(), e.message());
      in_flight_.fetch_sub(1);
      continue;
    }
    queue_size_.fetch_add(1);
    queued_[id] = std::move(entry);
  }
}

void Engine::DropCancelled() {
  std::vector<uint64_t> cancelled;
  for (auto& [id, entry] : queued_) {
    if (entry->handle->cancelled()) cancelled.push_back(id);
  }
  for (uint64_t id : cancelled) {
    state_.Release(id);
    queued_.erase(id);
    queue_size_.fetch_sub(1);
    in_flight_.fetch_sub(1);
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

void Engine::AddChunk(const scheduler::PrefillChunk& chunk, pb::Batch& batch) {
  Entry& entry = *queued_.at(chunk.id);
  const api::ValidatedRequest& r = entry.request;
  pb::Request* out = batch.add_requests();
  out->set_id(chunk.id);
  out->set_inputs(r.inputs);
  for (uint32_t token : r.input_ids) out->add_input_ids(token);
  // After a preemption the tokens it had generated are prefilled again behind the prompt.
  for (uint32_t i = 0; i < chunk.generated; ++i) out->add_generated_ids(entry.result.tokens[i].id);
  out->set_truncate(r.truncate);
  FillSampling(r.sampling, out->mutable_parameters());
  FillGrammar(r.grammar, out);
  pb::StoppingCriteriaParameters* stop = out->mutable_stopping_parameters();
  stop->set_max_new_tokens(ShardMaxNewTokens(r.stopping));
  stop->set_min_new_tokens(r.stopping.min_new_tokens);
  for (uint32_t id : r.stopping.stop_token_ids) stop->add_stop_token_ids(id);
  for (const std::string& seq : r.stopping.stop_sequences) stop->add_stop_sequences(seq);
  stop->set_ignore_eos_token(r.stopping.ignore_eos);
  out->set_prefill_logprobs(r.decoder_input_details && chunk.generated == 0);
  out->set_top_n_tokens(r.top_n_tokens);
  for (uint32_t b : chunk.blocks) out->add_blocks(b);
  out->set_cache_len(chunk.start);
  out->set_chunk_len(chunk.length);
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
    queue_size_.fetch_sub(1);
  }
}

bool Engine::RunStep() {
  scheduler::StepPlan plan = state_.Schedule();
  for (uint64_t id : plan.preempted) {
    metrics_.Increment("tgi_request_preempted");
    auto it = running_.find(id);
    if (it == running_.end()) continue;  // part-way through its prompt: not in the shard batch
    queued_[id] = std::move(it->second);
    running_.erase(it);
    queue_size_.fetch_add(1);
  }
  if (!plan.preempted.empty()) ReconcileWithShard();
  if (plan.empty()) return false;
  const auto start = Clock::now();
  const char* method = plan.chunks.empty() ? "method=\"decode\"" : "method=\"prefill\"";
  google::protobuf::RepeatedPtrField<pb::BlockGrant> grants;
  for (const scheduler::BlockGrant& g : plan.grants) {
    pb::BlockGrant* grant = grants.Add();
    grant->set_request_id(g.id);
    for (uint32_t b : g.blocks) grant->add_blocks(b);
  }
  pb::Timings timings;
  google::protobuf::RepeatedPtrField<pb::Generation> generations;
  google::protobuf::RepeatedPtrField<pb::RequestError> errors;
  std::optional<pb::CachedBatch> next;
  if (plan.chunks.empty()) {
    pb::DecodeRequest call;
    for (const pb::CachedBatch& b : batches_) *call.add_batches() = b;
    *call.mutable_block_grants() = std::move(grants);
    pb::DecodeResponse response = client_.Decode(call);
    if (response.has_batch()) next = response.batch();
    timings = response.timings();
    generations.Swap(response.mutable_generations());
    errors.Swap(response.mutable_errors());
  } else {
    pb::PrefillRequest call;
    pb::Batch* batch = call.mutable_batch();
    batch->set_id(next_batch_id_++);
    for (const scheduler::PrefillChunk& chunk : plan.chunks) AddChunk(chunk, *batch);
    batch->set_size(static_cast<uint32_t>(plan.chunks.size()));
    for (const pb::CachedBatch& b : batches_) *call.add_cached_batches() = b;
    *call.mutable_block_grants() = std::move(grants);
    pb::PrefillResponse response = client_.Prefill(call);
    if (response.has_batch()) next = response.batch();
    timings = response.timings();
    generations.Swap(response.mutable_generations());
    errors.Swap(response.mutable_errors());
  }
  metrics_.Observe("tgi_batch_inference_duration", Seconds(Clock::now() - start), method);
  metrics_.Observe("tgi_batch_forward_duration", timings.forward_ns() * 1e-9, method);
  batches_.clear();
  if (next) batches_.push_back(std::move(*next));
  // The step's K/V are written: full prompt blocks may now be shared.
  state_.CommitStep();
  HandleGenerations(generations, errors, /*prefill=*/!plan.chunks.empty());
  ReconcileWithShard();
  return true;
}

void Engine::HandleGenerations(const google::protobuf::RepeatedPtrField<pb::Generation>& gens,
                               const google::protobuf::RepeatedPtrField<pb::RequestError>& errors,
                               bool prefill) {
  for (const pb::RequestError& error : errors) {
    auto it = running_.find(error.request_id());
    if (it != running_.end()) {
      Fail(*it->second, ErrorKind::kUnavailable, error.message());
      Remove(error.request_id());
      continue;
    }
    auto queued = queued_.find(error.request_id());  // a prompt chunk that failed
    if (queued == queued_.end()) continue;
    Fail(*queued->second, ErrorKind::kUnavailable, error.message());
    state_.Release(error.request_id());
    queued_.erase(queued);
    queue_size_.fetch_sub(1);
    in_flight_.fetch_sub(1);
  }
  for (const pb::Generation& gen : gens) {
    auto it = running_.find(gen.request_id());
    if (it == running_.end()) continue;  // cancelled or failed meanwhile
    Entry& entry = *it->second;
    if (prefill && entry.request.decoder_input_details) {
      const pb::Tokens& p = gen.prefill_tokens();
      // Decoded in sequence, so that pieces keep their leading spaces and add up to the prompt.
      std::unique_ptr<StreamDecoder> decoder = codec_.NewStreamDecoder();
      for (int i = 0; i < p.ids_size(); ++i) {
        const bool special = codec_.IsSpecial(p.ids(i));
        entry.result.prefill.push_back(
            {.id = p.ids(i),
             .logprob = i < p.logprobs_size() ? p.logprobs(i) : std::nanf(""),
             .text = special ? codec_.Decode({p.ids(i)}, /*skip_special=*/false)
                             : decoder->Push(p.ids(i)),
             .special = special});
      }
      if (!entry.result.prefill.empty()) entry.result.prefill.back().text += decoder->Flush();
      for (const pb::Tokens& top : gen.prefill_top_tokens()) {
        entry.result.prefill_top_tokens.push_back(TokenInfos(top));
      }
    }
    if (entry.request.stopping.max_new_tokens == 0) {
      CompletePromptOnly(entry);
      Remove(entry.id);
      continue;
    }
    for (int i = 0; i < gen.tokens().ids_size() && !entry.done; ++i) HandleToken(entry, gen, i);
    if (entry.done) Remove(entry.id);
  }
}

void Engine::HandleToken(Entry& entry, const pb::Generation& gen, int index) {
  const pb::Tokens& tokens = gen.tokens();
  GenerationResult& result = entry.result;
  TokenEvent event;
  event.so_far = &result;
  event.index = result.generated_tokens;
  event.token.id = tokens.ids(index);
  event.token.logprob = index < tokens.logprobs_size() ? tokens.logprobs(index) : 0.0f;
  event.token.special = index < tokens.is_special_size() ? tokens.is_special(index)
                                                         : codec_.IsSpecial(event.token.id);
  if (event.token.special) {
    // Shown in the token stream like TGI, never in generated_text.
    event.token.text = codec_.Decode({event.token.id}, /*skip_special=*/false);
  } else {
    event.token.text = entry.decoder->Push(event.token.id);
  }
  if (index < gen.top_tokens_size()) event.top_tokens = TokenInfos(gen.top_tokens(index));
  if (result.generated_tokens == 0) {
    entry.first_token_at = Clock::now();
    metrics_.Observe("tgi_request_time_to_first_token",
                     Seconds(entry.first_token_at - entry.queued_at));
  }
  ++result.generated_tokens;

  const size_t previous_length = result.generated_text.size();
  if (!event.token.special) result.generated_text += event.token.text;
  std::optional<FinishReason> finish =
      MatchStop(entry.request.stopping, event.token.id, previous_length, result);
  if (!finish && gen.has_generated_text() && index == gen.tokens().ids_size() - 1) {
    finish = FromProto(gen.generated_text().finish_reason());
  } else if (!finish && result.generated_tokens >= entry.request.stopping.max_new_tokens) {
    finish = FinishReason::kLength;
  }
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

std::vector<TokenInfo> Engine::TokenInfos(const pb::Tokens& tokens) const {
  std::vector<TokenInfo> out;
  for (int k = 0; k < tokens.ids_size(); ++k) {
    out.push_back({.id = tokens.ids(k),
                   .logprob = k < tokens.logprobs_size() ? tokens.logprobs(k) : 0.0f,
                   .text = codec_.Decode({tokens.ids(k)}, /*skip_special=*/false),
                   .special = codec_.IsSpecial(tokens.ids(k))});
  }
  return out;
}

void Engine::CompletePromptOnly(Entry& entry) {
  entry.first_token_at = Clock::now();
  entry.result.finish_reason = FinishReason::kLength;
  Finalize(entry);
  if (entry.callbacks.on_token) {
    entry.callbacks.on_token(TokenEvent{.so_far = &entry.result}, &entry.result);
  }
}

void Engine::Finalize(Entry& entry) {
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

void Engine::Fail(Entry& entry, ErrorKind kind, const std::string& message) {
  if (entry.done) return;
  entry.done = true;
  metrics_.Increment("tgi_request_failure", kind == ErrorKind::kInvalidArgument
                                                ? "err=\"validation\""
                                                : "err=\"generation\"");
  if (entry.callbacks.on_error) entry.callbacks.on_error(kind, message);
}

void Engine::Remove(uint64_t id) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  state_.Release(id);
  running_.erase(it);
  in_flight_.fetch_sub(1);
}

void Engine::ReconcileWithShard() {
  std::unordered_set<uint64_t> alive;
  for (const pb::CachedBatch& b : batches_)
    alive.insert(b.request_ids().begin(), b.request_ids().end());
  std::vector<uint64_t> lost;
  for (auto& [id, entry] : running_) {
    if (!alive.contains(id)) lost.push_back(id);
  }
  for (uint64_t id : lost) {
    Fail(*running_.at(id), ErrorKind::kUnavailable, "the shard dropped the request");
    Remove(id);
  }
  // Requests finished or cancelled here leave the shard's batches at once.
  std::vector<pb::CachedBatch> kept;
  for (pb::CachedBatch& b : batches_) {
    std::vector<uint64_t> keep;
    for (uint64_t id : b.request_ids()) {
      if (running_.contains(id)) keep.push_back(id);
    }
    if (keep.size() == static_cast<size_t>(b.request_ids_size())) {
      kept.push_back(std::move(b));
    } else if (keep.empty()) {
      client_.ClearCache(b.id());
    } else {
      pb::FilterBatchResponse filtered = client_.FilterBatch(b.id(), keep);
      kept.push_back(filtered.batch());
    }
  }
  batches_ = std::move(kept);
}

void Engine::FailAll(ErrorKind kind, const std::string& message) {
  for (auto* table : {&running_, &queued_}) {
    for (auto& [id, entry] : *table) {
      Fail(*entry, kind, message);
      if (table == &queued_) queue_size_.fetch_sub(1);
      in_flight_.fetch_sub(1);
    }
    table->clear();
  }
  state_ = scheduler::State(config_.scheduler);
}

void Engine::UpdateGauges() {
  metrics_.Set("tgi_queue_size", queue_size_.load());
  metrics_.Set("tgi_batch_current_size", static_cast<double>(running_.size()));
  metrics_.Set("tgi_running_requests", in_flight_.load());
  metrics_.Set("tgi_kv_blocks_used", state_.used_blocks());
  metrics_.Set("tgi_prefix_cache_blocks", state_.prefix_cache().cached_blocks());
}

}  // namespace tg::engine
