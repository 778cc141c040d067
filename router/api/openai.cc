#include "router/api/openai.h"

#include "common/error.h"
#include "router/api/grammar_params.h"
#include "router/api/json_fields.h"

namespace tg::api {
namespace {

using nlohmann::json;

uint32_t Count(const Json& v, const char* key) {
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > UINT32_MAX) {
    Invalid(std::string("`") + key + "` must be a non-negative integer");
  }
  return v.get<uint32_t>();
}

bool Bool(const Json& v, const char* key) {
  if (!v.is_boolean()) Invalid(std::string("`") + key + "` must be a boolean");
  return v.get<bool>();
}

// {"token id": bias in [-100, 100]} as OpenAI defines it.
std::vector<std::pair<uint32_t, float>> LogitBias(const Json& v) {
  if (!v.is_object()) Invalid("`logit_bias` must be an object of token id to bias");
  std::vector<std::pair<uint32_t, float>> out;
  for (const auto& [key, bias] : v.items()) {
    char* end = nullptr;
    const unsigned long long id = std::strtoull(key.c_str(), &end, 10);
    if (key.empty() || *end != '\0' || key[0] == '-' || id > UINT32_MAX) {
      Invalid("`logit_bias` keys must be token ids, got \"" + key + "\"");
    }
    const double value = Number(bias, "logit_bias");
    if (!(value >= -100.0 && value <= 100.0)) Invalid("`logit_bias` values must be in [-100, 100]");
    out.emplace_back(static_cast<uint32_t>(id), static_cast<float>(value));
  }
  return out;
}

json ToolCallJson(const tools::ToolCall& call) {
  return {{"id", call.id},
          {"type", "function"},
          {"function", {{"name", call.name}, {"arguments", call.arguments}}}};
}

// Fields common to both routes, translated into TGI's parameters.
void ParseCommon(const Json& body, OpenAiRequest& out) {
  RawParameters& r = out.parameters;
  if (const Json* v = Field(body, "model")) {
    if (!v->is_string()) Invalid("`model` must be a string");
    out.model = v->get<std::string>();
  }
  // OpenAI has no do_sample: it samples (at temperature 1 by default) unless temperature is 0,
  // which validation turns into greedy.
  r.do_sample = true;
  if (const Json* v = Field(body, "temperature")) {
    r.temperature = static_cast<float>(Number(*v, "temperature"));
    if (*r.temperature > 2.0f) Invalid("`temperature` must be <= 2.0");
  }
  if (const Json* v = Field(body, "top_p")) r.top_p = static_cast<float>(Number(*v, "top_p"));
  if (const Json* v = Field(body, "top_k")) r.top_k = Count(*v, "top_k");
  if (const Json* v = Field(body, "min_p")) r.min_p = static_cast<float>(Number(*v, "min_p"));
  if (const Json* v = Field(body, "frequency_penalty")) {
    r.frequency_penalty = static_cast<float>(Number(*v, "frequency_penalty"));
  }
  if (const Json* v = Field(body, "presence_penalty")) {
    r.presence_penalty = static_cast<float>(Number(*v, "presence_penalty"));
  }
  if (const Json* v = Field(body, "repetition_penalty")) {
    r.repetition_penalty = static_cast<float>(Number(*v, "repetition_penalty"));
  }
  if (const Json* v = Field(body, "seed")) {
    if (!v->is_number_integer() ||
        (v->is_number_integer() && !v->is_number_unsigned() && v->get<int64_t>() < 0)) {
      Invalid("`seed` must be a non-negative integer");
    }
    r.seed = v->get<uint64_t>();
  }
  if (const Json* v = Field(body, "max_tokens")) r.max_new_tokens = Count(*v, "max_tokens");
  if (const Json* v = Field(body, "max_completion_tokens")) {
    r.max_new_tokens = Count(*v, "max_completion_tokens");
  }
  if (const Json* v = Field(body, "stop")) {
    if (v->is_string()) {
      r.stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      for (const Json& s : *v) {
        if (!s.is_string()) Invalid("`stop` must be a string or a list of strings");
        r.stop.push_back(s.get<std::string>());
      }
    } else {
      Invalid("`stop` must be a string or a list of strings");
    }
  }
  if (const Json* v = Field(body, "n")) {
    out.n = Count(*v, "n");
    if (out.n == 0) Invalid("`n` must be strictly positive");
  }
  if (const Json* v = Field(body, "stream")) out.stream = Bool(*v, "stream");
  if (const Json* v = Field(body, "stream_options")) {
    if (!v->is_object()) Invalid("`stream_options` must be an object");
    RejectUnknownKeys(*v, {"include_usage", "continuous_usage_stats"}, "stream_options");
    if (const Json* u = Field(*v, "include_usage")) out.include_usage = Bool(*u, "include_usage");
    if (const Json* u = Field(*v, "continuous_usage_stats")) {
      out.continuous_usage = Bool(*u, "continuous_usage_stats");
    }
  }
  if (const Json* v = Field(body, "ignore_eos")) r.ignore_eos = Bool(*v, "ignore_eos");
  if (const Json* v = Field(body, "logit_bias")) r.logit_bias = LogitBias(*v);
  if (const Json* v = Field(body, "min_tokens")) r.min_new_tokens = Count(*v, "min_tokens");
  if (const Json* v = Field(body, "stop_token_ids")) {
    if (!v->is_array()) Invalid("`stop_token_ids` must be a list of token ids");
    for (const Json& id : *v) r.stop_token_ids.push_back(Count(id, "stop_token_ids"));
  }
  if (const Json* v = Field(body, "include_stop_str_in_output")) {
    r.include_stop_str_in_output = Bool(*v, "include_stop_str_in_output");
  }
  if (GrammarRequest guided = ParseGuidedFields(body); guided.type != GrammarType::kNone) {
    r.grammar = std::move(guided);
  }
}

}  // namespace

