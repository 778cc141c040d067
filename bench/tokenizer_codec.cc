// TextCodec on the project tokenizer (router/tokenizer).
#include <string_view>

#include "bench/text_codec.h"
#include "common/error.h"
#include "router/tokenizer/tokenizer.h"

namespace tg::bench {
namespace {

class TokenizerCodec : public TextCodec {
 public:
  explicit TokenizerCodec(std::unique_ptr<tokenizer::Tokenizer> tokenizer)
      : tokenizer_(std::move(tokenizer)) {
    for (uint32_t id = 0; id < tokenizer_->vocab_size(); ++id) {
      if (tokenizer_->IsSpecial(id)) continue;
      const std::string token = tokenizer_->IdToToken(id);
      // Byte-fallback pieces ("<0x0A>") decode to lone bytes that rarely survive a round trip.
      if (token.empty() || std::string_view(token).starts_with("<0x")) continue;
      ordinary_.push_back(id);
    }
    TG_CHECK(!ordinary_.empty(), kCorruptFile, "tokenizer has no ordinary tokens");
  }

  std::vector<uint32_t> Encode(const std::string& text) const override {
    return tokenizer_->Encode(text, /*add_special_tokens=*/false);
  }
  std::string Decode(const std::vector<uint32_t>& ids) const override {
    return tokenizer_->Decode(ids, /*skip_special_tokens=*/true);
  }
  const std::vector<uint32_t>& ordinary_ids() const override { return ordinary_; }

 private:
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::vector<uint32_t> ordinary_;
};

}  // namespace

std::unique_ptr<TextCodec> LoadTextCodec(const std::string& path) {
  return std::make_unique<TokenizerCodec>(tokenizer::Tokenizer::Load(path));
}

}  // namespace tg::bench
