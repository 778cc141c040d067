#include "router/api/openai.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "router/api/tgi_format.h"

namespace tg::api {
namespace {

using nlohmann::json;

TEST(OpenAiTest, ParsesChatRequests) {
  const auto r = ParseChatRequest(json::parse(R"({
    "model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0,
    "max_completion_tokens": 7, "stop": "x", "n": 2, "logprobs": true, "top_logprobs": 3,
    "stream": true, "stream_options": {"include_usage": true}, "seed": 5, "ignore_eos": true})"));
  EXPECT_EQ(r.route, OpenAiRoute::kChat);
  // Validation turns temperature 0 into greedy (ValidationTest.TemperatureZeroIsGreedy).
  EXPECT_FLOAT_EQ(r.request.sampling.temperature, 0.0f);
  EXPECT_TRUE(r.max_tokens_given);
  EXPECT_EQ(r.request.stopping.max_new_tokens, 7u);
  EXPECT_EQ(r.request.stopping.stop_sequences, (std::vector<std::string>{"x"}));
  EXPECT_TRUE(r.request.stopping.ignore_eos);
  EXPECT_EQ(r.n, 2u);
  EXPECT_EQ(r.request.top_n_tokens, 3u);
  EXPECT_TRUE(r.request.token_logprobs);
  EXPECT_TRUE(r.stream && r.include_usage);
  EXPECT_EQ(r.request.sampling.seed, 5u);
}

TEST(OpenAiTest, DefaultsToSamplingLikeOpenAi) {
  const auto r = ParseCompletionRequest(json::parse(R"({"prompt": ["once"]})"));
  EXPECT_TRUE(r.request.sampling.do_sample);
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0].text, "once");
  EXPECT_FALSE(r.max_tokens_given);
}

// The shard computes the generated tokens' logprobs only for a route that shows them: OpenAI's
// with `logprobs` (any count, 0 included), TGI's always (the default).
TEST(OpenAiTest, TokenLogprobsOnlyWhenAsked) {
  EXPECT_FALSE(ParseCompletionRequest(json::parse(R"({"prompt": "a"})")).request.token_logprobs);
  EXPECT_TRUE(ParseCompletionRequest(json::parse(R"({"prompt": "a", "logprobs": 0})"))
                  .request.token_logprobs);
  const json chat = json::parse(R"({"messages": [{"role": "user", "content": "hi"}]})");
  EXPECT_FALSE(ParseChatRequest(chat).request.token_logprobs);
  json asked = chat;
  asked["logprobs"] = true;
  EXPECT_TRUE(ParseChatRequest(asked).request.token_logprobs);
  EXPECT_TRUE(ValidatedRequest{}.token_logprobs);
}

TEST(OpenAiTest, RejectsUnknownAndInvalidFields) {
  auto message = [](const char* body, bool chat) {
    try {
      chat ? ParseChatRequest(json::parse(body)) : ParseCompletionRequest(json::parse(body));
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
      return e.message();
    }
    return std::string();
  };
  EXPECT_NE(message(R"({"prompt":"a","foo":1})", false).find("`foo`"), std::string::npos);
  EXPECT_NE(message(R"({"messages":[]})", true), "");
  EXPECT_NE(message(R"({"messages":[{"content":"x"}]})", true), "");
  EXPECT_NE(message(R"({"prompt":"a","max_tokens":0})", false), "");
  EXPECT_NE(message(R"({"prompt":"a","seed":-1})", false), "");
  EXPECT_NE(message(R"({"prompt":"a","stop":5})", false), "");
  EXPECT_NE(message(R"({"messages":[{"role":"user","content":"x"}],"top_logprobs":2})", true), "");
}

engine::GenerationResult StoppedResult() {
  engine::GenerationResult r;
  r.generated_text = "hello STOP";
  r.stop_sequence_length = 4;
  r.generated_tokens = 3;
  r.input_tokens = 2;
  r.finish_reason = engine::FinishReason::kStopSequence;
  r.tokens = {{.id = 5, .logprob = -0.5f, .text = "hello"},
              {.id = 6, .logprob = -0.25f, .text = " ST"},
              {.id = 7, .logprob = -0.125f, .text = "OP"}};
  r.top_tokens = {{}, {}, {}};
  return r;
}

TEST(OpenAiTest, ChoicesDropTheStopSequence) {
  OpenAiRequest request = ParseCompletionRequest(json::parse(R"({"prompt":"p","logprobs":0})"));
  const json choice = ChoiceJson(request, 0, StoppedResult(), "p");
  EXPECT_EQ(choice["text"], "hello ");
  EXPECT_EQ(choice["finish_reason"], "stop");
  EXPECT_EQ(choice["logprobs"]["tokens"].size(), 3u);
  EXPECT_EQ(choice["logprobs"]["text_offset"][2], 8);
  const json usage = UsageJson(2, 3);
  EXPECT_EQ(usage["total_tokens"], 5);
}

