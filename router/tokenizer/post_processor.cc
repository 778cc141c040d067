#include "router/tokenizer/post_processor.h"

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace tg::tokenizer {
namespace {

class Affix final : public PostProcessor {
 public:
  Affix(std::vector<uint32_t> prefix, std::vector<uint32_t> suffix)
      : prefix_(std::move(prefix)), suffix_(std::move(suffix)) {}
  void AddSpecialTokens(std::vector<uint32_t>& ids) const override {
    ids.insert(ids.begin(), prefix_.begin(), prefix_.end());
    ids.insert(ids.end(), suffix_.begin(), suffix_.end());
  }

 private:
  std::vector<uint32_t> prefix_, suffix_;
};

class NoOp final : public PostProcessor {
 public:
  void AddSpecialTokens(std::vector<uint32_t>&) const override {}
};

class Sequence final : public PostProcessor {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  void AddSpecialTokens(std::vector<uint32_t>& ids) const override {
    for (const auto& p : parts_) p->AddSpecialTokens(ids);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

// TemplateProcessing's "single" template: special tokens around the one sequence "A".
std::unique_ptr<PostProcessor> MakeTemplate(const nlohmann::json& spec) {
  std::vector<uint32_t> prefix, suffix;
  bool seen_sequence = false;
  for (const auto& item : spec.at("single")) {
    if (item.contains("Sequence")) {
      TG_CHECK(!seen_sequence, kUnsupported, "TemplateProcessing with two sequences");
      seen_sequence = true;
      continue;
    }
    const std::string name = item.at("SpecialToken").at("id").get<std::string>();
    const auto& special = spec.at("special_tokens").at(name);
    auto& target = seen_sequence ? suffix : prefix;
    for (const auto& id : special.at("ids")) target.push_back(id.get<uint32_t>());
  }
  return MakeAffixProcessor(std::move(prefix), std::move(suffix));
}

}  // namespace

std::unique_ptr<PostProcessor> MakeAffixProcessor(std::vector<uint32_t> prefix,
                                                  std::vector<uint32_t> suffix) {
  return std::make_unique<Affix>(std::move(prefix), std::move(suffix));
}

std::unique_ptr<PostProcessor> MakePostProcessor(const nlohmann::json& spec, const Vocab& vocab) {
  if (spec.is_null()) return nullptr;
  const std::string type = spec.at("type").get<std::string>();
  if (type == "TemplateProcessing") return MakeTemplate(spec);
  if (type == "ByteLevel") return std::make_unique<NoOp>();  // only moves offsets
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    auto id_of = [&](const char* key) {
      const auto& pair = spec.at(key);
      if (pair.size() == 2) return pair.at(1).get<uint32_t>();
      auto id = vocab.Find(pair.at(0).get<std::string>());
      TG_CHECK(id.has_value(), kCorruptFile, std::string("unknown post-processor token ") + key);
      return *id;
    };
    return MakeAffixProcessor({id_of("cls")}, {id_of("sep")});
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (const auto& p : spec.at("processors")) {
      if (auto q = MakePostProcessor(p, vocab)) parts.push_back(std::move(q));
    }
    return std::make_unique<Sequence>(std::move(parts));
  }
  throw Error(ErrorKind::kUnsupported, "unsupported tokenizer post_processor type: " + type);
}

}  // namespace tg::tokenizer
