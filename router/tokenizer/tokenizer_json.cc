// Reads HF tokenizer.json (and tokenizer_config.json) into a Pipeline.
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "router/tokenizer/bpe_model.h"
#include "router/tokenizer/loaders.h"

namespace tg::tokenizer {
namespace {

nlohmann::json ReadJson(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  TG_CHECK(in.good(), kNotFound, "cannot open " + path.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kCorruptFile, path.string() + ": " + e.what());
  }
}

std::vector<std::pair<std::string, std::string>> ParseMerges(const nlohmann::json& merges) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(merges.size());
  for (const auto& m : merges) {
    if (m.is_array()) {
      out.emplace_back(m.at(0).get<std::string>(), m.at(1).get<std::string>());
      continue;
    }
    const auto& s = m.get_ref<const std::string&>();
    const size_t space = s.find(' ', 1);
    TG_CHECK(space != std::string::npos, kCorruptFile, "bad BPE merge: " + s);
    out.emplace_back(s.substr(0, space), s.substr(space + 1));
  }
  return out;
}

std::unique_ptr<Model> MakeModel(const nlohmann::json& spec, const Vocab& vocab) {
  const std::string type = spec.value("type", std::string("BPE"));
  TG_CHECK(type == "BPE", kUnsupported, "unsupported tokenizer model type: " + type);
  BpeOptions options;
  if (spec.contains("unk_token") && spec.at("unk_token").is_string()) {
    options.unk_token = spec.at("unk_token").get<std::string>();
  }
  auto str = [&](const char* key) {
    return spec.contains(key) && spec.at(key).is_string() ? spec.at(key).get<std::string>()
                                                          : std::string();
  };
  options.continuing_subword_prefix = str("continuing_subword_prefix");
  options.end_of_word_suffix = str("end_of_word_suffix");
  auto flag = [&](const char* key) {
    return spec.contains(key) && spec.at(key).is_boolean() && spec.at(key).get<bool>();
  };
  options.fuse_unk = flag("fuse_unk");
  options.byte_fallback = flag("byte_fallback");
  options.ignore_merges = flag("ignore_merges");
  TG_CHECK(!spec.contains("dropout") || spec.at("dropout").is_null() ||
               spec.at("dropout").get<double>() == 0.0,
           kUnsupported, "BPE dropout is not supported for inference");
  return std::make_unique<BpeModel>(vocab, ParseMerges(spec.at("merges")), std::move(options));
}

// bos_token/eos_token are a string or an AddedToken object {"content": ...}.
std::optional<std::string> TokenString(const nlohmann::json& config, const char* key) {
  if (!config.contains(key)) return std::nullopt;
  const auto& v = config.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content")) return v.at("content").get<std::string>();
  return std::nullopt;
}

// chat_template is a string or a list of {name, template}; the one named "default" wins.
std::optional<std::string> ChatTemplateOf(const nlohmann::json& config) {
  if (!config.contains("chat_template")) return std::nullopt;
  const auto& t = config.at("chat_template");
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array() && !t.empty()) {
    for (const auto& named : t) {
      if (named.value("name", std::string()) == "default") {
        return named.at("template").get<std::string>();
      }
    }
    return t.at(0).at("template").get<std::string>();
  }
  return std::nullopt;
}

void ReadConfig(const std::filesystem::path& dir, Pipeline& p) {
  const auto config_path = dir / "tokenizer_config.json";
  if (std::filesystem::exists(config_path)) {
    const nlohmann::json config = ReadJson(config_path);
    p.bos_token = TokenString(config, "bos_token");
    p.eos_token = TokenString(config, "eos_token");
    p.chat_template = ChatTemplateOf(config);
  }
  const auto jinja_path = dir / "chat_template.jinja";
  if (std::filesystem::exists(jinja_path)) {
    std::ifstream in(jinja_path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    p.chat_template = ss.str();
  }
}

}  // namespace

std::unique_ptr<Pipeline> LoadTokenizerJson(const std::filesystem::path& path) {
  const nlohmann::json root = ReadJson(path);
  auto p = std::make_unique<Pipeline>();
  try {
    const auto& model = root.at("model");
    for (const auto& [token, id] : model.at("vocab").items())
      p->vocab.Add(token, id.get<uint32_t>());
    p->model = MakeModel(model, p->vocab);
    if (root.contains("added_tokens")) {
      for (const auto& t : root.at("added_tokens")) {
        AddedToken token{
            .id = t.at("id").get<uint32_t>(),
            .content = t.at("content").get<std::string>(),
            .special = t.value("special", false),
            .lstrip = t.value("lstrip", false),
            .rstrip = t.value("rstrip", false),
            .normalized = t.value("normalized", false),
            .single_word = t.value("single_word", false),
        };
        p->vocab.Add(token.content, token.id);
        if (token.special) p->special_ids.insert(token.id);
        (token.normalized ? p->normalized_added : p->raw_added).Add(token);
      }
    }
    p->normalizer = MakeNormalizer(root.value("normalizer", nlohmann::json()));
    p->pre_tokenizer = MakePreTokenizer(root.value("pre_tokenizer", nlohmann::json()));
    p->post_processor = MakePostProcessor(root.value("post_processor", nlohmann::json()), p->vocab);
    p->decoder = MakeDecoder(root.value("decoder", nlohmann::json()));
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kCorruptFile, path.string() + ": " + e.what());
  }
  ReadConfig(path.parent_path(), *p);
  return p;
}

}  // namespace tg::tokenizer
