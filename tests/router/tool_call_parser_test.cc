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

ParsedAnswer Streamed(ToolCallFormat format, const std::string& text,
                      const std::vector<size_t>& cuts) {
  std::unique_ptr<ToolCallParser> parser = MakeToolCallParser(format);
  ParsedAnswer out;
  size_t from = 0;
  for (size_t cut : cuts) {
    Append(parser->Feed(std::string_view(text).substr(from, cut - from)), out);
    from = cut;
  }
  Append(parser->Feed(std::string_view(text).substr(from)), out);
  Append(parser->Finish(), out);
  return out;
}

void ExpectParsed(const ParsedAnswer& got, const Expected& want, const std::string& what) {
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

TEST(ToolCallParserTest, ArgumentsKeepTheirOrderAndStrings) {
  // Whitespace goes, except inside strings; keys stay in the order written; escapes as written.
  ExpectEverySplit(ToolCallFormat::kJson,
                   "{\"name\": \"f\", \"arguments\": {\"zone\": \"a b\\\" }\", \"city\": "
                   "\"Par\\u00eds\",\n \"n\": [1, {\"x\": null}]}}",
                   {"", {{"f", R"({"zone":"a b\" }","city":"Par\u00eds","n":[1,{"x":null}]})"}}});
}

TEST(ToolCallParserTest, ArgumentsBeforeTheNameAndMissingArguments) {
  ExpectEverySplit(ToolCallFormat::kJson,
                   "[{\"arguments\": {\"a\": 1}, \"name\": \"f\"}, {\"name\": \"g\"}, "
                   "{\"name\": \"h\", \"arguments\": null}]",
                   {"", {{"f", R"({"a":1})"}, {"g", "{}"}, {"h", "{}"}}});
}

TEST(ToolCallParserTest, JsonListAndTextAfterIt) {
  ExpectEverySplit(ToolCallFormat::kJson,
                   "[{\"name\": \"f\", \"arguments\": {}}, {\"name\": \"g\", \"arguments\": "
                   "{\"q\": \"]}\"}}] done",
                   {" done", {{"f", "{}"}, {"g", R"({"q":"]}"})"}}});
  ExpectEverySplit(ToolCallFormat::kJson, "[1, 2]", {"[1, 2]", {}});
  ExpectEverySplit(ToolCallFormat::kJson, "[]", {"[]", {}});
}

// A call cut short (max_tokens) is still the call that was written, as its stream showed it.
TEST(ToolCallParserTest, CallCutShortKeepsWhatWasWritten) {
  ExpectEverySplit(ToolCallFormat::kJson, "{\"name\": \"f\", \"arguments\": {\"city\": \"Pa",
                   {"", {{"f", R"({"city":"Pa)"}}});
  ExpectEverySplit(ToolCallFormat::kHermes, "<tool_call>{\"name\": \"f\", \"argu",
                   {"", {{"f", ""}}});
  ExpectEverySplit(ToolCallFormat::kJson, "{\"name\": \"f", {"{\"name\": \"f", {}});
}

// The point of the parts: a call's name comes out as soon as it is written, and its arguments
// while they are generated, not at the end.
TEST(ToolCallParserTest, PartsComeOutWhileTheCallIsWritten) {
  for (ToolCallFormat format :
       {ToolCallFormat::kJson, ToolCallFormat::kHermes, ToolCallFormat::kMistral}) {
    const std::string call = R"({"name": "get_weather", "arguments": {"city": "Paris"}})";
    const std::string text = format == ToolCallFormat::kHermes    ? "<tool_call>" + call
                             : format == ToolCallFormat::kMistral ? "[TOOL_CALLS][" + call
                                                                  : call;
    std::unique_ptr<ToolCallParser> parser = MakeToolCallParser(format);
    std::vector<CallPart> parts;
    size_t name_at = 0;
    size_t fragments_before_end = 0;
    for (size_t i = 0; i < text.size(); ++i) {
      ParsedPiece piece = parser->Feed(text.substr(i, 1));
      EXPECT_EQ(piece.content, "");
      for (CallPart& part : piece.parts) {
        if (!part.name.empty()) name_at = i;
        if (!part.arguments.empty() && i + 1 < text.size()) ++fragments_before_end;
        parts.push_back(std::move(part));
      }
    }
    EXPECT_EQ(name_at, text.find("get_weather") + std::string("get_weather").size());
    EXPECT_GE(fragments_before_end, 10u);
    std::string arguments;
    for (const CallPart& part : parts) arguments += part.arguments;
    EXPECT_EQ(arguments, R"({"city":"Paris"})");
  }
}

TEST(ToolCallParserTest, FormatOfTemplates) {
  EXPECT_EQ(ToolCallFormatOf("{{- '<tool_call>\\n' }}"), ToolCallFormat::kHermes);
  EXPECT_EQ(ToolCallFormatOf("{{- '[TOOL_CALLS]' }}"), ToolCallFormat::kMistral);
  EXPECT_EQ(ToolCallFormatOf("<|tool_call|>"), ToolCallFormat::kGranite);
  EXPECT_EQ(ToolCallFormatOf("{%- if tools %}<|python_tag|>"), ToolCallFormat::kJson);
}

}  // namespace
}  // namespace tg::tools
