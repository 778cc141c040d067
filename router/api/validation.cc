#include "router/api/validation.h"

#include <string>

#include "common/error.h"
#include "router/api/grammar_params.h"
#include "router/api/json_fields.h"
#include "router/api/sampling_decision.h"

namespace tg::api {
namespace {

using nlohmann::json;

uint64_t GetUnsigned(const json& value, const char* key) {
  if (!value.is_number_integer() ||
      (value.is_number_integer() && value.get<int64_t>() < 0 && !value.is_number_unsigned())) {
    Invalid(std::string("`") + key + "` must be a non-negative integer");
  }
  return value.get<uint64_t>();
}

bool GetBool(const json& value, const char* key) {
  if (!value.is_boolean()) Invalid(std::string("`") + key + "` must be a boolean");
  return value.get<bool>();
}

uint32_t GetU32(const json& value, const char* key) {
  const uint64_t v = GetUnsigned(value, key);
  if (v > UINT32_MAX) Invalid(std::string("`") + key + "` is too large");
  return static_cast<uint32_t>(v);
}

void ParseTgiParameters(const json& p, ValidatedRequest& r, bool& max_new_given) {
  RejectUnknownKeys(p,
                    {"do_sample",
                     "temperature",
                     "top_k",
                     "top_p",
                     "typical_p",
                     "min_p",
                     "repetition_penalty",
                     "frequency_penalty",
                     "presence_penalty",
                     "max_new_tokens",
                     "stop",
                     "seed",
                     "best_of",
                     "details",
                     "decoder_input_details",
                     "return_full_text",
                     "truncate",
                     "top_n_tokens",
                     "watermark",
                     "ignore_eos",
                     "grammar",
                     "adapter_id"},
                    "parameters");
  if (const json* v = Field(p, "watermark"); v && GetBool(*v, "watermark")) {
    Invalid("`watermark` is not supported");
  }
  if (const json* v = Field(p, "grammar"); v && !v->is_null()) r.grammar = ParseTgiGrammar(*v);
  if (Field(p, "adapter_id")) Invalid("`adapter_id` is not supported");
  if (const json* v = Field(p, "do_sample")) r.sampling.do_sample = GetBool(*v, "do_sample");
  if (const json* v = Field(p, "temperature")) {
    r.sampling.temperature = static_cast<float>(Number(*v, "temperature"));
  }
  if (const json* v = Field(p, "top_k")) r.sampling.top_k = GetU32(*v, "top_k");
  if (const json* v = Field(p, "top_p")) {
    r.sampling.top_p = static_cast<float>(Number(*v, "top_p"));
  }
  if (const json* v = Field(p, "typical_p")) {
    r.sampling.typical_p = static_cast<float>(Number(*v, "typical_p"));
  }
  if (const json* v = Field(p, "min_p")) {
    r.sampling.min_p = static_cast<float>(Number(*v, "min_p"));
  }
  if (const json* v = Field(p, "repetition_penalty")) {
    r.sampling.repetition_penalty = static_cast<float>(Number(*v, "repetition_penalty"));
  }
  if (const json* v = Field(p, "frequency_penalty")) {
    r.sampling.frequency_penalty = static_cast<float>(Number(*v, "frequency_penalty"));
  }
  if (const json* v = Field(p, "presence_penalty")) {
    r.sampling.presence_penalty = static_cast<float>(Number(*v, "presence_penalty"));
  }
  if (const json* v = Field(p, "max_new_tokens")) {
    r.stopping.max_new_tokens = GetU32(*v, "max_new_tokens");
    max_new_given = true;
  }
  if (const json* v = Field(p, "stop")) {
    if (!v->is_array()) Invalid("`stop` must be a list of strings");
    for (const json& s : *v) {
      if (!s.is_string()) Invalid("`stop` must be a list of strings");
      r.stopping.stop_sequences.push_back(s.get<std::string>());
    }
  }
  if (const json* v = Field(p, "seed")) {
    r.sampling.seed = GetUnsigned(*v, "seed");
    r.seed_given = true;
  }
  if (const json* v = Field(p, "best_of")) r.best_of = GetU32(*v, "best_of");
  if (const json* v = Field(p, "details")) r.details = GetBool(*v, "details");
  if (const json* v = Field(p, "decoder_input_details")) {
    r.decoder_input_details = GetBool(*v, "decoder_input_details");
  }
  if (const json* v = Field(p, "return_full_text")) {
    r.return_full_text = GetBool(*v, "return_full_text");
  }
  if (const json* v = Field(p, "truncate")) r.truncate = GetU32(*v, "truncate");
  if (const json* v = Field(p, "top_n_tokens")) r.top_n_tokens = GetU32(*v, "top_n_tokens");
  if (const json* v = Field(p, "ignore_eos")) r.stopping.ignore_eos = GetBool(*v, "ignore_eos");
}

}  // namespace

json ParseJsonBody(const std::string& body) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) Invalid("Failed to parse the request body as JSON");
  if (!parsed.is_object()) Invalid("The request body must be a JSON object");
  return parsed;
}

void RejectUnknownKeys(const json& object, const std::vector<std::string>& known,
                       const std::string& where) {
  std::string unknown;
  for (const auto& [key, value] : object.items()) {
    bool found = false;
    for (const std::string& k : known) found = found || k == key;
    if (!found) unknown += (unknown.empty() ? "`" : ", `") + key + "`";
  }
  if (!unknown.empty()) Invalid("unknown field(s) in " + where + ": " + unknown);
}

Validator::Validator(ValidationLimits limits, EncodeFn encode)
    : limits_(limits), encode_(std::move(encode)) {}

