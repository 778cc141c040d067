// TextCodec over the project's tokenizer (router/tokenizer), the one the router runs with.
#pragma once

#include <filesystem>
#include <memory>

#include "router/engine/text_codec.h"

namespace tg::tokenizer {
class Tokenizer;
}

namespace tg::engine {

class TokenizerCodec : public TextCodec {
 public:
  // Loads tokenizer.json, a directory holding one, or a .gguf file (throws tg::Error).
  static std::unique_ptr<TokenizerCodec> Load(const std::filesystem::path& path);
  explicit TokenizerCodec(std::unique_ptr<tokenizer::Tokenizer> tokenizer);
  ~TokenizerCodec() override;

  std::vector<uint32_t> Encode(const std::string& text, bool add_special_tokens) const override;
  std::string Decode(const std::vector<uint32_t>& ids, bool skip_special) const override;
  bool IsSpecial(uint32_t id) const override;
  std::unique_ptr<StreamDecoder> NewStreamDecoder() const override;
  std::string chat_template() const override;
  std::string bos_token() const override;
  std::string eos_token() const override;

 private:
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
};

}  // namespace tg::engine
