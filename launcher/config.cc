#include "launcher/config.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "common/error.h"
#include "common/flags.h"
#include "launcher/devices.h"

namespace tg::launcher {
namespace {

[[noreturn]] void Conflict(const std::string& message) {
  throw Error(ErrorKind::kInvalidArgument, message);
}

std::string EnvName(const std::string& flag) {
  std::string env = flag;
  for (char& c : env) c = c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return env;
}

std::string Str(uint64_t value) { return std::to_string(value); }

DeviceKind ChooseDevice(DeviceKind requested, uint32_t visible_gpus) {
  switch (requested) {
    case DeviceKind::kCpu:
      return DeviceKind::kCpu;
    case DeviceKind::kCuda:
      if (visible_gpus == 0) {
        Conflict(
            "--device cuda was given but no GPU is visible (check CUDA_VISIBLE_DEVICES and "
            "the NVIDIA driver)");
      }
      return DeviceKind::kCuda;
    case DeviceKind::kAuto:
      break;
  }
  return visible_gpus > 0 ? DeviceKind::kCuda : DeviceKind::kCpu;
}

uint32_t ChooseShardCount(const LauncherConfig& config, DeviceKind device, uint32_t visible_gpus) {
  std::optional<bool> sharded;
  if (config.sharded) {
    if (*config.sharded == "true")
      sharded = true;
    else if (*config.sharded == "false")
      sharded = false;
    else
      Conflict("--sharded expects true or false, got '" + *config.sharded + "'");
  }
  if (config.num_shard && *config.num_shard == 0) Conflict("--num-shard must be at least 1");
  if (sharded && config.num_shard) {
    if (*sharded && *config.num_shard == 1) {
      Conflict("--sharded true conflicts with --num-shard 1 (sharding needs at least 2 shards)");
    }
    if (!*sharded && *config.num_shard > 1) {
      Conflict("--sharded false conflicts with --num-shard " + Str(*config.num_shard));
    }
  }
  const uint32_t nodes = config.nnodes;
  if (device == DeviceKind::kCpu) {
    // CPU shards are processes that split the host's cores (ThreadsPerShard), talking over Gloo.
    const uint32_t count = config.num_shard.value_or(sharded && *sharded ? 2 : nodes);
    if (sharded && *sharded && count < 2) {
      Conflict("--sharded true needs --num-shard of at least 2");
    }
    return count;
  }
  uint32_t count = config.num_shard.value_or(sharded && !*sharded ? 1 : visible_gpus * nodes);
  if (count / nodes > visible_gpus) {
    Conflict(nodes == 1
                 ? "--num-shard " + Str(count) + " asks for more shards than the " +
                       Str(visible_gpus) +
                       " visible GPU(s) (one shard per GPU; check CUDA_VISIBLE_DEVICES)"
                 : "--num-shard " + Str(count) + " over --nnodes " + Str(nodes) + " asks for " +
                       Str(count / nodes) + " shards on this node but " + Str(visible_gpus) +
                       " GPU(s) are visible (one shard per GPU; check "
                       "CUDA_VISIBLE_DEVICES)");
  }
  if (sharded && *sharded && count < 2) {
    Conflict("--sharded true needs at least 2 GPUs, but " + Str(visible_gpus) + " is visible");
  }
  return count;
}

}  // namespace

DeviceKind ParseDeviceKind(const std::string& name) {
  if (name == "auto") return DeviceKind::kAuto;
  if (name == "cpu") return DeviceKind::kCpu;
  if (name == "cuda" || name == "gpu") return DeviceKind::kCuda;
  Conflict("--device expects auto, cpu or cuda, got '" + name + "'");
}

const char* ToString(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::kAuto:
      return "auto";
    case DeviceKind::kCpu:
      return "cpu";
    case DeviceKind::kCuda:
      return "cuda";
  }
  return "unknown";
}

