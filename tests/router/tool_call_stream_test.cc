// The calls a client sees (tool_call_stream.h): no_tool answers as content, streamed as they are
// written; parallel_tool_calls false keeping the first call only; the stream's parts reassembling
// into the whole answer's calls however the text is cut.
#include "router/tools/tool_call_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tg::tools {
namespace {

// Fed one byte at a time, as a stream at its finest.
ParsedAnswer ByteByByte(const ToolReading& reading, const std::string& text,
                        std::vector<std::string>* contents = nullptr) {
  ToolCallStream stream(reading);
  ParsedAnswer out;
  for (const char c : text) {
    ParsedPiece piece = stream.Feed(std::string_view(&c, 1));
    if (contents && !piece.content.empty()) contents->push_back(piece.content);
    Append(std::move(piece), out);
  }
  Append(stream.Finish(), out);
  return out;
}

void ExpectSame(const ParsedAnswer& a, const ParsedAnswer& b) {
  EXPECT_EQ(a.content, b.content);
  ASSERT_EQ(a.calls.size(), b.calls.size());
  for (size_t i = 0; i < a.calls.size(); ++i) {
    EXPECT_EQ(a.calls[i].name, b.calls[i].name);
    EXPECT_EQ(a.calls[i].arguments, b.calls[i].arguments);
  }
}

constexpr ToolReading kAuto{
    .format = ToolCallFormat::kJson, .allow_no_tool = true, .one_call = false};

TEST(ToolCallStreamTest, NoToolAnswerIsContentStreamedAsWritten) {
  const std::string text =
      R"({"name": "no_tool", "arguments": {"content": "Hi \"you\"\n\u00e9\ud83d\ude00!"}})";
  std::vector<std::string> contents;
  const ParsedAnswer streamed = ByteByByte(kAuto, text, &contents);
  EXPECT_EQ(streamed.content, "Hi \"you\"\n\xC3\xA9\xF0\x9F\x98\x80!");
  EXPECT_TRUE(streamed.calls.empty());
  EXPECT_GE(contents.size(), 8u);  // piece by piece, not at the end
  ExpectSame(ReadToolAnswer(kAuto, text), streamed);
}

TEST(ToolCallStreamTest, NoToolAnswerCutShortKeepsItsContent) {
  EXPECT_EQ(
      ReadToolAnswer(kAuto, R"({"name": "no_tool", "arguments": {"content": "Hi, \"W\u00)").content,
      "Hi, \"W");
  EXPECT_EQ(ReadToolAnswer(kAuto, R"({"name": "no_tool", "argu)").content, "");
  EXPECT_EQ(ReadToolAnswer(kAuto, "Just text").content, "Just text");
  // Without allow_no_tool it is an ordinary call.
  const ParsedAnswer call =
      ReadToolAnswer({.format = ToolCallFormat::kJson, .allow_no_tool = false, .one_call = false},
                     R"({"name": "no_tool", "arguments": {"content": "x"}})");
  ASSERT_EQ(call.calls.size(), 1u);
  EXPECT_EQ(call.calls[0].arguments, R"({"content":"x"})");
}

TEST(ToolCallStreamTest, OneCallKeepsTheFirst) {
  const std::string hermes =
      "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}</tool_call>\n<tool_call>{\"name\": "
      "\"g\", \"arguments\": {}}</tool_call>";
  const ToolReading one{
      .format = ToolCallFormat::kHermes, .allow_no_tool = false, .one_call = true};
  const ParsedAnswer first = ReadToolAnswer(one, hermes);
  ASSERT_EQ(first.calls.size(), 1u);
  EXPECT_EQ(first.calls[0].name, "f");
  EXPECT_EQ(first.content, "\n");
  ExpectSame(ByteByByte(one, hermes), first);

  ToolReading many = one;
  many.one_call = false;
  const ParsedAnswer both = ReadToolAnswer(many, hermes);
  ASSERT_EQ(both.calls.size(), 2u);
  EXPECT_EQ(both.calls[1].name, "g");
  ExpectSame(ByteByByte(many, hermes), both);

  const std::string list = R"([{"name": "f", "arguments": {}}, {"name": "g", "arguments": {}}])";
  ToolReading mistral{.format = ToolCallFormat::kMistral, .allow_no_tool = false, .one_call = true};
  EXPECT_EQ(ReadToolAnswer(mistral, "[TOOL_CALLS]" + list).calls.size(), 1u);
  mistral.one_call = false;
  EXPECT_EQ(ReadToolAnswer(mistral, "[TOOL_CALLS]" + list).calls.size(), 2u);
}

}  // namespace
}  // namespace tg::tools
