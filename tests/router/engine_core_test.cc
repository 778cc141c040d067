// The engine core driven step by step with a fake shard and a fake tokenizer: admission and
// permits, cancellation at every stage, reconcile and filter, stop strings across token
// boundaries, the shard's length/EOS rules, shard failure.
#include "router/engine/engine_core.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "router/api/validation.h"
#include "router/metrics/metrics.h"
#include "tests/router/answered_step.h"

namespace tg::engine {
namespace {

constexpr uint32_t kEos = 0;

// Token t is the text kPieces[t]; token 0 is the special EOS.
const std::vector<std::string> kPieces = {"</s>", "Hel", "lo", " wor", "ld", "!", " St", "OP"};

class PieceDecoder : public StreamDecoder {
 public:
  std::string Push(uint32_t id) override { return kPieces.at(id); }
  std::string Flush() override { return ""; }
};

class FakeCodec : public TextCodec {
 public:
  std::vector<uint32_t> Encode(const std::string&, bool) const override { return {}; }
  std::string Decode(const std::vector<uint32_t>& ids, bool skip_special) const override {
    std::string text;
    for (uint32_t id : ids) {
      if (!(skip_special && IsSpecial(id))) text += kPieces.at(id);
    }
    return text;
  }
  bool IsSpecial(uint32_t id) const override { return id == kEos; }
  std::unique_ptr<StreamDecoder> NewStreamDecoder() const override {
    return std::make_unique<PieceDecoder>();
  }
  std::string chat_template() const override { return ""; }
  std::string bos_token() const override { return ""; }
  std::string eos_token() const override { return kPieces[kEos]; }
};

// A shard that follows the protocol: a request whose prompt is complete samples one token per
// step from its script (cycling), finishes on length (max_new_tokens, counting re-prefilled
// tokens) or EOS; chunks that stop short of the end only write K/V. Faults are injected by hand.
class FakeShard : public client::ShardClient {
 public:
  std::map<uint64_t, std::vector<uint32_t>> scripts;  // by request id; default {1}
  bool fail_next = false;                             // the next call throws (a dead shard)
  std::set<uint64_t> drop;         // left out of the next returned batch (lost by the shard)
  std::set<uint64_t> error_for;    // get a per-request error in the next step
  std::vector<std::string> calls;  // "prefill", "decode", "clear", "... (pipelined)"
  std::vector<uint64_t> steps;     // each step call's step number
  std::vector<std::vector<uint64_t>> cached;    // the running requests each step call named
  std::vector<client::ShardRequest> prefilled;  // every request (chunk) sent to Prefill

  std::unique_ptr<client::PendingStep> StartPrefill(const client::PrefillCall& call) override {
    calls.push_back(call.pipelined ? "prefill (pipelined)" : "prefill");
    steps.push_back(call.step);
    return client::AnsweredStep::Of([&] { return Prefill(call); });
  }

  std::unique_ptr<client::PendingStep> StartDecode(const client::DecodeCall& call) override {
    calls.push_back(call.pipelined ? "decode (pipelined)" : "decode");
    steps.push_back(call.step);
    return client::AnsweredStep::Of([&] { return Decode(call); });
  }

  void ClearCache(std::optional<uint64_t>) override {
    calls.push_back("clear");
    live_.clear();
  }

  size_t live() const { return live_.size(); }

 private:
  struct Live {
    client::ShardRequest request;
    uint32_t generated = 0;
  };

  client::StepResult Prefill(const client::PrefillCall& call) {
    MaybeFail();
    client::StepResult result;
    std::vector<uint64_t> ids = KeepOnly(call.cached);
    for (const client::ShardRequest& r : call.requests) {
      prefilled.push_back(r);
      const uint32_t total = static_cast<uint32_t>(r.input_ids.size() + r.generated_ids.size());
      const uint32_t end = r.chunk_len == 0 ? total : r.cache_len + r.chunk_len;
      if (end < total) continue;  // a chunk short of the end: K/V only
      live_[r.id] = {.request = r, .generated = static_cast<uint32_t>(r.generated_ids.size())};
      ids.push_back(r.id);
    }
    Step(ids, call.batch_id, result);
    return result;
  }

