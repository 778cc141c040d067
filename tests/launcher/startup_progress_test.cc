// The launcher's start-up display: what it shows for the shards' and router's real log lines.
#include "launcher/startup_progress.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace tg::launcher {
namespace {

using std::chrono::milliseconds;

TEST(StartupProgress, ShowsNothingBeforeTheFirstLayer) {
  StartupProgress progress(/*enabled=*/false);
  EXPECT_EQ(progress.Render(std::chrono::steady_clock::now()), "");
  progress.OnLine("shard-0", "2026-12-03T09:47:54Z info  shard[0] loading x on cpu as float32");
  EXPECT_EQ(progress.Render(std::chrono::steady_clock::now()), "");
}

TEST(StartupProgress, WeightBarSumsLayersOverShardsThenWarmupThenNothing) {
  StartupProgress progress(/*enabled=*/false);
  progress.OnLine("shard-0", "2026-12-03T09:47:56Z info  shard[0] loading weights: layer 6/30");
  progress.OnLine("shard-1", "2026-12-03T09:47:56Z info  shard[1] loading weights: layer 12/30");
  const auto now = std::chrono::steady_clock::now();
  const std::string bar = progress.Render(now);
  EXPECT_EQ(bar.rfind("[1/2] loading weights [#########---------------------] 18/60 layers", 0), 0u)
      << bar;

  progress.OnLine("router", "2026-12-03T09:47:59Z info  router warming up the shards");
  const std::string warming =
      progress.Render(std::chrono::steady_clock::now() + milliseconds(1500));
  EXPECT_EQ(warming.rfind("[2/2] warming up: measuring the KV cache ... 1.", 0), 0u) << warming;

  progress.OnLine("router",
                  "2026-12-03T09:48:00Z info  router KV cache: 13405 blocks of 16 tokens");
  EXPECT_EQ(progress.Render(std::chrono::steady_clock::now()), "");
}

TEST(StartupProgress, IgnoresMalformedLayerLines) {
  StartupProgress progress(/*enabled=*/false);
  progress.OnLine("shard-0", "loading weights: layer x/y");
  progress.OnLine("shard-0", "loading weights: layer 3/0");
  EXPECT_EQ(progress.Render(std::chrono::steady_clock::now()), "");
}

}  // namespace
}  // namespace tg::launcher
