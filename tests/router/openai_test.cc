#include "router/api/openai.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "router/api/tgi_format.h"
#include "router/api/validation.h"

namespace tg::api {
namespace {

using nlohmann::json;

// One token per byte: enough for the response shapes.
const Validator& TestValidator() {
  static const Validator validator({.max_input_tokens = 64, .max_total_tokens = 128},
                                   [](const std::string& text, bool) {
                                     return std::vector<uint32_t>(text.begin(), text.end());
                                   });
  return validator;
}

ValidatedRequest ValidatePrompt(const RawParameters& parameters, const std::string& prompt) {
  return TestValidator().Validate(parameters, {.text = prompt}, NewTokens::kZeroAllowed);
}

TEST(OpenAiTest, ParsesChatRequests) {
  const auto r = ParseChatRequest(json::parse(R"({
    "model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0,
    "max_completion_tokens": 7, "stop": "x", "n": 2, "logprobs": true, "top_logprobs": 3,
    "stream": true, "stream_options": {"include_usage": true}, "seed": 5, "ignore_eos": true})"));
  EXPECT_EQ(r.route, OpenAiRoute::kChat);
  // Validation turns temperature 0 into greedy (ValidationTest.TemperatureZeroIsGreedy).
  EXPECT_EQ(r.parameters.temperature, 0.0f);
  EXPECT_EQ(r.parameters.max_new_tokens, 7u);
  EXPECT_EQ(r.parameters.stop, (std::vector<std::string>{"x"}));
  EXPECT_EQ(r.parameters.ignore_eos, true);
  EXPECT_EQ(r.n, 2u);
  EXPECT_EQ(r.parameters.top_n_tokens, 3u);
  EXPECT_TRUE(r.parameters.token_logprobs.value_or(true));
  EXPECT_TRUE(r.stream && r.include_usage);
  EXPECT_EQ(r.parameters.seed, 5u);
  EXPECT_FALSE(ValidatePrompt(r.parameters, "hi").sampling().do_sample);
}

TEST(OpenAiTest, DefaultsToSamplingLikeOpenAi) {
  const auto r = ParseCompletionRequest(json::parse(R"({"prompt": ["once"]})"));
  EXPECT_TRUE(ValidatePrompt(r.parameters, "once").sampling().do_sample);
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0].text, "once");
  EXPECT_FALSE(r.parameters.max_new_tokens);
}

// The shard computes the generated tokens' logprobs only for a route that shows them: OpenAI's
// with `logprobs` (any count, 0 included), TGI's always (the default).
TEST(OpenAiTest, TokenLogprobsOnlyWhenAsked) {
  auto wanted = [](const OpenAiRequest& r) {
    return ValidatePrompt(r.parameters, "a").token_logprobs();
  };
  EXPECT_FALSE(wanted(ParseCompletionRequest(json::parse(R"({"prompt": "a"})"))));
  EXPECT_TRUE(wanted(ParseCompletionRequest(json::parse(R"({"prompt": "a", "logprobs": 0})"))));
  const json chat = json::parse(R"({"messages": [{"role": "user", "content": "hi"}]})");
  EXPECT_FALSE(wanted(ParseChatRequest(chat)));
  json asked = chat;
  asked["logprobs"] = true;
  EXPECT_TRUE(wanted(ParseChatRequest(asked)));
  EXPECT_TRUE(ValidatePrompt(RawParameters{}, "a").token_logprobs());  // TGI's routes
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
  const json choice =
      ChoiceJson(request, ValidatePrompt(request.parameters, "p"), 0, StoppedResult());
  EXPECT_EQ(choice["text"], "hello ");
  EXPECT_EQ(choice["finish_reason"], "stop");
  EXPECT_EQ(choice["logprobs"]["tokens"].size(), 3u);
  EXPECT_EQ(choice["logprobs"]["text_offset"][2], 8);
  const json usage = UsageJson(2, 3);
  EXPECT_EQ(usage["total_tokens"], 5);
}