  client::StepResult Decode(const client::DecodeCall& call) {
    MaybeFail();
    client::StepResult result;
    Step(KeepOnly(call.batches), call.batches.empty() ? 0 : call.batches[0].id, result);
    return result;
  }

  void MaybeFail() {
    if (!fail_next) return;
    fail_next = false;
    throw Error(ErrorKind::kUnavailable, "Decode failed on rank 0: socket closed");
  }

  // As the real shard: a step call's cached batches name the requests to keep; the others
  // (finished or cancelled in the router) are dropped before the step.
  // Names of requests that are gone (finished in the step before a pipelined call) are skipped.
  std::vector<uint64_t> KeepOnly(const std::vector<client::CachedBatch>& batches) {
    std::vector<uint64_t> ids;
    for (const auto& b : batches) ids.insert(ids.end(), b.request_ids.begin(), b.request_ids.end());
    cached.push_back(ids);
    std::erase_if(live_, [&](const auto& r) {
      return std::find(ids.begin(), ids.end(), r.first) == ids.end();
    });
    std::erase_if(ids, [&](uint64_t id) { return !live_.contains(id); });
    return ids;
  }

  void Step(const std::vector<uint64_t>& ids, uint64_t batch_id, client::StepResult& result) {
    std::vector<uint64_t> survivors;
    for (uint64_t id : ids) {
      if (error_for.erase(id)) {
        result.errors.push_back({.request_id = id,
                                 .message = "CUDA out of memory",
                                 .kind = ErrorKind::kResourceExhausted});
        live_.erase(id);
        continue;
      }
      Live& r = live_.at(id);
      const auto it = scripts.find(id);
      const std::vector<uint32_t> script =
          it == scripts.end() ? std::vector<uint32_t>{1} : it->second;
      const uint32_t token = script[r.generated % script.size()];
      ++r.generated;
      client::ShardGeneration gen{.request_id = id};
      gen.tokens.ids = {token};
      gen.tokens.logprobs = {-0.5f};
      if (token == kEos && !r.request.ignore_eos) {
        gen.finish = FinishReason::kEosToken;
      } else if (r.generated >= r.request.max_new_tokens) {
        gen.finish = FinishReason::kLength;
      }
      result.generations.push_back(gen);
      if (gen.finish) {
        live_.erase(id);
      } else if (!drop.erase(id)) {
        survivors.push_back(id);
      }
    }
    if (!survivors.empty()) {
      result.batch = client::CachedBatch{.id = batch_id,
                                         .request_ids = survivors,
                                         .size = static_cast<uint32_t>(survivors.size())};
    }
  }

  std::map<uint64_t, Live> live_;
};

// What the callbacks saw for one request.
struct Outcome {
  std::vector<std::string> pieces;
  std::optional<GenerationResult> result;
  std::optional<ErrorKind> error;
  std::string message;
  bool finished() const { return result.has_value() || error.has_value(); }
};

class EngineCoreTest : public ::testing::Test {
 protected:
  static scheduler::SchedulerConfig Scheduler(uint32_t num_blocks = 64,
                                              uint32_t token_budget = 64) {
    return {.block_size = 4,
            .num_blocks = num_blocks,
            .token_budget = token_budget,
            .max_batch_size = 0,
            .prefix_caching = false,
            .chunked_prefill = true};
  }

  // The tests below check the engine step by step, so by default a step sends its call and
  // waits for it; the async scheduling tests at the end turn pipelining on.
  void MakeCore(scheduler::SchedulerConfig scheduler, bool async_scheduling = false) {
    core_ = std::make_unique<EngineCore>(
        EngineConfig{.scheduler = scheduler, .async_scheduling = async_scheduling}, shard_, codec_,
        metrics_);
  }
  void SetUp() override {
    metrics::DeclareRouterMetrics(metrics_);
    MakeCore(Scheduler());
  }

