#include "router/tools/no_tool_content.h"

#include <nlohmann/json.hpp>

namespace tg::tools {
namespace {

// The arguments are written without whitespace outside strings (call_json_scanner.h).
constexpr std::string_view kStart = R"("content":")";

// \uD800-\uDBFF starts a surrogate pair: its second half follows as another \u escape.
bool HighSurrogate(std::string_view escape) {
  return escape.size() == 6 && (escape[2] == 'd' || escape[2] == 'D') &&
         std::string_view("89abAB").find(escape[3]) != std::string_view::npos;
}

bool EscapeComplete(std::string_view escape) {
  if (escape.size() < 2) return false;
  if (escape[1] != 'u') return true;
  if (escape.size() < 6) return false;
  if (!HighSurrogate(escape.substr(0, 6))) return true;
  return escape.size() == 12 || (escape.size() >= 7 && escape[6] != '\\') ||
         (escape.size() >= 8 && escape[7] != 'u');
}

}  // namespace

std::string NoToolContent::Feed(std::string_view arguments) {
  std::string out;
  for (const char c : arguments) {
    switch (state_) {
      case State::kBefore:
        before_ += c;
        if (before_.ends_with(kStart)) {
          state_ = State::kString;
          before_.clear();
        }
        break;
      case State::kString:
        if (!escape_.empty()) {
          escape_ += c;
          if (!EscapeComplete(escape_)) break;
          // A lone or malformed escape decodes to nothing.
          const nlohmann::json decoded =
              nlohmann::json::parse("\"" + escape_ + "\"", nullptr, /*allow_exceptions=*/false);
          if (decoded.is_string()) out += decoded.get<std::string>();
          escape_.clear();
        } else if (c == '\\') {
          escape_ = "\\";
        } else if (c == '"') {
          state_ = State::kAfter;
        } else {
          out += c;
        }
        break;
      case State::kAfter:
        break;
    }
  }
  return out;
}

}  // namespace tg::tools
