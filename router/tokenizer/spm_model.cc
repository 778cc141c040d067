#include "router/tokenizer/spm_model.h"

#include <cstdio>
#include <functional>
#include <queue>
#include <unordered_map>

#include "router/tokenizer/utf8.h"

namespace tg::tokenizer {

SpmModel::SpmModel(const Vocab& vocab, std::vector<float> scores, std::optional<uint32_t> unk_id)
    : vocab_(vocab), scores_(std::move(scores)), unk_id_(unk_id) {
  byte_ids_.assign(256, -1);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    if (auto id = vocab_.Find(name)) byte_ids_[b] = *id;
  }
}

void SpmModel::Encode(std::string_view text, std::vector<uint32_t>& out) const {
  struct Symbol {
    int32_t prev, next;
    size_t begin, len;
  };
  std::vector<Symbol> symbols;
  for (size_t i = 0; i < text.size();) {
    const size_t n =
        std::min(Utf8SequenceLength(static_cast<unsigned char>(text[i])), text.size() - i);
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back(Symbol{index - 1, index + 1, i, n});
    i += n;
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  struct Bigram {
    int32_t left, right;
    float score;
    size_t size;
  };
  auto worse = [](const Bigram& a, const Bigram& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
  // Which two symbols formed a merged string, to split it again if it is not itself a token.
  std::unordered_map<std::string_view, std::pair<int32_t, int32_t>> merged_from;

  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const std::string_view s =
        text.substr(symbols[left].begin, symbols[left].len + symbols[right].len);
    const auto id = vocab_.Find(s);
    if (!id || *id >= scores_.size()) return;
    queue.push(Bigram{left, right, scores_[*id], s.size()});
    merged_from[s] = {left, right};
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& left = symbols[b.left];
    Symbol& right = symbols[b.right];
    if (left.len == 0 || right.len == 0 || left.len + right.len != b.size) continue;  // stale
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = b.left;
    try_add(left.prev, b.left);
    try_add(b.left, left.next);
  }

  std::function<void(const Symbol&)> emit = [&](const Symbol& sym) {
    const std::string_view s = text.substr(sym.begin, sym.len);
    if (auto id = vocab_.Find(s)) {
      out.push_back(*id);
      return;
    }
    auto it = merged_from.find(s);
    if (it == merged_from.end()) {
      for (char c : s) {
        const int64_t byte_id = byte_ids_[static_cast<unsigned char>(c)];
        if (byte_id >= 0) {
          out.push_back(static_cast<uint32_t>(byte_id));
        } else if (unk_id_) {
          out.push_back(*unk_id_);
        }
      }
      return;
    }
    emit(symbols[it->second.first]);
    emit(symbols[it->second.second]);
  };
  for (int32_t i = 0; i >= 0; i = symbols[i].next) emit(symbols[i]);
}

}  // namespace tg::tokenizer
