// The tool fields of a chat request (`tools`, `tool_choice`, `parallel_tool_calls`), validated,
// and the grammar that makes a call valid by construction when the answer must be one.
//
// A forced call (`required`, or a named function) and every call on a template with no tool
// format of its own are written as one JSON object, {"name": ..., "arguments": {...}}, whose
// arguments follow the function's `parameters` schema. On such a template, `auto` offers one more
// choice, the `no_tool` pseudo-function, whose `content` argument is a plain answer.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "router/api/request.h"
#include "router/tools/tool_call_parser.h"

namespace tg::tools {

enum class ToolChoice { kAuto, kNone, kRequired, kFunction };

struct ToolRequest {
  nlohmann::json tools;  // the request's `tools` as given; null when absent
  ToolChoice choice = ToolChoice::kAuto;
  std::string function;  // kFunction: the function's name
  // Tools that take part: given, and not turned off by `tool_choice: none`.
  bool active() const { return tools.is_array() && !tools.empty() && choice != ToolChoice::kNone; }
  // The answer must be a call.
  bool forced() const { return choice == ToolChoice::kRequired || choice == ToolChoice::kFunction; }
};

inline constexpr const char* kNoToolName = "no_tool";

// Throws kInvalidArgument naming the field that is wrong.
ToolRequest ParseToolRequest(const nlohmann::json& body);

// JSON Schema grammar of one call to a function of `tools` (the named one for kFunction), plus
// the no_tool answer when `allow_no_tool`. Throws kInvalidArgument when a function's
// `parameters` cannot be compiled.
api::GrammarRequest CallGrammar(const ToolRequest& tools, bool allow_no_tool);

// Moves no_tool calls' `content` into the content (they are answers, not calls); a no_tool
// answer cut short by max_tokens gives the content written so far.
void ResolveNoTool(ParsedPiece& piece);

}  // namespace tg::tools
