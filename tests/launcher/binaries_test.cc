// The sibling-binary search: next to the launcher, then the build tree layout, then PATH.
#include "launcher/binaries.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "common/error.h"

namespace tg::launcher {
namespace {
namespace fs = std::filesystem;

void MakeExecutable(const fs::path& path) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << "#!/bin/sh\n";
  chmod(path.c_str(), 0755);
}

TEST(FindSiblingBinary, PrefersTheLauncherDirectoryThenTheBuildTreeThenPath) {
  const fs::path root = fs::path(::testing::TempDir()) / ("bins_" + std::to_string(getpid()));
  fs::remove_all(root);
  MakeExecutable(root / "build/shard/text-gen-shard");
  MakeExecutable(root / "elsewhere/text-gen-router");
  MakeExecutable(root / "elsewhere/text-gen-shard");
  const fs::path launcher_dir = root / "build/launcher";
  fs::create_directories(launcher_dir);
  const std::string path_env = (root / "elsewhere").string();
  EXPECT_EQ(FindSiblingBinary("text-gen-shard", launcher_dir, path_env),
            fs::weakly_canonical(root / "build/shard/text-gen-shard"));
  EXPECT_EQ(FindSiblingBinary("text-gen-router", launcher_dir, path_env),
            fs::weakly_canonical(root / "elsewhere/text-gen-router"));
  MakeExecutable(launcher_dir / "text-gen-shard");
  EXPECT_EQ(FindSiblingBinary("text-gen-shard", launcher_dir, path_env),
            fs::weakly_canonical(launcher_dir / "text-gen-shard"));
  try {
    FindSiblingBinary("text-gen-nothing", launcher_dir, path_env);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(e.message().find("elsewhere/text-gen-nothing"), std::string::npos) << e.message();
  }
  fs::remove_all(root);
}

}  // namespace
}  // namespace tg::launcher