void RegisterFlags(FlagParser& flags, LauncherConfig& c) {
  auto add = [&flags](const std::string& name, auto* field, const std::string& help,
                      const std::string& value_name = "") {
    flags.Add(name, field, help, {.env = EnvName(name), .value_name = value_name});
  };
  flags.Add("model-id", &c.model_id,
            "Hub model id (org/name), local model directory, or .gguf file",
            {.env = "MODEL_ID", .required = true, .value_name = "MODEL"});
  add("revision", &c.revision, "Hub revision (branch, tag or commit)", "REV");
  add("num-shard", &c.num_shard,
      "Tensor-parallel shards over all nodes: one per GPU, or CPU processes splitting the cores "
      "[default: all visible GPUs x nnodes; 1 per node on CPU]",
      "N");
  add("sharded", &c.sharded, "Force sharding on (true) or off (false)", "BOOL");
  flags.Add("hostname", &c.hostname, "Address the HTTP server listens on", {.value_name = "HOST"});
  add("port", &c.port, "HTTP port", "PORT");
  add("master-addr", &c.master_addr,
      "Address of node 0 where rank 0 serves the shards' rendezvous (Gloo on CPU, NCCL on GPU)",
      "ADDR");
  add("master-port", &c.master_port,
      "Rendezvous port on node 0; MASTER_PORT + 1 carries the NCCL id, and with --nnodes > 1 "
      "rank r serves gRPC on MASTER_PORT + 2 + r",
      "PORT");
  add("nnodes", &c.nnodes,
      "Hosts the shards span; run one launcher per host with the same --num-shard, "
      "--master-addr and --master-port",
      "N");
  add("node-rank", &c.node_rank,
      "This host's index in 0..nnodes-1; node k runs ranks k*num_shard/nnodes and up, node 0 "
      "also runs the router",
      "K");
  add("shard-uds-path", &c.shard_uds_path, "Socket path prefix; shard r serves on PREFIX-r",
      "PATH");
  add("dtype", &c.dtype,
      "Weights dtype: auto (bfloat16 on CPU and GPU), float32, bfloat16, float16", "DTYPE");
  add("kv-cache-dtype", &c.kv_cache_dtype,
      "KV cache dtype: auto (bfloat16 on GPUs, float32 on the CPU), bfloat16, float16 or float32; "
      "a shard refuses one its device cannot serve (the CPU: float32 only; CUDA: bfloat16, "
      "float32)",
      "DTYPE");
  add("block-weights", &c.block_weights,
      "GGUF Q8_0/Q4_0/Q4_1 weights: keep (compute on the blocks where the backend can) or "
      "dequantize (to --dtype)",
      "MODE");
  add("device", &c.device, "auto, cpu or cuda", "DEVICE");
  add("max-concurrent-requests", &c.max_concurrent_requests, "Requests in flight before 429", "N");
  add("max-best-of", &c.max_best_of, "Largest best_of a request may ask for", "N");
  add("max-stop-sequences", &c.max_stop_sequences, "Most stop sequences per request", "N");
  add("max-top-n-tokens", &c.max_top_n_tokens, "Largest top_n_tokens per request", "N");
  add("max-input-tokens", &c.max_input_tokens,
      "Longest prompt in tokens [default: max-total-tokens - 1]", "N");
  add("max-total-tokens", &c.max_total_tokens,
      "Prompt + generated tokens per request [default: min(max_position_embeddings, 4096)]", "N");
  add("max-model-len", &c.max_model_len, "vLLM's name for --max-total-tokens", "N");
  add("max-batch-prefill-tokens", &c.max_batch_prefill_tokens,
      "Token budget of one engine step: running decodes plus prompt chunks (vLLM's "
      "max_num_batched_tokens); with --chunked-prefill false, prompt tokens per prefill "
      "[default: max(max-input-tokens + 50, 4096), at most 8192 with chunked prefill]",
      "N");
  add("max-batch-total-tokens", &c.max_batch_total_tokens,
      "KV capacity in tokens [default: measured by the shards at warm-up]", "N");
  add("max-batch-size", &c.max_batch_size, "Most requests in one batch", "N");
  add("waiting-served-ratio", &c.waiting_served_ratio,
      "Accepted for TGI compatibility; no effect (every step admits prompt chunks)", "F");
  add("max-waiting-tokens", &c.max_waiting_tokens,
      "Accepted for TGI compatibility; no effect (every step admits prompt chunks)", "N");
  add("prefix-caching", &c.prefix_caching,
      "Reuse the KV blocks of shared prompt prefixes (false turns it off)", "BOOL");
  add("chunked-prefill", &c.chunked_prefill,
      "Split long prompts into chunks that share engine steps with decodes (false: whole prompts)",
      "BOOL");
  add("async-scheduling", &c.async_scheduling,
      "Send each decode step while the one before it runs (false: one step at a time)", "BOOL");
  add("cuda-graphs", &c.cuda_graphs, "Batch sizes to capture as CUDA graphs; 0 disables", "LIST");
  add("json-output", &c.json_output, "Log JSON lines (launcher and children)");
  add("api-key", &c.api_key, "Bearer token required by the HTTP API", "KEY");
  add("payload-limit", &c.payload_limit, "Largest request body in bytes", "BYTES");
  add("cors-allow-origin", &c.cors_allow_origin, "Allowed CORS origins (repeatable)", "ORIGIN");
  add("chat-template", &c.chat_template, "Jinja chat template file overriding the model's", "FILE");
  add("gpu-memory-utilization", &c.gpu_memory_utilization,
      "Fraction of GPU memory for weights + KV cache", "F");
  add("served-model-name", &c.served_model_name,
      "Model name in /v1/models and responses (default: the hub id, or the model directory's "
      "name or file's stem)",
      "NAME");
  add("download-only", &c.download_only, "Resolve/download the model, then exit");
  add("disable-progress", &c.disable_progress, "No download progress bars");
  add("startup-timeout", &c.startup_timeout_s, "Seconds for shards to load and answer Health", "S");
  add("shutdown-timeout", &c.shutdown_timeout_s,
      "Seconds for the router to drain and shards to stop before they are killed", "S");
  add("threads", &c.threads,
      "CPU backend threads per shard [default: this host's cores / its shards]", "N");
}

