// Builds a Pipeline from GGUF tokenizer metadata (tokenizer.ggml.*), for both llama.cpp
// tokenizer models: `llama` (SentencePiece, merges by score, <0xXX> byte tokens) and `gpt2`
// (byte-level BPE with merges and a pre-tokenizer regex chosen by tokenizer.ggml.pre).
#include <map>

#include "common/error.h"
#include "model_files/gguf.h"
#include "router/tokenizer/bpe_model.h"
#include "router/tokenizer/loaders.h"
#include "router/tokenizer/spm_model.h"

namespace tg::tokenizer {
namespace {

// GGUF token types (llama.cpp's llama_token_type).
constexpr int32_t kTypeUnknown = 2;
constexpr int32_t kTypeControl = 3;
constexpr int32_t kTypeUserDefined = 4;

const char* const kLlama3Regex =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2Regex =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// The pre-tokenizer regexes (applied in sequence, each isolating its matches) for the values of
// tokenizer.ggml.pre, following the HF tokenizers those GGUF files were converted from.
std::vector<std::string> PreTokenizerRegexes(const std::string& pre) {
  const std::string gpt2 = kGpt2Regex;
  if (pre == "gpt-2" || pre == "gpt2" || pre == "phi-2" || pre == "jina-es" || pre == "jina-de" ||
      pre == "olmo" || pre == "jais" || pre == "mpt" || pre == "poro-chat" || pre == "viking" ||
      pre == "trillion" || pre == "granite-docling") {
    return {gpt2};
  }
  if (pre == "default") {
    return {R"([\p{P}\$\+<=>\^~\|]+)", gpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"};
  }
  if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3" ||
      pre == "pixtral" || pre == "dbrx" || pre == "smaug-bpe") {
    return {kLlama3Regex};
  }
  if (pre == "qwen2" || pre == "deepseek-r1-qwen" || pre == "megrez" || pre == "hunyuan") {
    return {kQwen2Regex};
  }
  if (pre == "starcoder" || pre == "refact" || pre == "command-r" || pre == "smollm" ||
      pre == "codeshell" || pre == "exaone" || pre == "minerva-7b") {
    return {R"(\p{N})", gpt2};
  }
  if (pre == "falcon") return {R"([\p{P}\$\+<=>\^~\|`]+)", gpt2, "[0-9][0-9][0-9]"};
  if (pre == "deepseek-llm") {
    return {
        "[\r\n]",
        "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-"
        "\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{"
        "386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-"
        "\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{"
        "1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{"
        "1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}"
        "-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{"
        "1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}"
        "\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{"
        "2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-"
        "\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{"
        "2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}"
        "\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{"
        "ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{"
        "10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}"
        "-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
        "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
        "\\s+$",
        "[一-龥ࠀ-一가-퟿]+",
        "\\p{N}+",
    };
  }
  if (pre == "deepseek-coder") {
    return {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"};
  }
  throw Error(ErrorKind::kUnsupported, "unsupported GGUF pre-tokenizer: " + pre);
}

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
    p->pre_tokenizer = MakeRegexByteLevel(PreTokenizerRegexes(pre));
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
