#include "router/api/validation.h"

#include <gtest/gtest.h>

#include "common/error.h"

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

std::string ErrorOf(const json& body) {
  try {
    MakeValidator().ValidateTgi(body);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    return e.message();
  }
  return "";
}

TEST(ValidationTest, AcceptsATypicalRequest) {
  const auto r = MakeValidator().ValidateTgi(json::parse(R"({
    "inputs": "abc",
    "parameters": {"max_new_tokens": 4, "temperature": 0.5, "top_p": 1.0, "top_k": 3,
                   "stop": ["x"], "seed": 42, "details": true, "do_sample": true}})"));
  EXPECT_EQ(r.input_ids, (std::vector<uint32_t>{1, 'a', 'b', 'c'}));
  EXPECT_EQ(r.stopping.max_new_tokens, 4u);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 1.0f);
  EXPECT_EQ(r.sampling.top_k, 3u);
  EXPECT_EQ(r.sampling.seed, 42u);
  EXPECT_TRUE(r.seed_given);
  EXPECT_TRUE(r.details);
  EXPECT_EQ(r.stopping.stop_sequences, (std::vector<std::string>{"x"}));
}

TEST(ValidationTest, TemperatureZeroIsGreedy) {
  const auto r = MakeValidator().ValidateTgi(
      json::parse(R"({"inputs": "a", "parameters": {"temperature": 0, "do_sample": true}})"));
  EXPECT_FALSE(r.sampling.do_sample);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.0f);
}

TEST(ValidationTest, TemperatureZeroIsGreedyWhateverTheOtherWarpers) {
  const auto r = MakeValidator().ValidateTgi(json::parse(
      R"({"inputs": "a", "parameters": {"temperature": 0, "top_k": 5, "top_p": 0.5}})"));
  EXPECT_FALSE(r.sampling.do_sample);
  EXPECT_EQ(r.sampling.top_k, 0u);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 1.0f);
  EXPECT_EQ(r.sampling.seed, 0u);
}

// TGI: any warper away from neutral samples, even with do_sample false; the request gets a
// random seed once, here, unless it gave one.
TEST(ValidationTest, AWarperSamplesAndGetsARandomSeed) {
  for (const char* warper :
       {R"("temperature": 0.7)", R"("top_k": 5)", R"("top_p": 0.9)", R"("typical_p": 0.9)",
        R"("min_p": 0.1)", R"("do_sample": true)", R"("temperature": 0.7, "do_sample": false)"}) {
    const json body =
        json::parse(std::string(R"({"inputs": "a", "parameters": {)") + warper + "}}");
    const auto a = MakeValidator().ValidateTgi(body);
    const auto b = MakeValidator().ValidateTgi(body);
    EXPECT_TRUE(a.sampling.do_sample) << warper;
    EXPECT_FALSE(a.seed_given) << warper;
    // Two 64-bit draws agreeing would be a broken generator.
    EXPECT_NE(a.sampling.seed, b.sampling.seed) << warper;
  }
}

TEST(ValidationTest, AGivenSeedIsKeptAndGreedyHasNone) {
  const auto seeded = MakeValidator().ValidateTgi(
      json::parse(R"({"inputs": "a", "parameters": {"temperature": 0.7, "seed": 9}})"));
  EXPECT_TRUE(seeded.sampling.do_sample);
  EXPECT_EQ(seeded.sampling.seed, 9u);
  const auto greedy = MakeValidator().ValidateTgi(
      json::parse(R"({"inputs": "a", "parameters": {"temperature": 1.0, "top_p": 1.0}})"));
  EXPECT_FALSE(greedy.sampling.do_sample);
  EXPECT_EQ(greedy.sampling.seed, 0u);
}

TEST(ValidationTest, NullsFromClientsMeanAbsent) {
  const auto r = MakeValidator().ValidateTgi(json::parse(
      R"({"inputs": "a", "stream": false, "parameters": {"top_k": null, "seed": null,
          "grammar": null, "watermark": false, "best_of": null, "max_new_tokens": 2}})"));
  EXPECT_EQ(r.sampling.top_k, 0u);
  EXPECT_FALSE(r.seed_given);
}

TEST(ValidationTest, DefaultMaxNewTokensFillsTheTotalBudget) {
  const auto r = MakeValidator().ValidateTgi(json::parse(R"({"inputs": "abc"})"));
  EXPECT_EQ(r.stopping.max_new_tokens, 16u - 4u);
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
  const auto r = MakeValidator().ValidateTgi(
      json::parse(R"({"inputs":"0123456789","parameters":{"truncate":3,"max_new_tokens":2}})"));
  EXPECT_EQ(r.input_ids, (std::vector<uint32_t>{'7', '8', '9'}));
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
