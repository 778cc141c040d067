#include "router/tokenizer/added_vocab.h"

#include <unicode/uchar.h>

#include "router/tokenizer/utf8.h"

namespace tg::tokenizer {
namespace {

// Rust's char::is_alphanumeric or '_': what HF calls a word character for single_word.
bool IsWordChar(uint32_t cp) {
  return cp == '_' || u_isalpha(static_cast<UChar32>(cp)) || u_isdigit(static_cast<UChar32>(cp)) ||
         u_charType(static_cast<UChar32>(cp)) == U_LETTER_NUMBER ||
         u_charType(static_cast<UChar32>(cp)) == U_OTHER_NUMBER;
}

bool IsSpace(uint32_t cp) { return u_isUWhiteSpace(static_cast<UChar32>(cp)); }

size_t PrevCharStart(std::string_view s, size_t pos) {
  size_t i = pos - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

uint32_t CodePointAt(std::string_view s, size_t pos) { return NextCodePoint(s, pos); }

}  // namespace

void AddedTokenMatcher::Add(const AddedToken& token) {
  if (token.content.empty()) return;
  int32_t node = 0;
  for (char c : token.content) {
    const auto b = static_cast<unsigned char>(c);
    int32_t child = -1;
    for (const auto& [byte, idx] : nodes_[node].children) {
      if (byte == b) child = idx;
    }
    if (child < 0) {
      child = static_cast<int32_t>(nodes_.size());
      nodes_[node].children.emplace_back(b, child);
      nodes_.emplace_back();
    }
    node = child;
  }
  if (nodes_[node].token >= 0) {
    tokens_[nodes_[node].token] = token;
  } else {
    nodes_[node].token = static_cast<int32_t>(tokens_.size());
    tokens_.push_back(token);
  }
  first_byte_[static_cast<unsigned char>(token.content[0])] = true;
}

std::optional<AddedTokenMatcher::Match> AddedTokenMatcher::LongestAt(std::string_view text,
                                                                     size_t pos) const {
  std::optional<Match> best;
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto b = static_cast<unsigned char>(text[i]);
    int32_t child = -1;
    for (const auto& [byte, idx] : nodes_[node].children) {
      if (byte == b) {
        child = idx;
        break;
      }
    }
    if (child < 0) break;
    node = child;
    if (nodes_[node].token >= 0) best = Match{pos, i + 1, static_cast<size_t>(nodes_[node].token)};
  }
  return best;
}

void AddedTokenMatcher::Split(std::string_view text, bool at_text_start,
                              std::vector<Segment>& out) const {
  size_t emitted = 0;  // text before this offset is already in `out`
  size_t pos = 0;
  auto emit_text = [&](size_t begin, size_t end) {
    if (end > begin) {
      out.push_back(Segment{std::string(text.substr(begin, end - begin)), std::nullopt,
                            at_text_start && begin == 0});
    }
  };
  while (pos < text.size()) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    auto match = LongestAt(text, pos);
    if (!match) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[match->token];
    size_t begin = match->begin, end = match->end;
    if (token.single_word) {
      const bool word_before =
          begin > 0 && IsWordChar(CodePointAt(text, PrevCharStart(text, begin)));
      const bool word_after = end < text.size() && IsWordChar(CodePointAt(text, end));
      if (word_before || word_after) {
        pos = end;  // like a non-overlapping match iterator, continue after the rejected match
        continue;
      }
    }
    if (token.lstrip) {
      while (begin > emitted && IsSpace(CodePointAt(text, PrevCharStart(text, begin)))) {
        begin = PrevCharStart(text, begin);
      }
    }
    if (token.rstrip) {
      while (end < text.size()) {
        size_t next = end;
        if (!IsSpace(NextCodePoint(text, next))) break;
        end = next;
      }
    }
    emit_text(emitted, begin);
    out.push_back(Segment{token.content, token.id, false});
    emitted = pos = end;
  }
  emit_text(emitted, text.size());
}

}  // namespace tg::tokenizer
