#include <gtest/gtest.h>

#include "bench/consistency.h"
#include "bench/sse.h"
#include "bench/stream_events.h"

namespace tg::bench {
namespace {

TEST(SseParserTest, SplitsEventsAcrossArbitraryChunks) {
  const std::string stream =
      "data:{\"a\":1}\n\n: keep-alive\n\ndata: {\"b\":2}\r\n\r\nevent: x\ndata: l1\ndata: l2\n\n"
      "data: tail";
  // Every split point must give the same events.
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    SseParser parser;
    auto events = parser.Feed(stream.substr(0, cut));
    for (auto& e : parser.Feed(stream.substr(cut))) events.push_back(e);
    for (auto& e : parser.Finish()) events.push_back(e);
    ASSERT_EQ(events.size(), 4u) << cut;
    EXPECT_EQ(events[0], "{\"a\":1}");
    EXPECT_EQ(events[1], "{\"b\":2}");
    EXPECT_EQ(events[2], "l1\nl2");
    EXPECT_EQ(events[3], "tail");
  }
}

std::string TgiToken(int id, const std::string& text) {
  return "{\"index\":" + std::to_string(id) + ",\"token\":{\"id\":" + std::to_string(id) +
         ",\"text\":\"" + text +
         "\",\"logprob\":-0.5,\"special\":false},\"generated_text\":null,\"details\":null}";
}

TEST(StreamAccumulatorTest, TgiStreamGivesTtftItlAndServerCount) {
  StreamAccumulator acc(Protocol::kTgi);
  acc.OnEvent(TgiToken(1, "Once"), 0.5);
  acc.OnEvent(TgiToken(2, " upon"), 0.6);
  acc.OnEvent(
      "{\"index\":3,\"token\":{\"id\":3,\"text\":\" a\",\"logprob\":0,\"special\":false},"
      "\"generated_text\":\"Once upon a\",\"details\":{\"finish_reason\":\"length\","
      "\"generated_tokens\":3,\"seed\":null,\"input_length\":4}}",
      0.8);
  EXPECT_TRUE(acc.done());
  RequestOutcome o;
  o.expected_output = 3;
  acc.Finish(0.81, &o);
  EXPECT_TRUE(o.success) << o.error;
  EXPECT_DOUBLE_EQ(o.ttft, 0.5);
  EXPECT_DOUBLE_EQ(o.latency, 0.81);
  ASSERT_EQ(o.itl.size(), 2u);
  EXPECT_NEAR(o.itl[0], 0.1, 1e-12);
  EXPECT_NEAR(o.itl[1], 0.2, 1e-12);
  EXPECT_EQ(o.output_tokens, 3u);
  EXPECT_EQ(o.server_output_tokens, 3u);
  EXPECT_EQ(o.server_prompt_tokens, 4u);
  EXPECT_EQ(o.generated_text, "Once upon a");
  EXPECT_TRUE(CheckConsistency({o}, /*ignore_eos=*/true).empty());
}

TEST(StreamAccumulatorTest, TgiErrorsAndTruncationFail) {
  StreamAccumulator error(Protocol::kTgi);
  error.OnEvent(TgiToken(1, "a"), 0.1);
  error.OnEvent("{\"error\":\"shard died\",\"error_type\":\"generation\"}", 0.2);
  RequestOutcome o;
  error.Finish(0.2, &o);
  EXPECT_FALSE(o.success);
  EXPECT_EQ(o.error, "shard died");

  StreamAccumulator cut(Protocol::kTgi);
  cut.OnEvent(TgiToken(1, "a"), 0.1);
  RequestOutcome o2;
  cut.Finish(0.2, &o2);
  EXPECT_FALSE(o2.success);
  EXPECT_FALSE(CheckConsistency({o2}, false).empty());
}

TEST(StreamAccumulatorTest, OpenAiCompletionsWithUsage) {
  StreamAccumulator acc(Protocol::kOpenAiCompletions);
  acc.OnEvent("{\"id\":\"c\",\"choices\":[{\"index\":0,\"text\":\"Hi\",\"finish_reason\":null}]}",
              0.2);
  acc.OnEvent(
      "{\"id\":\"c\",\"choices\":[{\"index\":0,\"text\":\"!\",\"finish_reason\":\"length\"}]}",
      0.25);
  acc.OnEvent(
      "{\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,"
      "\"completion_tokens\":2,\"total_tokens\":7}}",
      0.26);
  EXPECT_FALSE(acc.done());
  acc.OnEvent("[DONE]", 0.27);
  EXPECT_TRUE(acc.done());
  RequestOutcome o;
  o.expected_output = 2;
  acc.Finish(0.27, &o);
  EXPECT_TRUE(o.success) << o.error;
  EXPECT_EQ(o.output_tokens, 2u);
  EXPECT_EQ(o.chunks, 2u);
  EXPECT_EQ(o.server_output_tokens, 2u);
  EXPECT_EQ(o.server_prompt_tokens, 5u);
  EXPECT_DOUBLE_EQ(o.ttft, 0.2);
  EXPECT_EQ(o.generated_text, "Hi!");
  EXPECT_TRUE(CheckConsistency({o}, true).empty());
}

TEST(StreamAccumulatorTest, OpenAiUsageCountsTokensOfMultiTokenChunks) {
  StreamAccumulator acc(Protocol::kOpenAiCompletions);
  acc.OnEvent("{\"choices\":[{\"index\":0,\"text\":\"ab\"}]}", 0.1);
  acc.OnEvent("{\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":3}}", 0.2);
  acc.OnEvent("[DONE]", 0.2);
  RequestOutcome o;
  o.expected_output = 3;
  acc.Finish(0.2, &o);
  EXPECT_EQ(o.chunks, 1u);
  EXPECT_EQ(o.output_tokens, 3u);
  EXPECT_FALSE(TimePerOutputToken(o).has_value() && *TimePerOutputToken(o) < 0);
  EXPECT_TRUE(CheckConsistency({o}, true).empty());
}

TEST(ConsistencyTest, FlagsMismatchedCounts) {
  RequestOutcome o;
  o.success = true;
  o.ttft = 0.2;
  o.latency = 0.1;  // TTFT after the end: impossible
  o.output_tokens = 3;
  o.chunks = 4;  // more chunks than tokens, and 2 ITL samples missing
  o.expected_output = 4;
  o.server_output_tokens = 2;
  o.itl = {0.1};
  const auto problems = CheckConsistency({o}, true);
  EXPECT_EQ(problems.size(), 5u);
}

}  // namespace
}  // namespace tg::bench