OpenAiRequest ParseCompletionRequest(const Json& body) {
  RejectUnknownKeys(body,
                    {"model",
                     "prompt",
                     "max_tokens",
                     "max_completion_tokens",
                     "temperature",
                     "top_p",
                     "top_k",
                     "min_p",
                     "n",
                     "stream",
                     "stream_options",
                     "stop",
                     "seed",
                     "logprobs",
                     "echo",
                     "frequency_penalty",
                     "presence_penalty",
                     "repetition_penalty",
                     "best_of",
                     "user",
                     "suffix",
                     "logit_bias",
                     "ignore_eos",
                     "min_tokens",
                     "stop_token_ids",
                     "include_stop_str_in_output",
                     "guided_json",
                     "guided_regex",
                     "guided_choice"},
                    "the request");
  OpenAiRequest out;
  out.route = OpenAiRoute::kCompletions;
  ParseCommon(body, out);
  const Json* prompt = Field(body, "prompt");
  if (!prompt) Invalid("`prompt` is required");
  out.prompts = ParseCompletionPrompts(*prompt);
  if (const Json* v = Field(body, "logprobs")) {
    // Completions: the number of alternatives per token (0 = only the chosen token's logprob).
    out.logprobs = true;
    out.top_logprobs = Count(*v, "logprobs");
  }
  if (const Json* v = Field(body, "echo")) out.echo = Bool(*v, "echo");
  if (out.parameters.max_new_tokens == 0u && !out.echo) {
    Invalid(
        "`max_tokens` must be strictly positive (0 is allowed with `echo`, to score the prompt)");
  }
  // Echo with logprobs returns the prompt tokens' logprobs: the shard computes them at prefill.
  out.parameters.decoder_input_details = out.echo && out.logprobs;
  if (const Json* v = Field(body, "suffix"); v && (!v->is_string() || !v->empty())) {
    Invalid("`suffix` is not supported");
  }
  if (const Json* v = Field(body, "best_of"); v && Count(*v, "best_of") > 1) {
    Invalid("`best_of` is not supported on /v1/completions; use `n`");
  }
  out.parameters.return_full_text = out.echo;
  out.parameters.top_n_tokens = out.top_logprobs;
  out.parameters.token_logprobs = out.logprobs;
  return out;
}

