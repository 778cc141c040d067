#include "router/tools/tool_call_parser.h"

#include "router/tools/hermes_tool_parser.h"
#include "router/tools/json_tool_parser.h"
#include "router/tools/marker_tool_parser.h"

namespace tg::tools {

std::unique_ptr<ToolCallParser> MakeToolCallParser(ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::kHermes:
      return MakeHermesToolParser();
    case ToolCallFormat::kMistral:
      return MakeMarkerToolParser("[TOOL_CALLS]");
    case ToolCallFormat::kGranite:
      return MakeMarkerToolParser("<|tool_call|>");
    case ToolCallFormat::kJson:
      break;
  }
  return MakeJsonToolParser();
}

ToolCallFormat ToolCallFormatOf(std::string_view template_source) {
  if (template_source.find("<tool_call>") != std::string_view::npos) return ToolCallFormat::kHermes;
  if (template_source.find("[TOOL_CALLS]") != std::string_view::npos) {
    return ToolCallFormat::kMistral;
  }
  if (template_source.find("<|tool_call|>") != std::string_view::npos) {
    return ToolCallFormat::kGranite;
  }
  return ToolCallFormat::kJson;
}

void Append(ParsedPiece piece, ParsedAnswer& answer) {
  answer.content += piece.content;
  for (CallPart& part : piece.parts) {
    if (part.index >= answer.calls.size()) answer.calls.resize(part.index + 1);
    ToolCall& call = answer.calls[part.index];
    if (!part.name.empty()) call.name = std::move(part.name);
    call.arguments += part.arguments;
  }
}

ParsedAnswer ParseToolCalls(ToolCallFormat format, std::string_view text) {
  std::unique_ptr<ToolCallParser> parser = MakeToolCallParser(format);
  ParsedAnswer out;
  Append(parser->Feed(text), out);
  Append(parser->Finish(), out);
  return out;
}

}  // namespace tg::tools