  // A request of `prompt_len` prompt tokens (token 5, "ld"), through validation like any other.
  api::ValidatedRequest Validate(uint32_t prompt_len, api::RawParameters raw) const {
    return validator_.Validate(raw, {.text = std::string(prompt_len, 'x')});
  }

  // Admits (one permit) and adds a greedy request of `prompt_len` prompt tokens.
  std::shared_ptr<RequestHandle> Add(uint64_t id, uint32_t prompt_len, uint32_t max_new_tokens,
                                     std::vector<std::string> stops = {}) {
    return Add(id,
               Validate(prompt_len, {.max_new_tokens = max_new_tokens, .stop = std::move(stops)}));
  }

  std::shared_ptr<RequestHandle> Add(uint64_t id, api::ValidatedRequest request) {
    auto handle = std::make_shared<RequestHandle>();
    Outcome& outcome = outcomes_[id];
    Callbacks callbacks;
    callbacks.on_token = [&outcome](const TokenEvent& event, const GenerationResult* done) {
      outcome.pieces.push_back(event.token.text);
      if (done) outcome.result = *done;
    };
    callbacks.on_error = [&outcome](ErrorKind kind, const std::string& message) {
      outcome.error = kind;
      outcome.message = message;
    };
    core_->Add({.id = id,
                .permit = std::move(admission_.Acquire(1).front()),
                .request = std::move(request),
                .callbacks = std::move(callbacks),
                .handle = handle,
                .queued_at = std::chrono::steady_clock::now()});
    return handle;
  }

  // Steps until nothing is left (or `limit` steps).
  int RunToIdle(int limit = 100) {
    int steps = 0;
    while (core_->has_work() && steps < limit) {
      core_->Step();
      ++steps;
    }
    return steps;
  }

