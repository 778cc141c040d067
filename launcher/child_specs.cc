#include "launcher/child_specs.h"

#include <sstream>

namespace tg::launcher {
namespace {

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

// Shortest text that parses back to the same double (std::to_string rounds to 6 decimals).
std::string DoubleText(double value) {
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

}  // namespace

std::string ShardSocketPath(const std::string& prefix, uint32_t rank) {
  return prefix + "-" + std::to_string(rank);
}

ProcessSpec ShardSpec(const LauncherConfig& c, const ServingPlan& plan, const ShardPlacement& shard,
                      const ModelPaths& model, const std::filesystem::path& executable) {
  ProcessSpec spec;
  spec.name = "shard-" + std::to_string(shard.rank);
  spec.executable = executable.string();
  const std::string rank = std::to_string(shard.rank);
  const std::string world = std::to_string(plan.num_shard);
  spec.args = {"--model-id",       model.weights.string(),
               "--uds-path",       c.shard_uds_path,
               "--rank",           rank,
               "--world-size",     world,
               "--master-addr",    c.master_addr,
               "--master-port",    std::to_string(c.master_port),
               "--device",         ToString(shard.device),
               "--dtype",          c.dtype,
               "--kv-cache-dtype", c.kv_cache_dtype,
               "--block-weights",  c.block_weights};
  if (shard.device == DeviceKind::kCuda) {
    spec.args.insert(spec.args.end(),
                     {"--device-id", std::to_string(shard.device_id), "--gpu-memory-utilization",
                      DoubleText(c.gpu_memory_utilization)});
    if (c.cuda_graphs) spec.args.insert(spec.args.end(), {"--cuda-graphs", *c.cuda_graphs});
  }
  if (plan.threads_per_shard > 0) {
    spec.args.insert(spec.args.end(), {"--threads", std::to_string(plan.threads_per_shard)});
  }
  if (c.nnodes > 1) {
    // The router on node 0 reaches ranks of other nodes over TCP (rank 0 lists the addresses).
    spec.args.insert(spec.args.end(),
                     {"--grpc-listen", "0.0.0.0:" + std::to_string(ShardGrpcPort(c, shard.rank))});
  }
  if (c.json_output) spec.args.push_back("--json-output");
  // torch.distributed's variables, which the shard also reads; LOCAL_RANK for tools that expect it.
  spec.env = {{"RANK", rank},
              {"WORLD_SIZE", world},
              {"LOCAL_RANK", std::to_string(shard.local_rank)},
              {"MASTER_ADDR", c.master_addr},
              {"MASTER_PORT", std::to_string(c.master_port)}};
  return spec;
}

ProcessSpec RouterSpec(const LauncherConfig& c, const ServingPlan& plan, const ModelPaths& model,
                       const std::filesystem::path& executable) {
  ProcessSpec spec;
  spec.name = "router";
  spec.executable = executable.string();
  spec.args = {"--hostname",
               c.hostname,
               "--port",
               std::to_string(c.port),
               "--master-shard-uds-path",
               ShardSocketPath(c.shard_uds_path, 0),
               "--tokenizer-name",
               model.tokenizer.string(),
               "--model-id",
               c.model_id,
               "--max-concurrent-requests",
               std::to_string(c.max_concurrent_requests),
               "--max-best-of",
               std::to_string(c.max_best_of),
               "--max-stop-sequences",
               std::to_string(c.max_stop_sequences),
               "--max-top-n-tokens",
               std::to_string(c.max_top_n_tokens),
               "--max-input-tokens",
               std::to_string(plan.max_input_tokens),
               "--max-total-tokens",
               std::to_string(plan.max_total_tokens),
               "--max-batch-prefill-tokens",
               std::to_string(plan.max_batch_prefill_tokens),
               "--waiting-served-ratio",
               DoubleText(c.waiting_served_ratio),
               "--max-waiting-tokens",
               std::to_string(c.max_waiting_tokens),
               "--prefix-caching",
               c.prefix_caching ? "true" : "false",
               "--chunked-prefill",
               c.chunked_prefill ? "true" : "false",
               "--async-scheduling",
               c.async_scheduling ? "true" : "false",
               "--payload-limit",
               std::to_string(c.payload_limit)};
  auto add = [&spec](const std::string& flag, const std::string& value) {
    spec.args.push_back(flag);
    spec.args.push_back(value);
  };
  if (plan.max_batch_total_tokens) {
    add("--max-batch-total-tokens", std::to_string(*plan.max_batch_total_tokens));
  }
  if (plan.max_batch_size) add("--max-batch-size", std::to_string(*plan.max_batch_size));
  if (c.served_model_name) add("--served-model-name", *c.served_model_name);
  if (c.chat_template) add("--chat-template", *c.chat_template);
  if (!c.cors_allow_origin.empty()) add("--cors-allow-origin", Join(c.cors_allow_origin));
  if (c.json_output) spec.args.push_back("--json-output");
  // The key travels in the environment, not argv, so `ps` does not show it.
  if (c.api_key) {
    spec.env.emplace_back("API_KEY", *c.api_key);
  } else {
    spec.unset_env.push_back("API_KEY");
  }
  return spec;
}

}  // namespace tg::launcher