// A sampled request reports its seed (given or drawn in validation) in the response and in each
// choice's final chunk; a greedy one reports none.
TEST(OpenAiTest, SampledResponsesCarryTheirSeed) {
  const OpenAiRequest sampled = ParseChatRequest(
      json::parse(R"({"messages": [{"role": "user", "content": "hi"}], "stream": true})"));
  const ValidatedRequest prompt = ValidatePrompt(sampled.parameters, "hi");
  const OpenAiResponseMeta meta{.id = "c", .model = "m", .seed = ResponseSeed(prompt)};
  ASSERT_TRUE(meta.seed);
  EXPECT_EQ(*meta.seed, prompt.sampling().seed);
  const engine::GenerationResult done = StoppedResult();
  EXPECT_EQ(ResponseJson(sampled, meta, json::array(), UsageJson(1, 1))["seed"], *meta.seed);
  EXPECT_EQ(ChunkJson(sampled, meta, 0, "x", nullptr, &done, nullptr)["seed"], *meta.seed);
  EXPECT_FALSE(ChunkJson(sampled, meta, 0, "x", nullptr, nullptr, nullptr).contains("seed"))
      << "only the final chunk";

  const OpenAiRequest given = ParseChatRequest(json::parse(
      R"({"messages": [{"role": "user", "content": "hi"}], "seed": 77, "temperature": 0.5})"));
  EXPECT_EQ(ResponseSeed(ValidatePrompt(given.parameters, "hi")), 77u);
  const OpenAiRequest greedy = ParseChatRequest(
      json::parse(R"({"messages": [{"role": "user", "content": "hi"}], "temperature": 0})"));
  EXPECT_FALSE(ResponseSeed(ValidatePrompt(greedy.parameters, "hi")));
  const OpenAiResponseMeta greedy_meta{.id = "c", .model = "m", .seed = std::nullopt};
  EXPECT_FALSE(ResponseJson(greedy, greedy_meta, json::array(), UsageJson(1, 1)).contains("seed"));
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
  EXPECT_EQ(r.parameters.min_new_tokens, 2u);
  EXPECT_EQ(r.parameters.stop_token_ids, (std::vector<uint32_t>{7, 9}));
  EXPECT_EQ(r.parameters.include_stop_str_in_output, true);
  ASSERT_EQ(r.parameters.logit_bias.size(), 1u);
  EXPECT_EQ(r.parameters.logit_bias[0], (std::pair<uint32_t, float>{5, -100.0f}));
  EXPECT_EQ(r.parameters.decoder_input_details, true) << "echo + logprobs asks for prompt logprobs";
  EXPECT_EQ(r.parameters.max_new_tokens, 0u) << "allowed with echo: it scores the prompt";
  EXPECT_THROW(ValidatePrompt(r.parameters, "x"), Error) << "min_tokens 2 > max_tokens 0";
  RawParameters generating = r.parameters;
  generating.max_new_tokens = 4;
  const ValidatedRequest prompt = ValidatePrompt(generating, "x");
  EXPECT_EQ(prompt.stopping().min_new_tokens, 2u);
  EXPECT_TRUE(prompt.decoder_input_details());
  EXPECT_TRUE(r.continuous_usage);
  engine::GenerationResult stopped = StoppedResult();
  stopped.stop_sequence = "STOP";
  EXPECT_EQ(StopReasonJson(stopped), "STOP");
  EXPECT_EQ(OpenAiText(prompt, stopped), "hello STOP") << "include_stop_str_in_output";
  stopped.stop_token_id = 9;
  EXPECT_EQ(StopReasonJson(stopped), 9);
  stopped.finish_reason = engine::FinishReason::kLength;
  stopped.stop_token_id.reset();
  EXPECT_TRUE(StopReasonJson(stopped).is_null());
}

TEST(TgiFormatTest, GenerateAndStreamShapes) {
  ValidatedRequest request = ValidatePrompt({.details = true}, "p");
  const engine::GenerationResult r = StoppedResult();
  json out = GenerateResponseJson(request, r, {});
  EXPECT_EQ(out["generated_text"], "hello STOP") << "TGI keeps the stop sequence";
  EXPECT_EQ(out["details"]["finish_reason"], "stop_sequence");
  EXPECT_EQ(out["details"]["tokens"][1]["text"], " ST");
  EXPECT_TRUE(out["details"]["seed"].is_null());
  request = ValidatePrompt({.details = true, .return_full_text = true}, "p");
  engine::TokenEvent event{.token = r.tokens[2], .index = 2};
  json last = StreamEventJson(request, event, &r);
  EXPECT_EQ(last["index"], 3);
  EXPECT_EQ(last["generated_text"], "phello STOP");
  EXPECT_EQ(last["details"]["generated_tokens"], 3);
  EXPECT_TRUE(StreamEventJson(request, event, nullptr)["generated_text"].is_null());
}

}  // namespace
}  // namespace tg::api
