// The tool fields of a chat request (`tools`, `tool_choice`, `parallel_tool_calls`), validated,
// and the grammar that makes a call valid by construction when the answer must be one.
//
// A forced call (`required`, or a named function) and every call on a template with no tool
// format of its own are written as JSON, {"name": ..., "arguments": {...}}, whose arguments
// follow the function's `parameters` schema: one such object when the answer holds one call
// (`parallel_tool_calls: false`, or a named function), else a list of one or more. On such a
// template, `auto` offers one more choice, the `no_tool` pseudo-function (one object, never in
// a list), whose `content` argument is a plain answer.
#pragma once

#include <string>
#include <vector>

#include "router/api/json_fields.h"
#include "router/api/request.h"

namespace tg::tools {

enum class ToolChoice { kAuto, kNone, kRequired, kFunction };

struct ToolRequest {
  api::Json tools;  // the request's `tools` as given; null when absent
  ToolChoice choice = ToolChoice::kAuto;
  std::string function;  // kFunction: the function's name
  bool parallel = true;  // parallel_tool_calls: an answer may hold several calls
  // Tools that take part: given, and not turned off by `tool_choice: none`.
  bool active() const { return tools.is_array() && !tools.empty() && choice != ToolChoice::kNone; }
  // The answer must be a call.
  bool forced() const { return choice == ToolChoice::kRequired || choice == ToolChoice::kFunction; }
  // At most one call counts (a named function is called once).
  bool one_call() const { return !parallel || choice == ToolChoice::kFunction; }
};

inline constexpr const char* kNoToolName = "no_tool";

// Throws kInvalidArgument naming the field that is wrong.
ToolRequest ParseToolRequest(const api::Json& body);

// JSON Schema grammar of the calls to functions of `tools` (the named one for kFunction): one
// call or a list (one_call()), or else the no_tool answer when `allow_no_tool`. Throws
// kInvalidArgument when a function's `parameters` cannot be compiled.
api::GrammarRequest CallGrammar(const ToolRequest& tools, bool allow_no_tool);

}  // namespace tg::tools
