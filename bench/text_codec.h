// The tokenizer operations the workload generator needs, behind a small interface so the
// generator can be tested with any tokenizer and the binary can swap implementations.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tg::bench {

class TextCodec {
 public:
  virtual ~TextCodec() = default;
  // Tokens of `text` without special tokens (what a prompt contributes after BOS).
  virtual std::vector<uint32_t> Encode(const std::string& text) const = 0;
  virtual std::string Decode(const std::vector<uint32_t>& ids) const = 0;
  // Ids in [0, vocab_size()) that decode to ordinary text; the generator samples from these.
  virtual const std::vector<uint32_t>& ordinary_ids() const = 0;
};

// The project tokenizer (router/tokenizer) on a tokenizer.json, a directory holding one, or a
// .gguf. Throws tg::Error when the file cannot be loaded or the binary was built without it.
std::unique_ptr<TextCodec> LoadTextCodec(const std::string& path);

}  // namespace tg::bench
