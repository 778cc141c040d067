// tokenizer.json decoders: turn the token strings of some ids back into text (ByteLevel,
// Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence), step for step like HF `tokenizers`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tg::tokenizer {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Transforms the list of token strings; the final text is their concatenation.
  virtual void DecodeChain(std::vector<std::string>& tokens) const = 0;
};

// Builds tokenizer.json's "decoder" (null gives nullptr). Throws tg::Error(kUnsupported).
std::unique_ptr<Decoder> MakeDecoder(const nlohmann::json& spec);

std::unique_ptr<Decoder> MakeByteLevelDecoder();
// SentencePiece-style: "▁" becomes " ", byte tokens become bytes, the first space is dropped.
std::unique_ptr<Decoder> MakeSentencePieceDecoder(bool strip_leading_space);

}  // namespace tg::tokenizer
