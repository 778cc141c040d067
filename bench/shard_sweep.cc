#include "bench/shard_sweep.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "common/error.h"
#include "generate.grpc.pb.h"

namespace tg::bench {
namespace {

namespace pb = textgen::v1;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

void Check(const grpc::Status& status, const char* rpc) {
  TG_CHECK(status.ok(), kUnavailable,
           std::string(rpc) + " failed: " + status.error_message() + " (code " +
               std::to_string(static_cast<int>(status.error_code())) + ")");
}

nlohmann::json ToJsonValue(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  const auto status = google::protobuf::util::MessageToJsonString(message, &text, options);
  TG_CHECK(status.ok(), kInternal, "proto to JSON failed");
  return nlohmann::json::parse(text);
}

uint32_t Max(const std::vector<uint32_t>& values) {
  return *std::max_element(values.begin(), values.end());
}

class Sweeper {
 public:
  explicit Sweeper(const ShardSweepOptions& options)
      : options_(options),
        stub_(pb::TextGenerationService::NewStub(
            grpc::CreateChannel(options.target, grpc::InsecureChannelCredentials()))),
        rng_(options.seed) {}

  ShardSweepResult Run() {
    ShardSweepResult result;
    pb::InfoResponse info;
    {
      grpc::ClientContext context;
      Check(stub_->Info(&context, pb::InfoRequest{}, &info), "Info");
    }
    result.info = ToJsonValue(info);
    block_size_ = info.block_size();
    vocab_size_ = info.vocab_size();
    TG_CHECK(block_size_ > 0 && vocab_size_ > 0, kInternal, "Info reported no block/vocab size");

    const uint32_t max_total = Max(options_.sequence_lengths) + options_.decode_length + 1;
    const uint32_t max_batch = Max(options_.batch_sizes);
    const uint32_t blocks_per_request = (max_total + block_size_ - 1) / block_size_;
    if (!options_.skip_warmup_rpc) {
      pb::WarmupRequest warmup;
      warmup.set_max_input_tokens(Max(options_.sequence_lengths));
      warmup.set_max_batch_prefill_tokens(max_batch * Max(options_.sequence_lengths));
      warmup.set_max_total_tokens(max_total);
      warmup.set_max_batch_size(max_batch);
      pb::WarmupResponse response;
      grpc::ClientContext context;
      Check(stub_->Warmup(&context, warmup, &response), "Warmup");
      result.warmup = ToJsonValue(response);
      TG_CHECK(response.num_blocks() == 0 ||
                   response.num_blocks() >= uint64_t{max_batch} * blocks_per_request,
               kResourceExhausted,
               "the KV pool (" + std::to_string(response.num_blocks()) +
                   " blocks) cannot hold the largest case");
    }
    for (uint32_t batch : options_.batch_sizes) {
      for (uint32_t length : options_.sequence_lengths) {
        result.cases.push_back(RunCase(batch, length));
        std::fprintf(stderr, "shard sweep: batch %u, length %u done\n", batch, length);
      }
    }
    return result;
  }

 private:
  pb::Batch MakeBatch(uint32_t batch_size, uint32_t length) {
    pb::Batch batch;
    batch.set_id(next_batch_id_++);
    batch.set_size(batch_size);
    const uint32_t total = length + options_.decode_length + 1;
    const uint32_t blocks_per_request = (total + block_size_ - 1) / block_size_;
    std::uniform_int_distribution<uint32_t> token(0, vocab_size_ - 1);
    for (uint32_t i = 0; i < batch_size; ++i) {
      pb::Request* request = batch.add_requests();
      request->set_id(next_request_id_++);
      for (uint32_t t = 0; t < length; ++t) request->add_input_ids(token(rng_));
      auto* parameters = request->mutable_parameters();
      parameters->set_temperature(1.0f);
      parameters->set_top_p(1.0f);
      parameters->set_typical_p(1.0f);
      parameters->set_repetition_penalty(1.0f);
      auto* stopping = request->mutable_stopping_parameters();
      stopping->set_max_new_tokens(options_.decode_length + 1);
      stopping->set_ignore_eos_token(true);
      const BlockLayout layout = ContiguousBlocks(i * blocks_per_request, total, block_size_);
      for (uint32_t b : layout.blocks) request->add_blocks(b);
      for (uint32_t s : layout.slots) request->add_slots(s);
    }
    batch.set_max_tokens(batch_size * total);
    batch.set_max_blocks(batch_size * blocks_per_request);
    return batch;
  }

