// The Engine (its thread and its delivery thread) with a fake shard: every request's tokens reach
// its callbacks in order and never on the engine thread (where the shard is called), and Stop
// returns only after the requests it failed have had their errors delivered.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "router/api/validation.h"
#include "router/engine/engine.h"
#include "router/metrics/metrics.h"
#include "tests/router/answered_step.h"

namespace tg::engine {
namespace {

// Token t is the text "<t>"; nothing is special.
class TagDecoder : public StreamDecoder {
 public:
  std::string Push(uint32_t id) override { return "<" + std::to_string(id) + ">"; }
  std::string Flush() override { return ""; }
};

class TagCodec : public TextCodec {
 public:
  std::vector<uint32_t> Encode(const std::string&, bool) const override { return {}; }
  std::string Decode(const std::vector<uint32_t>& ids, bool) const override {
    std::string text;
    for (uint32_t id : ids) text += "<" + std::to_string(id) + ">";
    return text;
  }
  bool IsSpecial(uint32_t) const override { return false; }
  std::unique_ptr<StreamDecoder> NewStreamDecoder() const override {
    return std::make_unique<TagDecoder>();
  }
  std::string chat_template() const override { return ""; }
  std::string bos_token() const override { return ""; }
  std::string eos_token() const override { return ""; }
};

// Request r's k-th token is 100 * r + k; it finishes on length like a real shard. Remembers the
// thread it was called on (the engine's).
class CountingShard : public client::ShardClient {
 public:
  std::thread::id engine_thread;
  std::chrono::milliseconds step_time{0};  // how long each call takes

  std::unique_ptr<client::PendingStep> StartPrefill(const client::PrefillCall& call) override {
    return client::AnsweredStep::Of([&] { return Prefill(call); });
  }
  std::unique_ptr<client::PendingStep> StartDecode(const client::DecodeCall& call) override {
    return client::AnsweredStep::Of([&] { return Decode(call); });
  }
  void ClearCache(std::optional<uint64_t>) override {}

 private:
  client::StepResult Prefill(const client::PrefillCall& call) {
    engine_thread = std::this_thread::get_id();
    std::vector<uint64_t> ids = Ids(call.cached);
    for (const client::ShardRequest& r : call.requests) {
      max_new_tokens_[r.id] = r.max_new_tokens;
      ids.push_back(r.id);
    }
    return Step(ids, call.batch_id);
  }
  client::StepResult Decode(const client::DecodeCall& call) {
    engine_thread = std::this_thread::get_id();
    return Step(Ids(call.batches), call.batches.at(0).id);
  }
  // Names of requests that already finished (a pipelined call's) are skipped, as the shard does.
  std::vector<uint64_t> Ids(const std::vector<client::CachedBatch>& batches) {
    std::vector<uint64_t> ids;
    for (const auto& b : batches) {
      for (uint64_t id : b.request_ids) {
        if (generated_[id] < max_new_tokens_.at(id)) ids.push_back(id);
      }
    }
    return ids;
  }
  client::StepResult Step(const std::vector<uint64_t>& ids, uint64_t batch_id) {
    std::this_thread::sleep_for(step_time);
    client::StepResult result;
    std::vector<uint64_t> survivors;
    for (uint64_t id : ids) {
      const uint32_t k = ++generated_[id];
      client::ShardGeneration gen{.request_id = id};
      gen.tokens.ids = {static_cast<uint32_t>(100 * id + k)};
      gen.tokens.logprobs = {-0.5f};
      if (k >= max_new_tokens_.at(id)) {
        gen.finish = FinishReason::kLength;
      } else {
        survivors.push_back(id);
      }
      result.generations.push_back(gen);
    }
    if (!survivors.empty()) {
      result.batch = client::CachedBatch{.id = batch_id, .request_ids = survivors};
    }
    return result;
  }
  std::map<uint64_t, uint32_t> max_new_tokens_;
  std::map<uint64_t, uint32_t> generated_;
};

struct Seen {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<uint64_t, std::string> text;  // by request, in callback order
  std::map<uint64_t, std::string> done;  // the final result's text
  std::map<uint64_t, std::string> errors;
  std::set<std::thread::id> threads;
};

class EngineDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override { metrics::DeclareRouterMetrics(metrics_); }

