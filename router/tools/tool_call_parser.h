// Tool calls in generated text, for the template families that write them:
//   Hermes / Qwen   <tool_call>{"name": ..., "arguments": {...}}</tool_call> (one block per call,
//                   text around them is content)
//   Mistral         [TOOL_CALLS][{"name": ..., "arguments": {...}}, ...] (Granite writes the same
//                   list after <|tool_call|>)
//   Llama 3.1       the whole answer is {"name": ..., "parameters": {...}}, after an optional
//                   <|python_tag|>; also the format of a call the grammar forces (tool_request.h)
// Parsers are incremental, so that a stream and a whole answer give the same calls: the whole
// answer is one Feed and a Finish. Text that looks like a call but does not parse stays content.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tg::tools {

struct ToolCall {
  std::string id;  // set by the route that answers with it
  std::string name;
  std::string arguments;  // a JSON object, serialized compactly
};

// What a piece of text turned out to be: content to show, and calls that are now complete.
struct ParsedPiece {
  std::string content;
  std::vector<ToolCall> calls;
};

enum class ToolCallFormat { kHermes, kMistral, kGranite, kJson };

class ToolCallParser {
 public:
  virtual ~ToolCallParser() = default;
  // Text that cannot still become part of a call comes back as content; the rest is held.
  virtual ParsedPiece Feed(std::string_view text) = 0;
  // End of the answer: everything held is resolved.
  virtual ParsedPiece Finish() = 0;
};

std::unique_ptr<ToolCallParser> MakeToolCallParser(ToolCallFormat format);

// The format a chat template asks its model to write (its tool-call markers); kJson otherwise.
ToolCallFormat ToolCallFormatOf(std::string_view template_source);

// A whole answer: one Feed and a Finish.
ParsedPiece ParseToolCalls(ToolCallFormat format, std::string_view text);

}  // namespace tg::tools
