#include "router/tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <tuple>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "router/tokenizer/byte_level.h"
#include "router/tokenizer/normalizer.h"
#include "router/tokenizer/regex.h"

namespace tg::tokenizer {

const char* const kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Behavior ParseBehavior(const std::string& name) {
  if (name == "Removed") return Behavior::kRemoved;
  if (name == "Isolated") return Behavior::kIsolated;
  if (name == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::kMergedWithNext;
  if (name == "Contiguous") return Behavior::kContiguous;
  throw Error(ErrorKind::kCorruptFile, "unknown split behavior: " + name);
}

// Splits one piece at the given ranges (already in order) following HF's SplitDelimiterBehavior.
void SplitPiece(const Piece& piece, const std::vector<std::pair<size_t, size_t>>& matches,
                bool invert, Behavior behavior, std::vector<Piece>& out) {
  const std::string& s = piece.text;
  // (begin, end, is_match) covering the whole string.
  std::vector<std::tuple<size_t, size_t, bool>> spans;
  size_t last = 0;
  for (const auto& [b, e] : matches) {
    if (b > last) spans.emplace_back(last, b, invert);
    spans.emplace_back(b, e, !invert);
    last = e;
  }
  if (last < s.size()) spans.emplace_back(last, s.size(), invert);

  std::vector<std::pair<size_t, size_t>> parts;
  switch (behavior) {
    case Behavior::kRemoved:
      for (auto [b, e, m] : spans) {
        if (!m) parts.emplace_back(b, e);
      }
      break;
    case Behavior::kIsolated:
      for (auto [b, e, m] : spans) parts.emplace_back(b, e);
      break;
    case Behavior::kMergedWithPrevious: {
      // A match joins the span before it, unless that span is itself a match.
      bool prev_match = false;
      for (auto [b, e, m] : spans) {
        if (m && !prev_match && !parts.empty()) {
          parts.back().second = e;
        } else {
          parts.emplace_back(b, e);
        }
        prev_match = m;
      }
      break;
    }
    case Behavior::kMergedWithNext: {
      // A match joins the span after it, unless that span is itself a match.
      bool next_match = false;
      for (size_t k = spans.size(); k-- > 0;) {
        auto [b, e, m] = spans[k];
        if (m && !next_match && !parts.empty()) {
          parts.back().first = b;
        } else {
          parts.emplace_back(b, e);
        }
        next_match = m;
      }
      std::reverse(parts.begin(), parts.end());
      break;
    }
    case Behavior::kContiguous: {
      // Neighbouring spans of the same kind (two matches, or two gaps when inverted) join.
      bool prev_match = false;
      for (auto [b, e, m] : spans) {
        if (!parts.empty() && m == prev_match) {
          parts.back().second = e;
        } else {
          parts.emplace_back(b, e);
        }
        prev_match = m;
      }
      break;
    }
  }
  bool first = true;
  for (auto [b, e] : parts) {
    if (e > b) out.push_back(Piece{s.substr(b, e - b), piece.at_text_start && first && b == 0});
    first = false;
  }
}

class SplitRegex final : public PreTokenizer {
 public:
  SplitRegex(const std::string& pattern, Behavior behavior, bool invert)
      : regex_(pattern), behavior_(behavior), invert_(invert) {}
  void Split(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 4);
    for (const auto& p : pieces) SplitPiece(p, regex_.FindAll(p.text), invert_, behavior_, out);
    pieces = std::move(out);
  }

 private:
  Regex regex_;
  Behavior behavior_;
  bool invert_;
};

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
    if (use_regex) split_ = std::make_unique<SplitRegex>(kGpt2Regex, Behavior::kIsolated, false);
  }
  void Split(std::vector<Piece>& pieces) const override {
    if (add_prefix_space_) {
      for (auto& p : pieces) {
        if (!p.text.empty() && p.text[0] != ' ') p.text.insert(0, " ");
      }
    }
    if (split_) split_->Split(pieces);
    for (auto& p : pieces) {
      std::string mapped;
      mapped.reserve(p.text.size() * 2);
      AppendByteLevel(p.text, mapped);
      p.text = std::move(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<SplitRegex> split_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

class Metaspace final : public PreTokenizer {
 public:
  Metaspace(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void Split(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    for (auto& p : pieces) {
      std::string s;
      s.reserve(p.text.size() + replacement_.size());
      for (char c : p.text) {
        if (c == ' ') {
          s += replacement_;
        } else {
          s += c;
        }
      }
      const bool starts = s.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (scheme_ == PrependScheme::kAlways ||
                      (scheme_ == PrependScheme::kFirst && p.at_text_start))) {
        s.insert(0, replacement_);
      }
      if (!split_) {
        if (!s.empty()) out.push_back(Piece{std::move(s), p.at_text_start});
        continue;
      }
      std::vector<std::pair<size_t, size_t>> matches;
      for (size_t at = s.find(replacement_); at != std::string::npos;
           at = s.find(replacement_, at + replacement_.size())) {
        matches.emplace_back(at, at + replacement_.size());
      }
      SplitPiece(Piece{std::move(s), p.at_text_start}, matches, false, Behavior::kMergedWithNext,
                 out);
    }
    pieces = std::move(out);
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

class Sequence final : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void Split(std::vector<Piece>& pieces) const override {
    for (const auto& p : parts_) p->Split(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace

std::unique_ptr<PreTokenizer> MakeRegexByteLevel(const std::vector<std::string>& regexes) {
  std::vector<std::unique_ptr<PreTokenizer>> parts;
  for (const auto& r : regexes) {
    parts.push_back(std::make_unique<SplitRegex>(r, Behavior::kIsolated, false));
  }
  parts.push_back(std::make_unique<ByteLevel>(false, false));
  return std::make_unique<Sequence>(std::move(parts));
}

std::unique_ptr<PreTokenizer> MakePreTokenizer(const nlohmann::json& spec) {
  if (spec.is_null()) return nullptr;
  const std::string type = spec.at("type").get<std::string>();
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevel>(spec.value("add_prefix_space", true),
                                       spec.value("use_regex", true));
  }
  if (type == "Split") {
    return std::make_unique<SplitRegex>(PatternToRegex(spec.at("pattern")),
                                        ParseBehavior(spec.at("behavior").get<std::string>()),
                                        spec.value("invert", false));
  }
  if (type == "Metaspace") {
    std::string scheme = "always";
    if (spec.contains("prepend_scheme")) {
      scheme = spec.at("prepend_scheme").get<std::string>();
    } else if (spec.contains("add_prefix_space") && !spec.at("add_prefix_space").get<bool>()) {
      scheme = "never";
    }
    const PrependScheme ps = scheme == "first"   ? PrependScheme::kFirst
                             : scheme == "never" ? PrependScheme::kNever
                                                 : PrependScheme::kAlways;
    return std::make_unique<Metaspace>(spec.value("replacement", std::string("\u2581")), ps,
                                       spec.value("split", true));
  }
  if (type == "Digits") {
    return std::make_unique<SplitRegex>(
        R"(\p{N})",
        spec.value("individual_digits", false) ? Behavior::kIsolated : Behavior::kContiguous,
        false);
  }
  if (type == "Whitespace") {
    return std::make_unique<SplitRegex>(R"(\w+|[^\w\s]+)", Behavior::kRemoved, true);
  }
  if (type == "WhitespaceSplit") {
    return std::make_unique<SplitRegex>(R"(\s+)", Behavior::kRemoved, false);
  }
  if (type == "Punctuation") {
    return std::make_unique<SplitRegex>(R"([\p{P}\p{S}])", Behavior::kIsolated, false);
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (const auto& p : spec.at("pretokenizers")) {
      if (auto t = MakePreTokenizer(p)) parts.push_back(std::move(t));
    }
    return std::make_unique<Sequence>(std::move(parts));
  }
  throw Error(ErrorKind::kUnsupported, "unsupported tokenizer pre_tokenizer type: " + type);
}

}  // namespace tg::tokenizer