  static constexpr uint32_t kMaxTotalTokens = 128;
  const api::Validator validator_{
      {.max_input_tokens = 64, .max_total_tokens = kMaxTotalTokens},
      [](const std::string& text, bool) { return std::vector<uint32_t>(text.size(), 5); }};
  FakeShard shard_;
  FakeCodec codec_;
  metrics::Registry metrics_;
  Admission admission_{16};
  std::unique_ptr<EngineCore> core_;
  std::map<uint64_t, Outcome> outcomes_;
};

TEST_F(EngineCoreTest, LengthIsTheShardsRuleAndPermitsReturn) {
  shard_.scripts[1] = {1, 2, 3, 4};
  Add(1, 5, 4);
  EXPECT_EQ(admission_.in_flight(), 1u);
  RunToIdle();
  const Outcome& o = outcomes_.at(1);
  ASSERT_TRUE(o.result) << o.message;
  EXPECT_EQ(o.result->generated_text, "Hello world");
  EXPECT_EQ(o.result->finish_reason, FinishReason::kLength);
  EXPECT_EQ(o.result->generated_tokens, 4u);
  EXPECT_EQ(o.pieces, (std::vector<std::string>{"Hel", "lo", " wor", "ld"}));
  EXPECT_EQ(admission_.in_flight(), 0u);
  EXPECT_EQ(shard_.live(), 0u);
  EXPECT_EQ(shard_.calls.front(), "prefill");
}

// Defaults are decided once, in validation: an unseeded sampled request gets its seed there, and
// the engine sends that seed (and the max_new_tokens validation filled in) to the shard and
// reports it, drawing nothing of its own. Sequence i of the request samples with seed + i.
TEST_F(EngineCoreTest, TheEngineUsesTheSeedAndLimitsValidationDecided) {
  const api::ValidatedRequest validated = Validate(3, {.temperature = 0.7f});
  ASSERT_TRUE(validated.sampling().do_sample);
  const uint64_t seed = validated.sampling().seed;
  EXPECT_NE(Validate(3, {.temperature = 0.7f}).sampling().seed, seed) << "drawn per request";
  EXPECT_EQ(validated.stopping().max_new_tokens, kMaxTotalTokens - 3);
  shard_.scripts[1] = {kEos};
  shard_.scripts[2] = {kEos};
  Add(1, validated.Sequence(0));
  Add(2, validated.Sequence(1));
  RunToIdle();
  ASSERT_EQ(shard_.prefilled.size(), 2u);
  for (uint64_t i = 0; i < 2; ++i) {
    const client::ShardRequest& sent = shard_.prefilled[i];
    EXPECT_TRUE(sent.sampling.do_sample);
    EXPECT_FLOAT_EQ(sent.sampling.temperature, 0.7f);
    EXPECT_EQ(sent.sampling.seed, seed + i);
    EXPECT_EQ(sent.max_new_tokens, kMaxTotalTokens - 3);
    const Outcome& o = outcomes_.at(i + 1);
    ASSERT_TRUE(o.result) << o.message;
    EXPECT_EQ(o.result->seed, seed + i) << "details.seed is the seed validation drew";
  }
  // A greedy request reports no seed.
  Add(3, 3, 2);
  RunToIdle();
  ASSERT_TRUE(outcomes_.at(3).result);
  EXPECT_FALSE(outcomes_.at(3).result->seed);
}

TEST_F(EngineCoreTest, EosFinishesAndIsNotInTheText) {
  shard_.scripts[1] = {1, 2, kEos};
  Add(1, 3, 10);
  RunToIdle();
  ASSERT_TRUE(outcomes_.at(1).result);
  EXPECT_EQ(outcomes_.at(1).result->finish_reason, FinishReason::kEosToken);
  EXPECT_EQ(outcomes_.at(1).result->generated_text, "Hello");
  EXPECT_EQ(admission_.in_flight(), 0u);
}

TEST_F(EngineCoreTest, AStopStringAcrossTokenBoundariesIsFoundAndCut) {
  // "Hel" "lo" " wor" "ld": the stop "lo wo" spans three tokens.
  shard_.scripts[1] = {1, 2, 3, 4, 5};
  Add(1, 3, 10, {"lo wo"});
  RunToIdle();
  const Outcome& o = outcomes_.at(1);
  ASSERT_TRUE(o.result);
  EXPECT_EQ(o.result->finish_reason, FinishReason::kStopSequence);
  EXPECT_EQ(o.result->generated_text, "Hello wo");
  EXPECT_EQ(o.result->stop_sequence, "lo wo");
  EXPECT_EQ(o.result->generated_tokens, 3u);
  // The shard's batch no longer holds it: filtered out (or cleared) at once.
  EXPECT_EQ(shard_.live(), 0u);
  EXPECT_EQ(admission_.in_flight(), 0u);
}

TEST_F(EngineCoreTest, FinishedRequestsAreFilteredOutOfTheShardBatch) {
  shard_.scripts[1] = {1, 6, 7};  // " StOP" on the third token
  shard_.scripts[2] = {2};
  Add(1, 3, 10, {"StOP"});
  Add(2, 3, 10);
  core_->Step();  // prefill both
  core_->Step();  // decode
  core_->Step();  // request 1 stops on a string the shard cannot see
  ASSERT_TRUE(outcomes_.at(1).result);
  EXPECT_EQ(shard_.cached.back(), (std::vector<uint64_t>{1, 2}));
  core_->Step();  // the next call names only request 2: the shard drops 1 before it steps
  EXPECT_EQ(shard_.calls.back(), "decode");
  EXPECT_EQ(shard_.cached.back(), (std::vector<uint64_t>{2}));
  EXPECT_EQ(shard_.live(), 1u);
  RunToIdle();
  EXPECT_EQ(outcomes_.at(2).result->generated_tokens, 10u);
  EXPECT_EQ(admission_.in_flight(), 0u);
}

TEST_F(EngineCoreTest, CancelledWhileQueuedNeverReachesTheShard) {
  auto handle = Add(1, 5, 4);
  handle->Cancel();
  core_->Step();
  EXPECT_TRUE(shard_.calls.empty());
  EXPECT_FALSE(core_->has_work());
  EXPECT_FALSE(outcomes_.at(1).finished()) << "a cancelled request gets no callback";
  EXPECT_EQ(admission_.in_flight(), 0u);
  EXPECT_EQ(metrics_.Value("tgi_request_cancelled"), 1.0);
}

TEST_F(EngineCoreTest, CancelledPartWayThroughItsPromptLeavesAtTheNextStep) {
  MakeCore(Scheduler(/*num_blocks=*/64, /*token_budget=*/8));
  auto handle = Add(1, 20, 4);  // three chunks of at most 8
  core_->Step();
  EXPECT_EQ(shard_.calls, (std::vector<std::string>{"prefill"}));
  EXPECT_EQ(shard_.live(), 0u) << "a chunk short of the end keeps nothing";
  handle->Cancel();
  core_->Step();
  EXPECT_EQ(shard_.calls.size(), 1u);
  EXPECT_FALSE(core_->has_work());
  EXPECT_EQ(admission_.in_flight(), 0u);
}

TEST_F(EngineCoreTest, CancelledWhileRunningIsFilteredOut) {
  shard_.scripts[1] = {1};
  shard_.scripts[2] = {2};
  auto first = Add(1, 3, 50);
  Add(2, 3, 5);
  core_->Step();
  core_->Step();
  EXPECT_EQ(shard_.live(), 2u);
  first->Cancel();
  core_->Step();
  EXPECT_EQ(shard_.cached.back(), (std::vector<uint64_t>{2}));
  EXPECT_EQ(shard_.live(), 1u);
  EXPECT_EQ(admission_.in_flight(), 1u);
  RunToIdle();
  EXPECT_FALSE(outcomes_.at(1).finished());
  EXPECT_EQ(outcomes_.at(1).pieces.size(), 2u);
  EXPECT_TRUE(outcomes_.at(2).result);
  EXPECT_EQ(admission_.in_flight(), 0u);
}

TEST_F(EngineCoreTest, TheLastRunningRequestCancelledClearsItsBatch) {
  auto handle = Add(1, 3, 50);
  core_->Step();
  handle->Cancel();
  core_->Step();
  EXPECT_EQ(shard_.calls.back(), "clear");
  EXPECT_EQ(shard_.live(), 0u);
  EXPECT_EQ(admission_.in_flight(), 0u);
}

// One request lost from the shard's batch, another with a per-request error: only they fail.
// With async scheduling too, where the failures come back while the next call is in flight.
TEST_F(EngineCoreTest, ARequestTheShardDropsOrFailsFailsAloneAndTheOthersGoOn) {
  for (const bool async : {false, true}) {
    SCOPED_TRACE(async ? "async scheduling" : "step by step");
    shard_ = FakeShard();
    outcomes_.clear();
    MakeCore(Scheduler(), async);
    Add(1, 3, 6);
    Add(2, 3, 6);
    Add(3, 3, 6);
    core_->Step();
    shard_.drop = {1};
    shard_.error_for = {2};
    core_->Step();
    core_->Step();
    ASSERT_TRUE(outcomes_.at(1).error);
    EXPECT_EQ(*outcomes_.at(1).error, ErrorKind::kUnavailable);
    EXPECT_EQ(outcomes_.at(1).message, "the shard dropped the request");
    ASSERT_TRUE(outcomes_.at(2).error);
    EXPECT_EQ(outcomes_.at(2).message, "CUDA out of memory");
    EXPECT_EQ(*outcomes_.at(2).error, ErrorKind::kResourceExhausted) << "the shard's kind, intact";
    RunToIdle();
    ASSERT_TRUE(outcomes_.at(3).result);
    EXPECT_EQ(outcomes_.at(3).result->generated_tokens, 6u);
    EXPECT_TRUE(core_->healthy());
    EXPECT_EQ(shard_.live(), 0u);
    EXPECT_EQ(admission_.in_flight(), 0u);
  }
}

TEST_F(EngineCoreTest, AShardFailureFailsEverythingInFlightAndReturnsEveryPermit) {
  Add(1, 3, 20);
  Add(2, 3, 20);
  core_->Step();
  Add(3, 3, 20);  // still queued when the shard dies
  shard_.fail_next = true;
  core_->Step();
  for (uint64_t id : {1, 2, 3}) {
    ASSERT_TRUE(outcomes_.at(id).error) << id;
    EXPECT_EQ(*outcomes_.at(id).error, ErrorKind::kUnavailable);
    EXPECT_NE(outcomes_.at(id).message.find("socket closed"), std::string::npos);
  }
  EXPECT_FALSE(core_->healthy());
  EXPECT_FALSE(core_->has_work());
  EXPECT_EQ(shard_.calls.back(), "clear");
  EXPECT_EQ(admission_.in_flight(), 0u);
  // The engine goes on with new requests.
  Add(4, 3, 2);
  RunToIdle();
  EXPECT_TRUE(outcomes_.at(4).result);
}

TEST_F(EngineCoreTest, ARequestTheSchedulerRefusesFailsAtOnceAndReturnsItsPermit) {
  MakeCore(Scheduler(/*num_blocks=*/2, /*token_budget=*/64));
  Add(1, 40, 4);  // can never fit in 2 blocks of 4
  ASSERT_TRUE(outcomes_.at(1).error);
  EXPECT_FALSE(core_->has_work());
  EXPECT_EQ(admission_.in_flight(), 0u);
}

TEST_F(EngineCoreTest, PreemptedRequestsArePrefilledAgainWithTheirTokensAndFinish) {
  // 6 blocks of 4: two requests of prompt 4 growing to 14 tokens cannot both fit.
  MakeCore(Scheduler(/*num_blocks=*/6, /*token_budget=*/64));
  shard_.scripts[1] = {1, 2, 3, 4};
  shard_.scripts[2] = {3, 4};
  Add(1, 4, 10);
  Add(2, 4, 10);
  RunToIdle(200);
  for (uint64_t id : {1, 2}) {
    ASSERT_TRUE(outcomes_.at(id).result) << id << ": " << outcomes_.at(id).message;
    EXPECT_EQ(outcomes_.at(id).result->generated_tokens, 10u);
  }
  EXPECT_EQ(outcomes_.at(1).result->generated_text, "Hello worldHello worldHello");
  EXPECT_GT(metrics_.Value("tgi_request_preempted"), 0.0) << "the pool was meant to run dry";
  EXPECT_EQ(admission_.in_flight(), 0u);
}

TEST_F(EngineCoreTest, FailAllOnShutdownReturnsEveryPermit) {
  Add(1, 3, 20);
  core_->Step();
  Add(2, 3, 20);
  core_->FailAll(ErrorKind::kNotReady, "the server is shutting down");
  ASSERT_TRUE(outcomes_.at(1).error && outcomes_.at(2).error);
  EXPECT_EQ(*outcomes_.at(1).error, ErrorKind::kNotReady) << "HTTP 503, not a generation error";
  EXPECT_EQ(admission_.in_flight(), 0u);
}

// (sum, count) of a histogram in the registry's exposition.
std::pair<double, uint64_t> HistogramOf(const metrics::Registry& registry,
                                        const std::string& name) {
  double sum = 0.0;
  uint64_t count = 0;
  std::istringstream lines(registry.Render());
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(name + "_sum ")) sum = std::stod(line.substr(name.size() + 5));
    if (line.starts_with(name + "_count ")) count = std::stoull(line.substr(name.size() + 7));
  }
  return {sum, count};
}

