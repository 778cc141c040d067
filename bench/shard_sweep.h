// Shard-level latency sweep: Prefill and Decode called straight over gRPC, no router, for every
// (batch size, sequence length) pair -- what TGI's text-generation-benchmark shows. Comparing it
// with the HTTP load generator separates engine speed from router overhead.
//
// The sweep is its own "router": it calls Info (block size), Warmup (KV pool), then for each
// case builds a batch of random prompts with contiguous KV block ids (request i owns blocks
// [i*n, (i+1)*n)) and one slot per position of prompt + generated tokens, runs one Prefill and
// `decode_length` Decode steps, and clears the cache.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/stats.h"

namespace tg::bench {

struct ShardSweepOptions {
  std::string target = "unix:///tmp/text-gen-server-0";  // any gRPC target
  std::vector<uint32_t> batch_sizes = {1, 2, 4, 8};
  std::vector<uint32_t> sequence_lengths = {32, 128};
  uint32_t decode_length = 8;    // decode steps per case
  uint32_t runs = 3;             // measured repetitions per case
  uint32_t warmups = 1;          // unmeasured repetitions per case
  bool skip_warmup_rpc = false;  // the shard was already warmed up (e.g. by a router)
  uint64_t seed = 0;
};

struct ShardCase {
  uint32_t batch_size = 0;
  uint32_t sequence_length = 0;
  Summary prefill_latency;          // seconds, client-side wall time of Prefill
  Summary prefill_forward;          // seconds, the shard's forward_ns
  Summary decode_step_latency;      // seconds, client-side wall time of one Decode
  Summary decode_forward;           // seconds, the shard's forward_ns per step
  double prefill_tokens_per_s = 0;  // batch * length / mean prefill latency
  double decode_tokens_per_s = 0;   // batch / mean decode step latency
};

struct ShardSweepResult {
  nlohmann::json info;    // InfoResponse as JSON
  nlohmann::json warmup;  // WarmupResponse as JSON (empty when skipped)
  std::vector<ShardCase> cases;
};

ShardSweepResult RunShardSweep(const ShardSweepOptions& options);

std::string FormatShardTable(const ShardSweepResult& result);
nlohmann::json ToJson(const ShardSweepResult& result);

// Ids 0..count-1 of the KV blocks a request owns, contiguous from `first_block`, and the slot
// of each of `tokens` positions (block * block_size + offset). Exposed for tests.
struct BlockLayout {
  std::vector<uint32_t> blocks;
  std::vector<uint32_t> slots;
};
BlockLayout ContiguousBlocks(uint32_t first_block, uint32_t tokens, uint32_t block_size);

}  // namespace tg::bench
