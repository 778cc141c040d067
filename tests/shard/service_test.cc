// End-to-end tests of the shard through its real process and gRPC: reference logits and greedy
// tokens of stories260K, batch invariance under continuous batching, seeded sampling, prefix-cache
// hits, per-request errors, and clean shutdown.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "tests/shard/reference.h"
#include "tests/shard/shard_process.h"

namespace tg::shard {
namespace {

namespace pb = textgen::v1;
using testing::LoadStoriesReference;
using testing::ShardProcess;
using testing::StoriesDir;

constexpr uint32_t kBlock = 16;

class ShardServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    shard_ = new ShardProcess(StoriesDir(), {"--dtype", "float32", "--threads", "2"});
    WarmUp();
  }
  // The suite's pool (and, as after any Warmup, step numbering from 1).
  static void WarmUp() {
    grpc::ClientContext context;
    pb::WarmupRequest request;
    request.set_max_input_tokens(256);
    request.set_max_batch_prefill_tokens(512);
    request.set_max_total_tokens(512);
    request.set_max_batch_total_tokens(kBlock * 512);
    pb::WarmupResponse response;
    const grpc::Status status = shard_->stub().Warmup(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.max_supported_total_tokens(), kBlock * 512);
    ASSERT_EQ(response.num_blocks(), 512u);
  }
  static void TearDownTestSuite() {
    delete shard_;
    shard_ = nullptr;
  }
  void SetUp() override {
    grpc::ClientContext context;
    pb::ClearCacheResponse response;
    ASSERT_TRUE(shard_->stub().ClearCache(&context, {}, &response).ok());
  }

  // A request with fresh blocks for prompt + max_new_tokens (a bump allocator is enough here).
  pb::Request MakeRequest(uint64_t id, const std::vector<int32_t>& ids, uint32_t max_new_tokens) {
    pb::Request request;
    request.set_id(id);
    for (int32_t t : ids) request.add_input_ids(static_cast<uint32_t>(t));
    request.mutable_parameters()->set_temperature(1.0f);
    request.mutable_parameters()->set_top_p(1.0f);
    request.mutable_parameters()->set_typical_p(1.0f);
    request.mutable_parameters()->set_repetition_penalty(1.0f);
    request.mutable_stopping_parameters()->set_max_new_tokens(max_new_tokens);
    request.mutable_stopping_parameters()->set_ignore_eos_token(true);
    const uint32_t blocks =
        (static_cast<uint32_t>(ids.size()) + max_new_tokens + kBlock - 1) / kBlock;
    for (uint32_t b = 0; b < blocks; ++b) request.add_blocks((next_block_++) % 512);
    return request;
  }