  Callbacks Record(uint64_t id) {
    Callbacks c;
    c.on_token = [this, id](const TokenEvent& event, const GenerationResult* done) {
      std::lock_guard lock(seen_.mutex);
      seen_.text[id] += event.token.text;
      if (done) seen_.done[id] = done->generated_text;
      seen_.threads.insert(std::this_thread::get_id());
      seen_.changed.notify_all();
    };
    c.on_error = [this, id](ErrorKind, const std::string& message) {
      std::lock_guard lock(seen_.mutex);
      seen_.errors[id] = message;
      seen_.threads.insert(std::this_thread::get_id());
      seen_.changed.notify_all();
    };
    return c;
  }

  api::ValidatedRequest Request(uint32_t max_new_tokens) const {
    return validator_.Validate({.max_new_tokens = max_new_tokens}, {.text = "xxxx"});
  }

  const api::Validator validator_{
      {.max_input_tokens = 64, .max_total_tokens = 4096},
      [](const std::string& text, bool) { return std::vector<uint32_t>(text.size(), 5); }};
  CountingShard shard_;
  TagCodec codec_;
  metrics::Registry metrics_;
  Seen seen_;
  EngineConfig config_{.scheduler = {.block_size = 4,
                                     .num_blocks = 4096,
                                     .token_budget = 64,
                                     .max_batch_size = 0,
                                     .prefix_caching = false,
                                     .chunked_prefill = true}};
};

TEST_F(EngineDeliveryTest, TokensArriveInOrderOffTheEngineThread) {
  Engine engine(config_, shard_, codec_, metrics_);
  // Request ids are the engine's: 1, 2, 3 in submission order.
  for (uint32_t i = 0; i < 3; ++i) {
    engine.Submit(std::move(engine.Admit(1).front()), Request(5), Record(i + 1));
  }
  {
    std::unique_lock lock(seen_.mutex);
    ASSERT_TRUE(seen_.changed.wait_for(lock, std::chrono::seconds(10),
                                       [&] { return seen_.done.size() == 3; }));
  }
  engine.Stop();
  for (uint64_t id = 1; id <= 3; ++id) {
    std::string expected;
    for (uint64_t k = 1; k <= 5; ++k) expected += "<" + std::to_string(100 * id + k) + ">";
    EXPECT_EQ(seen_.text[id], expected) << "request " << id;
    EXPECT_EQ(seen_.done[id], expected) << "request " << id;
  }
  ASSERT_EQ(seen_.threads.size(), 1u);
  EXPECT_NE(*seen_.threads.begin(), shard_.engine_thread);
  EXPECT_NE(*seen_.threads.begin(), std::this_thread::get_id());
}

TEST_F(EngineDeliveryTest, StopDeliversTheShutdownErrorsBeforeReturning) {
  shard_.step_time = std::chrono::milliseconds(1);  // 4000 tokens take seconds: it is in flight
  Engine engine(config_, shard_, codec_, metrics_);
  engine.Submit(std::move(engine.Admit(1).front()), Request(4000), Record(1));
  {
    std::unique_lock lock(seen_.mutex);
    ASSERT_TRUE(seen_.changed.wait_for(lock, std::chrono::seconds(10),
                                       [&] { return seen_.text[1].size() > 0; }));
  }
  engine.Stop();
  // No waiting here: Stop has returned, so the error is in.
  std::lock_guard lock(seen_.mutex);
  EXPECT_EQ(seen_.errors[1], "the server is shutting down");
  EXPECT_EQ(seen_.done.count(1), 0u);
  EXPECT_EQ(engine.in_flight(), 0u);
}

}  // namespace
}  // namespace tg::engine
