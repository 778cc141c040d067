#include "shard/service/convert.h"

#include "common/error.h"

namespace tg::shard {
namespace {

void ToProto(const TokenInfo& token, textgen::v1::Tokens* tokens) {
  tokens->add_ids(static_cast<uint32_t>(token.id));
  tokens->add_logprobs(token.logprob);
  tokens->add_is_special(token.is_special);
}

textgen::v1::FinishReason ToProto(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength:
      return textgen::v1::FINISH_REASON_LENGTH;
    case FinishReason::kEosToken:
      return textgen::v1::FINISH_REASON_EOS_TOKEN;
    case FinishReason::kNone:
      break;
  }
  return textgen::v1::FINISH_REASON_UNSPECIFIED;
}

textgen::v1::RequestErrorKind ToProto(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument:
      return textgen::v1::REQUEST_ERROR_KIND_INVALID_ARGUMENT;
    case ErrorKind::kUnsupported:
      return textgen::v1::REQUEST_ERROR_KIND_UNSUPPORTED;
    case ErrorKind::kResourceExhausted:
      return textgen::v1::REQUEST_ERROR_KIND_RESOURCE_EXHAUSTED;
    case ErrorKind::kInternal:
      return textgen::v1::REQUEST_ERROR_KIND_INTERNAL;
    default:
      break;
  }
  return textgen::v1::REQUEST_ERROR_KIND_UNSPECIFIED;
}

void ToProto(const GenerationOut& gen, textgen::v1::Generation* out) {
  out->set_request_id(gen.request_id);
  if (gen.prefill_tokens.has_value()) {
    for (const TokenInfo& token : *gen.prefill_tokens)
      ToProto(token, out->mutable_prefill_tokens());
  }
  for (const std::vector<TokenInfo>& top : gen.prefill_top_tokens) {
    textgen::v1::Tokens* entry = out->add_prefill_top_tokens();
    for (const TokenInfo& token : top) ToProto(token, entry);
  }
  ToProto(gen.token, out->mutable_tokens());
  if (!gen.top_tokens.empty()) {
    textgen::v1::Tokens* top = out->add_top_tokens();
    for (const TokenInfo& token : gen.top_tokens) ToProto(token, top);
  }
  if (gen.finish != FinishReason::kNone) {
    textgen::v1::GeneratedText* text = out->mutable_generated_text();
    text->set_generated_tokens(gen.generated_tokens);
    text->set_finish_reason(ToProto(gen.finish));
    if (gen.seed.has_value()) text->set_seed(*gen.seed);
  }
}

grpc::StatusCode ToStatusCode(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case ErrorKind::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case ErrorKind::kUnsupported:
      return grpc::StatusCode::UNIMPLEMENTED;
    case ErrorKind::kCorruptFile:
      return grpc::StatusCode::DATA_LOSS;
    case ErrorKind::kResourceExhausted:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case ErrorKind::kUnavailable:
    case ErrorKind::kNotReady:
    case ErrorKind::kDeviceLost:
      return grpc::StatusCode::UNAVAILABLE;
    case ErrorKind::kInternal:
      break;
  }
  return grpc::StatusCode::INTERNAL;
}

grammar::GrammarSpec GrammarFromProto(const textgen::v1::Grammar& g) {
  using textgen::v1::Grammar;
  grammar::GrammarSpec spec;
  spec.value = g.value();
  switch (g.type()) {
    case Grammar::TYPE_JSON_SCHEMA:
      spec.kind = grammar::GrammarKind::kJsonSchema;
      break;
    case Grammar::TYPE_JSON_OBJECT:
      spec.kind = grammar::GrammarKind::kJsonObject;
      break;
    case Grammar::TYPE_REGEX:
      spec.kind = grammar::GrammarKind::kRegex;
      break;
    case Grammar::TYPE_EBNF:
      spec.kind = grammar::GrammarKind::kEbnf;
      break;
    default:
      spec.kind = grammar::GrammarKind::kNone;
      break;
  }
  return spec;
}

}  // namespace

