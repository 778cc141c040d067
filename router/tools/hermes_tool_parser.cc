// Hermes / Qwen: each call is a <tool_call>JSON</tool_call> block; text outside blocks is content.
#include "router/tools/hermes_tool_parser.h"

#include "router/api/partial_marker.h"
#include "router/tools/tool_call_json.h"

namespace tg::tools {
namespace {

constexpr std::string_view kOpen = "<tool_call>";
constexpr std::string_view kClose = "</tool_call>";

class HermesToolParser final : public ToolCallParser {
 public:
  ParsedPiece Feed(std::string_view text) override {
    held_ += text;
    ParsedPiece out;
    while (true) {
      if (!in_call_) {
        const size_t open = held_.find(kOpen);
        if (open == std::string::npos) {
          // A partial "<tool_call" at the end waits for the next piece.
          const size_t keep = api::PartialMarkerAtEnd(held_, kOpen);
          out.content += held_.substr(0, held_.size() - keep);
          held_.erase(0, held_.size() - keep);
          return out;
        }
        out.content += held_.substr(0, open);
        held_.erase(0, open + kOpen.size());
        in_call_ = true;
      }
      const size_t close = held_.find(kClose);
      if (close == std::string::npos) return out;
      EmitBlock(held_.substr(0, close), /*closed=*/true, out);
      held_.erase(0, close + kClose.size());
      in_call_ = false;
    }
  }

  ParsedPiece Finish() override {
    ParsedPiece out;
    if (in_call_) {
      // The answer ended inside a block (a model may stop before the closing tag).
      EmitBlock(held_, /*closed=*/false, out);
    } else {
      out.content = held_;
    }
    held_.clear();
    in_call_ = false;
    return out;
  }

 private:
  static void EmitBlock(const std::string& body, bool closed, ParsedPiece& out) {
    if (std::optional<std::vector<ToolCall>> calls = ToolCallsFromJson(body)) {
      for (ToolCall& call : *calls) out.calls.push_back(std::move(call));
      return;
    }
    out.content += std::string(kOpen) + body + (closed ? std::string(kClose) : "");
  }

  std::string held_;
  bool in_call_ = false;
};

}  // namespace

std::unique_ptr<ToolCallParser> MakeHermesToolParser() {
  return std::make_unique<HermesToolParser>();
}

}  // namespace tg::tools
