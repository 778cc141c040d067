#include "router/client/convert.h"

namespace tg::client {
namespace {

namespace pb = textgen::v1;

void ToProto(const api::SamplingParams& s, pb::NextTokenChooserParameters* p) {
  p->set_temperature(s.temperature);
  p->set_top_k(s.top_k);
  p->set_top_p(s.top_p);
  p->set_typical_p(s.typical_p);
  p->set_min_p(s.min_p);
  p->set_do_sample(s.do_sample);
  p->set_seed(s.seed);
  p->set_repetition_penalty(s.repetition_penalty);
  p->set_frequency_penalty(s.frequency_penalty);
  p->set_presence_penalty(s.presence_penalty);
  for (const auto& [token, bias] : s.logit_bias) {
    pb::LogitBias* entry = p->add_logit_bias();
    entry->set_token(token);
    entry->set_bias(bias);
  }
}

void ToProto(const api::GrammarRequest& g, pb::Request* out) {
  if (g.type == api::GrammarType::kNone) return;
  pb::Grammar* grammar = out->mutable_grammar();
  switch (g.type) {
    case api::GrammarType::kJsonSchema:
      grammar->set_type(pb::Grammar::TYPE_JSON_SCHEMA);
      break;
    case api::GrammarType::kJsonObject:
      grammar->set_type(pb::Grammar::TYPE_JSON_OBJECT);
      break;
    case api::GrammarType::kRegex:
      grammar->set_type(pb::Grammar::TYPE_REGEX);
      break;
    case api::GrammarType::kEbnf:
      grammar->set_type(pb::Grammar::TYPE_EBNF);
      break;
    case api::GrammarType::kNone:
      break;
  }
  grammar->set_value(g.value);
}

void ToProto(const std::vector<BlockGrant>& grants,
             google::protobuf::RepeatedPtrField<pb::BlockGrant>* out) {
  for (const BlockGrant& g : grants) {
    pb::BlockGrant* grant = out->Add();
    grant->set_request_id(g.request_id);
    for (uint32_t b : g.blocks) grant->add_blocks(b);
  }
}

ShardTokens TokensFromProto(const pb::Tokens& tokens) {
  return {.ids = {tokens.ids().begin(), tokens.ids().end()},
          .logprobs = {tokens.logprobs().begin(), tokens.logprobs().end()},
          .is_special = {tokens.is_special().begin(), tokens.is_special().end()}};
}

std::vector<ShardTokens> TokensFromProto(
    const google::protobuf::RepeatedPtrField<pb::Tokens>& list) {
  std::vector<ShardTokens> out;
  for (const pb::Tokens& tokens : list) out.push_back(TokensFromProto(tokens));
  return out;
}

ErrorKind KindFromProto(pb::RequestErrorKind kind) {
  switch (kind) {
    case pb::REQUEST_ERROR_KIND_INVALID_ARGUMENT:
      return ErrorKind::kInvalidArgument;
    case pb::REQUEST_ERROR_KIND_UNSUPPORTED:
      return ErrorKind::kUnsupported;
    case pb::REQUEST_ERROR_KIND_RESOURCE_EXHAUSTED:
      return ErrorKind::kResourceExhausted;
    case pb::REQUEST_ERROR_KIND_INTERNAL:
      return ErrorKind::kInternal;
    default:
      return ErrorKind::kUnavailable;  // a generation failure
  }
}

engine::FinishReason FinishFromProto(pb::FinishReason reason) {
  switch (reason) {
    case pb::FINISH_REASON_EOS_TOKEN:
      return engine::FinishReason::kEosToken;
    case pb::FINISH_REASON_STOP_SEQUENCE:
      return engine::FinishReason::kStopSequence;
    default:
      return engine::FinishReason::kLength;
  }
}

}  // namespace

void ToProto(const ShardRequest& r, pb::Request* out) {
  out->set_id(r.id);
  out->set_inputs(r.inputs);
  for (uint32_t token : r.input_ids) out->add_input_ids(token);
  for (uint32_t token : r.generated_ids) out->add_generated_ids(token);
  out->set_truncate(r.truncate);
  ToProto(r.sampling, out->mutable_parameters());
  ToProto(r.grammar, out);
  pb::StoppingCriteriaParameters* stop = out->mutable_stopping_parameters();
  stop->set_max_new_tokens(r.max_new_tokens);
  stop->set_min_new_tokens(r.min_new_tokens);
  for (uint32_t id : r.stop_token_ids) stop->add_stop_token_ids(id);
  stop->set_ignore_eos_token(r.ignore_eos);
  out->set_prefill_logprobs(r.prefill_logprobs);
  out->set_top_n_tokens(r.top_n_tokens);
  out->set_skip_token_logprobs(!r.token_logprobs);
  for (uint32_t b : r.blocks) out->add_blocks(b);
  out->set_cache_len(r.cache_len);
  out->set_chunk_len(r.chunk_len);
}

void ToProto(const CachedBatch& batch, pb::CachedBatch* out) {
  out->set_id(batch.id);
  for (uint64_t id : batch.request_ids) out->add_request_ids(id);
  out->set_size(batch.size);
  out->set_max_tokens(batch.max_tokens);
  out->set_current_tokens(batch.current_tokens);
}

pb::PrefillRequest ToProto(const PrefillCall& call) {
  pb::PrefillRequest out;
  pb::Batch* batch = out.mutable_batch();
  batch->set_id(call.batch_id);
  for (const ShardRequest& r : call.requests) ToProto(r, batch->add_requests());
  batch->set_size(static_cast<uint32_t>(call.requests.size()));
  for (const CachedBatch& b : call.cached) ToProto(b, out.add_cached_batches());
  ToProto(call.grants, out.mutable_block_grants());
  out.set_step(call.step);
  out.set_pipelined(call.pipelined);
  return out;
}

pb::DecodeRequest ToProto(const DecodeCall& call) {
  pb::DecodeRequest out;
  for (const CachedBatch& b : call.batches) ToProto(b, out.add_batches());
  ToProto(call.grants, out.mutable_block_grants());
  out.set_step(call.step);
  out.set_pipelined(call.pipelined);
  return out;
}

CachedBatch FromProto(const pb::CachedBatch& batch) {
  return {.id = batch.id(),
          .request_ids = {batch.request_ids().begin(), batch.request_ids().end()},
          .size = batch.size(),
          .max_tokens = batch.max_tokens(),
          .current_tokens = batch.current_tokens()};
}

ShardGeneration FromProto(const pb::Generation& g) {
  ShardGeneration out;
  out.request_id = g.request_id();
  out.prefill_tokens = TokensFromProto(g.prefill_tokens());
  out.prefill_top_tokens = TokensFromProto(g.prefill_top_tokens());
  out.tokens = TokensFromProto(g.tokens());
  out.top_tokens = TokensFromProto(g.top_tokens());
  if (g.has_generated_text()) {
    out.finish = FinishFromProto(g.generated_text().finish_reason());
    if (g.generated_text().has_seed()) out.seed = g.generated_text().seed();
  }
  return out;
}

namespace {

template <typename Response>
StepResult StepFromProto(const Response& response) {
  StepResult result;
  for (const pb::Generation& g : response.generations()) {
    result.generations.push_back(FromProto(g));
  }
  if (response.has_batch()) result.batch = FromProto(response.batch());
  for (const pb::RequestError& e : response.errors()) {
    result.errors.push_back(
        {.request_id = e.request_id(), .message = e.message(), .kind = KindFromProto(e.kind())});
  }
  result.timings = {.forward_ns = response.timings().forward_ns(),
                    .decode_ns = response.timings().decode_ns(),
                    .total_ns = response.timings().total_ns()};
  return result;
}

}  // namespace

StepResult FromProto(const pb::PrefillResponse& response) { return StepFromProto(response); }
StepResult FromProto(const pb::DecodeResponse& response) { return StepFromProto(response); }

}  // namespace tg::client
