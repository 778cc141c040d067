// Tool calls written as JSON: one {"name", "arguments" | "parameters"} object, or a list of them.
// The arguments are an object, or a string holding one (some models quote them).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "router/tools/tool_call_parser.h"

namespace tg::tools {

// Null unless `text` (surrounding whitespace aside) is such an object or a non-empty list.
std::optional<std::vector<ToolCall>> ToolCallsFromJson(std::string_view text);

}  // namespace tg::tools
