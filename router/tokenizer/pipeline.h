// The parts of a loaded tokenizer and the encode/decode algorithm that strings them together in
// HF `tokenizers` order: added tokens on raw text -> normalizer -> added tokens on normalized
// text -> pre-tokenizer -> model (with a pre-token cache) -> post-processor.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "router/tokenizer/added_vocab.h"
#include "router/tokenizer/decoder.h"
#include "router/tokenizer/normalizer.h"
#include "router/tokenizer/post_processor.h"
#include "router/tokenizer/pre_tokenizer.h"
#include "router/tokenizer/vocab.h"

namespace tg::tokenizer {

class Pipeline {
 public:
  // Filled by a loader (tokenizer_json.cc, gguf_tokenizer.cc), then only read.
  Vocab vocab;  // model tokens and added tokens
  std::unique_ptr<Model> model;
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
  AddedTokenMatcher raw_added;         // added tokens matched before normalization
  AddedTokenMatcher normalized_added;  // added tokens matched after it
  std::unordered_set<uint32_t> special_ids;
  std::optional<std::string> bos_token, eos_token, chat_template;

  std::vector<uint32_t> Encode(std::string_view text, bool add_special_tokens) const;
  // The token strings the decoder sees (special ones dropped when asked).
  std::vector<std::string> IdsToTokens(std::span<const uint32_t> ids,
                                       bool skip_special_tokens) const;
  std::string Decode(std::span<const uint32_t> ids, bool skip_special_tokens) const;

 private:
  void EncodeText(std::string text, bool at_text_start, std::vector<uint32_t>& out) const;
  void EncodePiece(std::string_view piece, std::vector<uint32_t>& out) const;

  // Pre-token -> ids. Text repeats words constantly, so this skips most BPE work.
  static constexpr size_t kMaxCachedPiece = 64;
  static constexpr size_t kMaxCacheEntries = 1 << 18;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<uint32_t>, StringHash, std::equal_to<>>
      cache_;
};

}  // namespace tg::tokenizer