TEST_F(EngineCoreTest, HostTimeIsMeasuredBetweenShardCallsOnlyWhileWorkWaits) {
  Add(1, 5, 4);
  EXPECT_EQ(RunToIdle(), 4);  // one prefill, three decodes: three gaps between calls
  EXPECT_EQ(HistogramOf(metrics_, "tgi_batch_host_duration").second, 3u);
  // Idle time before the next request is the router waiting for work, not the shard waiting.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Add(2, 5, 2);
  EXPECT_EQ(RunToIdle(), 2);
  const auto [seconds, gaps] = HistogramOf(metrics_, "tgi_batch_host_duration");
  EXPECT_EQ(gaps, 4u);
  EXPECT_GT(seconds, 0.0);
  EXPECT_LT(seconds, 0.2);
}

// Async scheduling: the next decode is planned and sent before the answer of the call ahead of
// it is handled, so the shard always finds its next call waiting.
TEST_F(EngineCoreTest, AsyncSchedulingSendsEachDecodeBeforeTheAnswerAhead) {
  MakeCore(Scheduler(), /*async_scheduling=*/true);
  shard_.scripts[1] = {1, 2, 3, 4};
  Add(1, 5, 4);
  core_->Step();
  EXPECT_EQ(shard_.calls, (std::vector<std::string>{"prefill", "decode (pipelined)"}));
  EXPECT_EQ(outcomes_.at(1).pieces, (std::vector<std::string>{"Hel"})) << "the prefill's answer";
  RunToIdle();
  // No call for a request whose last token (by length) the call ahead brings.
  EXPECT_EQ(shard_.calls, (std::vector<std::string>{"prefill", "decode (pipelined)",
                                                    "decode (pipelined)", "decode (pipelined)"}));
  EXPECT_EQ(shard_.steps, (std::vector<uint64_t>{1, 2, 3, 4})) << "the shard runs them in order";
  ASSERT_TRUE(outcomes_.at(1).result);
  EXPECT_EQ(outcomes_.at(1).result->generated_text, "Hello world");
  EXPECT_EQ(shard_.live(), 0u);
  EXPECT_EQ(admission_.in_flight(), 0u);
  // The shard never waited for the router between those calls.
  const auto [seconds, gaps] = HistogramOf(metrics_, "tgi_batch_host_duration");
  EXPECT_EQ(gaps, 3u);
  EXPECT_EQ(seconds, 0.0);
}

