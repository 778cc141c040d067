// Streaming detokenization: one IncrementalDecoder per request turns generated ids into text
// pieces whose concatenation equals Tokenizer::Decode of all ids, never splitting a UTF-8
// character and following the decoder's leading-space rules (SentencePiece strips the first
// space only at the very start of the text).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "router/tokenizer/tokenizer.h"

namespace tg::tokenizer {

class IncrementalDecoder {
 public:
  IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens);

  // Text newly complete after this token (may be empty while a character is incomplete).
  std::string Push(uint32_t id);
  // Whatever is left at the end (an incomplete character becomes U+FFFD, as Decode does).
  std::string Flush();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_tokens_;
  // A window of recent ids: ids_[0, read_offset_) are already emitted and stay only as context,
  // so the decoder sees the same neighbours (leading-space rules, byte runs) as a full decode.
  std::vector<uint32_t> ids_;
  size_t read_offset_ = 0;
};

}  // namespace tg::tokenizer
