// A compiled PCRE2 pattern (UTF, Unicode properties, JIT) for the pre-tokenizer and replace
// regexes of tokenizer.json and the GGUF pre-tokenizer table.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tg::tokenizer {

class Regex {
 public:
  // Throws tg::Error(kCorruptFile) when the pattern does not compile.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Byte ranges [begin, end) of all non-overlapping, non-empty matches, left to right.
  std::vector<std::pair<size_t, size_t>> FindAll(std::string_view text) const;
  std::string ReplaceAll(std::string_view text, std::string_view replacement) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Quotes a literal string so it can be used as a pattern.
std::string EscapeRegex(std::string_view literal);

}  // namespace tg::tokenizer
