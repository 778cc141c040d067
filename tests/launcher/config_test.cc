// Flag validation and TGI-style defaults, with the model limits and GPU count injected.
#include "launcher/config.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/flags.h"

namespace tg::launcher {
namespace {

LauncherConfig Parse(const std::vector<std::string>& args) {
  LauncherConfig config;
  FlagParser flags("text-gen-launcher", "test");
  RegisterFlags(flags, config);
  std::vector<std::string> all{"--model-id", "m"};
  all.insert(all.end(), args.begin(), args.end());
  flags.Parse(all);
  return config;
}

// The message of the tg::Error that planning throws, or "" when it succeeds.
std::string PlanError(const std::vector<std::string>& args, uint32_t mpe, uint32_t gpus) {
  try {
    PlanServing(Parse(args), {.max_position_embeddings = mpe}, gpus);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    return e.message();
  }
  return "";
}

TEST(LauncherConfig, DerivesTokenBudgetsLikeTgi) {
  // stories260K: max_position_embeddings 512 < 4096.
  ServingPlan small = PlanServing(Parse({}), {.max_position_embeddings = 512}, 0);
  EXPECT_EQ(small.max_total_tokens, 512u);
  EXPECT_EQ(small.max_input_tokens, 511u);
  EXPECT_EQ(small.max_batch_prefill_tokens, 4096u);  // max(511 + 50, 4096)
  EXPECT_FALSE(small.max_batch_total_tokens.has_value());
  // A long-context model is capped at 4096 total tokens by default.
  ServingPlan large = PlanServing(Parse({}), {.max_position_embeddings = 32768}, 0);
  EXPECT_EQ(large.max_total_tokens, 4096u);
  EXPECT_EQ(large.max_input_tokens, 4095u);
  EXPECT_EQ(large.max_batch_prefill_tokens, 4145u);
  // Explicit values win; a batch size scales the prefill budget.
  ServingPlan given = PlanServing(
      Parse({"--max-total-tokens", "2000", "--max-input-tokens", "1000", "--max-batch-size", "3"}),
      {.max_position_embeddings = 32768}, 0);
  EXPECT_EQ(given.max_total_tokens, 2000u);
  EXPECT_EQ(given.max_input_tokens, 1000u);
  EXPECT_EQ(given.max_batch_prefill_tokens, 3000u);
  // vLLM's --max-model-len is the same setting.
  EXPECT_EQ(PlanServing(Parse({"--max-model-len", "1024"}), {.max_position_embeddings = 8192}, 0)
                .max_total_tokens,
            1024u);
  // Unknown model limit: TGI's 4096.
  EXPECT_EQ(PlanServing(Parse({}), {}, 0).max_total_tokens, 4096u);
  // With chunked prefill (the default) the budget is per step: prompts may be longer, and the
  // default stays at 8192 for long-context models.
  EXPECT_EQ(PlanServing(Parse({"--max-input-tokens", "32768", "--max-total-tokens", "33000"}),
                        {.max_position_embeddings = 40960}, 0)
                .max_batch_prefill_tokens,
            8192u);
  EXPECT_EQ(PlanServing(Parse({"--max-input-tokens", "32768", "--max-total-tokens", "33000",
                               "--chunked-prefill", "false"}),
                        {.max_position_embeddings = 40960}, 0)
                .max_batch_prefill_tokens,
            32818u);
  EXPECT_EQ(PlanServing(Parse({"--max-batch-prefill-tokens", "256"}),
                        {.max_position_embeddings = 4096}, 0)
                .max_batch_prefill_tokens,
            256u);
}

TEST(LauncherConfig, RejectsInconsistentTokenFlagsNamingThem) {
  std::string e = PlanError({"--max-input-tokens", "600", "--max-total-tokens", "600"}, 4096, 0);
  EXPECT_NE(e.find("--max-input-tokens (600)"), std::string::npos) << e;
  EXPECT_NE(e.find("--max-total-tokens (600)"), std::string::npos) << e;
  e = PlanError({"--max-input-tokens", "600"}, 512, 0);
  EXPECT_NE(e.find("--max-total-tokens (512, the default"), std::string::npos) << e;
  e = PlanError({"--max-total-tokens", "1000"}, 512, 0);
  EXPECT_NE(e.find("max_position_embeddings (512)"), std::string::npos) << e;
  e = PlanError({"--max-batch-prefill-tokens", "100", "--max-input-tokens", "200",
                 "--chunked-prefill", "false"},
                512, 0);
  EXPECT_NE(e.find("--max-batch-prefill-tokens (100) must be at least --max-input-tokens (200)"),
            std::string::npos)
      << e;
  e = PlanError({"--max-batch-total-tokens", "1000", "--max-batch-prefill-tokens", "2000"}, 512, 0);
  EXPECT_NE(e.find("must not exceed --max-batch-total-tokens (1000)"), std::string::npos) << e;
  e = PlanError({"--max-total-tokens", "512", "--max-model-len", "256"}, 512, 0);
  EXPECT_NE(e.find("--max-model-len (256)"), std::string::npos) << e;
  EXPECT_EQ(PlanError({"--max-total-tokens", "512", "--max-model-len", "512"}, 512, 0), "");
}

TEST(LauncherConfig, RejectsBadScalarFlags) {
  EXPECT_NE(PlanError({"--dtype", "int3"}, 512, 0).find("--dtype"), std::string::npos);
  EXPECT_NE(PlanError({"--kv-cache-dtype", "fp8"}, 512, 0).find("--kv-cache-dtype expects"),
            std::string::npos);
  EXPECT_EQ(PlanError({"--kv-cache-dtype", "float32"}, 512, 0), "");
  EXPECT_NE(PlanError({"--device", "tpu"}, 512, 0).find("--device"), std::string::npos);
  EXPECT_NE(PlanError({"--gpu-memory-utilization", "1.5"}, 512, 1).find("gpu-memory-utilization"),
            std::string::npos);
  EXPECT_NE(PlanError({"--port", "29500"}, 512, 0).find("--master-port"), std::string::npos);
  EXPECT_NE(PlanError({"--max-best-of", "4", "--max-concurrent-requests", "2"}, 512, 0)
                .find("--max-concurrent-requests (2)"),
            std::string::npos);
  EXPECT_NE(PlanError({"--sharded", "maybe"}, 512, 2).find("--sharded"), std::string::npos);
}

TEST(LauncherConfig, EnvironmentFallbacksUseTgiNamesButNotHostname) {
  setenv("MAX_TOTAL_TOKENS", "300", 1);
  setenv("NUM_SHARD", "2", 1);
  setenv("HOSTNAME", "some-container-id", 1);
  LauncherConfig config = Parse({});
  unsetenv("MAX_TOTAL_TOKENS");
  unsetenv("NUM_SHARD");
  EXPECT_EQ(config.max_total_tokens, 300u);
  EXPECT_EQ(config.num_shard, 2u);
  EXPECT_EQ(config.hostname, "0.0.0.0");
}

}  // namespace
}  // namespace tg::launcher
