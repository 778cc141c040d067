// GPU discovery and pinning, with the physical GPU count injected.
#include "launcher/devices.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/flags.h"
#include "launcher/config.h"

namespace tg::launcher {
namespace {

TEST(CountVisibleGpus, AppliesCudaVisibleDevicesLikeTheRuntime) {
  EXPECT_EQ(CountVisibleGpus(8, std::nullopt), 8u);
  EXPECT_EQ(CountVisibleGpus(0, std::nullopt), 0u);
  EXPECT_EQ(CountVisibleGpus(8, ""), 0u);
  EXPECT_EQ(CountVisibleGpus(8, "0"), 1u);
  EXPECT_EQ(CountVisibleGpus(8, "3,1, 2"), 3u);
  EXPECT_EQ(CountVisibleGpus(4, "0,1,7,2"), 2u);  // the list ends at the first invalid index
  EXPECT_EQ(CountVisibleGpus(4, "-1"), 0u);
  EXPECT_EQ(CountVisibleGpus(4, "1,1"), 1u);  // a duplicate ends it too
  EXPECT_EQ(CountVisibleGpus(4, "GPU-8e1a,GPU-77aa"), 2u);
  EXPECT_EQ(CountVisibleGpus(4, "0,x,1"), 1u);
  EXPECT_EQ(CountVisibleGpus(1, "GPU-a,GPU-b"), 1u);  // never more than exist
}

LauncherConfig Config(const std::vector<std::string>& args) {
  LauncherConfig config;
  FlagParser flags("text-gen-launcher", "test");
  RegisterFlags(flags, config);
  std::vector<std::string> all{"--model-id", "m"};
  all.insert(all.end(), args.begin(), args.end());
  flags.Parse(all);
  return config;
}

std::string PlanError(const std::vector<std::string>& args, uint32_t gpus) {
  try {
    PlanServing(Config(args), {.max_position_embeddings = 512}, gpus);
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

TEST(PlanServing, OneShardPerVisibleGpuPinnedByRank) {
  ServingPlan plan = PlanServing(Config({}), {.max_position_embeddings = 512}, 4);
  EXPECT_EQ(plan.device, DeviceKind::kCuda);
  ASSERT_EQ(plan.num_shard, 4u);
  ASSERT_EQ(plan.shards.size(), 4u);
  for (uint32_t r = 0; r < 4; ++r) {
    EXPECT_EQ(plan.shards[r].rank, r);
    EXPECT_EQ(plan.shards[r].device, DeviceKind::kCuda);
    EXPECT_EQ(plan.shards[r].device_id, int(r));
  }
  ServingPlan two = PlanServing(Config({"--num-shard", "2"}), {.max_position_embeddings = 512}, 8);
  EXPECT_EQ(two.num_shard, 2u);
  EXPECT_EQ(two.shards[1].device_id, 1);
  ServingPlan unsharded =
      PlanServing(Config({"--sharded", "false"}), {.max_position_embeddings = 512}, 8);
  EXPECT_EQ(unsharded.num_shard, 1u);
  ServingPlan sharded =
      PlanServing(Config({"--sharded", "true"}), {.max_position_embeddings = 512}, 2);
  EXPECT_EQ(sharded.num_shard, 2u);
}

TEST(PlanServing, CpuWhenNoGpuOrAsked) {
  ServingPlan none = PlanServing(Config({}), {.max_position_embeddings = 512}, 0);
  EXPECT_EQ(none.device, DeviceKind::kCpu);
  ASSERT_EQ(none.shards.size(), 1u);
  EXPECT_EQ(none.shards[0].device_id, -1);
  ServingPlan asked = PlanServing(Config({"--device", "cpu"}), {.max_position_embeddings = 512}, 4);
  EXPECT_EQ(asked.device, DeviceKind::kCpu);
  EXPECT_EQ(asked.num_shard, 1u);
}

TEST(PlanServing, CpuShardsAreProcessesThatSplitTheCores) {
  LauncherConfig config = Config({"--device", "cpu", "--num-shard", "4"});
  ServingPlan plan = PlanServing(config, {.max_position_embeddings = 512}, 8);
  EXPECT_EQ(plan.device, DeviceKind::kCpu);
  ASSERT_EQ(plan.shards.size(), 4u);
  for (uint32_t r = 0; r < 4; ++r) {
    EXPECT_EQ(plan.shards[r].rank, r);
    EXPECT_EQ(plan.shards[r].device_id, -1);
  }
  EXPECT_EQ(ThreadsPerShard(config, plan, 16), 4u);
  EXPECT_EQ(ThreadsPerShard(config, plan, 6), 1u);  // rounds down: never oversubscribes
  EXPECT_EQ(ThreadsPerShard(config, plan, 2), 1u);  // at least one thread each
  EXPECT_EQ(
      ThreadsPerShard(Config({"--device", "cpu", "--num-shard", "4", "--threads", "3"}), plan, 16),
      3u);  // --threads wins
  EXPECT_EQ(PlanServing(Config({"--device", "cpu", "--sharded", "true"}),
                        {.max_position_embeddings = 512}, 0)
                .num_shard,
            2u);
  ServingPlan gpu = PlanServing(Config({"--num-shard", "2"}), {.max_position_embeddings = 512}, 2);
  EXPECT_EQ(ThreadsPerShard(Config({"--num-shard", "2"}), gpu, 16), 0u);  // the shard decides
}

TEST(PlanServing, EachNodeRunsItsOwnRanksAndOnlyNodeZeroTheRouter) {
  LauncherConfig node1 = Config({"--num-shard", "8", "--nnodes", "2", "--node-rank", "1",
                                 "--master-addr", "10.0.0.1", "--master-port", "29600"});
  ServingPlan plan = PlanServing(node1, {.max_position_embeddings = 512}, 4);
  EXPECT_EQ(plan.num_shard, 8u);
  ASSERT_EQ(plan.shards.size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(plan.shards[i].rank, 4 + i);
    EXPECT_EQ(plan.shards[i].local_rank, i);
    EXPECT_EQ(plan.shards[i].device_id, int(i));  // GPUs are numbered per host
  }
  EXPECT_FALSE(plan.runs_router);
  EXPECT_EQ(ShardGrpcPort(node1, 5), 29607u);
  LauncherConfig node0 = Config({"--nnodes", "2", "--device", "cpu"});
  ServingPlan cpu = PlanServing(node0, {.max_position_embeddings = 512}, 0);
  EXPECT_EQ(cpu.num_shard, 2u);  // one CPU shard per node by default
  ASSERT_EQ(cpu.shards.size(), 1u);
  EXPECT_EQ(cpu.shards[0].rank, 0u);
  EXPECT_TRUE(cpu.runs_router);
  // GPUs: the default is every visible GPU on every node.
  EXPECT_EQ(PlanServing(Config({"--nnodes", "2"}), {.max_position_embeddings = 512}, 4).num_shard,
            8u);
}

TEST(PlanServing, BadNodeSettingsNameTheFlag) {
  EXPECT_NE(PlanError({"--nnodes", "2", "--node-rank", "2"}, 4)
                .find("--node-rank 2 is outside 0..1 for --nnodes 2"),
            std::string::npos);
  EXPECT_NE(PlanError({"--nnodes", "0"}, 4).find("--nnodes must be at least 1"), std::string::npos);
  EXPECT_NE(PlanError({"--nnodes", "2", "--num-shard", "3"}, 4)
                .find("--num-shard 3 must be a multiple of --nnodes 2"),
            std::string::npos);
  EXPECT_NE(PlanError({"--nnodes", "2", "--num-shard", "8"}, 2)
                .find("asks for 4 shards on this node but 2 GPU(s) are visible"),
            std::string::npos);
  EXPECT_NE(PlanError({"--nnodes", "2", "--master-addr", ""}, 4).find("--master-addr"),
            std::string::npos);
  EXPECT_NE(PlanError({"--nnodes", "2", "--num-shard", "4", "--master-port", "65532"}, 4)
                .find("--master-port 65532 is too high"),
            std::string::npos);
  EXPECT_NE(
      PlanError({"--nnodes", "2", "--num-shard", "4", "--master-port", "29500", "--port", "29503"},
                4)
          .find("--port 29503 collides with the shards' gRPC ports 29502..29505"),
      std::string::npos);
  EXPECT_NE(PlanError({"--master-port", "65535"}, 4).find("--master-port must be in 1..65534"),
            std::string::npos);
  EXPECT_NE(PlanError({"--master-port", "29500", "--port", "29501"}, 4)
                .find("--port 29501 collides with --master-port 29500"),
            std::string::npos);
}

TEST(PlanServing, ShardCountMustSplitTheHeads) {
  // SmolLM2-135M: 9 query heads, 3 KV heads. Qwen2.5-7B: 28 and 4.
  const ModelLimits smol{
      .max_position_embeddings = 8192, .num_attention_heads = 9, .num_key_value_heads = 3};
  EXPECT_EQ(PlanServing(Config({"--num-shard", "3"}), smol, 4).num_shard, 3u);
  try {
    PlanServing(Config({}), smol, 2);  // the default, all visible GPUs
    FAIL() << "2 shards cannot split 9 heads";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("--num-shard 2 does not divide the model's 9 attention heads"),
              std::string::npos)
        << e.message();
  }
  const ModelLimits qwen{
      .max_position_embeddings = 32768, .num_attention_heads = 28, .num_key_value_heads = 4};
  EXPECT_EQ(PlanServing(Config({"--num-shard", "2"}), qwen, 8).num_shard, 2u);
  EXPECT_EQ(PlanServing(Config({"--num-shard", "4"}), qwen, 8).num_shard, 4u);
  const ModelLimits gqa{.num_attention_heads = 32, .num_key_value_heads = 8};
  EXPECT_EQ(PlanServing(Config({"--num-shard", "8"}), gqa, 8).num_shard, 8u);
  const ModelLimits mqa{.num_attention_heads = 24, .num_key_value_heads = 2};  // replicated KV
  EXPECT_EQ(PlanServing(Config({"--num-shard", "4"}), mqa, 8).num_shard, 4u);
  const ModelLimits odd_kv{.num_attention_heads = 24, .num_key_value_heads = 3};
  EXPECT_THROW(PlanServing(Config({"--num-shard", "2"}), odd_kv, 8), Error);
}

TEST(PlanServing, RejectsShardAndDeviceConflicts) {
  std::string e = PlanError({"--num-shard", "4"}, 2);
  EXPECT_NE(e.find("--num-shard 4 asks for more shards than the 2 visible GPU(s)"),
            std::string::npos)
      << e;
  e = PlanError({"--device", "cuda"}, 0);
  EXPECT_NE(e.find("--device cuda was given but no GPU is visible"), std::string::npos) << e;
  e = PlanError({"--sharded", "true", "--num-shard", "1"}, 4);
  EXPECT_NE(e.find("--sharded true conflicts with --num-shard 1"), std::string::npos) << e;
  e = PlanError({"--sharded", "false", "--num-shard", "2"}, 4);
  EXPECT_NE(e.find("--sharded false conflicts with --num-shard 2"), std::string::npos) << e;
  e = PlanError({"--sharded", "true"}, 1);
  EXPECT_NE(e.find("--sharded true needs at least 2 GPUs"), std::string::npos) << e;
  e = PlanError({"--num-shard", "0"}, 1);
  EXPECT_NE(e.find("--num-shard must be at least 1"), std::string::npos) << e;
}

}  // namespace
}  // namespace tg::launcher
