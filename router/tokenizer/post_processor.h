// tokenizer.json post-processors: what `add_special_tokens` adds around the encoded ids
// (TemplateProcessing for BOS/EOS, BertProcessing / RobertaProcessing, ByteLevel, Sequence).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "router/tokenizer/vocab.h"

namespace tg::tokenizer {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void AddSpecialTokens(std::vector<uint32_t>& ids) const = 0;
};

// Builds tokenizer.json's "post_processor" (null gives nullptr). Throws tg::Error(kUnsupported).
std::unique_ptr<PostProcessor> MakePostProcessor(const nlohmann::json& spec, const Vocab& vocab);

// Adds fixed ids before and after (BOS/EOS of GGUF tokenizers).
std::unique_ptr<PostProcessor> MakeAffixProcessor(std::vector<uint32_t> prefix,
                                                  std::vector<uint32_t> suffix);

}  // namespace tg::tokenizer
