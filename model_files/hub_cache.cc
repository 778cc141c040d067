#include "model_files/hub_cache.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace tg::model {

namespace fs = std::filesystem;

namespace {

bool SafeComponent(const std::string& s) {
  if (s.empty() || s == "." || s == ".." || s.find('/') != std::string::npos) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

// Writes via a temporary file and rename, so readers never see half a file.
void WriteFileAtomic(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    TG_CHECK(out.good(), kInternal, "cannot write " + tmp.string());
  }
  fs::rename(tmp, path);
}

}  // namespace

bool IsCommitHash(const std::string& revision) {
  if (revision.size() != 40) return false;
  for (char c : revision) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) ||
        std::isupper(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

std::string NormalizeEtag(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return etag;
}

HubCacheRepo::HubCacheRepo(const fs::path& cache_dir, const std::string& model_id) {
  const size_t slash = model_id.find('/');
  const std::string org = slash == std::string::npos ? "" : model_id.substr(0, slash);
  const std::string name = slash == std::string::npos ? model_id : model_id.substr(slash + 1);
  TG_CHECK((org.empty() || SafeComponent(org)) && SafeComponent(name), kInvalidArgument,
           "model id \"" + model_id + "\" is not an existing path nor a hub id like org/name");
  dir_ = cache_dir / ("models--" + (org.empty() ? name : org + "--" + name));
}

std::optional<std::string> HubCacheRepo::CommitFor(const std::string& revision) const {
  if (IsCommitHash(revision)) return revision;
  std::ifstream in(dir_ / "refs" / revision);
  if (!in) return std::nullopt;
  std::string commit;
  std::getline(in, commit);
  if (!IsCommitHash(commit)) return std::nullopt;
  return commit;
}

void HubCacheRepo::WriteRef(const std::string& revision, const std::string& commit) const {
  if (revision == commit) return;
  WriteFileAtomic(dir_ / "refs" / revision, commit);
}

fs::path HubCacheRepo::SnapshotDir(const std::string& commit) const {
  return dir_ / "snapshots" / commit;
}
fs::path HubCacheRepo::BlobPath(const std::string& etag) const { return dir_ / "blobs" / etag; }
fs::path HubCacheRepo::IncompletePath(const std::string& etag) const {
  return dir_ / "blobs" / (etag + ".incomplete");
}

bool HubCacheRepo::HasFile(const std::string& commit, const std::string& file) const {
  std::error_code ec;
  return fs::is_regular_file(SnapshotDir(commit) / file, ec);
}

void HubCacheRepo::LinkSnapshotFile(const std::string& commit, const std::string& file,
                                    const std::string& etag) const {
  const fs::path link = SnapshotDir(commit) / file;
  fs::create_directories(link.parent_path());
  const fs::path target = fs::relative(BlobPath(etag), link.parent_path());
  std::error_code ec;
  fs::remove(link, ec);
  fs::create_symlink(target, link, ec);
  if (ec) {
    // File systems without symlinks: a copy keeps the snapshot usable (huggingface_hub does the
    // same).
    fs::copy_file(BlobPath(etag), link, fs::copy_options::overwrite_existing);
  }
}

}  // namespace tg::model
