// OpenAI-compatible API: request parsing into what the client sent (RawParameters plus the
// OpenAI-only options; validation.h decides the rest), and the JSON of completions, chat
// completions, their streaming chunks, usage and errors.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "router/api/completions.h"
#include "router/api/json_fields.h"
#include "router/api/raw_request.h"
#include "router/api/request.h"
#include "router/engine/generation.h"
#include "router/tools/tool_call_parser.h"
#include "router/tools/tool_request.h"

namespace tg::api {

enum class OpenAiRoute { kCompletions, kChat };

struct OpenAiRequest {
  OpenAiRoute route = OpenAiRoute::kCompletions;
  RawParameters parameters;  // validated per prompt by Validator::ValidateEach
  std::string model;
  bool stream = false;
  bool include_usage = false;     // stream_options.include_usage
  bool continuous_usage = false;  // ... and continuous_usage_stats: usage in every chunk
  uint32_t n = 1;
  bool logprobs = false;
  uint32_t top_logprobs = 0;
  bool echo = false;                      // completions: prompt + completion
  std::vector<CompletionPrompt> prompts;  // completions: one or more, n choices each
  Json messages;                          // chat
  tools::ToolRequest tools;               // chat
};

// Throw tg::Error(kInvalidArgument) naming unknown or out-of-range fields.
OpenAiRequest ParseCompletionRequest(const Json& body);
OpenAiRequest ParseChatRequest(const Json& body);

// "stop" for EOS and stop sequences, "length" otherwise.
const char* OpenAiFinishReason(engine::FinishReason reason);
// The generated text without a matched stop sequence (OpenAI leaves it out, unless
// include_stop_str_in_output).
std::string OpenAiText(const ValidatedRequest& prompt, const engine::GenerationResult& result);

// Identity of one response, shared by all its chunks.
struct OpenAiResponseMeta {
  std::string id;
  int64_t created = 0;
  std::string model;
  // A sampled request's seed, given or drawn in validation: the response's (and the final
  // chunks') `seed`. Choice i of n sampled with seed + i, so sending it back replays them all.
  std::optional<uint64_t> seed;
};

// The seed a response reports: the request's, when it samples (OpenAiResponseMeta::seed).
std::optional<uint64_t> ResponseSeed(const ValidatedRequest& request);

nlohmann::json UsageJson(uint64_t prompt_tokens, uint64_t completion_tokens);
// Chat logprobs, or completion logprobs of generated tokens with offsets from `first_offset`.
nlohmann::json LogprobsJson(const OpenAiRequest& request,
                            const std::vector<engine::TokenInfo>& tokens,
                            const std::vector<std::vector<engine::TokenInfo>>& top_tokens,
                            size_t first_offset = 0);
// A chat answer read for reasoning and tool calls.
struct ChatAnswer {
  std::optional<std::string> reasoning;  // set when the template writes <think> blocks
  tools::ParsedAnswer content;           // content and tool calls
};

// One choice of a non-streaming response, generated for `prompt` (its text is what echo repeats).
// With `answer` (chat with reasoning or tools), the message is its reasoning_content, content and
// tool calls.
nlohmann::json ChoiceJson(const OpenAiRequest& request, const ValidatedRequest& prompt,
                          uint32_t index, const engine::GenerationResult& result,
                          const ChatAnswer* answer = nullptr);
// The response; `seed` when meta has one.
nlohmann::json ResponseJson(const OpenAiRequest& request, const OpenAiResponseMeta& meta,
                            nlohmann::json choices, nlohmann::json usage);
// One streaming chunk of choice `index`: `text` with its `logprobs` (null when not asked);
// `done` adds finish_reason (and stop_reason on completions) and meta's `seed`. With
// include_usage, `usage` is
// the chunk's usage: null, or the running figures (continuous_usage_stats). `made_tool_calls`
// makes the finish_reason "tool_calls" (unless the answer was cut short: "length"); a non-empty
// `reasoning` is delta.reasoning_content.
nlohmann::json ChunkJson(const OpenAiRequest& request, const OpenAiResponseMeta& meta,
                         uint32_t index, const std::string& text, nlohmann::json logprobs,
                         const engine::GenerationResult* done, nlohmann::json usage,
                         bool made_tool_calls = false, std::string_view reasoning = {});
// Chat chunks of tool call `call_index` of choice `index`, as OpenAI streams them: the call's
// first chunk is delta.tool_calls = [{index, id, type, function: {name, arguments: ""}}], the
// next ones [{index, function: {arguments}}] with the argument text written since.
nlohmann::json ToolCallStartChunkJson(const OpenAiRequest& request, const OpenAiResponseMeta& meta,
                                      uint32_t index, uint32_t call_index, const std::string& id,
                                      const std::string& name);
nlohmann::json ToolCallArgumentsChunkJson(const OpenAiRequest& request,
                                          const OpenAiResponseMeta& meta, uint32_t index,
                                          uint32_t call_index, const std::string& arguments);
// The final usage-only chunk (stream_options.include_usage).
nlohmann::json UsageChunkJson(const OpenAiRequest& request, const OpenAiResponseMeta& meta,
                              nlohmann::json usage);
// {"error": {"message", "type", "param", "code"}}
nlohmann::json OpenAiErrorJson(const std::string& message, const std::string& type, int code);

}  // namespace tg::api