TEST(CompletionsTest, ParsesTheFourPromptForms) {
  EXPECT_EQ(ParseCompletionPrompts(json("a")).size(), 1u);
  const auto texts = ParseCompletionPrompts(json::parse(R"(["a", "b"])"));
  ASSERT_EQ(texts.size(), 2u);
  EXPECT_EQ(texts[1].text, "b");
  EXPECT_FALSE(texts[1].tokenized);
  const auto ids = ParseCompletionPrompts(json::parse("[1, 2, 3]"));
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0].ids, (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_TRUE(ids[0].tokenized);
  const auto lists = ParseCompletionPrompts(json::parse("[[1], [2, 3]]"));
  ASSERT_EQ(lists.size(), 2u);
  EXPECT_EQ(lists[1].ids, (std::vector<uint32_t>{2, 3}));
  for (const char* bad :
       {"[]", "[[]]", "[1, \"a\"]", "[\"a\", [1]]", "[-1]", "[\"\"]", "5", "{}"}) {
    EXPECT_THROW(ParseCompletionPrompts(json::parse(bad)), Error) << bad;
  }
}

TEST(CompletionsTest, EchoedPromptLogprobsStartWithNull) {
  const std::vector<engine::TokenInfo> prompt = {{.id = 1, .logprob = std::nanf(""), .text = "<s>"},
                                                 {.id = 2, .logprob = -1.5f, .text = "Hi"}};
  const std::vector<std::vector<engine::TokenInfo>> prompt_top = {
      {}, {{.id = 3, .logprob = -0.5f, .text = "Yo"}}};
  const engine::GenerationResult r = StoppedResult();
  const json lp = CompletionLogprobsJson(&prompt, &prompt_top, r.tokens, r.top_tokens, 0);
  EXPECT_EQ(lp["tokens"], json::parse(R"(["<s>", "Hi", "hello", " ST", "OP"])"));
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  EXPECT_EQ(lp["token_logprobs"][1], -1.5);
  EXPECT_EQ(lp["top_logprobs"][1]["Yo"], -0.5);
  EXPECT_EQ(lp["text_offset"], json::parse("[0, 3, 5, 10, 13]"));
}

TEST(CompletionsTest, ParsesVllmExtrasAndStopReason) {
  const auto r = ParseCompletionRequest(json::parse(R"({"prompt": "x", "min_tokens": 2,
    "stop_token_ids": [7, 9], "include_stop_str_in_output": true, "logit_bias": {"5": -100},
    "echo": true, "logprobs": 1, "max_tokens": 0,
    "stream_options": {"include_usage": true, "continuous_usage_stats": true}})"));
  EXPECT_EQ(r.request.stopping.min_new_tokens, 2u);
  EXPECT_EQ(r.request.stopping.stop_token_ids, (std::vector<uint32_t>{7, 9}));
  EXPECT_TRUE(r.request.stopping.include_stop_str_in_output);
  ASSERT_EQ(r.request.sampling.logit_bias.size(), 1u);
  EXPECT_EQ(r.request.sampling.logit_bias[0], (std::pair<uint32_t, float>{5, -100.0f}));
  EXPECT_TRUE(r.request.decoder_input_details) << "echo + logprobs asks for prompt logprobs";
  EXPECT_TRUE(r.continuous_usage);
  engine::GenerationResult stopped = StoppedResult();
  stopped.stop_sequence = "STOP";
  EXPECT_EQ(StopReasonJson(stopped), "STOP");
  EXPECT_EQ(OpenAiText(r, stopped), "hello STOP") << "include_stop_str_in_output";
  stopped.stop_token_id = 9;
  EXPECT_EQ(StopReasonJson(stopped), 9);
  stopped.finish_reason = engine::FinishReason::kLength;
  stopped.stop_token_id.reset();
  EXPECT_TRUE(StopReasonJson(stopped).is_null());
}

TEST(TgiFormatTest, GenerateAndStreamShapes) {
  ValidatedRequest request;
  request.inputs = "p";
  request.details = true;
  const engine::GenerationResult r = StoppedResult();
  json out = GenerateResponseJson(request, r, {});
  EXPECT_EQ(out["generated_text"], "hello STOP") << "TGI keeps the stop sequence";
  EXPECT_EQ(out["details"]["finish_reason"], "stop_sequence");
  EXPECT_EQ(out["details"]["tokens"][1]["text"], " ST");
  EXPECT_TRUE(out["details"]["seed"].is_null());
  request.return_full_text = true;
  engine::TokenEvent event{.token = r.tokens[2], .index = 2};
  json last = StreamEventJson(request, event, &r);
  EXPECT_EQ(last["index"], 3);
  EXPECT_EQ(last["generated_text"], "phello STOP");
  EXPECT_EQ(last["details"]["generated_tokens"], 3);
  EXPECT_TRUE(StreamEventJson(request, event, nullptr)["generated_text"].is_null());
}

}  // namespace
}  // namespace tg::api
