// Tool calls written as JSON, read as the text arrives: one {"name": ..., "arguments" |
// "parameters": {...}} object or a list of them. A call's first part (CallPart) is sent once its
// name has been read, and its arguments follow as they are written, so a stream shows progress.
//
// The arguments are the text the model wrote, without whitespace outside strings (key order,
// numbers and string escapes as written), so a stream's parts and a whole answer give the same
// text, character by character. Arguments written as a string holding an object (some models
// quote them) come out whole, unquoted, once the string closes; null or missing ones are "{}".
// Arguments written before the name are held until the name comes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "router/tools/tool_call_parser.h"

namespace tg::tools {

class CallJsonScanner {
 public:
  // Reads a call object or a list of them; calls are numbered from `first_index`.
  explicit CallJsonScanner(uint32_t first_index = 0);
  // Reads only the arguments object of call `index`, whose name is already known (Mistral's
  // `name[ARGS]{...}`).
  static CallJsonScanner ForArguments(std::string name, uint32_t index);

  // Reads `text` until the JSON value ends, appending call parts to `out`; returns the bytes
  // read (all of `text` unless done() or failed()).
  size_t Feed(std::string_view text, std::vector<CallPart>& out);

  // A call's name has been read: the text is calls, whatever follows.
  bool started() const {
    return next_index_ > first_index_ || name_known_ || !pending_name_.empty();
  }
  // The text is not a call or a list of calls (decided before any call started).
  bool failed() const { return failed_; }
  // The value (object, list or arguments) has ended.
  bool done() const { return done_; }
  // The number the next call after this text would get.
  uint32_t next_index() const { return next_index_ + (name_known_ ? 1 : 0); }

 private:
  enum class Value { kNone, kKey, kName, kArguments, kQuotedArguments, kSkip };

  void Step(char c, std::vector<CallPart>& out);
  void StartValue(char c);
  void StringEnded(std::vector<CallPart>& out);
  void BeginCall();
  void EndCall(std::vector<CallPart>& out);
  void NameRead(std::string name, std::vector<CallPart>& out);
  void AddArguments(std::string_view text, std::vector<CallPart>& out);
  // At the level of a call object's keys and values.
  bool AtCallLevel() const { return in_call_ && depth_ == call_depth_; }

  uint32_t first_index_;
  uint32_t next_index_;
  int depth_ = 0;
  int call_depth_ = 0;  // 1: the text is one call object; 2: a list of them
  bool in_string_ = false;
  bool escaped_ = false;
  bool failed_ = false;
  bool done_ = false;
  bool arguments_only_ = false;
  // The call being read.
  bool in_call_ = false;
  bool awaiting_value_ = false;
  Value value_ = Value::kNone;
  int value_depth_ = 0;  // depth_ where the arguments value started
  std::string literal_;  // the key, name or quoted arguments being read, quotes included
  std::string key_;
  bool name_known_ = false;
  bool arguments_seen_ = false;
  std::string held_arguments_;  // arguments written before the name
  std::string pending_name_;    // ForArguments: the name, sent by the first Feed
};

}  // namespace tg::tools
