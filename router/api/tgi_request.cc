#include "router/api/tgi_request.h"

#include <string>

#include "router/api/grammar_params.h"
#include "router/api/json_fields.h"

namespace tg::api {
namespace {

uint64_t GetUnsigned(const Json& value, const char* key) {
  if (!value.is_number_integer() ||
      (value.is_number_integer() && value.get<int64_t>() < 0 && !value.is_number_unsigned())) {
    Invalid(std::string("`") + key + "` must be a non-negative integer");
  }
  return value.get<uint64_t>();
}

bool GetBool(const Json& value, const char* key) {
  if (!value.is_boolean()) Invalid(std::string("`") + key + "` must be a boolean");
  return value.get<bool>();
}

uint32_t GetU32(const Json& value, const char* key) {
  const uint64_t v = GetUnsigned(value, key);
  if (v > UINT32_MAX) Invalid(std::string("`") + key + "` is too large");
  return static_cast<uint32_t>(v);
}

float GetFloat(const Json& value, const char* key) {
  return static_cast<float>(Number(value, key));
}

}  // namespace

RawParameters ParseTgiParameters(const Json& p) {
  if (!p.is_object()) Invalid("`parameters` must be an object");
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
  RawParameters r;
  if (const Json* v = Field(p, "watermark"); v && GetBool(*v, "watermark")) {
    Invalid("`watermark` is not supported");
  }
  if (const Json* v = Field(p, "grammar")) r.grammar = ParseTgiGrammar(*v);
  if (Field(p, "adapter_id")) Invalid("`adapter_id` is not supported");
  if (const Json* v = Field(p, "do_sample")) r.do_sample = GetBool(*v, "do_sample");
  if (const Json* v = Field(p, "temperature")) r.temperature = GetFloat(*v, "temperature");
  if (const Json* v = Field(p, "top_k")) r.top_k = GetU32(*v, "top_k");
  if (const Json* v = Field(p, "top_p")) r.top_p = GetFloat(*v, "top_p");
  if (const Json* v = Field(p, "typical_p")) r.typical_p = GetFloat(*v, "typical_p");
  if (const Json* v = Field(p, "min_p")) r.min_p = GetFloat(*v, "min_p");
  if (const Json* v = Field(p, "repetition_penalty")) {
    r.repetition_penalty = GetFloat(*v, "repetition_penalty");
  }
  if (const Json* v = Field(p, "frequency_penalty")) {
    r.frequency_penalty = GetFloat(*v, "frequency_penalty");
  }
  if (const Json* v = Field(p, "presence_penalty")) {
    r.presence_penalty = GetFloat(*v, "presence_penalty");
  }
  if (const Json* v = Field(p, "max_new_tokens")) r.max_new_tokens = GetU32(*v, "max_new_tokens");
  if (const Json* v = Field(p, "stop")) {
    if (!v->is_array()) Invalid("`stop` must be a list of strings");
    for (const Json& s : *v) {
      if (!s.is_string()) Invalid("`stop` must be a list of strings");
      r.stop.push_back(s.get<std::string>());
    }
  }
  if (const Json* v = Field(p, "seed")) r.seed = GetUnsigned(*v, "seed");
  if (const Json* v = Field(p, "best_of")) r.best_of = GetU32(*v, "best_of");
  if (const Json* v = Field(p, "details")) r.details = GetBool(*v, "details");
  if (const Json* v = Field(p, "decoder_input_details")) {
    r.decoder_input_details = GetBool(*v, "decoder_input_details");
  }
  if (const Json* v = Field(p, "return_full_text")) {
    r.return_full_text = GetBool(*v, "return_full_text");
  }
  if (const Json* v = Field(p, "truncate")) r.truncate = GetU32(*v, "truncate");
  if (const Json* v = Field(p, "top_n_tokens")) r.top_n_tokens = GetU32(*v, "top_n_tokens");
  if (const Json* v = Field(p, "ignore_eos")) r.ignore_eos = GetBool(*v, "ignore_eos");
  return r;
}

RawTgiRequest ParseTgiRequest(const Json& body) {
  RejectUnknownKeys(body, {"inputs", "parameters", "stream"}, "the request");
  RawTgiRequest request;
  if (const Json* stream = Field(body, "stream")) request.stream = GetBool(*stream, "stream");
  const Json* inputs = Field(body, "inputs");
  if (!inputs || !inputs->is_string()) Invalid("`inputs` must be a string");
  request.inputs = inputs->get<std::string>();
  if (const Json* p = Field(body, "parameters")) request.parameters = ParseTgiParameters(*p);
  return request;
}

}  // namespace tg::api
