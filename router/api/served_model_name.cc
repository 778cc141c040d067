#include "router/api/served_model_name.h"

#include <filesystem>
#include <system_error>

namespace tg::api {
namespace fs = std::filesystem;

namespace {

// `models--org--name` (the HF cache's folder for a repository) -> `org/name`.
std::string HubIdOfCacheFolder(const std::string& folder) {
  const std::string prefix = "models--";
  if (folder.rfind(prefix, 0) != 0) return "";
  std::string id = folder.substr(prefix.size());
  const size_t sep = id.find("--");
  if (sep != std::string::npos) id.replace(sep, 2, "/");
  return id;
}

}  // namespace

std::string DefaultServedModelName(const std::string& model_id) {
  if (model_id.empty()) return "tgi";
  std::error_code error;
  if (!fs::exists(model_id, error)) return model_id;
  // Absolute and normalised, so that `.`, `..` and a trailing slash still give a name; the leaf
  // is not resolved (HF cache files are symlinks to content-addressed blobs).
  fs::path path = fs::absolute(model_id, error).lexically_normal();
  if (!path.has_filename()) path = path.parent_path();
  if (fs::is_directory(path, error)) {
    if (path.parent_path().filename() == "snapshots") {
      const std::string hub_id = HubIdOfCacheFolder(path.parent_path().parent_path().filename());
      if (!hub_id.empty()) return hub_id;
    }
    return path.filename().string();
  }
  return path.stem().string();
}

}  // namespace tg::api
