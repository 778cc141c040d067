#include "router/tokenizer/tokenizer.h"

#include "common/error.h"
#include "router/tokenizer/loaders.h"
#include "router/tokenizer/pipeline.h"

namespace tg::tokenizer {

std::unique_ptr<Tokenizer> Tokenizer::Load(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  TG_CHECK(fs::exists(path), kNotFound, "tokenizer not found: " + path.string());
  if (fs::is_directory(path)) {
    const auto json = path / "tokenizer.json";
    TG_CHECK(fs::exists(json), kNotFound, "no tokenizer.json in " + path.string());
    return std::make_unique<Tokenizer>(LoadTokenizerJson(json));
  }
  if (path.extension() == ".gguf") return std::make_unique<Tokenizer>(LoadGgufTokenizer(path));
  return std::make_unique<Tokenizer>(LoadTokenizerJson(path));
}

Tokenizer::Tokenizer(std::unique_ptr<Pipeline> pipeline) : pipeline_(std::move(pipeline)) {}
Tokenizer::~Tokenizer() = default;

std::vector<uint32_t> Tokenizer::Encode(std::string_view text, bool add_special_tokens) const {
  return pipeline_->Encode(text, add_special_tokens);
}

std::string Tokenizer::Decode(std::span<const uint32_t> ids, bool skip_special_tokens) const {
  return pipeline_->Decode(ids, skip_special_tokens);
}

size_t Tokenizer::vocab_size() const { return pipeline_->vocab.id_to_token.size(); }

std::optional<uint32_t> Tokenizer::TokenToId(std::string_view token) const {
  return pipeline_->vocab.Find(token);
}

std::string Tokenizer::IdToToken(uint32_t id) const {
  const auto& tokens = pipeline_->vocab.id_to_token;
  return id < tokens.size() ? tokens[id] : std::string();
}

bool Tokenizer::IsSpecial(uint32_t id) const { return pipeline_->special_ids.count(id) != 0; }

std::optional<std::string> Tokenizer::bos_token() const { return pipeline_->bos_token; }
std::optional<std::string> Tokenizer::eos_token() const { return pipeline_->eos_token; }
std::optional<std::string> Tokenizer::chat_template() const { return pipeline_->chat_template; }

}  // namespace tg::tokenizer
