#include "router/tokenizer/pipeline.h"

#include "router/tokenizer/utf8.h"

namespace tg::tokenizer {

std::vector<uint32_t> Pipeline::Encode(std::string_view text, bool add_special_tokens) const {
  std::vector<uint32_t> ids;
  // Text from users may be invalid UTF-8; a Python str cannot be, so do what decoding it would.
  std::string owned;
  if (!IsValidUtf8(text)) {
    owned = Utf8Lossy(text);
    text = owned;
  }
  std::vector<Segment> segments;
  if (raw_added.empty()) {
    segments.push_back(Segment{std::string(text), std::nullopt, true});
  } else {
    raw_added.Split(text, true, segments);
  }
  for (auto& seg : segments) {
    if (seg.id) {
      ids.push_back(*seg.id);
    } else {
      EncodeText(std::move(seg.text), seg.at_text_start, ids);
    }
  }
  if (add_special_tokens && post_processor) post_processor->AddSpecialTokens(ids);
  return ids;
}

void Pipeline::EncodeText(std::string text, bool at_text_start, std::vector<uint32_t>& out) const {
  if (normalizer) normalizer->Normalize(text);
  std::vector<Segment> segments;
  if (normalized_added.empty()) {
    segments.push_back(Segment{std::move(text), std::nullopt, at_text_start});
  } else {
    normalized_added.Split(text, at_text_start, segments);
  }
  for (auto& seg : segments) {
    if (seg.id) {
      out.push_back(*seg.id);
      continue;
    }
    std::vector<Piece> pieces;
    pieces.push_back(Piece{std::move(seg.text), seg.at_text_start});
    if (pre_tokenizer) pre_tokenizer->Split(pieces);
    for (const auto& p : pieces) EncodePiece(p.text, out);
  }
}

void Pipeline::EncodePiece(std::string_view piece, std::vector<uint32_t>& out) const {
  if (piece.size() > kMaxCachedPiece) {
    model->Encode(piece, out);
    return;
  }
  {
    std::lock_guard lock(cache_mutex_);
    auto it = cache_.find(piece);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t mark = out.size();
  model->Encode(piece, out);
  std::lock_guard lock(cache_mutex_);
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_.emplace(std::string(piece), std::vector<uint32_t>(out.begin() + mark, out.end()));
}

std::vector<std::string> Pipeline::IdsToTokens(std::span<const uint32_t> ids,
                                               bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (uint32_t id : ids) {
    if (id >= vocab.id_to_token.size() || vocab.id_to_token[id].empty()) continue;
    if (skip_special_tokens && special_ids.count(id) != 0) continue;
    tokens.push_back(vocab.id_to_token[id]);
  }
  return tokens;
}

std::string Pipeline::Decode(std::span<const uint32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens = IdsToTokens(ids, skip_special_tokens);
  std::string text;
  if (decoder) {
    decoder->DecodeChain(tokens);
    for (const auto& t : tokens) text += t;
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i != 0) text += ' ';
      text += tokens[i];
    }
  }
  return text;
}

}  // namespace tg::tokenizer