  ShardCase RunCase(uint32_t batch_size, uint32_t length) {
    std::vector<double> prefill, prefill_forward, decode, decode_forward;
    for (uint32_t run = 0; run < options_.warmups + options_.runs; ++run) {
      const bool measured = run >= options_.warmups;
      pb::PrefillRequest prefill_request;
      *prefill_request.mutable_batch() = MakeBatch(batch_size, length);
      pb::PrefillResponse prefill_response;
      {
        grpc::ClientContext context;
        const auto begin = Clock::now();
        Check(stub_->Prefill(&context, prefill_request, &prefill_response), "Prefill");
        if (measured) {
          prefill.push_back(Seconds(Clock::now() - begin));
          prefill_forward.push_back(prefill_response.timings().forward_ns() * 1e-9);
        }
      }
      TG_CHECK(prefill_response.errors().empty(), kInternal,
               "Prefill request error: " + prefill_response.errors(0).message());
      TG_CHECK(prefill_response.has_batch(), kInternal, "Prefill returned no cached batch");
      pb::CachedBatch cached = prefill_response.batch();
      for (uint32_t step = 0; step < options_.decode_length; ++step) {
        pb::DecodeRequest decode_request;
        *decode_request.add_batches() = cached;
        pb::DecodeResponse decode_response;
        grpc::ClientContext context;
        const auto begin = Clock::now();
        Check(stub_->Decode(&context, decode_request, &decode_response), "Decode");
        if (measured) {
          decode.push_back(Seconds(Clock::now() - begin));
          decode_forward.push_back(decode_response.timings().forward_ns() * 1e-9);
        }
        TG_CHECK(decode_response.errors().empty(), kInternal,
                 "Decode request error: " + decode_response.errors(0).message());
        TG_CHECK(decode_response.generations_size() == static_cast<int>(batch_size), kInternal,
                 "Decode returned " + std::to_string(decode_response.generations_size()) +
                     " generations for a batch of " + std::to_string(batch_size));
        if (!decode_response.has_batch()) break;
        cached = decode_response.batch();
      }
      grpc::ClientContext context;
      pb::ClearCacheResponse cleared;
      Check(stub_->ClearCache(&context, pb::ClearCacheRequest{}, &cleared), "ClearCache");
    }
    ShardCase result;
    result.batch_size = batch_size;
    result.sequence_length = length;
    result.prefill_latency = Summarize(prefill);
    result.prefill_forward = Summarize(prefill_forward);
    result.decode_step_latency = Summarize(decode);
    result.decode_forward = Summarize(decode_forward);
    if (result.prefill_latency.mean > 0) {
      result.prefill_tokens_per_s = batch_size * length / result.prefill_latency.mean;
    }
    if (result.decode_step_latency.mean > 0) {
      result.decode_tokens_per_s = batch_size / result.decode_step_latency.mean;
    }
    return result;
  }

  const ShardSweepOptions& options_;
  std::unique_ptr<pb::TextGenerationService::Stub> stub_;
  std::mt19937_64 rng_;
  uint32_t block_size_ = 0;
  uint32_t vocab_size_ = 0;
  uint64_t next_batch_id_ = 1;
  uint64_t next_request_id_ = 1;
};

nlohmann::json SummaryJson(const Summary& s) {
  return {{"mean_ms", s.mean * 1e3}, {"median_ms", s.median * 1e3}, {"p90_ms", s.p90 * 1e3},
          {"p99_ms", s.p99 * 1e3},   {"std_ms", s.std * 1e3},       {"count", s.count}};
}

}  // namespace

BlockLayout ContiguousBlocks(uint32_t first_block, uint32_t tokens, uint32_t block_size) {
  TG_CHECK(block_size > 0, kInvalidArgument, "block size must be positive");
  BlockLayout layout;
  const uint32_t count = (tokens + block_size - 1) / block_size;
  for (uint32_t b = 0; b < count; ++b) layout.blocks.push_back(first_block + b);
  for (uint32_t t = 0; t < tokens; ++t) {
    layout.slots.push_back((first_block + t / block_size) * block_size + t % block_size);
  }
  return layout;
}

ShardSweepResult RunShardSweep(const ShardSweepOptions& options) {
  TG_CHECK(!options.batch_sizes.empty() && !options.sequence_lengths.empty(), kInvalidArgument,
           "need at least one batch size and one sequence length");
  TG_CHECK(options.runs > 0, kInvalidArgument, "need at least one measured run");
  return Sweeper(options).Run();
}

std::string FormatShardTable(const ShardSweepResult& result) {
  std::string out =
      "| batch | seq len | prefill ms (mean/p90) | prefill fwd ms | prefill tok/s | "
      "decode step ms (mean/p90) | decode fwd ms | decode tok/s |\n"
      "|---|---|---|---|---|---|---|---|\n";
  char line[320];
  for (const ShardCase& c : result.cases) {
    std::snprintf(
        line, sizeof line, "| %u | %u | %.2f / %.2f | %.2f | %.1f | %.3f / %.3f | %.3f | %.1f |\n",
        c.batch_size, c.sequence_length, c.prefill_latency.mean * 1e3, c.prefill_latency.p90 * 1e3,
        c.prefill_forward.mean * 1e3, c.prefill_tokens_per_s, c.decode_step_latency.mean * 1e3,
        c.decode_step_latency.p90 * 1e3, c.decode_forward.mean * 1e3, c.decode_tokens_per_s);
    out += line;
  }
  return out;
}

nlohmann::json ToJson(const ShardSweepResult& result) {
  nlohmann::json out;
  out["info"] = result.info;
  out["warmup"] = result.warmup;
  out["cases"] = nlohmann::json::array();
  for (const ShardCase& c : result.cases) {
    out["cases"].push_back({{"batch_size", c.batch_size},
                            {"sequence_length", c.sequence_length},
                            {"prefill_latency", SummaryJson(c.prefill_latency)},
                            {"prefill_forward", SummaryJson(c.prefill_forward)},
                            {"decode_step_latency", SummaryJson(c.decode_step_latency)},
                            {"decode_forward", SummaryJson(c.decode_forward)},
                            {"prefill_tokens_per_s", c.prefill_tokens_per_s},
                            {"decode_tokens_per_s", c.decode_tokens_per_s}});
  }
  return out;
}

}  // namespace tg::bench
