// The shard and router command lines follow the process contract.
#include "launcher/child_specs.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/flags.h"

namespace tg::launcher {
namespace {

LauncherConfig Config(const std::vector<std::string>& args) {
  LauncherConfig config;
  FlagParser flags("text-gen-launcher", "test");
  RegisterFlags(flags, config);
  std::vector<std::string> all{"--model-id", "org/model"};
  all.insert(all.end(), args.begin(), args.end());
  flags.Parse(all);
  return config;
}

// The value following `flag` in args, or "<absent>".
std::string Arg(const ProcessSpec& spec, const std::string& flag) {
  auto it = std::find(spec.args.begin(), spec.args.end(), flag);
  if (it == spec.args.end()) return "<absent>";
  return ++it == spec.args.end() ? "<no value>" : *it;
}

std::string Env(const ProcessSpec& spec, const std::string& name) {
  for (const auto& [key, value] : spec.env) {
    if (key == name) return value;
  }
  return "<absent>";
}

TEST(ChildSpecs, ShardsArePinnedAndGetTheirRendezvous) {
  LauncherConfig config =
      Config({"--master-port", "29600", "--shard-uds-path", "/tmp/x", "--cuda-graphs", "1,2",
              "--gpu-memory-utilization", "0.85", "--kv-cache-dtype", "float32"});
  ServingPlan plan = PlanServing(config, {.max_position_embeddings = 512}, 3);
  ModelPaths paths{"/models/m", "/models/m"};
  for (const ShardPlacement& shard : plan.shards) {
    ProcessSpec spec = ShardSpec(config, plan, shard, paths, "/bin/text-gen-shard");
    const std::string rank = std::to_string(shard.rank);
    EXPECT_EQ(spec.name, "shard-" + rank);
    EXPECT_EQ(Arg(spec, "--model-id"), "/models/m");
    EXPECT_EQ(Arg(spec, "--uds-path"), "/tmp/x");
    EXPECT_EQ(Arg(spec, "--rank"), rank);
    EXPECT_EQ(Arg(spec, "--world-size"), "3");
    EXPECT_EQ(Arg(spec, "--device"), "cuda");
    EXPECT_EQ(Arg(spec, "--device-id"), rank);
    EXPECT_EQ(Arg(spec, "--cuda-graphs"), "1,2");
    EXPECT_EQ(Arg(spec, "--kv-cache-dtype"), "float32");
    EXPECT_EQ(Arg(spec, "--gpu-memory-utilization"), "0.84999999999999998");
    EXPECT_EQ(Env(spec, "RANK"), rank);
    EXPECT_EQ(Env(spec, "WORLD_SIZE"), "3");
    EXPECT_EQ(Env(spec, "MASTER_ADDR"), "127.0.0.1");
    EXPECT_EQ(Env(spec, "MASTER_PORT"), "29600");
  }
  EXPECT_EQ(ShardSocketPath("/tmp/x", 2), "/tmp/x-2");
}

TEST(ChildSpecs, CpuShardHasNoDeviceId) {
  LauncherConfig config = Config({"--threads", "2", "--json-output"});
  ServingPlan plan = PlanServing(config, {.max_position_embeddings = 512}, 0);
  ProcessSpec spec = ShardSpec(config, plan, plan.shards[0], {"/m.gguf", "/m.gguf"}, "shard");
  EXPECT_EQ(Arg(spec, "--device"), "cpu");
  EXPECT_EQ(Arg(spec, "--device-id"), "<absent>");
  EXPECT_EQ(Arg(spec, "--threads"), "2");
  EXPECT_EQ(Arg(spec, "--kv-cache-dtype"), "auto");  // every shard gets it, CPU ones too
  EXPECT_NE(std::find(spec.args.begin(), spec.args.end(), "--json-output"), spec.args.end());
}

TEST(ChildSpecs, CpuShardsGetTheirShareOfTheCores) {
  LauncherConfig config = Config({"--device", "cpu", "--num-shard", "2"});
  ServingPlan plan = PlanServing(config, {.max_position_embeddings = 512}, 0);
  plan.threads_per_shard = ThreadsPerShard(config, plan, 8);
  ProcessSpec spec = ShardSpec(config, plan, plan.shards[1], {"/m", "/m"}, "shard");
  EXPECT_EQ(Arg(spec, "--threads"), "4");
  EXPECT_EQ(Arg(spec, "--world-size"), "2");
  EXPECT_EQ(Arg(spec, "--grpc-listen"), "<absent>");  // one node: unix sockets only
}

TEST(ChildSpecs, ShardsOfAMultiNodeGroupServeTcpForTheRouter) {
  LauncherConfig config = Config({"--num-shard", "4", "--nnodes", "2", "--node-rank", "1",
                                  "--master-addr", "10.0.0.1", "--master-port", "29600"});
  ServingPlan plan = PlanServing(config, {.max_position_embeddings = 512}, 2);
  ASSERT_EQ(plan.shards.size(), 2u);
  ProcessSpec spec = ShardSpec(config, plan, plan.shards[1], {"/m", "/m"}, "shard");
  EXPECT_EQ(spec.name, "shard-3");
  EXPECT_EQ(Arg(spec, "--rank"), "3");
  EXPECT_EQ(Arg(spec, "--world-size"), "4");
  EXPECT_EQ(Arg(spec, "--device-id"), "1");
  EXPECT_EQ(Arg(spec, "--master-addr"), "10.0.0.1");
  EXPECT_EQ(Arg(spec, "--grpc-listen"), "0.0.0.0:29605");
  EXPECT_EQ(Env(spec, "LOCAL_RANK"), "1");
  EXPECT_EQ(Env(spec, "RANK"), "3");
}

TEST(ChildSpecs, RouterGetsTheDerivedBudgetsAndTheKeyOutsideArgv) {
  LauncherConfig config =
      Config({"--port", "8080", "--api-key", "secret", "--cors-allow-origin", "a,b",
              "--served-model-name", "tgi", "--max-batch-total-tokens", "10000"});
  ServingPlan plan = PlanServing(config, {.max_position_embeddings = 512}, 0);
  ProcessSpec spec = RouterSpec(config, plan, {"/m", "/m/tok"}, "router");
  EXPECT_EQ(Arg(spec, "--port"), "8080");
  EXPECT_EQ(Arg(spec, "--hostname"), "0.0.0.0");
  EXPECT_EQ(Arg(spec, "--master-shard-uds-path"), "/tmp/text-gen-server-0");
  EXPECT_EQ(Arg(spec, "--tokenizer-name"), "/m/tok");
  EXPECT_EQ(Arg(spec, "--model-id"), "org/model");
  EXPECT_EQ(Arg(spec, "--max-input-tokens"), "511");
  EXPECT_EQ(Arg(spec, "--max-total-tokens"), "512");
  EXPECT_EQ(Arg(spec, "--max-batch-prefill-tokens"), "4096");
  EXPECT_EQ(Arg(spec, "--max-batch-total-tokens"), "10000");
  EXPECT_EQ(Arg(spec, "--waiting-served-ratio"), "1.2");
  EXPECT_EQ(Arg(spec, "--cors-allow-origin"), "a,b");
  EXPECT_EQ(Arg(spec, "--served-model-name"), "tgi");
  EXPECT_EQ(std::find(spec.args.begin(), spec.args.end(), "secret"), spec.args.end());
  EXPECT_EQ(Env(spec, "API_KEY"), "secret");
}

TEST(ChildSpecs, PrefixCachingChunkedPrefillAndAsyncSchedulingAreOnUnlessTurnedOff) {
  LauncherConfig defaults = Config({});
  ServingPlan plan = PlanServing(defaults, {.max_position_embeddings = 512}, 0);
  ProcessSpec spec = RouterSpec(defaults, plan, {"/m", "/m/tok"}, "router");
  EXPECT_EQ(Arg(spec, "--prefix-caching"), "true");
  EXPECT_EQ(Arg(spec, "--chunked-prefill"), "true");
  EXPECT_EQ(Arg(spec, "--async-scheduling"), "true");
  LauncherConfig off = Config(
      {"--prefix-caching", "false", "--chunked-prefill", "false", "--async-scheduling", "false"});
  spec = RouterSpec(off, PlanServing(off, {.max_position_embeddings = 512}, 0), {"/m", "/m/tok"},
                    "router");
  EXPECT_EQ(Arg(spec, "--prefix-caching"), "false");
  EXPECT_EQ(Arg(spec, "--chunked-prefill"), "false");
  EXPECT_EQ(Arg(spec, "--async-scheduling"), "false");
}

}  // namespace
}  // namespace tg::launcher