ValidatedRequest Validator::ValidateTgi(const json& body) const {
  RejectUnknownKeys(body, {"inputs", "parameters", "stream"}, "the request");
  if (const json* stream = Field(body, "stream")) GetBool(*stream, "stream");
  const json* inputs = Field(body, "inputs");
  if (!inputs || !inputs->is_string()) Invalid("`inputs` must be a string");
  ValidatedRequest request;
  bool max_new_given = false;
  if (const json* p = Field(body, "parameters")) {
    if (!p->is_object()) Invalid("`parameters` must be an object");
    ParseTgiParameters(*p, request, max_new_given);
  }
  return Finish(inputs->get<std::string>(), std::move(request), max_new_given);
}

ValidatedRequest Validator::Finish(std::string prompt, ValidatedRequest r,
                                   bool max_new_tokens_given, bool add_special_tokens,
                                   NewTokens new_tokens) const {
  if (prompt.empty()) Invalid("`inputs` cannot be empty");
  std::vector<uint32_t> ids = encode_(prompt, add_special_tokens);
  return FinishTokens(std::move(prompt), std::move(ids), std::move(r), max_new_tokens_given,
                      new_tokens);
}

ValidatedRequest Validator::FinishTokens(std::string prompt, std::vector<uint32_t> ids,
                                         ValidatedRequest r, bool max_new_tokens_given,
                                         NewTokens new_tokens) const {
  SamplingParams& s = r.sampling;
  // temperature 0 means greedy (TGI rejects it; OpenAI clients send it all the time).
  if (!(s.temperature >= 0.0f)) Invalid("`temperature` must be >= 0");
  // top_p 1.0 means "off" (TGI rejects it too).
  if (!(s.top_p > 0.0f && s.top_p <= 1.0f)) Invalid("`top_p` must be > 0.0 and <= 1.0");
  if (!(s.typical_p > 0.0f && s.typical_p <= 1.0f)) {
    Invalid("`typical_p` must be > 0.0 and <= 1.0");
  }
  if (!(s.min_p >= 0.0f && s.min_p < 1.0f)) Invalid("`min_p` must be >= 0.0 and < 1.0");
  if (!(s.repetition_penalty > 0.0f)) Invalid("`repetition_penalty` must be strictly positive");
  if (!(s.frequency_penalty >= -2.0f && s.frequency_penalty <= 2.0f)) {
    Invalid("`frequency_penalty` must be >= -2.0 and <= 2.0");
  }
  if (!(s.presence_penalty >= -2.0f && s.presence_penalty <= 2.0f)) {
    Invalid("`presence_penalty` must be >= -2.0 and <= 2.0");
  }
  DecideSampling(s, r.seed_given);
  if (r.best_of == 0) Invalid("`best_of` must be strictly positive");
  if (r.best_of > limits_.max_best_of) {
    Invalid("`best_of` must be <= " + std::to_string(limits_.max_best_of));
  }
  if (r.best_of > 1 && !s.do_sample) Invalid("you must use sampling when `best_of` is > 1");
  if (r.best_of > 1 && r.seed_given) Invalid("`seed` must not be set when `best_of` > 1");
  if (r.stopping.stop_sequences.size() > limits_.max_stop_sequences) {
    Invalid("`stop` supports up to " + std::to_string(limits_.max_stop_sequences) +
            " stop sequences. Given: " + std::to_string(r.stopping.stop_sequences.size()));
  }
  if (r.top_n_tokens > limits_.max_top_n_tokens) {
    Invalid("`top_n_tokens` must be >= 0 and <= " + std::to_string(limits_.max_top_n_tokens));
  }
  if (max_new_tokens_given && r.stopping.max_new_tokens == 0 &&
      new_tokens != NewTokens::kZeroAllowed) {
    Invalid("`max_new_tokens` must be strictly positive");
  }

  if (r.truncate > limits_.max_input_tokens) {
    Invalid("`truncate` must be strictly positive and less than " +
            std::to_string(limits_.max_input_tokens) + ". Given: " + std::to_string(r.truncate));
  }
  r.input_ids = std::move(ids);
  r.inputs = std::move(prompt);
  if (r.truncate > 0 && r.input_ids.size() > r.truncate) {
    // Keep the end of the prompt: it is what the continuation depends on.
    r.input_ids.erase(r.input_ids.begin(),
                      r.input_ids.end() - static_cast<std::ptrdiff_t>(r.truncate));
  }
  const uint64_t input_len = r.input_ids.size();
  if (input_len == 0) Invalid("`inputs` must have at least one token");
  if (input_len > limits_.max_input_tokens) {
    Invalid("`inputs` tokens must be <= " + std::to_string(limits_.max_input_tokens) +
            ". Given: " + std::to_string(input_len));
  }
  if (!max_new_tokens_given) {
    r.stopping.max_new_tokens = static_cast<uint32_t>(limits_.max_total_tokens - input_len);
    if (r.stopping.max_new_tokens == 0) Invalid("no room left for new tokens after the input");
  }
  if (r.stopping.min_new_tokens > r.stopping.max_new_tokens) {
    Invalid("`min_tokens` must be <= `max_tokens`");
  }
  const uint64_t total = input_len + r.stopping.max_new_tokens;
  if (total > limits_.max_total_tokens) {
    Invalid("`inputs` tokens + `max_new_tokens` must be <= " +
            std::to_string(limits_.max_total_tokens) + ". Given: " + std::to_string(input_len) +
            " `inputs` tokens and " + std::to_string(r.stopping.max_new_tokens) +
            " `max_new_tokens`");
  }
  return r;
}

}  // namespace tg::api
