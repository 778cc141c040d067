#include "router/api/openai.h"

#include <gtest/gtest.h>

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
  EXPECT_FALSE(r.request.sampling.do_sample) << "temperature 0 is greedy";
  EXPECT_TRUE(r.max_tokens_given);
  EXPECT_EQ(r.request.stopping.max_new_tokens, 7u);
  EXPECT_EQ(r.request.stopping.stop_sequences, (std::vector<std::string>{"x"}));
  EXPECT_TRUE(r.request.stopping.ignore_eos);
  EXPECT_EQ(r.n, 2u);
  EXPECT_EQ(r.request.top_n_tokens, 3u);
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
