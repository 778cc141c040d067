// Picking the weights inside a resolved model path, and reading the limits from real files.
#include "launcher/model_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "common/error.h"

namespace tg::launcher {
namespace {
namespace fs = std::filesystem;

const fs::path kStories = fs::path(TG_ASSETS_DIR) / "models" / "stories260K";

TEST(PickWeights, DirectoryWithConfigFileOrSingleGguf) {
  EXPECT_EQ(PickWeights(kStories), kStories);  // has config.json (and a .gguf beside it)
  EXPECT_EQ(PickWeights(kStories / "stories260K.gguf"), kStories / "stories260K.gguf");

  const fs::path dir = fs::path(::testing::TempDir()) / ("weights_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  EXPECT_THROW(PickWeights(dir), Error);  // nothing to load
  std::ofstream(dir / "model.Q4_1.gguf") << "x";
  EXPECT_EQ(PickWeights(dir), dir / "model.Q4_1.gguf");
  std::ofstream(dir / "model.Q8_0.gguf") << "x";
  try {
    PickWeights(dir);
    FAIL() << "two .gguf files are ambiguous";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("holds 2 .gguf files"), std::string::npos) << e.message();
  }
  EXPECT_THROW(PickWeights(kStories / "config.json"), Error);  // a file that is not .gguf
  EXPECT_THROW(PickWeights(dir / "missing"), Error);
  fs::remove_all(dir);
}

TEST(ResolveModelSource, ReadsTheLimitsFromHfAndGgufFiles) {
  LauncherConfig config;
  config.model_id = kStories.string();
  ModelSource hf = ResolveModelSource(config);
  EXPECT_EQ(hf.weights, kStories);
  EXPECT_EQ(hf.tokenizer, kStories);
  EXPECT_EQ(hf.limits.max_position_embeddings, 512u);  // config.json

  config.model_id = (kStories / "stories260K.gguf").string();
  ModelSource gguf = ResolveModelSource(config);
  EXPECT_EQ(gguf.weights, kStories / "stories260K.gguf");
  EXPECT_EQ(gguf.tokenizer, gguf.weights);
  // The GGUF conversion of stories260K records llama.context_length = 128 (its training length).
  EXPECT_EQ(gguf.limits.max_position_embeddings, 128u);
}

}  // namespace
}  // namespace tg::launcher
