#include "router/tokenizer/incremental_decoder.h"

#include "router/tokenizer/utf8.h"

namespace tg::tokenizer {

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string IncrementalDecoder::Push(uint32_t id) {
  ids_.push_back(id);
  const std::span<const uint32_t> all(ids_);
  const std::string prefix = tokenizer_.Decode(all.first(read_offset_), skip_special_tokens_);
  const std::string text = tokenizer_.Decode(all, skip_special_tokens_);
  // Wait while the text is unchanged, diverges from what was emitted (a decoder rule that
  // depends on later tokens), or ends in an incomplete character (decoded as U+FFFD).
  if (text.size() <= prefix.size() || text.compare(0, prefix.size(), prefix) != 0 ||
      text.ends_with(kReplacementChar)) {
    return "";
  }
  // The newly emitted tokens become the context of the next window.
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(read_offset_));
  read_offset_ = ids_.size();
  return text.substr(prefix.size());
}

std::string IncrementalDecoder::Flush() {
  const std::span<const uint32_t> all(ids_);
  const std::string prefix = tokenizer_.Decode(all.first(read_offset_), skip_special_tokens_);
  const std::string text = tokenizer_.Decode(all, skip_special_tokens_);
  ids_.clear();
  read_offset_ = 0;
  if (text.size() <= prefix.size() || text.compare(0, prefix.size(), prefix) != 0) return "";
  return text.substr(prefix.size());
}

}  // namespace tg::tokenizer
