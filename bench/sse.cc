#include "bench/sse.h"

namespace tg::bench {

std::vector<std::string> SseParser::Feed(std::string_view bytes) {
  std::vector<std::string> events;
  pending_.append(bytes);
  size_t begin = 0;
  while (true) {
    const size_t end = pending_.find('\n', begin);
    if (end == std::string::npos) break;
    std::string_view line(pending_.data() + begin, end - begin);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ConsumeLine(line, &events);
    begin = end + 1;
  }
  pending_.erase(0, begin);
  return events;
}

std::vector<std::string> SseParser::Finish() {
  std::vector<std::string> events;
  if (!pending_.empty()) {
    std::string line = std::move(pending_);
    pending_.clear();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    ConsumeLine(line, &events);
  }
  ConsumeLine("", &events);
  return events;
}

void SseParser::ConsumeLine(std::string_view line, std::vector<std::string>* events) {
  if (line.empty()) {  // a blank line dispatches the event
    if (has_data_) events->push_back(std::move(data_));
    data_.clear();
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // comment / keep-alive
  const size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field != "data") return;
  if (has_data_) data_.push_back('\n');
  data_.append(value);
  has_data_ = true;
}

}  // namespace tg::bench