void ValidateFlags(const LauncherConfig& c) {
  ParseDeviceKind(c.device);
  if (c.dtype != "auto" && c.dtype != "float32" && c.dtype != "bfloat16" && c.dtype != "float16") {
    Conflict("--dtype expects auto, float32, bfloat16 or float16, got '" + c.dtype + "'");
  }
  if (c.kv_cache_dtype != "auto" && c.kv_cache_dtype != "bfloat16" &&
      c.kv_cache_dtype != "float16" && c.kv_cache_dtype != "float32") {
    Conflict("--kv-cache-dtype expects auto, bfloat16, float16 or float32, got '" +
             c.kv_cache_dtype + "'");
  }
  if (c.block_weights != "keep" && c.block_weights != "dequantize") {
    Conflict("--block-weights expects keep or dequantize, got '" + c.block_weights + "'");
  }
  if (c.port == 0 || c.port > 65535) Conflict("--port must be in 1..65535");
  if (c.master_port == 0 || c.master_port > 65534) {
    Conflict("--master-port must be in 1..65534 (the next port carries the NCCL id), got " +
             Str(c.master_port));
  }
  if (c.port == c.master_port || c.port == c.master_port + 1) {
    Conflict("--port " + Str(c.port) + " collides with --master-port " + Str(c.master_port) +
             " (the shards' rendezvous uses MASTER_PORT and MASTER_PORT + 1)");
  }
  if (c.nnodes == 0) Conflict("--nnodes must be at least 1");
  if (c.node_rank >= c.nnodes) {
    Conflict("--node-rank " + Str(c.node_rank) + " is outside 0.." + Str(c.nnodes - 1) +
             " for --nnodes " + Str(c.nnodes));
  }
  if (c.nnodes > 1) {
    if (c.master_addr.empty()) Conflict("--master-addr is required with --nnodes > 1");
    if (c.num_shard && *c.num_shard % c.nnodes != 0) {
      Conflict("--num-shard " + Str(*c.num_shard) + " must be a multiple of --nnodes " +
               Str(c.nnodes) + " (every node runs the same number of shards)");
    }
    // Ranks serve gRPC on MASTER_PORT + 2 + rank so the router on node 0 can reach them.
    const uint64_t last_port = uint64_t{c.master_port} + 2 + c.num_shard.value_or(c.nnodes) - 1;
    if (last_port > 65535) {
      Conflict("--master-port " + Str(c.master_port) +
               " is too high: with --nnodes > 1 the "
               "shards also serve on MASTER_PORT + 2 + rank, up to " +
               Str(last_port));
    }
    if (c.port >= c.master_port + 2 && c.port <= last_port) {
      Conflict("--port " + Str(c.port) + " collides with the shards' gRPC ports " +
               Str(c.master_port + 2) + ".." + Str(last_port) + " (MASTER_PORT + 2 + rank)");
    }
  }
  if (c.max_concurrent_requests == 0) Conflict("--max-concurrent-requests must be at least 1");
  if (c.max_best_of == 0) Conflict("--max-best-of must be at least 1");
  if (c.max_best_of > c.max_concurrent_requests) {
    Conflict("--max-best-of (" + Str(c.max_best_of) + ") exceeds --max-concurrent-requests (" +
             Str(c.max_concurrent_requests) + ")");
  }
  if (c.max_batch_size && *c.max_batch_size == 0) Conflict("--max-batch-size must be at least 1");
  if (!(c.gpu_memory_utilization > 0.0 && c.gpu_memory_utilization <= 1.0)) {
    Conflict("--gpu-memory-utilization must be in (0, 1]");
  }
  if (!(c.waiting_served_ratio >= 0.0)) Conflict("--waiting-served-ratio must not be negative");
  if (c.payload_limit == 0) Conflict("--payload-limit must be positive");
  if (c.startup_timeout_s == 0) Conflict("--startup-timeout must be positive");
  if (c.shutdown_timeout_s == 0) Conflict("--shutdown-timeout must be positive");
  if (c.threads && *c.threads == 0) Conflict("--threads must be at least 1");
  if (c.shard_uds_path.empty()) Conflict("--shard-uds-path must not be empty");
  if (c.max_total_tokens && c.max_model_len && *c.max_total_tokens != *c.max_model_len) {
    Conflict("--max-total-tokens (" + Str(*c.max_total_tokens) + ") and --max-model-len (" +
             Str(*c.max_model_len) + ") are the same setting and disagree");
  }
}

