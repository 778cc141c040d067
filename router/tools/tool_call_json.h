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

// Bytes at the end of `text` that begin `marker` (a marker split across stream pieces).
size_t MarkerPrefixAtEnd(std::string_view text, std::string_view marker);

}  // namespace tg::tools
