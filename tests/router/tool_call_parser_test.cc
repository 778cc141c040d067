// Tool-call parsers: each template family's output, whole and split into every possible pair of
// stream pieces (the stream must give the same content and calls as the whole answer).
#include "router/tools/tool_call_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tg::tools {
namespace {

struct Expected {
  std::string content;
  std::vector<std::pair<std::string, std::string>> calls;  // name, arguments
};

ParsedPiece Streamed(ToolCallFormat format, const std::string& text,
                     const std::vector<size_t>& cuts) {
  std::unique_ptr<ToolCallParser> parser = MakeToolCallParser(format);
  ParsedPiece out;
  size_t from = 0;
  auto add = [&out](ParsedPiece piece) {
    out.content += piece.content;
    for (ToolCall& c : piece.calls) out.calls.push_back(std::move(c));
  };
  for (size_t cut : cuts) {
    add(parser->Feed(std::string_view(text).substr(from, cut - from)));
    from = cut;
  }
  add(parser->Feed(std::string_view(text).substr(from)));
  add(parser->Finish());
  return out;
}

void ExpectParsed(const ParsedPiece& got, const Expected& want, const std::string& what) {
  EXPECT_EQ(got.content, want.content) << what;
  ASSERT_EQ(got.calls.size(), want.calls.size()) << what;
  for (size_t i = 0; i < got.calls.size(); ++i) {
    EXPECT_EQ(got.calls[i].name, want.calls[i].first) << what;
    EXPECT_EQ(got.calls[i].arguments, want.calls[i].second) << what;
  }
}

// The whole answer, then every split into two and three pieces.
void ExpectEverySplit(ToolCallFormat format, const std::string& text, const Expected& want) {
  ExpectParsed(ParseToolCalls(format, text), want, "whole");
  for (size_t a = 0; a <= text.size(); ++a) {
    ExpectParsed(Streamed(format, text, {a}), want, "split at " + std::to_string(a));
    for (size_t b = a; b <= text.size(); b += 3) {
      ExpectParsed(Streamed(format, text, {a, b}), want,
                   "split at " + std::to_string(a) + ", " + std::to_string(b));
    }
  }
}

TEST(ToolCallParserTest, HermesBlocksAmongText) {
  ExpectEverySplit(
      ToolCallFormat::kHermes,
      "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
      "{\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", "
      "\"arguments\": {}}\n</tool_call>",
      {"Let me check.\n\n", {{"get_weather", R"({"city":"Paris"})"}, {"get_time", "{}"}}});
}

TEST(ToolCallParserTest, HermesWithoutCallsIsContent) {
  ExpectEverySplit(ToolCallFormat::kHermes, "a < b and <tool is not a call",
                   {"a < b and <tool is not a call", {}});
}

TEST(ToolCallParserTest, HermesUnclosedBlockAtTheEndStillParses) {
  ExpectEverySplit(ToolCallFormat::kHermes,
                   "<tool_call>{\"name\": \"f\", \"arguments\": {\"x\": 1}}",
                   {"", {{"f", R"({"x":1})"}}});
}

TEST(ToolCallParserTest, HermesBrokenJsonStaysContent) {
  ExpectEverySplit(ToolCallFormat::kHermes, "<tool_call>{\"name\": </tool_call> ok",
                   {"<tool_call>{\"name\": </tool_call> ok", {}});
}

TEST(ToolCallParserTest, HermesArgumentsAsText) {
  ExpectEverySplit(
      ToolCallFormat::kHermes,
      "<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"x\\\": [1, 2]}\"}</tool_call>",
      {"", {{"f", R"({"x":[1,2]})"}}});
}

TEST(ToolCallParserTest, MistralListAfterMarker) {
  ExpectEverySplit(
      ToolCallFormat::kMistral,
      "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, "
      "{\"name\": \"get_time\", \"arguments\": {\"zone\": \"CET\"}}]",
      {"", {{"get_weather", R"({"city":"Paris"})"}, {"get_time", R"({"zone":"CET"})"}}});
}

TEST(ToolCallParserTest, MistralListWithoutItsSpecialToken) {
  ExpectEverySplit(ToolCallFormat::kMistral, " [{\"name\": \"f\", \"arguments\": {}}]",
                   {"", {{"f", "{}"}}});
}

TEST(ToolCallParserTest, MistralNameArgsForm) {
  ExpectEverySplit(ToolCallFormat::kMistral, "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}",
                   {"", {{"get_weather", R"({"city":"Paris"})"}}});
}

TEST(ToolCallParserTest, MistralProseIsContent) {
  ExpectEverySplit(ToolCallFormat::kMistral, "[1] is a list marker, not [TOOL_CALLS",
                   {"[1] is a list marker, not [TOOL_CALLS", {}});
  ExpectEverySplit(ToolCallFormat::kMistral, "Paris is sunny.", {"Paris is sunny.", {}});
}

TEST(ToolCallParserTest, GraniteMarker) {
  ExpectEverySplit(ToolCallFormat::kGranite,
                   "<|tool_call|>[{\"name\": \"f\", \"arguments\": {\"a\": \"b\"}}]",
                   {"", {{"f", R"({"a":"b"})"}}});
}

TEST(ToolCallParserTest, LlamaJsonWithPythonTagAndParameters) {
  ExpectEverySplit(
      ToolCallFormat::kJson,
      "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}",
      {"", {{"get_weather", R"({"city":"Paris"})"}}});
  ExpectEverySplit(ToolCallFormat::kJson, "\n{\"name\": \"f\", \"arguments\": {\"n\": 2}}",
                   {"", {{"f", R"({"n":2})"}}});
}

TEST(ToolCallParserTest, JsonProseAndNonCallObjectsAreContent) {
  ExpectEverySplit(ToolCallFormat::kJson, "It is sunny in Paris.", {"It is sunny in Paris.", {}});
  ExpectEverySplit(ToolCallFormat::kJson, "{\"city\": \"Paris\"}", {"{\"city\": \"Paris\"}", {}});
}

TEST(ToolCallParserTest, FormatOfTemplates) {
  EXPECT_EQ(ToolCallFormatOf("{{- '<tool_call>\\n' }}"), ToolCallFormat::kHermes);
  EXPECT_EQ(ToolCallFormatOf("{{- '[TOOL_CALLS]' }}"), ToolCallFormat::kMistral);
  EXPECT_EQ(ToolCallFormatOf("<|tool_call|>"), ToolCallFormat::kGranite);
  EXPECT_EQ(ToolCallFormatOf("{%- if tools %}<|python_tag|>"), ToolCallFormat::kJson);
}

}  // namespace
}  // namespace tg::tools
