// tokenizer.json normalizers (NFC, NFKC, NFD, NFKD, Lowercase, Strip, Replace, Prepend, Sequence),
// applied to each stretch of text between added tokens, as HF `tokenizers` does.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace tg::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void Normalize(std::string& text) const = 0;
};

// Builds the normalizer described by tokenizer.json's "normalizer" (null gives nullptr).
// Throws tg::Error(kUnsupported) for a type we do not implement.
std::unique_ptr<Normalizer> MakeNormalizer(const nlohmann::json& spec);

// Unicode normalization forms, also used directly by other components.
enum class UnicodeForm { kNfc, kNfkc, kNfd, kNfkd };
std::unique_ptr<Normalizer> MakeUnicodeNormalizer(UnicodeForm form);

// SentencePiece's whitespace handling: optionally "▁" before the text, then every " " -> "▁".
std::unique_ptr<Normalizer> MakeSentencePieceNormalizer(bool add_space_prefix);

// The regex for a tokenizer.json pattern: {"String": s} matches s literally, {"Regex": r} is r.
std::string PatternToRegex(const nlohmann::json& pattern);

}  // namespace tg::tokenizer
