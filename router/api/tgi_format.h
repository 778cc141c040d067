// JSON shapes of TGI's responses: /generate, the /generate_stream events, and errors.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "router/api/request.h"
#include "router/engine/generation.h"

namespace tg::api {

nlohmann::json TokenJson(const engine::TokenInfo& token);

// {"generated_text": ..., "details": {...}} for /generate. `best_of` holds the other sequences
// when best_of > 1 (the chosen one is `result`).
nlohmann::json GenerateResponseJson(const ValidatedRequest& request,
                                    const engine::GenerationResult& result,
                                    const std::vector<engine::GenerationResult>& best_of);

// One SSE event of /generate_stream; `done` (last token) adds generated_text and details.
nlohmann::json StreamEventJson(const ValidatedRequest& request, const engine::TokenEvent& event,
                               const engine::GenerationResult* done);

// The text a client sees: the prompt first when return_full_text.
std::string OutputText(const ValidatedRequest& request, const engine::GenerationResult& result);

// {"error": message, "error_type": type}
nlohmann::json ErrorJson(const std::string& message, const std::string& error_type);

}  // namespace tg::api
