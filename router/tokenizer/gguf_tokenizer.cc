// Builds a Pipeline from GGUF tokenizer metadata (tokenizer.ggml.*), for both llama.cpp
// tokenizer models: `llama` (SentencePiece, merges by score, <0xXX> byte tokens) and `gpt2`
// (byte-level BPE with merges and a pre-tokenizer regex chosen by tokenizer.ggml.pre).
#include <map>

#include "common/error.h"
#include "model_files/gguf.h"
#include "router/tokenizer/bpe_model.h"
#include "router/tokenizer/gguf_pre_tokenizer.h"
#include "router/tokenizer/loaders.h"
#include "router/tokenizer/spm_model.h"

namespace tg::tokenizer {
namespace {

// GGUF token types (llama.cpp's llama_token_type).
constexpr int32_t kTypeUnknown = 2;
constexpr int32_t kTypeControl = 3;
constexpr int32_t kTypeUserDefined = 4;

struct GgufVocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
};

void AddTokens(const GgufVocab& v, Pipeline& p) {
  for (size_t id = 0; id < v.tokens.size(); ++id) {
    p.vocab.Add(v.tokens[id], static_cast<uint32_t>(id));
  }
  // Control and user-defined tokens are found in the text before the model runs, like HF
  // added tokens; control tokens are the special ones.
  for (size_t id = 0; id < v.tokens.size(); ++id) {
    const int32_t type = id < v.types.size() ? v.types[id] : 1;
    if (type != kTypeControl && type != kTypeUserDefined) continue;
    AddedToken t{
        .id = static_cast<uint32_t>(id), .content = v.tokens[id], .special = type == kTypeControl};
    p.raw_added.Add(t);
    if (t.special) p.special_ids.insert(t.id);
  }
}

std::optional<uint32_t> OptionalId(const model::GgufFile& f, const char* key) {
  auto id = f.TryGetU32(key);
  if (id && *id == 0xFFFFFFFFu) return std::nullopt;
  return id;
}

}  // namespace

std::unique_ptr<Pipeline> LoadGgufTokenizer(const std::filesystem::path& path) {
  const model::GgufFile f = model::GgufFile::Open(path);
  const std::string model = f.GetString("tokenizer.ggml.model");
  auto p = std::make_unique<Pipeline>();
  GgufVocab v;
  v.tokens = f.GetStringArray("tokenizer.ggml.tokens");
  if (f.HasKey("tokenizer.ggml.token_type")) v.types = f.GetI32Array("tokenizer.ggml.token_type");
  AddTokens(v, *p);
  const auto bos = OptionalId(f, "tokenizer.ggml.bos_token_id");
  const auto eos = OptionalId(f, "tokenizer.ggml.eos_token_id");
  auto unk = OptionalId(f, "tokenizer.ggml.unknown_token_id");

  bool add_bos = false;
  if (model == "llama") {
    std::vector<float> scores(v.tokens.size(), 0.0f);
    if (f.HasKey("tokenizer.ggml.scores")) scores = f.GetF32Array("tokenizer.ggml.scores");
    if (!unk) {
      for (size_t id = 0; id < v.types.size(); ++id) {
        if (v.types[id] == kTypeUnknown) unk = static_cast<uint32_t>(id);
      }
    }
    const bool add_space_prefix = f.TryGetBool("tokenizer.ggml.add_space_prefix").value_or(true);
    // llama.cpp: a space before each stretch of text, spaces spelled U+2581.
    p->normalizer = MakeSentencePieceNormalizer(add_space_prefix);
    p->model = std::make_unique<SpmModel>(p->vocab, std::move(scores), unk);
    p->decoder = MakeSentencePieceDecoder(add_space_prefix);
    add_bos = true;
  } else if (model == "gpt2") {
    std::vector<std::pair<std::string, std::string>> merges;
    for (const auto& m : f.GetStringArray("tokenizer.ggml.merges")) {
      const size_t space = m.find(' ', 1);
      TG_CHECK(space != std::string::npos, kCorruptFile, "bad GGUF merge: " + m);
      merges.emplace_back(m.substr(0, space), m.substr(space + 1));
    }
    const std::string pre = f.TryGetString("tokenizer.ggml.pre").value_or("default");
    BpeOptions options;
    options.ignore_merges = pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe";
    p->model = std::make_unique<BpeModel>(p->vocab, merges, std::move(options));
    p->pre_tokenizer = MakeRegexByteLevel(GgufPreTokenizerRegexes(pre));
    p->decoder = MakeByteLevelDecoder();
  } else {
    throw Error(ErrorKind::kUnsupported, "unsupported GGUF tokenizer model: " + model);
  }
  add_bos = f.TryGetBool("tokenizer.ggml.add_bos_token").value_or(add_bos);
  const bool add_eos = f.TryGetBool("tokenizer.ggml.add_eos_token").value_or(false);
  std::vector<uint32_t> prefix, suffix;
  if (add_bos && bos) prefix.push_back(*bos);
  if (add_eos && eos) suffix.push_back(*eos);
  p->post_processor = MakeAffixProcessor(std::move(prefix), std::move(suffix));
  auto token_text = [&](std::optional<uint32_t> id) -> std::optional<std::string> {
    if (!id || *id >= v.tokens.size()) return std::nullopt;
    return v.tokens[*id];
  };
  p->bos_token = token_text(bos);
  p->eos_token = token_text(eos);
  p->chat_template = f.TryGetString("tokenizer.chat_template");
  return p;
}

}  // namespace tg::tokenizer