OpenAiRequest ParseChatRequest(const Json& body) {
  RejectUnknownKeys(body,
                    {"model",
                     "messages",
                     "max_tokens",
                     "max_completion_tokens",
                     "temperature",
                     "top_p",
                     "top_k",
                     "min_p",
                     "n",
                     "stream",
                     "stream_options",
                     "stop",
                     "seed",
                     "logprobs",
                     "top_logprobs",
                     "frequency_penalty",
                     "presence_penalty",
                     "repetition_penalty",
                     "user",
                     "logit_bias",
                     "min_tokens",
                     "stop_token_ids",
                     "include_stop_str_in_output",
                     "tools",
                     "tool_choice",
                     "parallel_tool_calls",
                     "response_format",
                     "ignore_eos",
                     "guided_json",
                     "guided_regex",
                     "guided_choice"},
                    "the request");
  OpenAiRequest out;
  out.route = OpenAiRoute::kChat;
  ParseCommon(body, out);
  if (out.parameters.max_new_tokens == 0u) {
    Invalid("`max_tokens` must be strictly positive");
  }
  const Json* messages = Field(body, "messages");
  if (!messages || !messages->is_array() || messages->empty()) {
    Invalid("`messages` must be a non-empty list");
  }
  for (const Json& m : *messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      Invalid("each message needs a string `role`");
    }
  }
  out.messages = *messages;
  if (const Json* v = Field(body, "logprobs")) out.logprobs = Bool(*v, "logprobs");
  if (const Json* v = Field(body, "top_logprobs")) {
    out.top_logprobs = Count(*v, "top_logprobs");
    if (!out.logprobs) Invalid("`top_logprobs` requires `logprobs: true`");
  }
  if (const Json* v = Field(body, "response_format")) {
    const GrammarRequest format = ParseResponseFormat(*v);
    if (format.type != GrammarType::kNone) {
      if (out.parameters.grammar) Invalid("`response_format` and `guided_*` cannot be combined");
      out.parameters.grammar = format;
    }
  }
  out.tools = tools::ParseToolRequest(body);
  if (out.tools.active() && out.parameters.grammar) {
    Invalid("`tools` cannot be combined with `response_format` or `guided_*`");
  }
  out.parameters.top_n_tokens = out.top_logprobs;
  out.parameters.token_logprobs = out.logprobs;
  return out;
}

const char* OpenAiFinishReason(engine::FinishReason reason) {
  return reason == engine::FinishReason::kLength ? "length" : "stop";
}

std::string OpenAiText(const ValidatedRequest& prompt, const engine::GenerationResult& result) {
  if (prompt.stopping().include_stop_str_in_output) return result.generated_text;
  return result.generated_text.substr(0,
                                      result.generated_text.size() - result.stop_sequence_length);
}

json UsageJson(uint64_t prompt_tokens, uint64_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}};
}

json LogprobsJson(const OpenAiRequest& request, const std::vector<engine::TokenInfo>& tokens,
                  const std::vector<std::vector<engine::TokenInfo>>& top_tokens,
                  size_t first_offset) {
  if (!request.logprobs) return nullptr;
  if (request.route == OpenAiRoute::kChat) {
    json content = json::array();
    for (size_t i = 0; i < tokens.size(); ++i) {
      json top = json::array();
      if (i < top_tokens.size()) {
        for (const auto& t : top_tokens[i]) {
          top.push_back({{"token", t.text}, {"logprob", t.logprob}, {"bytes", nullptr}});
        }
      }
      content.push_back({{"token", tokens[i].text},
                         {"logprob", tokens[i].logprob},
                         {"bytes", nullptr},
                         {"top_logprobs", std::move(top)}});
    }
    return {{"content", std::move(content)}};
  }
  return CompletionLogprobsJson(nullptr, nullptr, tokens, top_tokens, first_offset);
}

std::optional<uint64_t> ResponseSeed(const ValidatedRequest& request) {
  if (!request.sampling().do_sample) return std::nullopt;
  return request.sampling().seed;
}

json ChoiceJson(const OpenAiRequest& request, const ValidatedRequest& prompt, uint32_t index,
                const engine::GenerationResult& result, const ChatAnswer* answer) {
  json choice = {{"index", index}, {"finish_reason", OpenAiFinishReason(result.finish_reason)}};
  const std::string text = OpenAiText(prompt, result);
  if (request.route == OpenAiRoute::kChat) {
    choice["logprobs"] = LogprobsJson(request, result.tokens, result.top_tokens);
    choice["message"] = {{"role", "assistant"}, {"content", text}};
    if (!answer) return choice;
    const tools::ParsedAnswer& content = answer->content;
    choice["message"]["content"] = content.content;
    if (answer->reasoning) {
      choice["message"]["reasoning_content"] =
          answer->reasoning->empty() ? json(nullptr) : json(*answer->reasoning);
    }
    if (!content.calls.empty()) {
      json calls = json::array();
      for (const tools::ToolCall& call : content.calls) calls.push_back(ToolCallJson(call));
      const bool blank = content.content.find_first_not_of(" \n\t\r") == std::string::npos;
      choice["message"]["content"] = blank ? json(nullptr) : json(content.content);
      choice["message"]["tool_calls"] = std::move(calls);
      if (result.finish_reason != engine::FinishReason::kLength) {
        choice["finish_reason"] = "tool_calls";
      }
    }
    return choice;
  }
  if (!request.logprobs) {
    choice["logprobs"] = nullptr;
  } else if (request.echo) {
    choice["logprobs"] = CompletionLogprobsJson(&result.prefill, &result.prefill_top_tokens,
                                                result.tokens, result.top_tokens, 0);
  } else {
    choice["logprobs"] = LogprobsJson(request, result.tokens, result.top_tokens);
  }
  choice["text"] = request.echo ? prompt.inputs() + text : text;
  choice["stop_reason"] = StopReasonJson(result);
  return choice;
}