RequestSpec FromProto(const textgen::v1::Request& request) {
  RequestSpec spec;
  spec.id = request.id();
  spec.input_ids.assign(request.input_ids().begin(), request.input_ids().end());
  spec.generated_ids.assign(request.generated_ids().begin(), request.generated_ids().end());
  const textgen::v1::NextTokenChooserParameters& p = request.parameters();
  // Proto3 zeros mean "unset": map them to the neutral values the sampler expects.
  // Whether to sample is the router's decision (do_sample); the shard never derives it.
  if (p.temperature() < 0.0f) {
    throw RequestError(request.id(), ErrorKind::kInvalidArgument, "temperature must be >= 0");
  }
  spec.sampling.temperature = p.temperature() == 0.0f ? 1.0f : p.temperature();
  spec.sampling.top_k = p.top_k();
  spec.sampling.top_p = p.top_p() == 0.0f ? 1.0f : p.top_p();
  spec.sampling.typical_p = p.typical_p() == 0.0f ? 1.0f : p.typical_p();
  spec.sampling.min_p = p.min_p();
  spec.sampling.do_sample = p.do_sample();
  spec.sampling.seed = p.seed();
  spec.sampling.repetition_penalty = p.repetition_penalty() == 0.0f ? 1.0f : p.repetition_penalty();
  spec.sampling.frequency_penalty = p.frequency_penalty();
  spec.sampling.presence_penalty = p.presence_penalty();
  if (p.watermark()) {
    throw RequestError(request.id(), ErrorKind::kUnsupported, "watermark is not supported");
  }
  spec.max_new_tokens = request.stopping_parameters().max_new_tokens();
  spec.ignore_eos = request.stopping_parameters().ignore_eos_token();
  spec.min_new_tokens = request.stopping_parameters().min_new_tokens();
  for (uint32_t id : request.stopping_parameters().stop_token_ids()) {
    spec.stop_token_ids.push_back(static_cast<int32_t>(id));
  }
  for (const textgen::v1::LogitBias& b : p.logit_bias()) {
    spec.logit_bias.push_back({static_cast<int32_t>(b.token()), b.bias()});
  }
  spec.prefill_logprobs = request.prefill_logprobs();
  spec.top_n_tokens = request.top_n_tokens();
  spec.token_logprobs = !request.skip_token_logprobs();
  spec.blocks.assign(request.blocks().begin(), request.blocks().end());
  spec.slots.assign(request.slots().begin(), request.slots().end());
  spec.cache_len = request.cache_len();
  spec.chunk_len = request.chunk_len();
  spec.grammar = GrammarFromProto(request.grammar());
  return spec;
}

std::vector<BlockGrant> FromProto(
    const google::protobuf::RepeatedPtrField<textgen::v1::BlockGrant>& grants) {
  std::vector<BlockGrant> out;
  for (const textgen::v1::BlockGrant& g : grants) {
    out.push_back({.request_id = g.request_id(),
                   .blocks = std::vector<uint32_t>(g.blocks().begin(), g.blocks().end())});
  }
  return out;
}

WarmupParams FromProto(const textgen::v1::WarmupRequest& request) {
  WarmupParams params;
  params.max_input_tokens = request.max_input_tokens();
  params.max_batch_prefill_tokens = request.max_batch_prefill_tokens();
  params.max_total_tokens = request.max_total_tokens();
  params.max_batch_size = request.max_batch_size();
  params.max_batch_total_tokens = request.max_batch_total_tokens();
  return params;
}

void ToProto(const WarmupResult& result, textgen::v1::WarmupResponse* response) {
  response->set_max_supported_total_tokens(result.max_supported_total_tokens);
  response->set_num_blocks(result.num_blocks);
  response->set_block_size(result.block_size);
  response->set_max_input_tokens(result.max_input_tokens);
  response->set_max_total_tokens(result.max_total_tokens);
  response->set_weight_bytes(result.weight_bytes);
  response->set_kv_bytes(result.kv_bytes);
  for (uint32_t size : result.cuda_graph_batch_sizes) response->add_cuda_graph_batch_sizes(size);
}

void ToProto(const CachedBatchInfo& batch, textgen::v1::CachedBatch* out) {
  out->set_id(batch.id);
  for (uint64_t id : batch.request_ids) out->add_request_ids(id);
  out->set_size(static_cast<uint32_t>(batch.request_ids.size()));
  out->set_max_tokens(batch.max_tokens);
  out->set_current_tokens(batch.current_tokens);
}

template <typename Response>
void ToProto(const StepOutput& step, Response* response) {
  for (const GenerationOut& gen : step.generations) ToProto(gen, response->add_generations());
  if (step.batch.has_value()) ToProto(*step.batch, response->mutable_batch());
  textgen::v1::Timings* timings = response->mutable_timings();
  timings->set_forward_ns(step.timings.forward_ns);
  timings->set_decode_ns(step.timings.decode_ns);
  timings->set_total_ns(step.timings.total_ns);
  for (const RequestFailure& failure : step.errors) {
    textgen::v1::RequestError* error = response->add_errors();
    error->set_request_id(failure.request_id);
    error->set_message(failure.message);
    error->set_kind(ToProto(failure.kind));
  }
}
template void ToProto(const StepOutput&, textgen::v1::PrefillResponse*);
template void ToProto(const StepOutput&, textgen::v1::DecodeResponse*);

grpc::Status ToGrpcStatus(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const RequestError& e) {
    return grpc::Status(ToStatusCode(e.kind()),
                        "request " + std::to_string(e.request_id()) + ": " + e.message());
  } catch (const Error& e) {
    return grpc::Status(ToStatusCode(e.kind()), e.message());
  } catch (const std::bad_alloc&) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "out of memory");
  } catch (const std::exception& e) {
    return grpc::Status(grpc::StatusCode::INTERNAL, e.what());
  } catch (...) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "unknown error");
  }
}

}  // namespace tg::shard
