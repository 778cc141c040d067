// Tool calls in generated text, for the template families that write them:
//   Hermes / Qwen   <tool_call>{"name": ..., "arguments": {...}}</tool_call> (one block per call,
//                   text around them is content)
//   Mistral         [TOOL_CALLS][{"name": ..., "arguments": {...}}, ...] (Granite writes the same
//                   list after <|tool_call|>)
//   Llama 3.1       the whole answer is {"name": ..., "parameters": {...}} (or a list of them),
//                   after an optional <|python_tag|>; also the format of the calls a grammar
//                   forces (tool_request.h)
// Parsers are incremental, so that a stream and a whole answer give the same calls: the whole
// answer is one Feed and a Finish. A call comes out in parts as it is written (its name first,
// then its arguments' text, call_json_scanner.h), so a stream shows arguments as they are
// generated. Text that does not turn into a call (no name) stays content.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tg::tools {

struct ToolCall {
  std::string id;  // set by the route that answers with it
  std::string name;
  std::string arguments;  // a JSON object as written, without whitespace outside strings
};

// A piece of call number `index` of the answer: its first part carries the name (and maybe
// argument text), later parts only the next argument text. The arguments of a call are its
// parts' `arguments` concatenated.
struct CallPart {
  uint32_t index = 0;
  std::string name;
  std::string arguments;
};

// What a piece of text turned out to be: content to show, and the parts of calls written in it.
struct ParsedPiece {
  std::string content;
  std::vector<CallPart> parts;
};

// A whole answer: its content and complete calls.
struct ParsedAnswer {
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

// Appends `piece` to `answer`: its content, and its parts to their calls.
void Append(ParsedPiece piece, ParsedAnswer& answer);

// A whole answer: one Feed and a Finish.
ParsedAnswer ParseToolCalls(ToolCallFormat format, std::string_view text);

}  // namespace tg::tools
