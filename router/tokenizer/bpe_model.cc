#include "router/tokenizer/bpe_model.h"

#include <cstdio>
#include <queue>

#include "common/error.h"
#include "router/tokenizer/utf8.h"

namespace tg::tokenizer {

BpeModel::BpeModel(const Vocab& vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges,
                   BpeOptions options)
    : vocab_(vocab), options_(std::move(options)) {
  const size_t prefix_len = options_.continuing_subword_prefix.size();
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const auto a = vocab_.Find(left);
    const auto b = vocab_.Find(right);
    // The merged token drops the right part's continuing-subword prefix.
    std::string merged = left + (right.size() >= prefix_len ? right.substr(prefix_len) : right);
    const auto m = vocab_.Find(merged);
    TG_CHECK(a && b && m, kCorruptFile,
             "BPE merge '" + left + " " + right + "' uses unknown tokens");
    // Like HF, a repeated pair keeps its last rank.
    merges_.insert_or_assign(PairKey(*a, *b), MergeTarget{static_cast<uint32_t>(rank), *m});
  }
  if (options_.unk_token) unk_id_ = vocab_.Find(*options_.unk_token);
  byte_ids_.assign(256, -1);
  if (options_.byte_fallback) {
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", b);
      if (auto id = vocab_.Find(name)) byte_ids_[b] = *id;
    }
  }
}

void BpeModel::Encode(std::string_view piece, std::vector<uint32_t>& out) const {
  if (piece.empty()) return;
  if (options_.ignore_merges) {
    if (auto id = vocab_.Find(piece)) {
      out.push_back(*id);
      return;
    }
  }
  struct Symbol {
    uint32_t id;
    int32_t prev, next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(piece.size());
  bool last_was_unk = false;
  std::string scratch;
  size_t i = 0;
  while (i < piece.size()) {
    const size_t begin = i;
    i += Utf8SequenceLength(static_cast<unsigned char>(piece[i]));
    if (i > piece.size()) i = piece.size();
    std::string_view ch = piece.substr(begin, i - begin);
    std::optional<uint32_t> id;
    if (options_.continuing_subword_prefix.empty() && options_.end_of_word_suffix.empty()) {
      id = vocab_.Find(ch);
    } else {
      scratch.clear();
      if (begin != 0) scratch += options_.continuing_subword_prefix;
      scratch += ch;
      if (i == piece.size()) scratch += options_.end_of_word_suffix;
      id = vocab_.Find(scratch);
    }
    auto push = [&](uint32_t token) {
      const auto n = static_cast<int32_t>(symbols.size());
      symbols.push_back(Symbol{token, n - 1, n + 1, true});
    };
    if (id) {
      push(*id);
      last_was_unk = false;
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (char c : ch) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        for (char c : ch) push(static_cast<uint32_t>(byte_ids_[static_cast<unsigned char>(c)]));
        last_was_unk = false;
        continue;
      }
    }
    if (unk_id_) {
      if (!(options_.fuse_unk && last_was_unk)) push(*unk_id_);
      last_was_unk = true;
    }
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  struct Candidate {
    uint32_t rank;
    int32_t pos;
    uint32_t new_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto consider = [&](int32_t pos) {
    if (pos < 0) return;
    const int32_t next = symbols[pos].next;
    if (next < 0) return;
    if (const MergeTarget* m = FindMerge(symbols[pos].id, symbols[next].id)) {
      queue.push(Candidate{m->rank, pos, m->new_id});
    }
  };
  for (int32_t p = 0; p + 1 < static_cast<int32_t>(symbols.size()); ++p) consider(p);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    const MergeTarget* m = FindMerge(left.id, right.id);
    if (m == nullptr || m->new_id != top.new_id) continue;  // stale candidate
    left.id = top.new_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    consider(left.prev);
    consider(top.pos);
  }
  for (int32_t p = 0; p >= 0; p = symbols[p].next) out.push_back(symbols[p].id);
}

}  // namespace tg::tokenizer
