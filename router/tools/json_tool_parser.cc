#include "router/tools/json_tool_parser.h"

#include <string>

#include "router/tools/tool_call_json.h"

namespace tg::tools {
namespace {

constexpr std::string_view kPythonTag = "<|python_tag|>";

class JsonToolParser final : public ToolCallParser {
 public:
  ParsedPiece Feed(std::string_view text) override {
    ParsedPiece out;
    if (mode_ == Mode::kContent) {
      out.content = text;
      return out;
    }
    held_ += text;
    if (mode_ == Mode::kCall) return out;
    // Undecided: the first characters after whitespace and the tag say which it is.
    const size_t first = held_.find_first_not_of(" \n\t\r");
    if (first == std::string::npos) return out;
    std::string_view rest = std::string_view(held_).substr(first);
    if (rest.size() < kPythonTag.size() && kPythonTag.starts_with(rest)) return out;
    if (rest.starts_with(kPythonTag)) {
      rest.remove_prefix(kPythonTag.size());
      const size_t next = rest.find_first_not_of(" \n\t\r");
      if (next == std::string_view::npos) return out;
      rest.remove_prefix(next);
    }
    if (rest[0] == '{' || rest[0] == '[') {
      mode_ = Mode::kCall;
      return out;
    }
    mode_ = Mode::kContent;
    out.content = std::move(held_);
    held_.clear();
    return out;
  }

  ParsedPiece Finish() override {
    ParsedPiece out;
    std::string_view body = held_;
    const size_t tag = body.find(kPythonTag);
    if (tag != std::string_view::npos) body.remove_prefix(tag + kPythonTag.size());
    if (std::optional<std::vector<ToolCall>> calls = ToolCallsFromJson(body)) {
      out.calls = std::move(*calls);
    } else {
      out.content = std::move(held_);
    }
    held_.clear();
    return out;
  }

 private:
  enum class Mode { kUndecided, kCall, kContent };
  Mode mode_ = Mode::kUndecided;
  std::string held_;
};

}  // namespace

std::unique_ptr<ToolCallParser> MakeJsonToolParser() { return std::make_unique<JsonToolParser>(); }

}  // namespace tg::tools
