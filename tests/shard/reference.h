// The HF transformers reference outputs of stories260K
// (assets/reference/stories260K-reference.jsonl).
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tg::shard::testing {

struct ReferenceCase {
  std::string prompt;
  std::vector<int32_t> input_ids;
  std::vector<float> last_logits;
  std::vector<int32_t> greedy_ids;
};

inline std::string StoriesDir() { return std::string(TG_ASSETS_DIR) + "/models/stories260K"; }

inline std::vector<ReferenceCase> LoadStoriesReference() {
  std::ifstream in(std::string(TG_ASSETS_DIR) + "/reference/stories260K-reference.jsonl");
  std::vector<ReferenceCase> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const nlohmann::json row = nlohmann::json::parse(line);
    cases.push_back({row.at("prompt").get<std::string>(),
                     row.at("input_ids").get<std::vector<int32_t>>(),
                     row.at("last_logits").get<std::vector<float>>(),
                     row.at("greedy_ids").get<std::vector<int32_t>>()});
  }
  return cases;
}

}  // namespace tg::shard::testing
