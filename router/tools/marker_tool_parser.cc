#include "router/tools/marker_tool_parser.h"

#include <optional>
#include <string>

#include "router/api/partial_marker.h"
#include "router/tools/call_json_scanner.h"

namespace tg::tools {
namespace {

constexpr std::string_view kArgs = "[ARGS]";

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

bool ValidName(std::string_view name) {
  return !name.empty() && name.find_first_of("{}[]\" \n\t\r") == std::string_view::npos;
}

class MarkerToolParser final : public ToolCallParser {
 public:
  explicit MarkerToolParser(std::string_view marker) : marker_(marker) {}

  ParsedPiece Feed(std::string_view text) override {
    ParsedPiece out;
    if (content_only_) {
      out.content = text;
      return out;
    }
    held_ += text;
    while (Step(out)) {
    }
    return out;
  }

  ParsedPiece Finish() override {
    ParsedPiece out;
    if (!in_calls_ || !scanner_ || !scanner_->started()) {
      // Text that never became a call: content, with the marker it followed.
      out.content = (in_calls_ && marker_seen_ ? marker_ : std::string()) + calls_text_ + held_;
    }
    held_.clear();
    calls_text_.clear();
    return out;
  }

 private:
  // One step on the held text; false when it needs more text.
  bool Step(ParsedPiece& out) {
    if (in_calls_) return StepCalls(out);
    if (at_start_) {
      // A leading '[' is the list itself unless it may still grow into the marker.
      const size_t first = held_.find_first_not_of(" \n\t\r");
      if (first == std::string::npos) return false;
      const std::string_view rest = std::string_view(held_).substr(first);
      if (rest.size() < marker_.size() && marker_.starts_with(rest)) return false;
      at_start_ = false;
      if (rest[0] == '[' && !rest.starts_with(marker_)) {
        StartCalls(/*marker_seen=*/false);
        return true;
      }
    }
    const size_t at = held_.find(marker_);
    if (at != std::string::npos) {
      out.content += held_.substr(0, at);
      held_.erase(0, at + marker_.size());
      StartCalls(/*marker_seen=*/true);
      return true;
    }
    const size_t keep = api::PartialMarkerAtEnd(held_, marker_);
    out.content += held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
    return false;
  }

  void StartCalls(bool marker_seen) {
    in_calls_ = true;
    marker_seen_ = marker_seen;
    scanner_.reset();
    calls_text_.clear();
  }

  // After the marker: a JSON list of calls, or Mistral's `name[ARGS]{...}`.
  bool StepCalls(ParsedPiece& out) {
    if (!scanner_) {
      const size_t first = held_.find_first_not_of(" \n\t\r");
      if (first == std::string::npos) return false;
      if (held_[first] == '[' || held_[first] == '{') {
        scanner_.emplace(next_index_);
      } else {
        const size_t args = held_.find(kArgs);
        if (args == std::string::npos) return false;  // Finish makes it content if none comes
        std::string_view name = std::string_view(held_).substr(first, args - first);
        while (!name.empty() && IsSpace(name.back())) name.remove_suffix(1);
        if (!ValidName(name)) return NotCalls(out);
        scanner_ = CallJsonScanner::ForArguments(std::string(name), next_index_);
        calls_text_ = held_.substr(0, args + kArgs.size());
        held_.erase(0, args + kArgs.size());
      }
    }
    const size_t used = scanner_->Feed(held_, out.parts);
    if (scanner_->failed()) {
      calls_text_ += held_;
      held_.clear();
      return NotCalls(out);
    }
    if (!scanner_->started()) calls_text_ += held_.substr(0, used);
    held_.erase(0, used);
    if (!scanner_->done()) return false;
    // The calls ended: what follows is content again (or another marker).
    if (scanner_->started()) {
      next_index_ = scanner_->next_index();
    } else {
      out.content += (marker_seen_ ? marker_ : std::string()) + calls_text_;
    }
    in_calls_ = false;
    scanner_.reset();
    calls_text_.clear();
    return true;
  }

  // The text after the marker is not calls: it is content, marker included, and so is the rest
  // of the answer (however the stream was cut, it reads as the whole answer does).
  bool NotCalls(ParsedPiece& out) {
    out.content += (marker_seen_ ? marker_ : std::string()) + calls_text_ + held_;
    held_.clear();
    calls_text_.clear();
    in_calls_ = false;
    scanner_.reset();
    content_only_ = true;
    return false;
  }

  std::string marker_;
  std::string held_;
  bool at_start_ = true;
  bool in_calls_ = false;
  bool marker_seen_ = false;
  bool content_only_ = false;
  std::optional<CallJsonScanner> scanner_;
  std::string calls_text_;  // text read as calls before any call started
  uint32_t next_index_ = 0;
};

}  // namespace

std::unique_ptr<ToolCallParser> MakeMarkerToolParser(std::string_view marker) {
  return std::make_unique<MarkerToolParser>(marker);
}

}  // namespace tg::tools
