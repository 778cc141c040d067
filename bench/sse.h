// Incremental parser for Server-Sent Events (the WHATWG event-stream format): bytes arrive in
// arbitrary pieces; complete events come out. Only the `data` field matters to us; comments
// (lines starting with ':') and other fields are ignored. Multiple data lines of one event are
// joined with '\n'.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tg::bench {

class SseParser {
 public:
  // Appends bytes and returns the data of every event completed by them, in order.
  std::vector<std::string> Feed(std::string_view bytes);
  // Returns the data of a final event not followed by a blank line (a stream cut short).
  std::vector<std::string> Finish();

 private:
  void ConsumeLine(std::string_view line, std::vector<std::string>* events);

  std::string pending_;  // bytes after the last complete line
  std::string data_;     // data of the event being assembled
  bool has_data_ = false;
};

}  // namespace tg::bench
