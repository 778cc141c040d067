#include "router/api/validation.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "router/api/json_fields.h"
#include "router/api/tgi_request.h"

namespace tg::api {
namespace {

using nlohmann::json;

// One token per byte plus a BOS of 1: enough to test the limits without a real tokenizer.
std::vector<uint32_t> ByteEncode(const std::string& text, bool add_special_tokens) {
  std::vector<uint32_t> ids;
  if (add_special_tokens) ids.push_back(1);
  for (unsigned char c : text) ids.push_back(c);
  return ids;
}

Validator MakeValidator() {
  return Validator({.max_input_tokens = 10,
                    .max_total_tokens = 16,
                    .max_best_of = 2,
                    .max_stop_sequences = 2,
                    .max_top_n_tokens = 5},
                   ByteEncode);
}

// A /generate body as the route takes it: parsed into what the client sent, then validated.
ValidatedRequest ValidateTgi(const json& body) {
  const RawTgiRequest raw = ParseTgiRequest(body);
  return MakeValidator().Validate(raw.parameters, {.text = raw.inputs});
}

std::string ErrorOf(const json& body) {
  try {
    ValidateTgi(body);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    return e.message();
  }
  return "";
}

TEST(ValidationTest, AcceptsATypicalRequest) {
  const auto r = ValidateTgi(json::parse(R"({
    "inputs": "abc",
    "parameters": {"max_new_tokens": 4, "temperature": 0.5, "top_p": 1.0, "top_k": 3,
                   "stop": ["x"], "seed": 42, "details": true, "do_sample": true}})"));
  EXPECT_EQ(r.input_ids(), (std::vector<uint32_t>{1, 'a', 'b', 'c'}));
  EXPECT_EQ(r.stopping().max_new_tokens, 4u);
  EXPECT_FLOAT_EQ(r.sampling().temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling().top_p, 1.0f);
  EXPECT_EQ(r.sampling().top_k, 3u);
  EXPECT_EQ(r.sampling().seed, 42u);
  EXPECT_TRUE(r.details());
  EXPECT_EQ(r.stopping().stop_sequences, (std::vector<std::string>{"x"}));
}

TEST(ValidationTest, TemperatureZeroIsGreedy) {
  const auto r = ValidateTgi(
      json::parse(R"({"inputs": "a", "parameters": {"temperature": 0, "do_sample": true}})"));
  EXPECT_FALSE(r.sampling().do_sample);
  EXPECT_FLOAT_EQ(r.sampling().temperature, 1.0f);
}

TEST(ValidationTest, TemperatureZeroIsGreedyWhateverTheOtherWarpers) {
  const auto r = ValidateTgi(json::parse(
      R"({"inputs": "a", "parameters": {"temperature": 0, "top_k": 5, "top_p": 0.5}})"));
  EXPECT_FALSE(r.sampling().do_sample);
  EXPECT_EQ(r.sampling().top_k, 0u);
  EXPECT_FLOAT_EQ(r.sampling().top_p, 1.0f);
  EXPECT_EQ(r.sampling().seed, 0u);
}

// TGI: any warper away from neutral samples, even with do_sample false; the request gets a
// random seed once, here, unless it gave one.
TEST(ValidationTest, AWarperSamplesAndGetsARandomSeed) {
  for (const char* warper :
       {R"("temperature": 0.7)", R"("top_k": 5)", R"("top_p": 0.9)", R"("typical_p": 0.9)",
        R"("min_p": 0.1)", R"("do_sample": true)", R"("temperature": 0.7, "do_sample": false)"}) {
    const json body =
        json::parse(std::string(R"({"inputs": "a", "parameters": {)") + warper + "}}");
    const auto a = ValidateTgi(body);
    const auto b = ValidateTgi(body);
    EXPECT_TRUE(a.sampling().do_sample) << warper;
    // Two 64-bit draws agreeing would be a broken generator.
    EXPECT_NE(a.sampling().seed, b.sampling().seed) << warper;
  }
}

TEST(ValidationTest, AGivenSeedIsKeptAndGreedyHasNone) {
  const auto seeded =
      ValidateTgi(json::parse(R"({"inputs": "a", "parameters": {"temperature": 0.7, "seed": 9}})"));
  EXPECT_TRUE(seeded.sampling().do_sample);
  EXPECT_EQ(seeded.sampling().seed, 9u);
  const auto greedy = ValidateTgi(
      json::parse(R"({"inputs": "a", "parameters": {"temperature": 1.0, "top_p": 1.0}})"));
  EXPECT_FALSE(greedy.sampling().do_sample);
  EXPECT_EQ(greedy.sampling().seed, 0u);
}

// The prompts of one request (OpenAI completions with a list) share the parameters decided once:
// one drawn seed, so the seed a response reports replays every prompt.
TEST(ValidationTest, ThePromptsOfARequestShareOneDecidedSeed) {
  const RawParameters sampled{.temperature = 0.7f};
  const auto each = MakeValidator().ValidateEach(sampled, {{.text = "a"}, {.text = "bc"}},
                                                 NewTokens::kAtLeastOne);
  ASSERT_EQ(each.size(), 2u);
  EXPECT_TRUE(each[0].sampling().do_sample);
  EXPECT_EQ(each[0].sampling().seed, each[1].sampling().seed);
  EXPECT_EQ(each[1].input_ids(), (std::vector<uint32_t>{1, 'b', 'c'}));
  EXPECT_EQ(each[1].stopping().max_new_tokens, 16u - 3u) << "the budget is per prompt";
}

// Sequence i of a sampled request (best_of, n) samples with seed + i; a greedy one's sequences are
// the request itself.
TEST(ValidationTest, SequencesDrawApartFromTheDecidedSeed) {
  // best_of > 1 refuses a given seed: validation draws one.
  const ValidatedRequest drawn =
      MakeValidator().Validate({.do_sample = true, .best_of = 2}, {.text = "a"});
  EXPECT_EQ(drawn.Sequence(0).sampling().seed, drawn.sampling().seed);
  EXPECT_EQ(drawn.Sequence(1).sampling().seed, drawn.sampling().seed + 1);
  EXPECT_EQ(drawn.Sequence(1).input_ids(), drawn.input_ids());
  const ValidatedRequest greedy = MakeValidator().Validate({}, {.text = "a"});
  EXPECT_EQ(greedy.Sequence(1).sampling().seed, 0u);
}

TEST(ValidationTest, TokenPromptsAreNotTokenizedAgain) {
  const ValidatedRequest r = MakeValidator().Validate(
      {.max_new_tokens = 0}, {.text = "xy", .ids = {{7, 8}}}, NewTokens::kZeroAllowed);
  EXPECT_EQ(r.input_ids(), (std::vector<uint32_t>{7, 8}));
  EXPECT_EQ(r.inputs(), "xy");
  EXPECT_EQ(r.stopping().max_new_tokens, 0u);
  EXPECT_THROW(MakeValidator().Validate({.max_new_tokens = 0}, {.text = "xy"}), Error)
      << "only routes that score prompts allow zero new tokens";
}

TEST(ValidationTest, NullsFromClientsMeanAbsent) {
  const json body = json::parse(
      R"({"inputs": "a", "stream": false, "parameters": {"top_k": null, "seed": null,
          "grammar": null, "watermark": false, "best_of": null, "max_new_tokens": 2}})");
  const RawTgiRequest raw = ParseTgiRequest(body);
  EXPECT_FALSE(raw.parameters.top_k || raw.parameters.seed || raw.parameters.grammar ||
               raw.parameters.best_of);
  const auto r = ValidateTgi(body);
  EXPECT_EQ(r.sampling().top_k, 0u);
  EXPECT_EQ(r.best_of(), 1u);
  EXPECT_EQ(r.grammar().type, GrammarType::kNone);
}

