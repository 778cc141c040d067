#include "router/api/tgi_format.h"

namespace tg::api {
namespace {

using nlohmann::json;

json TokenList(const std::vector<engine::TokenInfo>& tokens) {
  json list = json::array();
  for (const auto& t : tokens) list.push_back(TokenJson(t));
  return list;
}

json SequenceDetails(const ValidatedRequest& request, const engine::GenerationResult& result) {
  json details = {{"finish_reason", engine::ToString(result.finish_reason)},
                  {"generated_tokens", result.generated_tokens},
                  {"seed", result.seed ? json(*result.seed) : json(nullptr)},
                  {"prefill", json::array()},
                  {"tokens", TokenList(result.tokens)}};
  for (const auto& t : result.prefill) {
    details["prefill"].push_back({{"id", t.id}, {"text", t.text}, {"logprob", t.logprob}});
  }
  if (request.top_n_tokens() > 0) {
    json top = json::array();
    for (const auto& alternatives : result.top_tokens) top.push_back(TokenList(alternatives));
    details["top_tokens"] = std::move(top);
  }
  return details;
}

}  // namespace

json TokenJson(const engine::TokenInfo& token) {
  // NaN (no logprob, e.g. the first prompt token) serializes as null, as in TGI.
  return {{"id", token.id},
          {"text", token.text},
          {"logprob", token.logprob},
          {"special", token.special}};
}

std::string OutputText(const ValidatedRequest& request, const engine::GenerationResult& result) {
  return request.return_full_text() ? request.inputs() + result.generated_text
                                    : result.generated_text;
}

json GenerateResponseJson(const ValidatedRequest& request, const engine::GenerationResult& result,
                          const std::vector<engine::GenerationResult>& best_of) {
  json response = {{"generated_text", OutputText(request, result)}};
  if (!request.details()) return response;
  json details = SequenceDetails(request, result);
  if (!best_of.empty()) {
    json sequences = json::array();
    for (const auto& other : best_of) {
      json sequence = SequenceDetails(request, other);
      sequence["generated_text"] = OutputText(request, other);
      sequences.push_back(std::move(sequence));
    }
    details["best_of_sequences"] = std::move(sequences);
  }
  response["details"] = std::move(details);
  return response;
}

json StreamEventJson(const ValidatedRequest& request, const engine::TokenEvent& event,
                     const engine::GenerationResult* done) {
  json out = {{"index", event.index + 1},
              {"token", TokenJson(event.token)},
              {"top_tokens", nullptr},
              {"generated_text", nullptr},
              {"details", nullptr}};
  if (request.top_n_tokens() > 0) {
    json top = json::array();
    for (const auto& t : event.top_tokens) top.push_back(TokenJson(t));
    out["top_tokens"] = std::move(top);
  }
  if (done) {
    out["generated_text"] = OutputText(request, *done);
    out["details"] = {{"finish_reason", engine::ToString(done->finish_reason)},
                      {"generated_tokens", done->generated_tokens},
                      {"seed", done->seed ? json(*done->seed) : json(nullptr)},
                      {"input_length", done->input_tokens}};
  }
  return out;
}

json ErrorJson(const std::string& message, const std::string& error_type) {
  return {{"error", message}, {"error_type", error_type}};
}

}  // namespace tg::api
