#include "router/tools/json_tool_parser.h"

#include <string>

#include "router/tools/call_json_scanner.h"

namespace tg::tools {
namespace {

constexpr std::string_view kPythonTag = "<|python_tag|>";

bool Blank(std::string_view text) { return text.find_first_not_of(" \n\t\r") == text.npos; }

class JsonToolParser final : public ToolCallParser {
 public:
  ParsedPiece Feed(std::string_view text) override {
    ParsedPiece out;
    switch (mode_) {
      case Mode::kContent:
        out.content = text;
        return out;
      case Mode::kCall:
        Scan(text, out);
        return out;
      case Mode::kUndecided:
        break;
    }
    held_ += text;
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
      const std::string json(rest);
      held_.resize(held_.size() - json.size());  // the text before the value, kept until a call
      Scan(json, out);
      return out;
    }
    mode_ = Mode::kContent;
    out.content = std::move(held_);
    held_.clear();
    return out;
  }

  ParsedPiece Finish() override {
    ParsedPiece out;
    if (mode_ != Mode::kCall || !scanner_.started()) {
      out.content = std::move(held_);
    } else if (!Blank(after_)) {
      out.content = std::move(after_);
    }
    held_.clear();
    after_.clear();
    return out;
  }

 private:
  // Text of the call (or list): held until a call starts, as it may still turn out to be content.
  void Scan(std::string_view text, ParsedPiece& out) {
    const bool started = scanner_.started();
    const size_t used = scanner_.Feed(text, out.parts);
    if (scanner_.failed()) {
      mode_ = Mode::kContent;
      out.content = std::move(held_) + std::string(text);
      held_.clear();
      return;
    }
    if (!scanner_.started()) {
      held_ += text;
      return;
    }
    if (!started) held_.clear();
    after_ += text.substr(used);  // after the value: content, unless only whitespace
  }

  enum class Mode { kUndecided, kCall, kContent };
  Mode mode_ = Mode::kUndecided;
  std::string held_;
  std::string after_;
  CallJsonScanner scanner_;
};

}  // namespace

std::unique_ptr<ToolCallParser> MakeJsonToolParser() { return std::make_unique<JsonToolParser>(); }

}  // namespace tg::tools