// A stop string is found only when the router reads the answer: by then the next call already
// steps the request, and the token it brings is dropped.
TEST_F(EngineCoreTest, AsyncSchedulingDropsTheTokenPastAStopString) {
  MakeCore(Scheduler(), /*async_scheduling=*/true);
  shard_.scripts[1] = {1, 6, 7, 1, 2};  // " StOP" on the third token
  shard_.scripts[2] = {2};
  Add(1, 3, 10, {"StOP"});
  Add(2, 3, 10);
  RunToIdle();
  const Outcome& stopped = outcomes_.at(1);
  ASSERT_TRUE(stopped.result);
  EXPECT_EQ(stopped.result->finish_reason, FinishReason::kStopSequence);
  EXPECT_EQ(stopped.result->generated_text, "Hel StOP");
  EXPECT_EQ(stopped.result->generated_tokens, 3u);
  EXPECT_EQ(stopped.pieces.size(), 3u);
  // Request 1 was named in the call sent while its stop was on its way, and in none after.
  const auto named = [&](size_t call) {
    return std::count(shard_.cached[call].begin(), shard_.cached[call].end(), 1u) == 1;
  };
  EXPECT_TRUE(named(3));
  EXPECT_FALSE(named(4));
  ASSERT_TRUE(outcomes_.at(2).result);
  EXPECT_EQ(outcomes_.at(2).result->generated_tokens, 10u);
  EXPECT_EQ(shard_.live(), 0u);
  EXPECT_EQ(admission_.in_flight(), 0u);
}