TEST(ValidationTest, DefaultMaxNewTokensFillsTheTotalBudget) {
  const auto r = ValidateTgi(json::parse(R"({"inputs": "abc"})"));
  EXPECT_EQ(r.stopping().max_new_tokens, 16u - 4u);
}

TEST(ValidationTest, RejectsOutOfRangeValues) {
  EXPECT_NE(ErrorOf(json::parse(R"({"inputs":"a","parameters":{"top_p":1.5}})")).find("top_p"),
            std::string::npos);
  EXPECT_NE(ErrorOf(json::parse(R"({"inputs":"a","parameters":{"temperature":-1}})")), "");
  EXPECT_NE(ErrorOf(json::parse(R"({"inputs":"a","parameters":{"max_new_tokens":0}})")), "");
  EXPECT_NE(ErrorOf(json::parse(R"({"inputs":"a","parameters":{"repetition_penalty":0}})")), "");
  EXPECT_NE(ErrorOf(json::parse(R"({"inputs":"a","parameters":{"top_n_tokens":6}})")), "");
  EXPECT_NE(ErrorOf(json::parse(R"({"inputs":"a","parameters":{"stop":["a","b","c"]}})")), "");
  EXPECT_NE(ErrorOf(json::parse(R"({"inputs":"a","parameters":{"best_of":2}})")), "")
      << "best_of needs sampling";
  EXPECT_NE(ErrorOf(json::parse(R"({"inputs":"a","parameters":{"top_k":-3}})")), "");
  EXPECT_NE(ErrorOf(json::parse(R"({"inputs":"a","parameters":{"top_k":"3"}})")), "");
  EXPECT_NE(ErrorOf(json::parse(R"({"inputs":""})")), "");
  EXPECT_NE(ErrorOf(json::parse(R"({"inputs":"a","stream":"yes"})")).find("stream"),
            std::string::npos);
  EXPECT_NE(ErrorOf(json::parse(R"({"parameters":{}})")), "");
}

TEST(ValidationTest, TokenLimits) {
  // 10 bytes + BOS = 11 tokens > max_input_tokens 10.
  EXPECT_NE(ErrorOf(json::parse(R"({"inputs":"0123456789"})")).find("<= 10"), std::string::npos);
  // 4 + 13 > 16.
  EXPECT_NE(
      ErrorOf(json::parse(R"({"inputs":"abc","parameters":{"max_new_tokens":13}})")).find("16"),
      std::string::npos);
  // Truncation keeps the last tokens and then fits.
  const auto r = ValidateTgi(
      json::parse(R"({"inputs":"0123456789","parameters":{"truncate":3,"max_new_tokens":2}})"));
  EXPECT_EQ(r.input_ids(), (std::vector<uint32_t>{'7', '8', '9'}));
}

TEST(ValidationTest, UnknownParametersAreNamed) {
  const std::string message =
      ErrorOf(json::parse(R"({"inputs":"a","parameters":{"max_tokens":3,"bogus":1}})"));
  EXPECT_NE(message.find("`max_tokens`"), std::string::npos) << message;
  EXPECT_NE(message.find("`bogus`"), std::string::npos) << message;
  EXPECT_NE(ErrorOf(json::parse(R"({"inputs":"a","extra":1})")).find("`extra`"), std::string::npos);
}

TEST(ValidationTest, MalformedJsonIsAValidationError) {
  EXPECT_THROW(ParseJsonBody("{\"inputs\": "), Error);
  EXPECT_THROW(ParseJsonBody("[1,2]"), Error);
  EXPECT_EQ(ParseJsonBody(R"({"a":1})")["a"], 1);
}

}  // namespace
}  // namespace tg::api
