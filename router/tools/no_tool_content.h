// The answer inside a no_tool call (tool_request.h), {"content": "<answer>"}, decoded from the
// call's argument text as it arrives, so a plain answer streams as content like any other; an
// answer cut short (max_tokens) gives the text written so far.
#pragma once

#include <string>
#include <string_view>

namespace tg::tools {

class NoToolContent {
 public:
  // The next argument text of the call; returns the answer text it completes.
  std::string Feed(std::string_view arguments);

 private:
  enum class State { kBefore, kString, kAfter };
  State state_ = State::kBefore;
  std::string before_;  // the arguments before the string, until "content": is read
  std::string escape_;  // an escape sequence not complete yet
};

}  // namespace tg::tools
