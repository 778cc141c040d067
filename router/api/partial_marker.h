// Streamed text is cut anywhere: a marker (a tool-call tag, </think>) may be split across
// pieces, so the bytes at the end that begin one are held until the next piece decides.
#pragma once

#include <algorithm>
#include <string_view>

namespace tg::api {

// Bytes at the end of `text` that are a proper prefix of `marker`.
inline size_t PartialMarkerAtEnd(std::string_view text, std::string_view marker) {
  for (size_t n = std::min(marker.size() - 1, text.size()); n > 0; --n) {
    if (text.substr(text.size() - n) == marker.substr(0, n)) return n;
  }
  return 0;
}

}  // namespace tg::api
