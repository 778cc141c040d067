#include "router/api/validation.h"

#include <string>

#include "common/error.h"
#include "router/api/json_fields.h"
#include "router/api/sampling_decision.h"

namespace tg::api {

Validator::Validator(ValidationLimits limits, EncodeFn encode)
    : limits_(limits), encode_(std::move(encode)) {}

ValidatedRequest Validator::Validate(const RawParameters& raw, Prompt prompt,
                                     NewTokens new_tokens) const {
  std::vector<Prompt> prompts;
  prompts.push_back(std::move(prompt));
  return std::move(ValidateEach(raw, std::move(prompts), new_tokens).front());
}

std::vector<ValidatedRequest> Validator::ValidateEach(const RawParameters& raw,
                                                      std::vector<Prompt> prompts,
                                                      NewTokens new_tokens) const {
  for (const Prompt& prompt : prompts) {
    if (!prompt.ids && prompt.text.empty()) Invalid("`inputs` cannot be empty");
  }
  const ValidatedRequest decided = DecideParameters(raw, new_tokens);
  std::vector<ValidatedRequest> out;
  for (Prompt& prompt : prompts) {
    out.push_back(WithPrompt(decided, raw.max_new_tokens.has_value(), std::move(prompt)));
  }
  return out;
}

ValidatedRequest Validator::DecideParameters(const RawParameters& raw, NewTokens new_tokens) const {
  ValidatedRequest r;
  SamplingParams& s = r.sampling_;
  s.do_sample = raw.do_sample.value_or(false);
  s.temperature = raw.temperature.value_or(s.temperature);
  s.top_k = raw.top_k.value_or(s.top_k);
  s.top_p = raw.top_p.value_or(s.top_p);
  s.typical_p = raw.typical_p.value_or(s.typical_p);
  s.min_p = raw.min_p.value_or(s.min_p);
  s.repetition_penalty = raw.repetition_penalty.value_or(s.repetition_penalty);
  s.frequency_penalty = raw.frequency_penalty.value_or(s.frequency_penalty);
  s.presence_penalty = raw.presence_penalty.value_or(s.presence_penalty);
  s.logit_bias = raw.logit_bias;
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
  DecideSampling(s, raw.seed);

  r.best_of_ = raw.best_of.value_or(1);
  if (r.best_of_ == 0) Invalid("`best_of` must be strictly positive");
  if (r.best_of_ > limits_.max_best_of) {
    Invalid("`best_of` must be <= " + std::to_string(limits_.max_best_of));
  }
  if (r.best_of_ > 1 && !s.do_sample) Invalid("you must use sampling when `best_of` is > 1");
  if (r.best_of_ > 1 && raw.seed) Invalid("`seed` must not be set when `best_of` > 1");

  StoppingParams& stopping = r.stopping_;
  stopping.stop_sequences = raw.stop;
  if (stopping.stop_sequences.size() > limits_.max_stop_sequences) {
    Invalid("`stop` supports up to " + std::to_string(limits_.max_stop_sequences) +
            " stop sequences. Given: " + std::to_string(stopping.stop_sequences.size()));
  }
  stopping.ignore_eos = raw.ignore_eos.value_or(false);
  stopping.min_new_tokens = raw.min_new_tokens.value_or(0);
  stopping.stop_token_ids = raw.stop_token_ids;
  stopping.include_stop_str_in_output = raw.include_stop_str_in_output.value_or(false);

  r.token_logprobs_ = raw.token_logprobs.value_or(true);
  r.top_n_tokens_ = raw.top_n_tokens.value_or(0);
  if (r.top_n_tokens_ > limits_.max_top_n_tokens) {
    Invalid("`top_n_tokens` must be >= 0 and <= " + std::to_string(limits_.max_top_n_tokens));
  }
  if (raw.max_new_tokens == 0u && new_tokens != NewTokens::kZeroAllowed) {
    Invalid("`max_new_tokens` must be strictly positive");
  }
  // Unset here: WithPrompt fills what the prompt leaves of the total budget.
  stopping.max_new_tokens = raw.max_new_tokens.value_or(0);

  r.truncate_ = raw.truncate.value_or(0);
  if (r.truncate_ > limits_.max_input_tokens) {
    Invalid("`truncate` must be strictly positive and less than " +
            std::to_string(limits_.max_input_tokens) + ". Given: " + std::to_string(r.truncate_));
  }
  r.details_ = raw.details.value_or(false);
  r.decoder_input_details_ = raw.decoder_input_details.value_or(false);
  r.return_full_text_ = raw.return_full_text.value_or(false);
  if (raw.grammar) r.grammar_ = *raw.grammar;
  return r;
}

ValidatedRequest Validator::WithPrompt(ValidatedRequest r, bool max_new_tokens_given,
                                       Prompt prompt) const {
  r.input_ids_ =
      prompt.ids ? std::move(*prompt.ids) : encode_(prompt.text, prompt.add_special_tokens);
  r.inputs_ = std::move(prompt.text);
  if (r.truncate_ > 0 && r.input_ids_.size() > r.truncate_) {
    // Keep the end of the prompt: it is what the continuation depends on.
    r.input_ids_.erase(r.input_ids_.begin(),
                       r.input_ids_.end() - static_cast<std::ptrdiff_t>(r.truncate_));
  }
  const uint64_t input_len = r.input_ids_.size();
  if (input_len == 0) Invalid("`inputs` must have at least one token");
  if (input_len > limits_.max_input_tokens) {
    Invalid("`inputs` tokens must be <= " + std::to_string(limits_.max_input_tokens) +
            ". Given: " + std::to_string(input_len));
  }
  StoppingParams& stopping = r.stopping_;
  if (!max_new_tokens_given) {
    stopping.max_new_tokens = static_cast<uint32_t>(limits_.max_total_tokens - input_len);
    if (stopping.max_new_tokens == 0) Invalid("no room left for new tokens after the input");
  }
  if (stopping.min_new_tokens > stopping.max_new_tokens) {
    Invalid("`min_tokens` must be <= `max_tokens`");
  }
  const uint64_t total = input_len + stopping.max_new_tokens;
  if (total > limits_.max_total_tokens) {
    Invalid("`inputs` tokens + `max_new_tokens` must be <= " +
            std::to_string(limits_.max_total_tokens) + ". Given: " + std::to_string(input_len) +
            " `inputs` tokens and " + std::to_string(stopping.max_new_tokens) +
            " `max_new_tokens`");
  }
  return r;
}

}  // namespace tg::api
