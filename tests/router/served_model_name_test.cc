#include "router/api/served_model_name.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace tg::api {
namespace {
namespace fs = std::filesystem;

class ServedModelNameTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("tg-served-name-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(root_ / "models" / "SmolLM2-135M-Instruct");
    std::ofstream(root_ / "models" / "SmolLM2-135M-Instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf")
        << "x";
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(ServedModelNameTest, AHubIdIsShownAsIs) {
  EXPECT_EQ(DefaultServedModelName("Qwen/Qwen2.5-7B-Instruct"), "Qwen/Qwen2.5-7B-Instruct");
  EXPECT_EQ(DefaultServedModelName("stories260K"), "stories260K");
  EXPECT_EQ(DefaultServedModelName(""), "tgi");
}

TEST_F(ServedModelNameTest, ALocalDirectoryGivesItsName) {
  const fs::path dir = root_ / "models" / "SmolLM2-135M-Instruct";
  EXPECT_EQ(DefaultServedModelName(dir.string()), "SmolLM2-135M-Instruct");
  EXPECT_EQ(DefaultServedModelName(dir.string() + "/"), "SmolLM2-135M-Instruct");
  EXPECT_EQ(DefaultServedModelName(dir.string() + "/."), "SmolLM2-135M-Instruct");
}

TEST_F(ServedModelNameTest, ALocalFileGivesItsStemNeverAPath) {
  const fs::path file =
      root_ / "models" / "SmolLM2-135M-Instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf";
  EXPECT_EQ(DefaultServedModelName(file.string()), "SmolLM2-135M-Instruct.Q4_1");
  const fs::path cwd = fs::current_path();
  fs::current_path(root_);
  const std::string relative =
      DefaultServedModelName("models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
  fs::current_path(cwd);
  EXPECT_EQ(relative, "SmolLM2-135M-Instruct.Q4_1");
}

TEST_F(ServedModelNameTest, AnHfCacheSnapshotGivesTheHubId) {
  const fs::path snapshot =
      root_ / "hub" / "models--HuggingFaceTB--SmolLM2-135M-Instruct" / "snapshots" / "abc123";
  fs::create_directories(snapshot);
  EXPECT_EQ(DefaultServedModelName(snapshot.string()), "HuggingFaceTB/SmolLM2-135M-Instruct");
}

}  // namespace
}  // namespace tg::api
