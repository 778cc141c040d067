#include "router/tools/marker_tool_parser.h"

#include <string>

#include "router/api/partial_marker.h"
#include "router/tools/tool_call_json.h"

namespace tg::tools {
namespace {

constexpr std::string_view kArgs = "[ARGS]";

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

class MarkerToolParser final : public ToolCallParser {
 public:
  explicit MarkerToolParser(std::string_view marker) : marker_(marker) {}

  ParsedPiece Feed(std::string_view text) override {
    held_ += text;
    ParsedPiece out;
    if (in_calls_) return out;
    if (at_start_) {
      // A leading '[' is the list itself unless it may still grow into the marker.
      const size_t first = held_.find_first_not_of(" \n\t\r");
      if (first == std::string::npos) return out;
      const std::string_view rest = std::string_view(held_).substr(first);
      if (rest.size() < marker_.size() && marker_.starts_with(rest)) return out;
      at_start_ = false;
      if (rest[0] == '[' && !rest.starts_with(marker_)) {
        in_calls_ = true;
        return out;
      }
    }
    const size_t at = held_.find(marker_);
    if (at != std::string::npos) {
      out.content = held_.substr(0, at);
      held_.erase(0, at + marker_.size());
      in_calls_ = true;
      marker_seen_ = true;
      return out;
    }
    const size_t keep = api::PartialMarkerAtEnd(held_, marker_);
    out.content = held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
    return out;
  }

  ParsedPiece Finish() override {
    ParsedPiece out;
    if (!in_calls_) {
      out.content = std::move(held_);
    } else if (std::optional<std::vector<ToolCall>> calls = Calls(held_)) {
      out.calls = std::move(*calls);
    } else {
      out.content = (marker_seen_ ? marker_ : std::string()) + held_;
    }
    held_.clear();
    return out;
  }

 private:
  // The list, or Mistral's newer `name[ARGS]{...}` form.
  static std::optional<std::vector<ToolCall>> Calls(const std::string& body) {
    if (std::optional<std::vector<ToolCall>> calls = ToolCallsFromJson(body)) return calls;
    const size_t args = body.find(kArgs);
    if (args == std::string::npos) return std::nullopt;
    size_t begin = 0;
    while (begin < args && IsSpace(body[begin])) ++begin;
    const std::string name = body.substr(begin, args - begin);
    if (name.empty() || name.find_first_of("{}[]\" \n") != std::string::npos) return std::nullopt;
    return ToolCallsFromJson(R"({"name":")" + name + R"(","arguments":)" +
                             body.substr(args + kArgs.size()) + "}");
  }

  std::string marker_;
  std::string held_;
  bool at_start_ = true;
  bool in_calls_ = false;
  bool marker_seen_ = false;
};

}  // namespace

std::unique_ptr<ToolCallParser> MakeMarkerToolParser(std::string_view marker) {
  return std::make_unique<MarkerToolParser>(marker);
}

}  // namespace tg::tools
