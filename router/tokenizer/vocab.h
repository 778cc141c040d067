// The token <-> id tables shared by the models and the pipeline.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tg::tokenizer {

// Lets unordered_map<std::string, T> be searched with a string_view, without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

using TokenMap = std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>>;

struct Vocab {
  TokenMap token_to_id;
  std::vector<std::string> id_to_token;  // "" for ids no token uses

  std::optional<uint32_t> Find(std::string_view token) const {
    auto it = token_to_id.find(token);
    if (it == token_to_id.end()) return std::nullopt;
    return it->second;
  }
  void Add(std::string token, uint32_t id) {
    if (id >= id_to_token.size()) id_to_token.resize(id + 1);
    id_to_token[id] = token;
    token_to_id.insert_or_assign(std::move(token), id);
  }
};

// A tokenization model: turns one pre-token into ids.
class Model {
 public:
  virtual ~Model() = default;
  virtual void Encode(std::string_view piece, std::vector<uint32_t>& out) const = 0;
};

}  // namespace tg::tokenizer