json ResponseJson(const OpenAiRequest& request, const OpenAiResponseMeta& meta, json choices,
                  json usage) {
  json response = {
      {"id", meta.id},
      {"object", request.route == OpenAiRoute::kChat ? "chat.completion" : "text_completion"},
      {"created", meta.created},
      {"model", meta.model},
      {"system_fingerprint", "text-gen-" TG_VERSION},
      {"choices", std::move(choices)},
      {"usage", std::move(usage)}};
  if (meta.seed) response["seed"] = *meta.seed;
  return response;
}

json ChunkJson(const OpenAiRequest& request, const OpenAiResponseMeta& meta, uint32_t index,
               const std::string& text, json logprobs, const engine::GenerationResult* done,
               json usage, bool made_tool_calls, std::string_view reasoning) {
  json finish = nullptr;
  if (done) {
    finish = made_tool_calls && done->finish_reason != engine::FinishReason::kLength
                 ? "tool_calls"
                 : OpenAiFinishReason(done->finish_reason);
  }
  json choice = {
      {"index", index}, {"logprobs", std::move(logprobs)}, {"finish_reason", std::move(finish)}};
  if (request.route == OpenAiRoute::kChat) {
    choice["delta"] = {{"role", "assistant"}, {"content", text}};
    if (!reasoning.empty()) choice["delta"]["reasoning_content"] = reasoning;
  } else {
    choice["text"] = text;
    if (done) choice["stop_reason"] = StopReasonJson(*done);
  }
  json chunk = {
      {"id", meta.id},
      {"object", request.route == OpenAiRoute::kChat ? "chat.completion.chunk" : "text_completion"},
      {"created", meta.created},
      {"model", meta.model},
      {"system_fingerprint", "text-gen-" TG_VERSION},
      {"choices", json::array({std::move(choice)})}};
  if (done && meta.seed) chunk["seed"] = *meta.seed;
  if (request.include_usage) chunk["usage"] = std::move(usage);
  return chunk;
}

namespace {

json ToolCallDeltaChunk(const OpenAiRequest& request, const OpenAiResponseMeta& meta,
                        uint32_t index, json delta_call) {
  json choice = {{"index", index},
                 {"logprobs", nullptr},
                 {"finish_reason", nullptr},
                 {"delta", {{"role", "assistant"}, {"tool_calls", json::array({delta_call})}}}};
  json chunk = {{"id", meta.id},
                {"object", "chat.completion.chunk"},
                {"created", meta.created},
                {"model", meta.model},
                {"system_fingerprint", "text-gen-" TG_VERSION},
                {"choices", json::array({std::move(choice)})}};
  if (request.include_usage) chunk["usage"] = nullptr;
  return chunk;
}

}  // namespace

json ToolCallStartChunkJson(const OpenAiRequest& request, const OpenAiResponseMeta& meta,
                            uint32_t index, uint32_t call_index, const std::string& id,
                            const std::string& name) {
  return ToolCallDeltaChunk(request, meta, index,
                            {{"index", call_index},
                             {"id", id},
                             {"type", "function"},
                             {"function", {{"name", name}, {"arguments", ""}}}});
}

json ToolCallArgumentsChunkJson(const OpenAiRequest& request, const OpenAiResponseMeta& meta,
                                uint32_t index, uint32_t call_index, const std::string& arguments) {
  return ToolCallDeltaChunk(request, meta, index,
                            {{"index", call_index}, {"function", {{"arguments", arguments}}}});
}

json UsageChunkJson(const OpenAiRequest& request, const OpenAiResponseMeta& meta, json usage) {
  return {
      {"id", meta.id},
      {"object", request.route == OpenAiRoute::kChat ? "chat.completion.chunk" : "text_completion"},
      {"created", meta.created},
      {"model", meta.model},
      {"system_fingerprint", "text-gen-" TG_VERSION},
      {"choices", json::array()},
      {"usage", std::move(usage)}};
}

json OpenAiErrorJson(const std::string& message, const std::string& type, int code) {
  return {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}};
}

}  // namespace tg::api