ServingPlan PlanServing(const LauncherConfig& c, const ModelLimits& limits, uint32_t visible_gpus) {
  ValidateFlags(c);
  ServingPlan plan;
  plan.device = ChooseDevice(ParseDeviceKind(c.device), visible_gpus);
  plan.num_shard = ChooseShardCount(c, plan.device, visible_gpus);
  if (plan.num_shard % c.nnodes != 0) {
    Conflict("--num-shard " + Str(plan.num_shard) + " must be a multiple of --nnodes " +
             Str(c.nnodes) + " (every node runs the same number of shards)");
  }
  const uint32_t per_node = plan.num_shard / c.nnodes;
  for (uint32_t local = 0; local < per_node; ++local) {
    plan.shards.push_back({.rank = c.node_rank * per_node + local,
                           .local_rank = local,
                           .device = plan.device,
                           .device_id = plan.device == DeviceKind::kCuda ? int(local) : -1});
  }
  plan.runs_router = c.node_rank == 0;
  plan.threads_per_shard = ThreadsPerShard(c, plan, UsableCpuCores());

  // Tensor parallelism splits query heads evenly; KV heads are split, or replicated when there
  // are fewer of them than shards (then each must serve a whole number of shards).
  const uint32_t heads = limits.num_attention_heads;
  const uint32_t kv_heads = limits.num_key_value_heads;
  if (heads > 0 && heads % plan.num_shard != 0) {
    Conflict("--num-shard " + Str(plan.num_shard) + " does not divide the model's " + Str(heads) +
             " attention heads; use a divisor of " + Str(heads) + " (e.g. --num-shard 1)");
  }
  if (kv_heads > 0 && kv_heads % plan.num_shard != 0 && plan.num_shard % kv_heads != 0) {
    Conflict("--num-shard " + Str(plan.num_shard) + " does not fit the model's " + Str(kv_heads) +
             " key/value heads (they must divide evenly or be replicated evenly)");
  }

  const uint32_t mpe = limits.max_position_embeddings;
  std::optional<uint32_t> total = c.max_total_tokens ? c.max_total_tokens : c.max_model_len;
  const std::string total_flag = c.max_total_tokens ? "--max-total-tokens" : "--max-model-len";
  if (total) {
    if (mpe > 0 && *total > mpe) {
      Conflict(total_flag + " (" + Str(*total) + ") exceeds the model's max_position_embeddings (" +
               Str(mpe) + ")");
    }
    plan.max_total_tokens = *total;
  } else {
    plan.max_total_tokens = tg::limits::DefaultMaxTotalTokens(mpe);
  }
  if (plan.max_total_tokens < 2) Conflict(total_flag + " must be at least 2");
  if (c.max_input_tokens) {
    if (*c.max_input_tokens == 0) Conflict("--max-input-tokens must be at least 1");
    if (*c.max_input_tokens >= plan.max_total_tokens) {
      Conflict("--max-input-tokens (" + Str(*c.max_input_tokens) +
               ") must be less than --max-total-tokens (" + Str(plan.max_total_tokens) +
               (total ? ")" : ", the default min(max_position_embeddings, 4096))"));
    }
    plan.max_input_tokens = *c.max_input_tokens;
  } else {
    plan.max_input_tokens = tg::limits::DefaultMaxInputTokens(plan.max_total_tokens);
  }
  if (c.max_batch_prefill_tokens) {
    // With chunked prefill it is the step budget: longer prompts are split across steps.
    if (!c.chunked_prefill && *c.max_batch_prefill_tokens < plan.max_input_tokens) {
      Conflict("--max-batch-prefill-tokens (" + Str(*c.max_batch_prefill_tokens) +
               ") must be at least --max-input-tokens (" + Str(plan.max_input_tokens) +
               ") with --chunked-prefill false");
    }
    plan.max_batch_prefill_tokens = *c.max_batch_prefill_tokens;
  } else {
    plan.max_batch_prefill_tokens = tg::limits::DefaultMaxBatchPrefillTokens(
        plan.max_input_tokens, c.max_batch_size, c.chunked_prefill);
  }
  if (c.max_batch_total_tokens) {
    if (*c.max_batch_total_tokens < plan.max_batch_prefill_tokens) {
      Conflict("--max-batch-prefill-tokens (" + Str(plan.max_batch_prefill_tokens) +
               ") must not exceed --max-batch-total-tokens (" + Str(*c.max_batch_total_tokens) +
               ")");
    }
    if (*c.max_batch_total_tokens < plan.max_total_tokens) {
      Conflict("--max-total-tokens (" + Str(plan.max_total_tokens) +
               ") must not exceed --max-batch-total-tokens (" + Str(*c.max_batch_total_tokens) +
               ")");
    }
  }
  plan.max_batch_total_tokens = c.max_batch_total_tokens;
  plan.max_batch_size = c.max_batch_size;
  return plan;
}