// The same requests give the same outputs with async scheduling on and off: stop strings, EOS,
// length, prompts chunked under a small budget, requests joining while others decode, and a
// pool small enough to preempt.
TEST_F(EngineCoreTest, AsyncSchedulingGivesTheSameOutputsAsStepByStep) {
  const auto run = [&](bool async) {
    shard_ = FakeShard();
    outcomes_.clear();
    MakeCore(Scheduler(/*num_blocks=*/8, /*token_budget=*/6), async);
    shard_.scripts[1] = {1, 2, 3, 4};
    shard_.scripts[2] = {3, 6, 7, 5};
    shard_.scripts[3] = {1, 2, kEos};
    shard_.scripts[4] = {4, 4, 5};
    shard_.scripts[5] = {2, 3};
    Add(1, 4, 12);
    Add(2, 9, 12, {"StOP"});
    Add(3, 5, 12);
    core_->Step();
    Add(4, 7, 9);
    core_->Step();
    core_->Step();
    Add(5, 3, 14, {"d!"});
    RunToIdle(500);
    std::map<uint64_t, Outcome> seen = outcomes_;
    return seen;
  };
  const std::map<uint64_t, Outcome> step_by_step = run(false);
  const double preempted = metrics_.Value("tgi_request_preempted");
  EXPECT_GT(preempted, 0.0) << "the pool was meant to run dry";
  const std::map<uint64_t, Outcome> async = run(true);
  EXPECT_GT(metrics_.Value("tgi_request_preempted"), preempted) << "and to run dry again";
  ASSERT_EQ(step_by_step.size(), 5u);
  ASSERT_EQ(async.size(), 5u);
  for (const auto& [id, expected] : step_by_step) {
    const Outcome& got = async.at(id);
    ASSERT_TRUE(expected.result) << id << ": " << expected.message;
    ASSERT_TRUE(got.result) << id << ": " << got.message;
    EXPECT_EQ(got.pieces, expected.pieces) << id;
    EXPECT_EQ(got.result->generated_text, expected.result->generated_text) << id;
    EXPECT_EQ(got.result->generated_tokens, expected.result->generated_tokens) << id;
    EXPECT_EQ(got.result->finish_reason, expected.result->finish_reason) << id;
  }
  for (const char* pipelined : {"prefill (pipelined)", "decode (pipelined)"}) {
    EXPECT_NE(std::find(shard_.calls.begin(), shard_.calls.end(), pipelined), shard_.calls.end())
        << pipelined;
  }
  EXPECT_TRUE(std::is_sorted(shard_.steps.begin(), shard_.steps.end()));
  EXPECT_EQ(shard_.live(), 0u);
  EXPECT_EQ(admission_.in_flight(), 0u);
}

