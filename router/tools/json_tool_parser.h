// An answer that is one JSON call, {"name": ..., "arguments" | "parameters": {...}}, or a list
// of them: Llama 3.1 (after an optional <|python_tag|>), and the call a grammar forces on models
// whose template has no tool format. An answer that does not start with '{' or '[' is content.
#pragma once

#include <memory>

#include "router/tools/tool_call_parser.h"

namespace tg::tools {

std::unique_ptr<ToolCallParser> MakeJsonToolParser();

}  // namespace tg::tools
