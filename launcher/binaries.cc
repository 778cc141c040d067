#include "launcher/binaries.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "common/error.h"

namespace tg::launcher {
namespace fs = std::filesystem;

fs::path FindSiblingBinary(const std::string& name, const fs::path& self_dir,
                           const std::string& path_env) {
  std::vector<fs::path> candidates;
  if (!self_dir.empty()) {
    candidates.push_back(self_dir / name);
    candidates.push_back(self_dir / ".." / "shard" / name);
    candidates.push_back(self_dir / ".." / "router" / name);
  }
  std::stringstream dirs(path_env);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    fs::path candidate = fs::path(dir) / name;
    if (!dir.empty() &&
        std::find(candidates.begin(), candidates.end(), candidate) == candidates.end()) {
      candidates.push_back(std::move(candidate));
    }
  }
  std::string looked;
  for (const fs::path& candidate : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) && access(candidate.c_str(), X_OK) == 0) {
      return fs::weakly_canonical(candidate, ec);
    }
    looked += "\n  " + candidate.string();
  }
  throw Error(ErrorKind::kNotFound, "cannot find the program " + name + "; looked in:" + looked);
}

fs::path FindSiblingBinary(const std::string& name) {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  const char* path = std::getenv("PATH");
  return FindSiblingBinary(name, ec ? fs::path() : self.parent_path(), path ? path : "");
}

}  // namespace tg::launcher
