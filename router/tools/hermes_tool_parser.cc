// Hermes / Qwen: each call is a <tool_call>JSON</tool_call> block; text outside blocks is content.
#include "router/tools/hermes_tool_parser.h"

#include "router/api/partial_marker.h"
#include "router/tools/call_json_scanner.h"

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
      if (!in_block_) {
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
        in_block_ = true;
        scanner_ = CallJsonScanner(next_index_);
      }
      // The block's text goes to the scanner as it comes, all but a partial "</tool_call".
      const size_t close = held_.find(kClose);
      const size_t ready = close != std::string::npos
                               ? close
                               : held_.size() - api::PartialMarkerAtEnd(held_, kClose);
      ScanBlock(std::string_view(held_).substr(0, ready), out);
      held_.erase(0, ready);
      if (close == std::string::npos) return out;
      EndBlock(/*closed=*/true, out);
      held_.erase(0, kClose.size());
    }
  }

  ParsedPiece Finish() override {
    ParsedPiece out;
    if (in_block_) {
      // The answer ended inside a block (a model may stop before the closing tag).
      ScanBlock(held_, out);
      EndBlock(/*closed=*/false, out);
    } else {
      out.content = held_;
    }
    held_.clear();
    return out;
  }

 private:
  void ScanBlock(std::string_view text, ParsedPiece& out) {
    block_ += text;
    scanner_.Feed(text, out.parts);  // text after the JSON value, inside the block, is dropped
  }

  // A block that never named a call is content, tags included.
  void EndBlock(bool closed, ParsedPiece& out) {
    if (scanner_.started()) {
      next_index_ = scanner_.next_index();
    } else {
      out.content += std::string(kOpen) + block_ + (closed ? std::string(kClose) : "");
    }
    block_.clear();
    in_block_ = false;
  }

  std::string held_;
  bool in_block_ = false;
  std::string block_;  // the current block's text, in case it is not a call
  CallJsonScanner scanner_;
  uint32_t next_index_ = 0;
};

}  // namespace

std::unique_ptr<ToolCallParser> MakeHermesToolParser() {
  return std::make_unique<HermesToolParser>();
}

}  // namespace tg::tools