// The shard fails with two calls in flight: everything fails once both are back, the caches are
// cleared, every permit returns, and the engine serves new requests.
TEST_F(EngineCoreTest, AsyncSchedulingAShardFailureWithTwoCallsInFlight) {
  MakeCore(Scheduler(), /*async_scheduling=*/true);
  Add(1, 3, 20);
  Add(2, 3, 20);
  core_->Step();  // the prefill's answer handled; a pipelined decode in flight
  shard_.fail_next = true;
  core_->Step();  // the next decode is sent (and fails); the one ahead of it is handled
  core_->Step();  // the failure comes back
  for (uint64_t id : {1, 2}) {
    ASSERT_TRUE(outcomes_.at(id).error) << id;
    EXPECT_NE(outcomes_.at(id).message.find("socket closed"), std::string::npos);
  }
  EXPECT_FALSE(core_->healthy());
  EXPECT_FALSE(core_->has_work());
  EXPECT_EQ(shard_.calls.back(), "clear");
  EXPECT_EQ(admission_.in_flight(), 0u);
  Add(3, 3, 2);
  RunToIdle();
  EXPECT_TRUE(outcomes_.at(3).result);
}

// Cancelled while a pipelined call steps it: it leaves with the next call, the others go on.
TEST_F(EngineCoreTest, AsyncSchedulingCancelledWhileRunningLeaves) {
  MakeCore(Scheduler(), /*async_scheduling=*/true);
  auto first = Add(1, 3, 50);
  Add(2, 3, 6);
  core_->Step();
  core_->Step();
  first->Cancel();
  core_->Step();
  EXPECT_EQ(shard_.cached.back(), (std::vector<uint64_t>{2}));
  RunToIdle();
  EXPECT_FALSE(outcomes_.at(1).finished()) << "a cancelled request gets no callback";
  ASSERT_TRUE(outcomes_.at(2).result);
  EXPECT_EQ(outcomes_.at(2).result->generated_tokens, 6u);
  EXPECT_EQ(metrics_.Value("tgi_request_cancelled"), 1.0);
  EXPECT_EQ(shard_.live(), 0u);
  EXPECT_EQ(admission_.in_flight(), 0u);
}

}  // namespace
}  // namespace tg::engine
