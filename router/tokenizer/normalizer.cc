#include "router/tokenizer/normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/casemap.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "router/tokenizer/regex.h"
#include "router/tokenizer/utf8.h"

namespace tg::tokenizer {
namespace {

bool IsAscii(const std::string& s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(UnicodeForm form) {
    UErrorCode status = U_ZERO_ERROR;
    switch (form) {
      case UnicodeForm::kNfc:
        impl_ = icu::Normalizer2::getNFCInstance(status);
        break;
      case UnicodeForm::kNfkc:
        impl_ = icu::Normalizer2::getNFKCInstance(status);
        break;
      case UnicodeForm::kNfd:
        impl_ = icu::Normalizer2::getNFDInstance(status);
        break;
      case UnicodeForm::kNfkd:
        impl_ = icu::Normalizer2::getNFKDInstance(status);
        break;
    }
    TG_CHECK(U_SUCCESS(status) && impl_ != nullptr, kInternal, "ICU normalizer unavailable");
  }
  void Normalize(std::string& text) const override {
    if (IsAscii(text)) return;  // every form leaves ASCII unchanged
    UErrorCode status = U_ZERO_ERROR;
    if (impl_->isNormalizedUTF8(text, status) && U_SUCCESS(status)) return;
    status = U_ZERO_ERROR;
    std::string out;
    icu::StringByteSink<std::string> sink(&out);
    impl_->normalizeUTF8(0, text, sink, nullptr, status);
    TG_CHECK(U_SUCCESS(status), kInvalidArgument, "Unicode normalization failed");
    text = std::move(out);
  }

 private:
  const icu::Normalizer2* impl_ = nullptr;
};

class Lowercase final : public Normalizer {
 public:
  void Normalize(std::string& text) const override {
    if (IsAscii(text)) {
      for (char& c : text) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      }
      return;
    }
    std::string out;
    icu::StringByteSink<std::string> sink(&out);
    UErrorCode status = U_ZERO_ERROR;
    icu::CaseMap::utf8ToLower("", 0, text, sink, nullptr, status);
    TG_CHECK(U_SUCCESS(status), kInvalidArgument, "lowercasing failed");
    text = std::move(out);
  }
};

// Removes leading/trailing Unicode white space (Rust's str::trim_start / trim_end).
class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void Normalize(std::string& text) const override {
    size_t begin = 0, end = text.size();
    if (left_) {
      while (begin < end) {
        size_t i = begin;
        if (!u_isUWhiteSpace(static_cast<UChar32>(NextCodePoint(text, i)))) break;
        begin = i;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
        size_t i = start;
        if (!u_isUWhiteSpace(static_cast<UChar32>(NextCodePoint(text, i)))) break;
        end = start;
      }
    }
    text = text.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

class Replace final : public Normalizer {
 public:
  Replace(const std::string& pattern, std::string content)
      : regex_(pattern), content_(std::move(content)) {}
  void Normalize(std::string& text) const override { text = regex_.ReplaceAll(text, content_); }

 private:
  Regex regex_;
  std::string content_;
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void Normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class Sequence final : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void Normalize(std::string& text) const override {
    for (const auto& p : parts_) p->Normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> MakeUnicodeNormalizer(UnicodeForm form) {
  return std::make_unique<UnicodeNormalizer>(form);
}

// The pattern of a Replace/Split: {"String": "..."} is literal, {"Regex": "..."} a regex.
std::string PatternToRegex(const nlohmann::json& pattern) {
  if (pattern.contains("String")) return EscapeRegex(pattern.at("String").get<std::string>());
  if (pattern.contains("Regex")) return pattern.at("Regex").get<std::string>();
  throw Error(ErrorKind::kCorruptFile, "pattern must be String or Regex: " + pattern.dump());
}

std::unique_ptr<Normalizer> MakeSentencePieceNormalizer(bool add_space_prefix) {
  std::vector<std::unique_ptr<Normalizer>> parts;
  if (add_space_prefix) parts.push_back(std::make_unique<Prepend>("\u2581"));
  parts.push_back(std::make_unique<Replace>(EscapeRegex(" "), "\u2581"));
  return std::make_unique<Sequence>(std::move(parts));
}

std::unique_ptr<Normalizer> MakeNormalizer(const nlohmann::json& spec) {
  if (spec.is_null()) return nullptr;
  const std::string type = spec.at("type").get<std::string>();
  if (type == "NFC") return MakeUnicodeNormalizer(UnicodeForm::kNfc);
  if (type == "NFKC") return MakeUnicodeNormalizer(UnicodeForm::kNfkc);
  if (type == "NFD") return MakeUnicodeNormalizer(UnicodeForm::kNfd);
  if (type == "NFKD") return MakeUnicodeNormalizer(UnicodeForm::kNfkd);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Strip") {
    return std::make_unique<Strip>(spec.value("strip_left", true), spec.value("strip_right", true));
  }
  if (type == "Replace") {
    return std::make_unique<Replace>(PatternToRegex(spec.at("pattern")),
                                     spec.at("content").get<std::string>());
  }
  if (type == "Prepend") return std::make_unique<Prepend>(spec.at("prepend").get<std::string>());
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (const auto& p : spec.at("normalizers")) {
      if (auto n = MakeNormalizer(p)) parts.push_back(std::move(n));
    }
    return std::make_unique<Sequence>(std::move(parts));
  }
  throw Error(ErrorKind::kUnsupported, "unsupported tokenizer normalizer type: " + type);
}

}  // namespace tg::tokenizer
