// Byte-pair encoding by merge rank (HF `tokenizers` BPE): GPT-2-style byte-level vocabularies
// and SentencePiece-style ones with byte fallback. Merges are applied lowest rank first, leftmost
// on ties, with a priority queue over a linked list of symbols (O(n log n) per word).
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "router/tokenizer/vocab.h"

namespace tg::tokenizer {

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;  // a piece that is itself a token is taken whole (Llama-3)
};

class BpeModel final : public Model {
 public:
  // `vocab` must outlive the model. Merges name tokens of the vocabulary; a merge whose parts or
  // result are missing throws tg::Error(kCorruptFile).
  BpeModel(const Vocab& vocab, const std::vector<std::pair<std::string, std::string>>& merges,
           BpeOptions options);

  void Encode(std::string_view piece, std::vector<uint32_t>& out) const override;

 private:
  struct MergeTarget {
    uint32_t rank;
    uint32_t new_id;
  };
  static uint64_t PairKey(uint32_t a, uint32_t b) { return (uint64_t{a} << 32) | b; }
  const MergeTarget* FindMerge(uint32_t a, uint32_t b) const {
    auto it = merges_.find(PairKey(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  }

  const Vocab& vocab_;
  std::unordered_map<uint64_t, MergeTarget> merges_;
  BpeOptions options_;
  std::optional<uint32_t> unk_id_;
  std::vector<int64_t> byte_ids_;  // id of "<0xXX>" per byte, -1 when missing
};

}  // namespace tg::tokenizer
