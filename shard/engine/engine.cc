#include "shard/engine/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <span>
#include <string>

#include <spdlog/spdlog.h>

#include "common/error.h"

namespace tg::shard {
namespace {

uint64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Engine::Engine(Model& model, backend::Backend& backend, EngineOptions options)
    : model_(model), backend_(backend), options_(options), graphs_(model, backend) {
  for (uint32_t id : model.config().eos_token_ids) eos_ids_.insert(static_cast<int32_t>(id));
  grammar_ = grammar::MakeRuntime(options_.tokenizer_path, model.config(), eos_ids_);
}

WarmupResult Engine::Warmup(const WarmupParams& params) {
  batches_.clear();
  graphs_.Clear();
  const uint64_t block_bytes = model_.kv_pool().BytesPerBlock(kBlockSize);
  uint64_t num_blocks = 0;
  const int64_t planned =
      params.max_batch_total_tokens > 0 || backend_.device() == backend::DeviceKind::kCpu
          ? -1
          : ProfileKvBlocks(params, block_bytes);
  if (params.max_batch_total_tokens > 0) {
    num_blocks = (params.max_batch_total_tokens + kBlockSize - 1) / kBlockSize;
  } else if (planned >= 0) {
    num_blocks = static_cast<uint64_t>(planned);
  } else {
    const double budget =
        static_cast<double>(backend_.FreeMemoryBytes()) * options_.kv_memory_fraction;
    num_blocks = static_cast<uint64_t>(budget / static_cast<double>(block_bytes));
  }
  // Block ids travel as uint32 and slots as int32.
  num_blocks = std::min<uint64_t>(num_blocks, std::numeric_limits<int32_t>::max() / kBlockSize);
  const uint64_t needed =
      (std::max<uint64_t>(params.max_total_tokens, 1) + kBlockSize - 1) / kBlockSize;
  if (num_blocks < needed) {
    throw Error(ErrorKind::kResourceExhausted,
                "KV cache of " + std::to_string(num_blocks * kBlockSize) +
                    " tokens cannot hold one request of max_total_tokens " +
                    std::to_string(params.max_total_tokens));
  }
  model_.kv_pool().Allocate(static_cast<int>(num_blocks), kBlockSize);
  SelfTest();
  CaptureDecodeGraphs(params);

  WarmupResult result;
  result.num_blocks = static_cast<uint32_t>(num_blocks);
  result.max_supported_total_tokens = num_blocks * kBlockSize;
  result.max_input_tokens = params.max_input_tokens;
  result.max_total_tokens = params.max_total_tokens;
  result.weight_bytes = model_.weight_bytes();
  result.kv_bytes = num_blocks * block_bytes;
  result.cuda_graph_batch_sizes.assign(graphs_.sizes().begin(), graphs_.sizes().end());
  return result;
}

int64_t Engine::ProfileKvBlocks(const WarmupParams& params, uint64_t block_bytes) {
  const int vocab = static_cast<int>(model_.config().vocab_size);
  const int prefill = static_cast<int>(std::max<uint32_t>(
      {params.max_batch_prefill_tokens, params.max_input_tokens, uint32_t{kBlockSize}}));
  const std::vector<int> sizes = backend_.GraphBatchSizes();
  const int rows = static_cast<int>(std::max<uint32_t>(
      {params.max_batch_size, sizes.empty() ? 1u : static_cast<uint32_t>(sizes.back()), 1u}));
  const int prefill_blocks = (prefill + kBlockSize - 1) / kBlockSize;
  // The prompt's blocks, then one block for each decode sequence.
  const int temp_blocks = prefill_blocks + rows;
  model_.kv_pool().Allocate(temp_blocks, kBlockSize);
  backend_.ResetPeakMemory();

  // The largest prefill: one sequence of `prefill` tokens (activations scale with tokens).
  std::vector<int32_t> prompt(prefill);
  for (int p = 0; p < prefill; ++p) prompt[p] = p % vocab;
  std::vector<uint32_t> block_ids(temp_blocks);
  std::iota(block_ids.begin(), block_ids.end(), 0u);
  ForwardBatchBuilder batch(model_.kv_pool());
  batch.AddSequence(prompt, 0, std::span(block_ids).first(prefill_blocks)).AddLogitRow(prefill - 1);
  model_.Forward(batch.Build());
  backend_.Synchronize();

  // The largest decode: `rows` sequences of one token, each in its own block.
  for (int r = 0; r < rows; ++r) {
    const int32_t token = r % vocab;
    batch.AddSequence({&token, 1}, 0, std::span(block_ids).subspan(prefill_blocks + r, 1));
    batch.AddLogitRow(r);
  }
  model_.Forward(batch.Build());
  backend_.Synchronize();

  // Release the temporary cache (a one-block stand-in keeps the model valid until the real one).
  model_.kv_pool().Allocate(1, kBlockSize);
  const int64_t blocks =
      backend_.PlanKvBlocks(block_bytes, static_cast<uint64_t>(temp_blocks) * block_bytes);
  spdlog::info("warmup profile: prefill of {} tokens, decode of {} sequences -> {} KV blocks",
               prefill, rows, blocks);
  return blocks;
}

void Engine::CaptureDecodeGraphs(const WarmupParams& params) {
  // A request never holds more than max_total_tokens positions.
  const int64_t tokens = std::max<int64_t>(params.max_total_tokens, kBlockSize);
  const int max_blocks = static_cast<int>(
      std::min<int64_t>((tokens + kBlockSize - 1) / kBlockSize, model_.kv_pool().num_blocks()));
  graphs_.Capture(max_blocks, static_cast<int>(params.max_batch_size));
}

void Engine::SelfTest() {
  // A short prompt in the first block; the router rewrites it before use.
  const KvPool& pool = model_.kv_pool();
  const int length = static_cast<int>(std::min<int64_t>(kBlockSize, pool.num_slots() - 1));
  std::vector<int32_t> prompt(length);
  for (int p = 0; p < length; ++p) prompt[p] = p % static_cast<int>(model_.config().vocab_size);
  const uint32_t first_block = 0;
  ForwardBatchBuilder batch(pool);
  batch.AddSequence(prompt, 0, {&first_block, 1}).AddLogitRow(length - 1);
  backend::Tensor logits = model_.Forward(batch.Build());
  backend_.Synchronize();
  TG_CHECK(logits.dim(1) == static_cast<int64_t>(model_.config().vocab_size), kInternal,
           "self-test forward returned the wrong logits shape");
}

void Engine::Validate(const RequestState& request, uint32_t first, uint32_t end) const {
  const RequestSpec& spec = request.spec;
  const uint32_t vocab = model_.config().vocab_size;
  if (request.tokens.empty()) {
    throw RequestError(spec.id, ErrorKind::kInvalidArgument, "request has no input tokens");
  }
  for (int32_t token : request.tokens) {
    if (token < 0 || static_cast<uint32_t>(token) >= vocab) {
      throw RequestError(spec.id, ErrorKind::kInvalidArgument,
                         "token id " + std::to_string(token) + " outside the vocabulary of " +
                             std::to_string(vocab));
    }
  }
  auto check_vocab = [&](int32_t token, const char* what) {
    if (token < 0 || static_cast<uint32_t>(token) >= vocab) {
      throw RequestError(spec.id, ErrorKind::kInvalidArgument,
                         std::string(what) + " token id " + std::to_string(token) +
                             " outside the vocabulary of " + std::to_string(vocab));
    }
  };
  for (const backend::LogitBias& b : spec.logit_bias) check_vocab(b.token, "logit_bias");
  for (int32_t token : spec.stop_token_ids) check_vocab(token, "stop_token_ids");
  CheckBlocks(request);
  for (uint32_t p = first; p < end; ++p) CheckSlot(request, p);
}

void Engine::CheckBlocks(const RequestState& request) const {
  const int num_blocks = model_.kv_pool().num_blocks();
  for (uint32_t block : request.spec.blocks) {
    if (block >= static_cast<uint32_t>(num_blocks)) {
      throw RequestError(request.spec.id, ErrorKind::kInvalidArgument,
                         "KV block " + std::to_string(block) + " outside the pool of " +
                             std::to_string(num_blocks));
    }
  }
}

void Engine::CheckSlot(const RequestState& request, uint32_t position) const {
  const RequestSpec& spec = request.spec;
  if (position / kBlockSize >= spec.blocks.size()) {
    throw RequestError(spec.id, ErrorKind::kResourceExhausted,
                       "no KV block for position " + std::to_string(position) + " (" +
                           std::to_string(spec.blocks.size()) + " blocks)");
  }
  // K/V go where the block table says, since attention reads them from there.
  const int64_t slot =
      static_cast<int64_t>(spec.blocks[position / kBlockSize]) * kBlockSize + position % kBlockSize;
  if (position < spec.slots.size() && spec.slots[position] != slot) {
    throw RequestError(spec.id, ErrorKind::kInvalidArgument,
                       "KV slot " + std::to_string(spec.slots[position]) + " of position " +
                           std::to_string(position) + " is not where its block table puts it (" +
                           std::to_string(slot) + ")");
  }
}

CachedBatchInfo Engine::Describe(uint64_t id, const Batch& batch) const {
  CachedBatchInfo info;
  info.id = id;
  for (const RequestState& request : batch) {
    info.request_ids.push_back(request.spec.id);
    info.max_tokens += static_cast<uint32_t>(request.spec.blocks.size()) * kBlockSize;
    info.current_tokens += request.tokens.size();
  }
  return info;
}

StepOutput Engine::Finish(uint64_t batch_id, Batch batch, StepOutput output) {
  if (!batch.empty()) {
    output.batch = Describe(batch_id, batch);
    batches_[batch_id] = std::move(batch);
  }
  return output;
}

std::vector<Engine::RequestState> Engine::TakeBatches(const std::vector<uint64_t>& batch_ids,
                                                      const std::vector<BlockGrant>& grants) {
  for (uint64_t id : batch_ids) {
    TG_CHECK(batches_.contains(id), kInvalidArgument,
             "unknown batch " + std::to_string(id) + " (filtered, cleared or never prefilled)");
  }
  std::vector<RequestState> requests;
  for (uint64_t id : batch_ids) {
    for (RequestState& r : batches_[id]) requests.push_back(std::move(r));
    batches_.erase(id);
  }
  for (const BlockGrant& grant : grants) {
    auto it = std::find_if(requests.begin(), requests.end(),
                           [&](const RequestState& r) { return r.spec.id == grant.request_id; });
    TG_CHECK(it != requests.end(), kInvalidArgument,
             "KV blocks granted to request " + std::to_string(grant.request_id) +
                 ", which is in none of the step's batches");
    it->spec.blocks.insert(it->spec.blocks.end(), grant.blocks.begin(), grant.blocks.end());
  }
  return requests;
}

void Engine::AddDecodeRows(std::vector<RequestState>& requests, ForwardBatchBuilder& batch,
                           std::vector<RequestState>& runnable,
                           std::vector<RequestFailure>& errors) const {
  for (RequestState& r : requests) {
    try {
      const uint32_t position = static_cast<uint32_t>(r.tokens.size()) - 1;
      CheckBlocks(r);  // granted blocks too
      CheckSlot(r, position);
      batch.AddSequence(std::span(r.tokens).last(1), static_cast<int>(position), r.spec.blocks);
      runnable.push_back(std::move(r));
    } catch (const RequestError& e) {
      errors.push_back({e.request_id(), e.message(), e.kind()});
    }
  }
}

StepOutput Engine::Prefill(uint64_t batch_id, std::vector<RequestSpec> specs,
                           std::vector<uint64_t> cached_batch_ids, std::vector<BlockGrant> grants,
                           bool pipelined) {
  const uint64_t start_ns = NowNs();
  if (pipelined) SkipEnded(cached_batch_ids, grants);
  TG_CHECK(warmed_up(), kInvalidArgument, "Prefill before Warmup");
  TG_CHECK(!batches_.contains(batch_id) ||
               std::find(cached_batch_ids.begin(), cached_batch_ids.end(), batch_id) !=
                   cached_batch_ids.end(),
           kInvalidArgument, "batch " + std::to_string(batch_id) + " already exists");
  StepOutput output;
  std::vector<RequestState> cached = cached_batch_ids.empty()
                                         ? std::vector<RequestState>{}
                                         : TakeBatches(cached_batch_ids, grants);

  // Rows: first one token per cached request (decode), then each new request's positions
  // [first, end). Requests whose `end` is their last position are sampled ("complete").
  ForwardBatchBuilder batch(model_.kv_pool());
  std::vector<RequestState> decodes;
  AddDecodeRows(cached, batch, decodes, output.errors);
  std::vector<RequestState> complete;
  std::vector<uint32_t> first_positions;  // of `complete`
  std::vector<int32_t> complete_rows;     // each complete request's last row
  for (RequestSpec& spec : specs) {
    RequestState request;
    request.tokens = spec.input_ids;
    request.tokens.insert(request.tokens.end(), spec.generated_ids.begin(),
                          spec.generated_ids.end());
    request.generated = static_cast<uint32_t>(spec.generated_ids.size());
    request.spec = std::move(spec);
    const uint32_t length = static_cast<uint32_t>(request.tokens.size());
    // At least the last token is recomputed so there are logits to sample from.
    const uint32_t first = length == 0 ? 0 : std::min(request.spec.cache_len, length - 1);
    const uint32_t end =
        request.spec.chunk_len == 0 ? length : std::min(length, first + request.spec.chunk_len);
    try {
      Validate(request, first, end);
      if (request.spec.prefill_logprobs && end < length) {
        throw RequestError(request.spec.id, ErrorKind::kInvalidArgument,
                           "prompt logprobs need the whole prompt in one chunk");
      }
      // Only a request whose prompt completes in this step samples, so only it needs a matcher;
      // a K/V-only chunk is forgotten after the step.
      if (end == length) {
        request.matcher = grammar::StartMatcher(grammar_.get(), request.spec, request.tokens);
      }
    } catch (const RequestError& e) {
      output.errors.push_back({e.request_id(), e.message(), e.kind()});
      continue;
    }
    batch.AddSequence(std::span(request.tokens).subspan(first, end - first),
                      static_cast<int>(first), request.spec.blocks);
    if (end < length) continue;  // a K/V-only chunk: nothing of it is kept
    complete_rows.push_back(batch.num_tokens() - 1);
    first_positions.push_back(first);
    complete.push_back(std::move(request));
  }
  if (batch.num_seqs() == 0) return output;

  // Logit rows: each decode's row, each complete request's last row, then the prompt positions
  // of complete requests that asked for prompt logprobs.
  for (size_t i = 0; i < decodes.size(); ++i) batch.AddLogitRow(static_cast<int>(i));
  for (int32_t row : complete_rows) batch.AddLogitRow(row);
  const size_t sampled_rows = decodes.size() + complete_rows.size();
  std::vector<int32_t> logprob_targets;
  std::vector<size_t> logprob_requests;  // indices into `complete`
  for (size_t i = 0; i < complete.size(); ++i) {
    const RequestState& r = complete[i];
    if (!r.spec.prefill_logprobs) continue;
    logprob_requests.push_back(i);
    const uint32_t prompt_len = static_cast<uint32_t>(r.spec.input_ids.size());
    const int32_t first_row = complete_rows[i] - static_cast<int32_t>(r.tokens.size() - 1) +
                              static_cast<int32_t>(first_positions[i]);
    for (uint32_t p = first_positions[i]; p + 1 < prompt_len; ++p) {
      batch.AddLogitRow(first_row + static_cast<int32_t>(p - first_positions[i]));
      logprob_targets.push_back(r.tokens[p + 1]);
    }
  }
  // A step of K/V-only chunks still needs one logits row from the model; it is not used.
  if (sampled_rows == 0) batch.AddLogitRow(0);

  const uint64_t forward_start = NowNs();
  backend::Tensor logits = model_.Forward(batch.Build());
  backend_.Synchronize();
  output.timings.forward_ns = NowNs() - forward_start;

  const uint64_t decode_start = NowNs();
  std::vector<float> prompt_logprobs;
  if (!logprob_targets.empty()) {
    prompt_logprobs =
        backend_.TokenLogprobs(logits.Rows(static_cast<int64_t>(sampled_rows),
                                           static_cast<int64_t>(logprob_targets.size())),
                               logprob_targets);
  }
  std::vector<uint32_t> prompt_top_n;  // per logprob row
  for (size_t i : logprob_requests) {
    const RequestState& r = complete[i];
    const size_t rows =
        r.spec.input_ids.size() - std::min<size_t>(r.spec.input_ids.size(), first_positions[i] + 1);
    prompt_top_n.insert(prompt_top_n.end(), rows, r.spec.top_n_tokens);
  }
  std::vector<std::vector<TokenInfo>> prompt_tops;
  if (std::any_of(prompt_top_n.begin(), prompt_top_n.end(), [](uint32_t n) { return n > 0; })) {
    prompt_tops = PromptTopTokens(
        logits.Rows(static_cast<int64_t>(sampled_rows), static_cast<int64_t>(prompt_top_n.size())),
        prompt_top_n);
  }
  // Prompt tokens with their logprobs: NaN for the first token and for cached positions.
  std::vector<std::optional<std::vector<TokenInfo>>> prefill_tokens(complete.size());
  std::vector<std::vector<std::vector<TokenInfo>>> prefill_tops(complete.size());
  size_t next_logprob = 0;
  for (size_t i : logprob_requests) {
    const RequestState& r = complete[i];
    std::vector<TokenInfo> tokens;
    for (size_t p = 0; p < r.spec.input_ids.size(); ++p) {
      TokenInfo info{r.spec.input_ids[p], std::numeric_limits<float>::quiet_NaN(), false};
      std::vector<TokenInfo> top;
      if (p > first_positions[i]) {
        if (!prompt_tops.empty()) top = std::move(prompt_tops[next_logprob]);
        info.logprob = prompt_logprobs[next_logprob++];
      }
      tokens.push_back(info);
      if (r.spec.top_n_tokens > 0) prefill_tops[i].push_back(std::move(top));
    }
    prefill_tokens[i] = std::move(tokens);
  }
  std::vector<RequestState> sampled = std::move(decodes);
  for (RequestState& r : complete) sampled.push_back(std::move(r));
  Batch survivors;
  if (!sampled.empty()) {
    const size_t first_generation = output.generations.size();
    SampleAndStop(logits.Rows(0, static_cast<int64_t>(sampled.size())), sampled, output.generations,
                  survivors);
    const size_t first_complete = first_generation + sampled.size() - prefill_tokens.size();
    for (size_t i = 0; i < prefill_tokens.size(); ++i) {
      output.generations[first_complete + i].prefill_tokens = std::move(prefill_tokens[i]);
      output.generations[first_complete + i].prefill_top_tokens = std::move(prefill_tops[i]);
    }
  }
  output.timings.decode_ns = NowNs() - decode_start;
  output.timings.total_ns = NowNs() - start_ns;
  return Finish(batch_id, std::move(survivors), std::move(output));
}

void Engine::SkipEnded(std::vector<uint64_t>& batch_ids, std::vector<BlockGrant>& grants) const {
  std::erase_if(batch_ids, [&](uint64_t id) { return !batches_.contains(id); });
  std::erase_if(grants, [&](const BlockGrant& grant) {
    return std::none_of(batch_ids.begin(), batch_ids.end(), [&](uint64_t id) {
      const Batch& batch = batches_.at(id);
      return std::any_of(batch.begin(), batch.end(),
                         [&](const RequestState& r) { return r.spec.id == grant.request_id; });
    });
  });
}

StepOutput Engine::Decode(std::vector<uint64_t> batch_ids, std::vector<BlockGrant> grants,
                          bool pipelined) {
  const uint64_t start_ns = NowNs();
  if (pipelined) {
    SkipEnded(batch_ids, grants);
    if (batch_ids.empty()) return {};
  }
  TG_CHECK(!batch_ids.empty(), kInvalidArgument, "Decode of no batch");
  if (++decode_calls_ == options_.device_fault_at_decode) backend_.InjectDeviceFault();
  StepOutput output;
  std::vector<RequestState> requests = TakeBatches(batch_ids, grants);
  // The last sampled token of each request goes through the model now.
  ForwardBatchBuilder builder(model_.kv_pool());
  std::vector<RequestState> runnable;
  AddDecodeRows(requests, builder, runnable, output.errors);
  if (runnable.empty()) return output;
  for (size_t i = 0; i < runnable.size(); ++i) builder.AddLogitRow(static_cast<int>(i));
  const ForwardBatch batch = builder.Build();
  const uint64_t forward_start = NowNs();
  std::optional<backend::Tensor> graph_logits = graphs_.Forward(batch);
  backend::Tensor logits = graph_logits ? *graph_logits : model_.Forward(batch);
  backend_.Synchronize();
  output.timings.forward_ns = NowNs() - forward_start;
  const uint64_t decode_start = NowNs();
  Batch survivors;
  SampleAndStop(logits, runnable, output.generations, survivors);
  output.timings.decode_ns = NowNs() - decode_start;
  output.timings.total_ns = NowNs() - start_ns;
  return Finish(batch_ids.front(), std::move(survivors), std::move(output));
}

void Engine::SampleAndStop(const backend::Tensor& logits, std::vector<RequestState>& requests,
                           std::vector<GenerationOut>& generations, Batch& survivors) {
  std::vector<backend::SampleRequest> sample_requests;
  std::vector<std::vector<backend::LogitBias>> biases(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const RequestState& r = requests[i];
    backend::SampleRequest s;
    s.params = r.spec.sampling;
    s.step = r.generated;
    s.history = r.tokens;
    s.top_n = r.spec.top_n_tokens;
    s.logprob = r.spec.token_logprobs;
    biases[i] = StepLogitBias(r);
    s.logit_bias = biases[i];
    if (r.matcher) s.allowed = r.matcher->FillMask();
    sample_requests.push_back(s);
  }
  const std::vector<backend::SampleResult> results = backend_.Sample(logits, sample_requests);
  for (size_t i = 0; i < requests.size(); ++i) {
    RequestState& r = requests[i];
    const backend::SampleResult& result = results[i];
    r.tokens.push_back(result.token);
    ++r.generated;
    GenerationOut gen;
    gen.request_id = r.spec.id;
    const bool is_eos = eos_ids_.contains(result.token);
    const bool grammar_done = r.matcher && r.matcher->AcceptSampled(result.token);
    gen.token = {result.token, result.logprob, is_eos};
    for (const auto& [token, logprob] : result.top) {
      gen.top_tokens.push_back({token, logprob, eos_ids_.contains(token)});
    }
    gen.generated_tokens = r.generated;
    if (r.spec.sampling.do_sample) gen.seed = r.spec.sampling.seed;
    // The one home of the EOS and length rules (the router matches stop strings and stop token
    // ids itself: router/engine/stopping.h). `generated` counts re-prefilled tokens too. A
    // grammar that accepts no further token ends the request as EOS does.
    if ((is_eos && !r.spec.ignore_eos) || grammar_done) {
      gen.finish = FinishReason::kEosToken;
    } else if (r.generated >= std::max<uint32_t>(1, r.spec.max_new_tokens)) {
      gen.finish = FinishReason::kLength;
    }
    generations.push_back(std::move(gen));
    if (generations.back().finish == FinishReason::kNone) survivors.push_back(std::move(r));
  }
}

std::vector<backend::LogitBias> Engine::StepLogitBias(const RequestState& r) const {
  std::vector<backend::LogitBias> bias = r.spec.logit_bias;
  if (r.generated >= r.spec.min_new_tokens) return bias;
  auto ban = [&bias](int32_t token) {
    constexpr float kBanned = -std::numeric_limits<float>::infinity();
    for (backend::LogitBias& b : bias) {
      if (b.token == token) {
        b.bias = kBanned;
        return;
      }
    }
    bias.push_back({token, kBanned});
  };
  if (!r.spec.ignore_eos) {
    for (int32_t token : eos_ids_) ban(token);
  }
  for (int32_t token : r.spec.stop_token_ids) ban(token);
  return bias;
}

std::vector<std::vector<TokenInfo>> Engine::PromptTopTokens(const backend::Tensor& rows,
                                                            const std::vector<uint32_t>& top_n) {
  // A greedy Sample with no processors reports the top-n of log_softmax(raw logits): the same
  // distribution the prompt logprobs come from, on every backend.
  std::vector<backend::SampleRequest> requests(top_n.size());
  for (size_t i = 0; i < top_n.size(); ++i) requests[i].top_n = top_n[i];
  const std::vector<backend::SampleResult> results = backend_.Sample(rows, requests);
  std::vector<std::vector<TokenInfo>> out(results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    for (const auto& [token, logprob] : results[i].top) {
      out[i].push_back({token, logprob, eos_ids_.contains(token)});
    }
  }
  return out;
}

std::optional<CachedBatchInfo> Engine::Filter(uint64_t batch_id,
                                              const std::vector<uint64_t>& keep) {
  if (!KeepOnly(batch_id, keep)) return std::nullopt;
  return Describe(batch_id, batches_.at(batch_id));
}

bool Engine::KeepOnly(uint64_t batch_id, const std::vector<uint64_t>& keep) {
  auto it = batches_.find(batch_id);
  if (it == batches_.end()) return false;
  Batch& batch = it->second;
  const bool unchanged =
      batch.size() == keep.size() &&
      std::equal(batch.begin(), batch.end(), keep.begin(),
                 [](const RequestState& r, uint64_t id) { return r.spec.id == id; });
  if (unchanged) return true;
  const std::unordered_set<uint64_t> wanted(keep.begin(), keep.end());
  std::erase_if(batch, [&](const RequestState& r) { return !wanted.contains(r.spec.id); });
  if (batch.empty()) {
    batches_.erase(it);
    return false;
  }
  return true;
}

void Engine::Clear(std::optional<uint64_t> batch_id) {
  if (batch_id.has_value()) {
    batches_.erase(*batch_id);
  } else {
    batches_.clear();
  }
}

}  // namespace tg::shard
