#include "router/engine/tokenizer_codec.h"

#include "router/tokenizer/incremental_decoder.h"
#include "router/tokenizer/tokenizer.h"

namespace tg::engine {
namespace {

class IncrementalStreamDecoder : public StreamDecoder {
 public:
  explicit IncrementalStreamDecoder(const tokenizer::Tokenizer& tok)
      : decoder_(tok, /*skip_special_tokens=*/true) {}
  std::string Push(uint32_t id) override { return decoder_.Push(id); }
  std::string Flush() override { return decoder_.Flush(); }

 private:
  tokenizer::IncrementalDecoder decoder_;
};

}  // namespace

std::unique_ptr<TokenizerCodec> TokenizerCodec::Load(const std::filesystem::path& path) {
  return std::make_unique<TokenizerCodec>(tokenizer::Tokenizer::Load(path));
}

TokenizerCodec::TokenizerCodec(std::unique_ptr<tokenizer::Tokenizer> tokenizer)
    : tokenizer_(std::move(tokenizer)) {}

TokenizerCodec::~TokenizerCodec() = default;

std::vector<uint32_t> TokenizerCodec::Encode(const std::string& text,
                                             bool add_special_tokens) const {
  return tokenizer_->Encode(text, add_special_tokens);
}

std::string TokenizerCodec::Decode(const std::vector<uint32_t>& ids, bool skip_special) const {
  return tokenizer_->Decode(ids, skip_special);
}

bool TokenizerCodec::IsSpecial(uint32_t id) const { return tokenizer_->IsSpecial(id); }

std::unique_ptr<StreamDecoder> TokenizerCodec::NewStreamDecoder() const {
  return std::make_unique<IncrementalStreamDecoder>(*tokenizer_);
}

std::string TokenizerCodec::chat_template() const {
  return tokenizer_->chat_template().value_or("");
}
std::string TokenizerCodec::bos_token() const { return tokenizer_->bos_token().value_or(""); }
std::string TokenizerCodec::eos_token() const { return tokenizer_->eos_token().value_or(""); }

}  // namespace tg::engine
