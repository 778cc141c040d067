#include "router/tokenizer/utf8.h"

namespace tg::tokenizer {
namespace {

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// The number of leading bytes of s[i..] that are a valid prefix of some UTF-8 sequence, following
// the Unicode "maximal subpart" rule (second-byte ranges depend on the lead byte).
size_t ValidPrefix(std::string_view s, size_t i, size_t* needed) {
  const auto lead = static_cast<unsigned char>(s[i]);
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    n = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    n = 3;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    n = 4;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    *needed = lead < 0x80 ? 1 : 0;
    return lead < 0x80 ? 1 : 0;
  }
  *needed = n;
  size_t k = 1;
  if (i + k < s.size()) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if (c < lo || c > hi) return 1;
    ++k;
    while (k < n && i + k < s.size() && IsContinuation(static_cast<unsigned char>(s[i + k]))) ++k;
  }
  return k;
}

}  // namespace

size_t ValidUtf8Length(std::string_view s, size_t i) {
  size_t needed = 0;
  const size_t have = ValidPrefix(s, i, &needed);
  return (needed != 0 && have == needed) ? needed : 0;
}

uint32_t NextCodePoint(std::string_view s, size_t& i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  const size_t n = Utf8SequenceLength(lead);
  uint32_t cp = n == 1 ? lead : (lead & (0xFF >> (n + 1)));
  for (size_t k = 1; k < n && i + k < s.size(); ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  i += n;
  return cp;
}

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string Utf8Lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    size_t needed = 0;
    const size_t have = ValidPrefix(bytes, i, &needed);
    if (needed != 0 && have == needed) {
      out.append(bytes.substr(i, have));
      i += have;
    } else {
      out += kReplacementChar;
      i += have == 0 ? 1 : have;
    }
  }
  return out;
}

bool IsValidUtf8(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    const size_t n = ValidUtf8Length(bytes, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

size_t IncompleteUtf8Suffix(std::string_view s) {
  // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
  for (size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    const size_t i = s.size() - back;
    const auto c = static_cast<unsigned char>(s[i]);
    if (IsContinuation(c)) continue;
    size_t needed = 0;
    const size_t have = ValidPrefix(s, i, &needed);
    return (needed > back && have == back) ? back : 0;
  }
  return 0;
}

}  // namespace tg::tokenizer
