// tokenizer.json pre-tokenizers: split normalized text into pieces the model encodes one by one
// (ByteLevel, Split, Metaspace, Digits, Whitespace, WhitespaceSplit, Punctuation, Sequence).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tg::tokenizer {

struct Piece {
  std::string text;
  bool at_text_start = false;  // begins at offset 0 of the original input (Metaspace "first")
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their sub-pieces; empty pieces are dropped.
  virtual void Split(std::vector<Piece>& pieces) const = 0;
};

// Builds the pre-tokenizer of tokenizer.json's "pre_tokenizer" (null gives nullptr).
// Throws tg::Error(kUnsupported) for a type we do not implement.
std::unique_ptr<PreTokenizer> MakePreTokenizer(const nlohmann::json& spec);

// A Split pre-tokenizer on a regex with "Isolated" behaviour, then (optionally) the byte-level
// mapping: the shape of every GGUF `gpt2` tokenizer. The regexes are tried in order.
std::unique_ptr<PreTokenizer> MakeRegexByteLevel(const std::vector<std::string>& regexes);

// GPT-2's pre-tokenizer regex.
extern const char* const kGpt2Regex;

}  // namespace tg::tokenizer
