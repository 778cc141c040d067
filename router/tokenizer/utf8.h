// UTF-8 helpers with the exact semantics the tokenizers need: code point iteration, and lossy
// conversion that replaces each maximal invalid subsequence with one U+FFFD (Rust's
// String::from_utf8_lossy, which is what HF `tokenizers` uses when it decodes bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tg::tokenizer {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid or truncated.
size_t ValidUtf8Length(std::string_view s, size_t i);

// Length of the sequence s[i] starts, from its lead byte alone (1 for an invalid lead byte).
inline size_t Utf8SequenceLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;
}

// Decodes the code point at s[i] (which must be valid UTF-8) and advances i past it.
uint32_t NextCodePoint(std::string_view s, size_t& i);

void AppendUtf8(uint32_t code_point, std::string& out);

// Replaces invalid sequences the way Rust's from_utf8_lossy does.
std::string Utf8Lossy(std::string_view bytes);

bool IsValidUtf8(std::string_view bytes);

// Number of bytes at the end of s that form an incomplete (but so far valid) UTF-8 sequence.
size_t IncompleteUtf8Suffix(std::string_view s);

}  // namespace tg::tokenizer
