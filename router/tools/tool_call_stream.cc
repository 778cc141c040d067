#include "router/tools/tool_call_stream.h"

#include "router/tools/tool_request.h"

namespace tg::tools {

ToolCallStream::ToolCallStream(const ToolReading& reading)
    : reading_(reading), parser_(MakeToolCallParser(reading.format)) {}

ParsedPiece ToolCallStream::Feed(std::string_view text) { return Resolve(parser_->Feed(text)); }

ParsedPiece ToolCallStream::Finish() { return Resolve(parser_->Finish()); }

ParsedPiece ToolCallStream::Resolve(ParsedPiece piece) {
  ParsedPiece out{.content = std::move(piece.content), .parts = {}};
  for (CallPart& part : piece.parts) {
    if (part.index >= numbers_.size()) {
      numbers_.resize(part.index + 1);
      no_tool_.resize(part.index + 1);
    }
    if (!part.name.empty()) {
      // A call's first part decides what it is.
      if (reading_.allow_no_tool && part.name == kNoToolName) {
        no_tool_[part.index] = true;
      } else if (!reading_.one_call || calls_ == 0) {
        numbers_[part.index] = calls_++;
      }
    }
    if (no_tool_[part.index]) {
      out.content += no_tool_content_.Feed(part.arguments);
    } else if (const std::optional<uint32_t> number = numbers_[part.index]) {
      part.index = *number;
      out.parts.push_back(std::move(part));
    }
  }
  return out;
}

ParsedAnswer ReadToolAnswer(const ToolReading& reading, std::string_view text) {
  ToolCallStream stream(reading);
  ParsedAnswer out;
  Append(stream.Feed(text), out);
  Append(stream.Finish(), out);
  return out;
}

}  // namespace tg::tools