  pb::PrefillResponse Prefill(uint64_t batch_id, const std::vector<pb::Request>& requests) {
    pb::PrefillRequest request;
    request.mutable_batch()->set_id(batch_id);
    for (const pb::Request& r : requests) *request.mutable_batch()->add_requests() = r;
    request.mutable_batch()->set_size(static_cast<uint32_t>(requests.size()));
    grpc::ClientContext context;
    pb::PrefillResponse response;
    const grpc::Status status = shard_->stub().Prefill(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  pb::DecodeResponse Decode(const std::vector<pb::CachedBatch>& batches) {
    pb::DecodeRequest request;
    for (const pb::CachedBatch& b : batches) *request.add_batches() = b;
    grpc::ClientContext context;
    pb::DecodeResponse response;
    const grpc::Status status = shard_->stub().Decode(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // Continuous batching like the router: requests join at the step given with them; every step
  // prefills the joiners, then decodes the running batches merged into one.
  std::map<uint64_t, std::vector<uint32_t>> RunScenario(
      const std::vector<std::pair<int, pb::Request>>& joins) {
    std::map<uint64_t, std::vector<uint32_t>> tokens;
    std::optional<pb::CachedBatch> running;
    size_t finished = 0;
    auto absorb = [&](const auto& response) {
      for (const pb::Generation& gen : response.generations()) {
        tokens[gen.request_id()].push_back(gen.tokens().ids(0));
        if (gen.has_generated_text()) ++finished;
      }
      EXPECT_EQ(response.errors_size(), 0);
    };
    for (int step = 0; finished < joins.size(); ++step) {
      std::vector<pb::Request> joiners;
      for (const auto& [at, request] : joins) {
        if (at == step) joiners.push_back(request);
      }
      std::vector<pb::CachedBatch> batches;
      if (running.has_value()) batches.push_back(*running);
      if (!joiners.empty()) {
        const pb::PrefillResponse prefill = Prefill(1000 + step, joiners);
        absorb(prefill);
        if (prefill.has_batch()) batches.push_back(prefill.batch());
      }
      running.reset();
      if (batches.empty()) continue;
      const pb::DecodeResponse decode = Decode(batches);
      absorb(decode);
      if (decode.has_batch()) {
        // Exercise FilterBatch with the requests still running, as the router does.
        pb::FilterBatchRequest filter;
        filter.set_batch_id(decode.batch().id());
        for (uint64_t id : decode.batch().request_ids()) filter.add_request_ids(id);
        grpc::ClientContext context;
        pb::FilterBatchResponse filtered;
        EXPECT_TRUE(shard_->stub().FilterBatch(&context, filter, &filtered).ok());
        running = filtered.batch();
      }
    }
    return tokens;
  }

  static ShardProcess* shard_;
  uint32_t next_block_ = 0;
};

ShardProcess* ShardServiceTest::shard_ = nullptr;

std::vector<float> LogSoftmax(const std::vector<float>& logits) {
  double max = *std::max_element(logits.begin(), logits.end()), sum = 0;
  for (float x : logits) sum += std::exp(x - max);
  std::vector<float> out;
  for (float x : logits) out.push_back(static_cast<float>(x - max - std::log(sum)));
  return out;
}

TEST_F(ShardServiceTest, InfoDescribesTheModel) {
  grpc::ClientContext context;
  pb::InfoResponse info;
  ASSERT_TRUE(shard_->stub().Info(&context, {}, &info).ok());
  EXPECT_EQ(info.model_type(), "llama");
  EXPECT_EQ(info.dtype(), "float32");
  EXPECT_EQ(info.device_type(), "cpu");
  EXPECT_EQ(info.vocab_size(), 512u);
  EXPECT_EQ(info.block_size(), kBlock);
  EXPECT_FALSE(info.requires_padding());
  ASSERT_EQ(info.eos_token_ids_size(), 1);
  EXPECT_EQ(info.eos_token_ids(0), 2u);
  grpc::ClientContext discovery_context;
  pb::ServiceDiscoveryResponse discovery;
  ASSERT_TRUE(shard_->stub().ServiceDiscovery(&discovery_context, {}, &discovery).ok());
  ASSERT_EQ(discovery.urls_size(), 1);
  EXPECT_EQ(discovery.urls(0), "unix://" + shard_->socket_path());
}

// Float32 logits (as the log-softmax over the whole vocabulary, via top_n_tokens = vocab) and
// the 64 greedy tokens match HF transformers.
TEST_F(ShardServiceTest, MatchesTransformersReference) {
  uint64_t id = 1;
  for (const auto& ref : LoadStoriesReference()) {
    pb::Request request = MakeRequest(id, ref.input_ids, 64);
    request.set_top_n_tokens(512);
    const pb::PrefillResponse prefill = Prefill(id, {request});
    ASSERT_EQ(prefill.generations_size(), 1);
    const pb::Generation& first = prefill.generations(0);
    ASSERT_EQ(first.top_tokens_size(), 1);
    const std::vector<float> expected = LogSoftmax(ref.last_logits);
    const pb::Tokens& top = first.top_tokens(0);
    ASSERT_EQ(top.ids_size(), 512);
    float max_diff = 0;
    for (int i = 0; i < top.ids_size(); ++i) {
      max_diff = std::max(max_diff, std::abs(top.logprobs(i) - expected[top.ids(i)]));
    }
    EXPECT_LT(max_diff, 1e-4f) << ref.prompt;
    EXPECT_NEAR(first.tokens().logprobs(0), expected[first.tokens().ids(0)], 1e-4f);

    std::vector<int32_t> generated = {static_cast<int32_t>(first.tokens().ids(0))};
    std::optional<pb::CachedBatch> batch = prefill.batch();
    while (batch.has_value()) {
      const pb::DecodeResponse decode = Decode({*batch});
      ASSERT_EQ(decode.generations_size(), 1);
      generated.push_back(static_cast<int32_t>(decode.generations(0).tokens().ids(0)));
      if (decode.generations(0).has_generated_text()) {
        EXPECT_EQ(decode.generations(0).generated_text().finish_reason(), pb::FINISH_REASON_LENGTH);
        EXPECT_EQ(decode.generations(0).generated_text().generated_tokens(), 64u);
        EXPECT_FALSE(decode.has_batch());
      }
      batch = decode.has_batch() ? std::optional<pb::CachedBatch>(decode.batch()) : std::nullopt;
    }
    EXPECT_EQ(generated, ref.greedy_ids) << ref.prompt;
    ++id;
  }
}

// A prefix-cache hit (cache_len) reuses K/V already in the request's first block.
TEST_F(ShardServiceTest, PrefixCacheHitGivesTheSameLogits) {
  const auto ref = LoadStoriesReference()[1];
  pb::Request first = MakeRequest(1, ref.input_ids, 1);
  Prefill(1, {first});
  pb::Request second = first;
  second.set_id(2);
  second.set_cache_len(7);
  second.set_top_n_tokens(512);
  const pb::PrefillResponse response = Prefill(2, {second});
  ASSERT_EQ(response.generations_size(), 1);
  const std::vector<float> expected = LogSoftmax(ref.last_logits);
  const pb::Tokens& top = response.generations(0).top_tokens(0);
  for (int i = 0; i < top.ids_size(); ++i) {
    EXPECT_NEAR(top.logprobs(i), expected[top.ids(i)], 1e-4f);
  }
  EXPECT_EQ(response.generations(0).tokens().ids(0), static_cast<uint32_t>(ref.greedy_ids[0]));
}

// A request whose generated tokens' logprobs nobody reads (skip_token_logprobs: an OpenAI
// request without `logprobs`) gets the same greedy tokens, with NaN in place of the logprobs.
TEST_F(ShardServiceTest, SkippedLogprobsKeepTheGreedyTokens) {
  const auto ref = LoadStoriesReference()[0];
  constexpr uint32_t kTokens = 8;
  pb::Request request = MakeRequest(1, ref.input_ids, kTokens);
  request.set_skip_token_logprobs(true);
  const pb::PrefillResponse prefill = Prefill(1, {request});
  ASSERT_EQ(prefill.generations_size(), 1);
  ASSERT_EQ(prefill.generations(0).tokens().logprobs_size(), 1);
  EXPECT_TRUE(std::isnan(prefill.generations(0).tokens().logprobs(0)));
  std::vector<int32_t> generated = {static_cast<int32_t>(prefill.generations(0).tokens().ids(0))};
  std::optional<pb::CachedBatch> batch = prefill.batch();
  while (batch.has_value()) {
    const pb::DecodeResponse decode = Decode({*batch});
    ASSERT_EQ(decode.generations_size(), 1);
    EXPECT_TRUE(std::isnan(decode.generations(0).tokens().logprobs(0)));
    generated.push_back(static_cast<int32_t>(decode.generations(0).tokens().ids(0)));
    batch = decode.has_batch() ? std::optional<pb::CachedBatch>(decode.batch()) : std::nullopt;
  }
  EXPECT_EQ(generated,
            std::vector<int32_t>(ref.greedy_ids.begin(), ref.greedy_ids.begin() + kTokens));
}

// One mixed step: a running request decodes while another's prompt arrives in two chunks (the
// first only writes K/V), and the running one's table grows by a granted block.
TEST_F(ShardServiceTest, ChunksAndDecodesInOneForwardMatchTheReference) {
  const auto refs = LoadStoriesReference();
  // The running prompt is the reference's prompt plus its first greedy tokens, 15 in all, so
  // its decodes soon need a second block.
  std::vector<int32_t> prompt = refs[0].input_ids;
  const size_t forced = 15 - prompt.size();
  prompt.insert(prompt.end(), refs[0].greedy_ids.begin(), refs[0].greedy_ids.begin() + forced);
  pb::Request running = MakeRequest(1, prompt, 40);
  const int prompt_blocks = 1;
  std::vector<uint32_t> spare(running.blocks().begin() + prompt_blocks, running.blocks().end());
  running.mutable_blocks()->Truncate(prompt_blocks);  // later positions come as grants
  std::vector<uint32_t> generated;
  pb::PrefillResponse first = Prefill(1, {running});
  ASSERT_EQ(first.generations_size(), 1);
  generated.push_back(first.generations(0).tokens().ids(0));
  pb::CachedBatch batch = first.batch();

  const auto& ref = refs[1];
  ASSERT_GT(ref.input_ids.size(), 4u);
  pb::Request chunk = MakeRequest(2, ref.input_ids, 4);
  chunk.set_top_n_tokens(512);
  uint32_t start = 0;
  std::optional<pb::Generation> chunked;
  for (uint64_t step = 2; !chunked; ++step) {
    const uint32_t position = static_cast<uint32_t>(prompt.size() + generated.size());
    pb::PrefillRequest request;
    request.mutable_batch()->set_id(10 + step);
    pb::Request* piece = request.mutable_batch()->add_requests();
    *piece = chunk;
    piece->set_cache_len(start);
    piece->set_chunk_len(2);
    *request.add_cached_batches() = batch;
    // The decode computes `position - 1`; a new block is due when it starts one.
    if ((position - 1) % kBlock == 0 &&
        (position - 1) / kBlock >= static_cast<uint32_t>(prompt_blocks)) {
      pb::BlockGrant* grant = request.add_block_grants();
      grant->set_request_id(1);
      grant->add_blocks(spare.at((position - 1) / kBlock - prompt_blocks));
    }
    grpc::ClientContext context;
    pb::PrefillResponse response;
    ASSERT_TRUE(shard_->stub().Prefill(&context, request, &response).ok());
    ASSERT_EQ(response.errors_size(), 0);
    start += 2;
    const bool last = start >= ref.input_ids.size();
    ASSERT_EQ(response.generations_size(), last ? 2 : 1) << "a partial chunk yields no token";
    EXPECT_EQ(response.generations(0).request_id(), 1u);
    generated.push_back(response.generations(0).tokens().ids(0));
    if (last) chunked = response.generations(1);
    batch = response.batch();
    EXPECT_EQ(batch.id(), 10 + step);
    EXPECT_EQ(batch.request_ids_size(), last ? 2 : 1);
  }
  EXPECT_EQ(chunked->request_id(), 2u);
  EXPECT_EQ(chunked->tokens().ids(0), static_cast<uint32_t>(ref.greedy_ids[0]));
  const std::vector<float> expected = LogSoftmax(ref.last_logits);
  const pb::Tokens& top = chunked->top_tokens(0);
  for (int i = 0; i < top.ids_size(); ++i) {
    EXPECT_NEAR(top.logprobs(i), expected[top.ids(i)], 1e-4f);
  }
  ASSERT_GT(prompt.size() + generated.size(), kBlock + 1u) << "no block was granted";
  EXPECT_EQ(generated,
            std::vector<uint32_t>(refs[0].greedy_ids.begin() + forced,
                                  refs[0].greedy_ids.begin() + forced + generated.size()));
}

// stories260K's vocabulary (tokenizer.json), id -> text: "▁" is a space, <0xNN> one byte.
std::vector<std::string> StoriesPieces() {
  std::ifstream in(StoriesDir() + "/tokenizer.json");
  const nlohmann::json tokenizer = nlohmann::json::parse(in);
  std::vector<std::string> pieces(tokenizer["model"]["vocab"].size());
  for (const auto& [piece, id] : tokenizer["model"]["vocab"].items()) {
    std::string text = piece;
    if (text.size() == 6 && text.starts_with("<0x")) {
      text = std::string(1, static_cast<char>(std::stoi(text.substr(3, 2), nullptr, 16)));
    }
    for (size_t at; (at = text.find("\u2581")) != std::string::npos;) text.replace(at, 3, " ");
    pieces.at(id.get<size_t>()) = text;
  }
  return pieces;
}

// A constrained request whose prompt comes in chunks beside a running request's decodes (the
// mixed step): it samples nothing until its prompt is complete, then only what its grammar
// allows, ending on EOS once the grammar is complete; the running request's greedy tokens are
// those of the reference.
TEST_F(ShardServiceTest, GrammarRequestChunkedBesideDecodesSamplesOnlyItsGrammar) {
  const auto refs = LoadStoriesReference();
  pb::PrefillResponse first = Prefill(1, {MakeRequest(1, refs[0].input_ids, 30)});
  ASSERT_EQ(first.generations_size(), 1);
  std::map<uint64_t, std::vector<uint32_t>> tokens;
  tokens[1].push_back(first.generations(0).tokens().ids(0));
  std::optional<pb::CachedBatch> batch = first.batch();

  pb::Request constrained = MakeRequest(2, refs[1].input_ids, 12);
  constrained.mutable_grammar()->set_type(pb::Grammar::TYPE_REGEX);
  constrained.mutable_grammar()->set_value("(yes|no)!");
  const uint32_t prompt_len = static_cast<uint32_t>(refs[1].input_ids.size());
  ASSERT_GT(prompt_len, 4u);
  std::optional<pb::Generation> finished;
  for (uint32_t start = 0; !finished; start += 2) {
    ASSERT_TRUE(batch.has_value());
    const bool prompt_done = start >= prompt_len;
    google::protobuf::RepeatedPtrField<pb::Generation> generations;
    if (!prompt_done) {
      pb::PrefillRequest request;
      request.mutable_batch()->set_id(10 + start);
      pb::Request* piece = request.mutable_batch()->add_requests();
      *piece = constrained;
      piece->set_cache_len(start);
      piece->set_chunk_len(2);
      *request.add_cached_batches() = *batch;
      grpc::ClientContext context;
      pb::PrefillResponse response;
      ASSERT_TRUE(shard_->stub().Prefill(&context, request, &response).ok());
      ASSERT_EQ(response.errors_size(), 0) << response.errors(0).message();
      const bool last_chunk = start + 2 >= prompt_len;
      ASSERT_EQ(response.generations_size(), last_chunk ? 2 : 1) << "a partial chunk samples";
      generations = response.generations();
      batch = response.has_batch() ? std::optional(response.batch()) : std::nullopt;
    } else {
      const pb::DecodeResponse response = Decode({*batch});
      generations = response.generations();
      batch = response.has_batch() ? std::optional(response.batch()) : std::nullopt;
    }
    for (const pb::Generation& gen : generations) {
      tokens[gen.request_id()].push_back(gen.tokens().ids(0));
      if (gen.request_id() == 2 && gen.has_generated_text()) finished = gen;
    }
  }
  EXPECT_EQ(finished->generated_text().finish_reason(), pb::FINISH_REASON_EOS_TOKEN);
  const std::vector<std::string> pieces = StoriesPieces();
  std::string text;
  for (size_t i = 0; i + 1 < tokens[2].size(); ++i) text += pieces.at(tokens[2][i]);
  EXPECT_TRUE(text == "yes!" || text == "no!") << text;
  EXPECT_EQ(pieces.at(tokens[2].back()), "</s>");
  EXPECT_EQ(tokens[1], std::vector<uint32_t>(refs[0].greedy_ids.begin(),
                                             refs[0].greedy_ids.begin() + tokens[1].size()));
}

TEST_F(ShardServiceTest, GreedyIsBatchInvariant) {
  const auto refs = LoadStoriesReference();
  const pb::Request target = MakeRequest(1, refs[0].input_ids, 40);
  const auto alone = RunScenario({{0, target}});
  // Seven others of different lengths joining at different steps.
  std::vector<std::pair<int, pb::Request>> joins = {{0, target}};
  for (uint64_t i = 0; i < 7; ++i) {
    std::vector<int32_t> prompt = refs[(i + 1) % refs.size()].input_ids;
    prompt.resize(std::max<size_t>(2, prompt.size() - i % 3));
    joins.push_back({static_cast<int>(i % 4) * 3, MakeRequest(10 + i, prompt, 10 + 5 * i)});
  }
  const auto batched = RunScenario(joins);
  EXPECT_EQ(alone.at(1), batched.at(1));
  EXPECT_EQ(alone.at(1).size(), 40u);
  EXPECT_EQ(std::vector<uint32_t>(alone.at(1).begin(), alone.at(1).end()),
            std::vector<uint32_t>(refs[0].greedy_ids.begin(), refs[0].greedy_ids.begin() + 40));
}

TEST_F(ShardServiceTest, SeededSamplingIsBatchInvariant) {
  const auto refs = LoadStoriesReference();
  auto sampled = [&](uint64_t id, uint64_t seed, const std::vector<int32_t>& prompt) {
    pb::Request request = MakeRequest(id, prompt, 30);
    request.mutable_parameters()->set_do_sample(true);
    request.mutable_parameters()->set_temperature(1.3f);
    request.mutable_parameters()->set_top_k(40);
    request.mutable_parameters()->set_top_p(0.95f);
    request.mutable_parameters()->set_seed(seed);
    return request;
  };
  const auto alone = RunScenario({{0, sampled(1, 1234, refs[2].input_ids)}});
  std::vector<std::pair<int, pb::Request>> joins = {{2, sampled(1, 1234, refs[2].input_ids)}};
  for (uint64_t i = 0; i < 5; ++i) {
    joins.push_back(
        {static_cast<int>(i), sampled(20 + i, 99 + i, refs[i % refs.size()].input_ids)});
  }
  const auto batched = RunScenario(joins);
  EXPECT_EQ(alone.at(1), batched.at(1));
  // Another seed takes another path (30 draws at temperature 1.3 all agreeing would be absurd).
  const auto other = RunScenario({{0, sampled(1, 4321, refs[2].input_ids)}});
  EXPECT_NE(alone.at(1), other.at(1));
}

TEST_F(ShardServiceTest, BadRequestFailsAlone) {
  const auto refs = LoadStoriesReference();
  pb::Request bad = MakeRequest(1, {1, 9999, 5}, 4);
  pb::Request no_blocks = MakeRequest(2, refs[0].input_ids, 4);
  no_blocks.clear_blocks();
  pb::Request good = MakeRequest(3, refs[0].input_ids, 3);
  good.set_prefill_logprobs(true);
  const pb::PrefillResponse response = Prefill(7, {bad, no_blocks, good});
  ASSERT_EQ(response.errors_size(), 2);
  EXPECT_EQ(response.errors(0).request_id(), 1u);
  EXPECT_EQ(response.errors(1).request_id(), 2u);
  ASSERT_EQ(response.generations_size(), 1);
  const pb::Generation& gen = response.generations(0);
  EXPECT_EQ(gen.request_id(), 3u);
  EXPECT_EQ(gen.tokens().ids(0), static_cast<uint32_t>(refs[0].greedy_ids[0]));
  ASSERT_EQ(gen.prefill_tokens().ids_size(), static_cast<int>(refs[0].input_ids.size()));
  EXPECT_TRUE(std::isnan(gen.prefill_tokens().logprobs(0)));
  for (int i = 1; i < gen.prefill_tokens().ids_size(); ++i) {
    EXPECT_EQ(gen.prefill_tokens().ids(i), static_cast<uint32_t>(refs[0].input_ids[i]));
    EXPECT_LT(gen.prefill_tokens().logprobs(i), 0.0f);
  }
  ASSERT_TRUE(response.has_batch());
  EXPECT_EQ(response.batch().request_ids_size(), 1);
  EXPECT_EQ(response.batch().request_ids(0), 3u);
}

// EOS stops a request unless ignore_eos. A negative presence penalty on a prompt of just the
// EOS token makes EOS the certain greedy choice.
TEST_F(ShardServiceTest, EosStopsUnlessIgnored) {
  pb::Request stops = MakeRequest(1, {2}, 10);
  stops.mutable_stopping_parameters()->set_ignore_eos_token(false);
  stops.mutable_parameters()->set_presence_penalty(-100.0f);
  pb::Request goes_on = stops;
  goes_on.set_id(2);
  goes_on.mutable_stopping_parameters()->set_ignore_eos_token(true);
  const pb::PrefillResponse response = Prefill(8, {stops, goes_on});
  ASSERT_EQ(response.generations_size(), 2);
  const pb::Generation& first = response.generations(0);
  EXPECT_EQ(first.tokens().ids(0), 2u);
  EXPECT_TRUE(first.tokens().is_special(0));
  ASSERT_TRUE(first.has_generated_text());
  EXPECT_EQ(first.generated_text().finish_reason(), pb::FINISH_REASON_EOS_TOKEN);
  EXPECT_EQ(first.generated_text().generated_tokens(), 1u);
  EXPECT_FALSE(response.generations(1).has_generated_text());
  ASSERT_TRUE(response.has_batch());
  ASSERT_EQ(response.batch().request_ids_size(), 1);
  EXPECT_EQ(response.batch().request_ids(0), 2u);
}

// A preempted request comes back with its generated tokens and continues where it stopped.
TEST_F(ShardServiceTest, RePrefillAfterPreemptionContinues) {
  const auto ref = LoadStoriesReference()[3];
  pb::Request request = MakeRequest(1, ref.input_ids, 12);
  for (int i = 0; i < 5; ++i) request.add_generated_ids(static_cast<uint32_t>(ref.greedy_ids[i]));
  const pb::PrefillResponse prefill = Prefill(3, {request});
  ASSERT_EQ(prefill.generations_size(), 1);
  EXPECT_EQ(prefill.generations(0).tokens().ids(0), static_cast<uint32_t>(ref.greedy_ids[5]));
  std::vector<int32_t> generated(ref.greedy_ids.begin(), ref.greedy_ids.begin() + 6);
  std::optional<pb::CachedBatch> batch = prefill.batch();
  pb::Generation last;
  while (batch.has_value()) {
    const pb::DecodeResponse decode = Decode({*batch});
    last = decode.generations(0);
    generated.push_back(static_cast<int32_t>(last.tokens().ids(0)));
    batch = decode.has_batch() ? std::optional<pb::CachedBatch>(decode.batch()) : std::nullopt;
  }
  EXPECT_EQ(generated, std::vector<int32_t>(ref.greedy_ids.begin(), ref.greedy_ids.begin() + 12));
  EXPECT_EQ(last.generated_text().generated_tokens(), 12u);
}

// Without a token budget the CPU pool is sized from free memory.
TEST_F(ShardServiceTest, WarmupSizesThePoolFromFreeMemory) {
  pb::WarmupRequest request;
  request.set_max_input_tokens(64);
  request.set_max_total_tokens(128);
  grpc::ClientContext context;
  pb::WarmupResponse response;
  ASSERT_TRUE(shard_->stub().Warmup(&context, request, &response).ok());
  EXPECT_GE(response.max_supported_total_tokens(), 128u);
  EXPECT_EQ(response.max_supported_total_tokens(), uint64_t{response.num_blocks()} * kBlock);
  EXPECT_EQ(response.block_size(), kBlock);
  // stories260K: 5 layers x (K + V) x 4 heads x 8 dims x 4 bytes per token.
  EXPECT_EQ(response.kv_bytes(), response.max_supported_total_tokens() * 5 * 2 * 4 * 8 * 4);
  EXPECT_GT(response.weight_bytes(), 0u);
  // Put the suite's pool back.
  request.set_max_batch_total_tokens(kBlock * 512);
  grpc::ClientContext again;
  ASSERT_TRUE(shard_->stub().Warmup(&again, request, &response).ok());
  EXPECT_EQ(response.num_blocks(), 512u);
}

// The router leaves finished and cancelled requests out of the cached batch it sends with the
// next step instead of calling FilterBatch: the shard steps only those named, and the one left
// out is gone for good.
TEST_F(ShardServiceTest, AStepCallKeepsOnlyTheRequestsItNames) {
  const auto refs = LoadStoriesReference();
  const pb::PrefillResponse prefill =
      Prefill(7, {MakeRequest(1, refs[0].input_ids, 20), MakeRequest(2, refs[1].input_ids, 20)});
  ASSERT_EQ(prefill.batch().request_ids_size(), 2);
  pb::CachedBatch only_second = prefill.batch();
  only_second.clear_request_ids();
  only_second.add_request_ids(2);
  std::vector<int32_t> second = {static_cast<int32_t>(prefill.generations(1).tokens().ids(0))};
  for (int step = 0; step < 3; ++step) {
    const pb::DecodeResponse decode = Decode({only_second});
    ASSERT_EQ(decode.generations_size(), 1);
    EXPECT_EQ(decode.generations(0).request_id(), 2u);
    second.push_back(static_cast<int32_t>(decode.generations(0).tokens().ids(0)));
    ASSERT_EQ(decode.batch().request_ids_size(), 1);
    // Naming request 1 again does not bring it back.
    only_second = decode.batch();
    if (step == 1) only_second.add_request_ids(1);
  }
  EXPECT_EQ(second,
            std::vector<int32_t>(refs[1].greedy_ids.begin(), refs[1].greedy_ids.begin() + 4));
}

// The router's async scheduling: a decode sent before the answer of the step ahead of it runs
// after that step, whatever order gRPC hands the two to the shard in, and skips the request and
// the block grant that step finished with.
TEST_F(ShardServiceTest, APipelinedDecodeRunsAfterTheStepAheadAndSkipsWhatItFinished) {
  WarmUp();  // steps count from 1 again
  const auto refs = LoadStoriesReference();
  pb::PrefillRequest prefill;
  prefill.mutable_batch()->set_id(7);
  *prefill.mutable_batch()->add_requests() = MakeRequest(1, refs[0].input_ids, 1);  // ends here
  *prefill.mutable_batch()->add_requests() = MakeRequest(2, refs[1].input_ids, 20);
  prefill.set_step(1);
  pb::DecodeRequest decode;
  pb::CachedBatch* named = decode.add_batches();
  named->set_id(7);
  named->add_request_ids(1);
  named->add_request_ids(2);
  pb::BlockGrant* grant = decode.add_block_grants();
  grant->set_request_id(1);
  grant->add_blocks(500);
  decode.set_step(2);
  decode.set_pipelined(true);
  pb::DecodeResponse decoded;
  grpc::Status decode_status;
  std::thread early([&] {
    grpc::ClientContext context;
    decode_status = shard_->stub().Decode(&context, decode, &decoded);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the decode reaches it first
  grpc::ClientContext context;
  pb::PrefillResponse prefilled;
  const grpc::Status prefill_status = shard_->stub().Prefill(&context, prefill, &prefilled);
  early.join();
  ASSERT_TRUE(prefill_status.ok()) << prefill_status.error_message();
  ASSERT_TRUE(decode_status.ok()) << decode_status.error_message();
  ASSERT_EQ(prefilled.generations_size(), 2);
  EXPECT_TRUE(prefilled.generations(0).has_generated_text()) << "request 1 ends in the prefill";
  ASSERT_EQ(decoded.generations_size(), 1);
  EXPECT_EQ(decoded.generations(0).request_id(), 2u);
  EXPECT_EQ(decoded.generations(0).tokens().ids(0), static_cast<uint32_t>(refs[1].greedy_ids[1]));
  ASSERT_EQ(decoded.batch().request_ids_size(), 1);
  EXPECT_EQ(decoded.batch().request_ids(0), 2u);
}

TEST_F(ShardServiceTest, UnknownBatchIsAnInvalidArgument) {
  pb::DecodeRequest request;
  request.add_batches()->set_id(424242);
  grpc::ClientContext context;
  pb::DecodeResponse response;
  const grpc::Status status = shard_->stub().Decode(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// The default real model answers a ChatML prompt. Skipped when models/ was not fetched
// (scripts/fetch-default-model.sh). Prompt ids are the SmolLM2 tokenization of
// "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
// the answer "The capital of France is Paris." ends with <|im_end|> (EOS, id 2).
TEST(SmolLm2Test, AnswersTheCapitalOfFrance) {
  const std::string model =
      std::string(TG_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(model)) GTEST_SKIP() << "no " << model;
  const std::vector<uint32_t> prompt = {1,    4093, 198, 1780, 314, 260, 3575, 282,
                                        4649, 47,   2,   198,  1,   520, 9531, 198};
  const std::vector<uint32_t> answer = {504, 3575, 282, 4649, 314, 7042, 30, 2};
  // Dequantized to float32 and bfloat16, and computed on the Q4_1/Q8_0 blocks as stored.
  for (const char* mode : {"float32", "bfloat16", "blocks"}) {
    const bool blocks = std::string(mode) == "blocks";
    ShardProcess shard(model, {"--dtype", blocks ? "bfloat16" : mode, "--block-weights",
                               blocks ? "keep" : "dequantize"});
    grpc::ClientContext warmup_context;
    pb::WarmupRequest warmup;
    warmup.set_max_total_tokens(64);
    warmup.set_max_batch_total_tokens(256);
    pb::WarmupResponse warmed;
    ASSERT_TRUE(shard.stub().Warmup(&warmup_context, warmup, &warmed).ok());
    pb::PrefillRequest prefill;
    pb::Request* request = prefill.mutable_batch()->add_requests();
    request->set_id(1);
    for (uint32_t id : prompt) request->add_input_ids(id);
    request->mutable_stopping_parameters()->set_max_new_tokens(32);
    for (uint32_t b = 0; b < 4; ++b) request->add_blocks(b);
    prefill.mutable_batch()->set_id(1);
    grpc::ClientContext prefill_context;
    pb::PrefillResponse first;
    ASSERT_TRUE(shard.stub().Prefill(&prefill_context, prefill, &first).ok());
    std::vector<uint32_t> generated = {first.generations(0).tokens().ids(0)};
    std::optional<pb::CachedBatch> batch = first.batch();
    while (batch.has_value()) {
      pb::DecodeRequest decode;
      *decode.add_batches() = *batch;
      grpc::ClientContext context;
      pb::DecodeResponse response;
      ASSERT_TRUE(shard.stub().Decode(&context, decode, &response).ok());
      generated.push_back(response.generations(0).tokens().ids(0));
      batch =
          response.has_batch() ? std::optional<pb::CachedBatch>(response.batch()) : std::nullopt;
    }
    EXPECT_EQ(generated, answer) << mode;
  }
}

TEST(ShardProcessTest, ExitsCleanlyOnSigterm) {
  ShardProcess shard(StoriesDir() + "/stories260K.gguf", {"--threads", "1"});
  EXPECT_EQ(shard.Stop(), 0);
}

}  // namespace
}  // namespace tg::shard
