#include "router/api/completions.h"

#include <cmath>

#include "router/api/json_fields.h"

namespace tg::api {
namespace {

using nlohmann::json;

bool IsTokenId(const Json& v) {
  return v.is_number_integer() && (v.is_number_unsigned() || v.get<int64_t>() >= 0) &&
         v.get<uint64_t>() <= UINT32_MAX;
}

CompletionPrompt TokenPrompt(const Json& ids) {
  CompletionPrompt p;
  p.tokenized = true;
  for (const Json& id : ids) {
    if (!IsTokenId(id)) Invalid("`prompt` token ids must be non-negative integers");
    p.ids.push_back(id.get<uint32_t>());
  }
  if (p.ids.empty()) Invalid("`prompt` token lists must not be empty");
  return p;
}

CompletionPrompt TextPrompt(const Json& text) {
  if (text.get_ref<const std::string&>().empty()) Invalid("`prompt` must not be empty");
  return {.text = text.get<std::string>()};
}

void AddTop(const std::vector<engine::TokenInfo>* top, json& out) {
  json entry = json::object();
  if (top) {
    for (const engine::TokenInfo& t : *top) entry[t.text] = t.logprob;
  }
  out.push_back(std::move(entry));
}

}  // namespace

std::vector<CompletionPrompt> ParseCompletionPrompts(const Json& prompt) {
  constexpr const char* kShape =
      "`prompt` must be a string, a list of strings, a list of token ids or a list of token-id "
      "lists";
  if (prompt.is_string()) return {TextPrompt(prompt)};
  if (!prompt.is_array() || prompt.empty()) Invalid(kShape);
  std::vector<CompletionPrompt> out;
  if (prompt[0].is_number()) {
    out.push_back(TokenPrompt(prompt));
    return out;
  }
  for (const Json& item : prompt) {
    if (item.is_string() && prompt[0].is_string()) {
      out.push_back(TextPrompt(item));
    } else if (item.is_array() && prompt[0].is_array()) {
      out.push_back(TokenPrompt(item));
    } else {
      Invalid(kShape);
    }
  }
  return out;
}

json CompletionLogprobsJson(const std::vector<engine::TokenInfo>* prompt,
                            const std::vector<std::vector<engine::TokenInfo>>* prompt_top,
                            const std::vector<engine::TokenInfo>& tokens,
                            const std::vector<std::vector<engine::TokenInfo>>& top,
                            size_t first_offset) {
  json out = {{"tokens", json::array()},
              {"token_logprobs", json::array()},
              {"top_logprobs", json::array()},
              {"text_offset", json::array()}};
  size_t offset = first_offset;
  auto add = [&](const engine::TokenInfo& token, const std::vector<engine::TokenInfo>* alts) {
    out["tokens"].push_back(token.text);
    out["text_offset"].push_back(offset);
    offset += token.text.size();
    if (std::isnan(token.logprob)) {
      out["token_logprobs"].push_back(nullptr);
      out["top_logprobs"].push_back(nullptr);
      return;
    }
    out["token_logprobs"].push_back(token.logprob);
    AddTop(alts, out["top_logprobs"]);
  };
  if (prompt) {
    for (size_t i = 0; i < prompt->size(); ++i) {
      add((*prompt)[i], prompt_top && i < prompt_top->size() ? &(*prompt_top)[i] : nullptr);
    }
  }
  for (size_t i = 0; i < tokens.size(); ++i) add(tokens[i], i < top.size() ? &top[i] : nullptr);
  return out;
}

json StopReasonJson(const engine::GenerationResult& result) {
  if (result.stop_token_id) return *result.stop_token_id;
  if (result.finish_reason == engine::FinishReason::kStopSequence) return result.stop_sequence;
  return nullptr;
}

}  // namespace tg::api
