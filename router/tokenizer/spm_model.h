// SentencePiece BPE by score, the way llama.cpp tokenizes with a GGUF `llama` vocabulary: start
// from UTF-8 characters, repeatedly merge the adjacent pair whose concatenation is the vocabulary
// token with the highest score (leftmost on ties), and spell unknown characters as <0xXX> bytes.
#pragma once

#include <string>
#include <vector>

#include "router/tokenizer/vocab.h"

namespace tg::tokenizer {

class SpmModel final : public Model {
 public:
  // `vocab` must outlive the model; scores are indexed by token id.
  SpmModel(const Vocab& vocab, std::vector<float> scores, std::optional<uint32_t> unk_id);

  void Encode(std::string_view piece, std::vector<uint32_t>& out) const override;

 private:
  const Vocab& vocab_;
  std::vector<float> scores_;
  std::optional<uint32_t> unk_id_;
  std::vector<int64_t> byte_ids_;  // id of "<0xXX>" per byte, -1 when missing
};

}  // namespace tg::tokenizer
