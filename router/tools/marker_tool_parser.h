// A marker, then the calls as one JSON list to the end of the answer: Mistral's [TOOL_CALLS]
// (also its newer `[TOOL_CALLS]name[ARGS]{...}`) and Granite's <|tool_call|>. Text before the
// marker is content. Mistral's marker is a special token that detokenizing may drop, so an
// answer that starts with a JSON list is read as calls too.
#pragma once

#include <memory>
#include <string_view>

#include "router/tools/tool_call_parser.h"

namespace tg::tools {

std::unique_ptr<ToolCallParser> MakeMarkerToolParser(std::string_view marker);

}  // namespace tg::tools
