#include "router/tools/call_json_scanner.h"

#include <nlohmann/json.hpp>

namespace tg::tools {
namespace {

using nlohmann::json;

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// `text` without whitespace outside strings.
std::string Minified(std::string_view text) {
  std::string out;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (IsSpace(c)) {
      continue;
    } else if (c == '"') {
      in_string = true;
    }
    out += c;
  }
  return out;
}

}  // namespace

CallJsonScanner::CallJsonScanner(uint32_t first_index)
    : first_index_(first_index), next_index_(first_index) {}

CallJsonScanner CallJsonScanner::ForArguments(std::string name, uint32_t index) {
  CallJsonScanner s(index);
  s.arguments_only_ = true;
  s.depth_ = 1;
  s.call_depth_ = 1;
  s.in_call_ = true;
  s.key_ = "arguments";
  s.awaiting_value_ = true;
  s.pending_name_ = std::move(name);  // sent by the first Feed
  return s;
}

size_t CallJsonScanner::Feed(std::string_view text, std::vector<CallPart>& out) {
  if (!pending_name_.empty()) {
    NameRead(std::move(pending_name_), out);
    pending_name_.clear();
  }
  for (size_t i = 0; i < text.size(); ++i) {
    if (done_ || failed_) return i;
    Step(text[i], out);
  }
  return text.size();
}

void CallJsonScanner::Step(char c, std::vector<CallPart>& out) {
  if (in_string_) {
    if (value_ == Value::kArguments) {
      AddArguments(std::string_view(&c, 1), out);
    } else if (value_ != Value::kSkip && value_ != Value::kNone) {
      literal_ += c;
    }
    if (escaped_) {
      escaped_ = false;
    } else if (c == '\\') {
      escaped_ = true;
    } else if (c == '"') {
      in_string_ = false;
      StringEnded(out);
    }
    return;
  }
  if (IsSpace(c)) return;
  if (depth_ == 0) {
    // The value itself: one call or a list of calls.
    if (c == '{') {
      call_depth_ = 1;
      BeginCall();
    } else if (c == '[') {
      call_depth_ = 2;
    } else {
      failed_ = true;
      return;
    }
    ++depth_;
    return;
  }
  if (depth_ == 1 && call_depth_ == 2 && !in_call_ && c != ',' && c != ']') {
    // An element of the list: a call, or (after the first) something to skip.
    if (c != '{') {
      if (next_index_ == first_index_) failed_ = true;
      // Later elements that are not calls are skipped; a scalar ends at the next ',' or ']'.
      if (c == '[') ++depth_;
      if (c == '"') in_string_ = true;
      return;
    }
    BeginCall();
    ++depth_;
    return;
  }
  if (AtCallLevel() && awaiting_value_) StartValue(c);
  if (value_ == Value::kArguments) AddArguments(std::string_view(&c, 1), out);
  switch (c) {
    case '{':
    case '[':
      ++depth_;
      break;
    case '}':
    case ']':
      --depth_;
      if (value_ == Value::kArguments && depth_ == value_depth_) {
        value_ = Value::kNone;
        if (arguments_only_) {
          EndCall(out);
          done_ = true;
          return;
        }
      }
      if (in_call_ && depth_ == call_depth_ - 1) EndCall(out);
      if (depth_ == 0) done_ = true;
      break;
    case '"':
      in_string_ = true;
      if (AtCallLevel() && value_ == Value::kNone) {
        value_ = Value::kKey;  // a string where no value is awaited is the next key
        literal_ = "\"";
      }
      break;
    case ':':
      if (AtCallLevel()) awaiting_value_ = true;
      break;
    case ',':
      if (AtCallLevel()) value_ = Value::kNone;
      break;
    default:
      break;
  }
}

void CallJsonScanner::StartValue(char c) {
  awaiting_value_ = false;
  const bool arguments = (key_ == "arguments" || key_ == "parameters") && !arguments_seen_;
  if (key_ == "name" && c == '"' && !name_known_) {
    value_ = Value::kName;
  } else if (arguments && c == '"') {
    value_ = Value::kQuotedArguments;
  } else if (arguments && (c == '{' || c == '[')) {
    value_ = Value::kArguments;
    value_depth_ = depth_;
  } else {
    value_ = Value::kSkip;  // other keys, and scalar arguments (null: none given)
  }
  if (value_ == Value::kName || value_ == Value::kQuotedArguments) literal_ = "\"";
}

void CallJsonScanner::StringEnded(std::vector<CallPart>& out) {
  const Value value = value_;
  // Strings inside the arguments or a skipped value are not read on their own.
  if (value == Value::kArguments || value == Value::kSkip || value == Value::kNone) return;
  value_ = Value::kNone;
  const json parsed = json::parse(literal_, nullptr, /*allow_exceptions=*/false);
  const std::string text = parsed.is_string() ? parsed.get<std::string>() : std::string();
  literal_.clear();
  switch (value) {
    case Value::kKey:
      key_ = text;
      break;
    case Value::kName:
      if (!text.empty()) NameRead(text, out);
      break;
    case Value::kQuotedArguments:
      AddArguments(Minified(text), out);
      break;
    default:
      break;
  }
  if (arguments_only_ && value == Value::kQuotedArguments) {
    EndCall(out);
    done_ = true;
  }
}

void CallJsonScanner::BeginCall() {
  in_call_ = true;
  awaiting_value_ = false;
  value_ = Value::kNone;
  key_.clear();
  name_known_ = false;
  arguments_seen_ = false;
  held_arguments_.clear();
}

void CallJsonScanner::EndCall(std::vector<CallPart>& out) {
  in_call_ = false;
  value_ = Value::kNone;
  if (!name_known_) {
    // An object without a name: not a call. As the first, the text is not calls at all.
    if (next_index_ == first_index_) failed_ = true;
    return;
  }
  if (!arguments_seen_) AddArguments("{}", out);
  name_known_ = false;
  ++next_index_;
}

void CallJsonScanner::NameRead(std::string name, std::vector<CallPart>& out) {
  name_known_ = true;
  out.push_back({.index = next_index_, .name = std::move(name), .arguments = held_arguments_});
  held_arguments_.clear();
}

void CallJsonScanner::AddArguments(std::string_view text, std::vector<CallPart>& out) {
  arguments_seen_ = true;
  if (!name_known_) {
    held_arguments_ += text;
    return;
  }
  if (text.empty()) return;
  if (!out.empty() && out.back().index == next_index_) {
    out.back().arguments += text;
  } else {
    out.push_back({.index = next_index_, .name = "", .arguments = std::string(text)});
  }
}

}  // namespace tg::tools
