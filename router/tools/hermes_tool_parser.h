// <tool_call>{"name": ..., "arguments": {...}}</tool_call> blocks (Hermes, Qwen 2.5 and 3).
#pragma once

#include <memory>

#include "router/tools/tool_call_parser.h"

namespace tg::tools {

std::unique_ptr<ToolCallParser> MakeHermesToolParser();

}  // namespace tg::tools
