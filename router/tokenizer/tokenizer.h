// A text tokenizer that reproduces Hugging Face `tokenizers` exactly: ids from Encode and text
// from Decode are byte-identical to what the HF library produces for the same tokenizer.json.
// It also loads the tokenizer stored in a GGUF file's metadata (llama.cpp's `gpt2` and `llama`
// tokenizer models), so a .gguf model needs no other file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tg::tokenizer {

class Pipeline;  // normalizer + pre-tokenizer + model + post-processor + decoder (pipeline.h)

class Tokenizer {
 public:
  // A tokenizer.json, a directory holding one (plus tokenizer_config.json if present), or a .gguf
  // file. Throws tg::Error (kNotFound, kCorruptFile, kUnsupported) when it cannot be loaded;
  // an unsupported component is reported at load, never silently ignored.
  static std::unique_ptr<Tokenizer> Load(const std::filesystem::path& path);

  explicit Tokenizer(std::unique_ptr<Pipeline> pipeline);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // UTF-8 text to ids. add_special_tokens applies the post-processor (BOS/EOS templates).
  // Invalid UTF-8 is replaced by U+FFFD first, like a Python str would be.
  std::vector<uint32_t> Encode(std::string_view text, bool add_special_tokens) const;
  // Ids to UTF-8 text through the tokenizer's decoder. Ids outside the vocabulary are skipped.
  std::string Decode(std::span<const uint32_t> ids, bool skip_special_tokens) const;

  size_t vocab_size() const;
  std::optional<uint32_t> TokenToId(std::string_view token) const;
  std::string IdToToken(uint32_t id) const;  // "" for an unknown id
  bool IsSpecial(uint32_t id) const;

  // From tokenizer_config.json / GGUF metadata, when present.
  std::optional<std::string> bos_token() const;
  std::optional<std::string> eos_token() const;
  std::optional<std::string> chat_template() const;  // the default template source

  const Pipeline& pipeline() const { return *pipeline_; }

 private:
  std::unique_ptr<Pipeline> pipeline_;
};

}  // namespace tg::tokenizer