uint32_t ThreadsPerShard(const LauncherConfig& c, const ServingPlan& plan, uint32_t cpu_cores) {
  if (c.threads) return *c.threads;
  if (plan.device != DeviceKind::kCpu || plan.shards.empty()) return 0;
  return std::max<uint32_t>(1, cpu_cores / static_cast<uint32_t>(plan.shards.size()));
}

uint32_t ShardGrpcPort(const LauncherConfig& c, uint32_t rank) { return c.master_port + 2 + rank; }

std::string DescribePlan(const LauncherConfig& c, const ServingPlan& plan) {
  std::ostringstream out;
  out << "model_id=" << c.model_id << " revision=" << c.revision.value_or("main")
      << " device=" << ToString(plan.device) << " num_shard=" << plan.num_shard
      << " dtype=" << c.dtype << " kv_cache_dtype=" << c.kv_cache_dtype
      << " hostname=" << c.hostname << " port=" << c.port << " shard_uds_path=" << c.shard_uds_path
      << " master=" << c.master_addr << ":" << c.master_port << " nnodes=" << c.nnodes
      << " node_rank=" << c.node_rank << " local_ranks=" << plan.shards.front().rank << ".."
      << plan.shards.back().rank << " threads_per_shard=" << plan.threads_per_shard
      << " max_input_tokens=" << plan.max_input_tokens
      << " max_total_tokens=" << plan.max_total_tokens
      << " max_batch_prefill_tokens=" << plan.max_batch_prefill_tokens << " max_batch_total_tokens="
      << (plan.max_batch_total_tokens ? Str(*plan.max_batch_total_tokens) : "warmup")
      << " max_batch_size=" << (plan.max_batch_size ? Str(*plan.max_batch_size) : "none")
      << " max_concurrent_requests=" << c.max_concurrent_requests
      << " max_best_of=" << c.max_best_of << " max_stop_sequences=" << c.max_stop_sequences
      << " max_top_n_tokens=" << c.max_top_n_tokens
      << " waiting_served_ratio=" << c.waiting_served_ratio
      << " max_waiting_tokens=" << c.max_waiting_tokens
      << " gpu_memory_utilization=" << c.gpu_memory_utilization
      << " cuda_graphs=" << c.cuda_graphs.value_or("default")
      << " payload_limit=" << c.payload_limit << " api_key=" << (c.api_key ? "<set>" : "<none>");
  if (c.served_model_name) out << " served_model_name=" << *c.served_model_name;
  if (c.chat_template) out << " chat_template=" << *c.chat_template;
  return out.str();
}

}  // namespace tg::launcher
