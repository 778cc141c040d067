// The tool calls of one chat answer as the client sees them, streamed or whole: the template
// family's parser (tool_call_parser.h), then the request's rules on top of it.
//   - no_tool: on a template without a tool format, `auto` lets the model answer through the
//     no_tool pseudo-call (tool_request.h); its `content` argument streams out as content.
//   - parallel_tool_calls false: only the first call counts; later ones are dropped.
// Calls are numbered as the client sees them (0, 1, ... without the dropped ones). A whole
// answer is one Feed and a Finish, so a stream's parts reassemble into the whole answer's calls.
#pragma once

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "router/tools/no_tool_content.h"
#include "router/tools/tool_call_parser.h"

namespace tg::tools {

// How an answer's calls are read, planned from the request and the template.
struct ToolReading {
  ToolCallFormat format = ToolCallFormat::kJson;
  bool allow_no_tool = false;  // a no_tool call is the answer's content
  bool one_call = false;       // parallel_tool_calls false (or a named function)
};

class ToolCallStream {
 public:
  explicit ToolCallStream(const ToolReading& reading);
  ParsedPiece Feed(std::string_view text);
  ParsedPiece Finish();

 private:
  ParsedPiece Resolve(ParsedPiece piece);

  ToolReading reading_;
  std::unique_ptr<ToolCallParser> parser_;
  // Per call of the parser: its number for the client, or nullopt when it is not a call for
  // the client (no_tool, or past the first with one_call).
  std::vector<std::optional<uint32_t>> numbers_;
  std::vector<bool> no_tool_;  // per call of the parser: its arguments are the content
  uint32_t calls_ = 0;
  NoToolContent no_tool_content_;
};

// A whole answer: one Feed and a Finish, its parts assembled into calls.
ParsedAnswer ReadToolAnswer(const ToolReading& reading, std::string_view text);

}  // namespace tg::tools
