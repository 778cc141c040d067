// Chat messages as the template receives them when tools are involved.
//
// A template with a tool format (it reads `tools`) gets the tools and the history as they are,
// except that tool-call arguments sent as JSON text become objects (templates print them with
// `tojson`) and missing content becomes "". A template without one (SmolLM2's) gets the tools
// in a system message, the tool prompt below, and earlier calls written into the assistant's
// content as the JSON the prompt asks for; `role: tool` results keep their role.
//
// The tool prompt (followed by one JSON line per function: name, description, parameters):
//   You can call functions. Each line below describes one: its name, what it does and the JSON
//   Schema of its arguments.
//   ...
//   To call functions, answer with a JSON list of one or more calls and nothing else:
//   [{"name": "<function name>", "arguments": {<arguments>}}]
// or, when the answer holds one call (parallel_tool_calls false, or a named function):
//   To call a function, answer with one JSON object and nothing else:
//   {"name": "<function name>", "arguments": {<arguments>}}
// and, when the model may also answer without a call (tool_choice auto):
//   To answer without calling a function, use {"name": "no_tool", "arguments": {"content":
//   "<your answer>"}}.
#pragma once

#include <string>

#include "router/tools/tool_request.h"

namespace tg::tools {

std::string ToolPrompt(const ToolRequest& tools, bool allow_no_tool);

// Throws kInvalidArgument on a malformed tool call or tool message in the history.
api::Json PrepareMessages(const api::Json& messages, const ToolRequest& tools,
                          bool template_has_tools);

}  // namespace tg::tools
