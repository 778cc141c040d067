// The launcher's typed configuration: what the user asked for (LauncherConfig, bound to TGI's
// flag names with environment fallbacks) and what the launcher will run (ServingPlan, derived once
// from the flags, the model's limits and the visible devices, and validated before anything
// starts).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/serving_limits.h"

namespace tg {
class FlagParser;
}

namespace tg::launcher {

enum class DeviceKind { kAuto, kCpu, kCuda };

// Everything the user can set. Optional fields are derived when absent.
struct LauncherConfig {
  std::string model_id;
  std::optional<std::string> revision;
  std::optional<uint32_t> num_shard;
  std::optional<std::string> sharded;  // "true"/"false"; absent: decided by num_shard
  std::string hostname = "0.0.0.0";
  uint32_t port = 3000;
  std::string master_addr = "127.0.0.1";
  uint32_t master_port = 29500;
  uint32_t nnodes = 1;     // hosts the --num-shard ranks are spread over
  uint32_t node_rank = 0;  // this host's index; node 0 runs rank 0 and the router
  std::string shard_uds_path = "/tmp/text-gen-server";
  std::string dtype = "auto";
  std::string kv_cache_dtype = "auto";  // passed to every shard, which checks its backend serves it
  std::string block_weights = "keep";   // GGUF Q8_0/Q4_0/Q4_1: keep the blocks or dequantize
  std::string device = "auto";
  uint32_t max_concurrent_requests = tg::limits::kMaxConcurrentRequests;
  uint32_t max_best_of = tg::limits::kMaxBestOf;
  uint32_t max_stop_sequences = tg::limits::kMaxStopSequences;
  uint32_t max_top_n_tokens = tg::limits::kMaxTopNTokens;
  std::optional<uint32_t> max_input_tokens;
  std::optional<uint32_t> max_total_tokens;
  std::optional<uint32_t> max_model_len;  // vLLM's name for max_total_tokens
  std::optional<uint32_t> max_batch_prefill_tokens;
  std::optional<uint64_t> max_batch_total_tokens;
  std::optional<uint32_t> max_batch_size;
  double waiting_served_ratio = tg::limits::kWaitingServedRatio;
  uint32_t max_waiting_tokens = tg::limits::kMaxWaitingTokens;
  bool prefix_caching = true;
  bool chunked_prefill = true;
  bool async_scheduling = true;
  std::optional<std::string> cuda_graphs;
  bool json_output = false;
  std::optional<std::string> api_key;
  uint64_t payload_limit = tg::limits::kPayloadLimitBytes;
  std::vector<std::string> cors_allow_origin;
  std::optional<std::string> chat_template;
  double gpu_memory_utilization = 0.9;
  std::optional<std::string> served_model_name;
  bool download_only = false;
  bool disable_progress = false;
  uint32_t startup_timeout_s = 600;  // shards loading weights plus router warm-up
  uint32_t shutdown_timeout_s = 30;  // router drain, then shards, before SIGKILL
  std::optional<uint32_t> threads;   // CPU backend threads per shard
};

// Binds every field to its flag (TGI's name) and environment variable (the flag's name in upper
// snake case, like TGI). HOSTNAME is the one exception: shells and container runtimes export it
// as the machine's name, which would silently move the listening address.
void RegisterFlags(FlagParser& flags, LauncherConfig& config);

// What the launcher learned from the model files.
struct ModelLimits {
  uint32_t max_position_embeddings = 0;  // 0: unknown
  uint32_t num_attention_heads = 0;      // 0: unknown; tensor parallelism splits heads
  uint32_t num_key_value_heads = 0;      // 0: unknown
};

// One shard process: its (global) rank and the device it is pinned to.
struct ShardPlacement {
  uint32_t rank = 0;
  uint32_t local_rank = 0;  // index among this node's shards
  DeviceKind device = DeviceKind::kCpu;
  int device_id = -1;  // index among the visible GPUs; -1 on the CPU
};

// The validated, fully derived configuration the launcher runs.
struct ServingPlan {
  DeviceKind device = DeviceKind::kCpu;
  uint32_t num_shard = 1;              // the tensor-parallel world, over every node
  std::vector<ShardPlacement> shards;  // this node's: ranks node_rank * per_node + 0..per_node-1
  bool runs_router = true;             // node 0 only
  // CPU: --threads, or this node's cores split evenly between its shards (0: the shard decides).
  uint32_t threads_per_shard = 0;
  uint32_t max_input_tokens = 0;
  uint32_t max_total_tokens = 0;
  uint32_t max_batch_prefill_tokens = 0;
  std::optional<uint64_t> max_batch_total_tokens;
  std::optional<uint32_t> max_batch_size;
};

DeviceKind ParseDeviceKind(const std::string& name);
const char* ToString(DeviceKind kind);

// Checks the flags against each other, the model and the visible GPUs, and derives defaults the
// way TGI does. Throws tg::Error(kInvalidArgument) naming the conflicting flags.
ServingPlan PlanServing(const LauncherConfig& config, const ModelLimits& limits,
                        uint32_t visible_gpus);

// The CPU threads each local shard gets: --threads when given, else the `cpu_cores` this
// process may use divided by the local shard count (at least 1), so N shards do not
// oversubscribe the cores. 0 on GPUs (the shard's default).
uint32_t ThreadsPerShard(const LauncherConfig& config, const ServingPlan& plan, uint32_t cpu_cores);

// The TCP port a rank serves gRPC on when the group spans several nodes (the router on node 0
// reaches remote ranks there): MASTER_PORT + 2 + rank (MASTER_PORT + 1 carries the NCCL id).
uint32_t ShardGrpcPort(const LauncherConfig& config, uint32_t rank);

// Checks of the flags alone (no model, no devices), run before any download.
void ValidateFlags(const LauncherConfig& config);

// A multi-line, human-readable summary of the effective configuration (secrets hidden).
std::string DescribePlan(const LauncherConfig& config, const ServingPlan& plan);

}  // namespace tg::launcher
