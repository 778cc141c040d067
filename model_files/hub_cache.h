// The Hugging Face cache layout, shared with huggingface_hub / huggingface-cli:
//   <cache>/models--<org>--<name>/refs/<revision>            the commit a branch/tag points to
//   <cache>/models--<org>--<name>/blobs/<etag>               file contents, named by etag
//   <cache>/models--<org>--<name>/snapshots/<commit>/<file>  relative symlinks into blobs/
// Downloads in progress live at blobs/<etag>.incomplete and are resumed from there.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace tg::model {

class HubCacheRepo {
 public:
  // Throws tg::Error(kInvalidArgument) for ids that are not "name" or "org/name".
  HubCacheRepo(const std::filesystem::path& cache_dir, const std::string& model_id);

  const std::filesystem::path& dir() const { return dir_; }
  // The commit for a revision: the revision itself when it is a 40-hex commit, else refs/<rev>.
  std::optional<std::string> CommitFor(const std::string& revision) const;
  void WriteRef(const std::string& revision, const std::string& commit) const;
  std::filesystem::path SnapshotDir(const std::string& commit) const;
  std::filesystem::path BlobPath(const std::string& etag) const;
  std::filesystem::path IncompletePath(const std::string& etag) const;
  // True when snapshots/<commit>/<file> exists and resolves to a file.
  bool HasFile(const std::string& commit, const std::string& file) const;
  // Points snapshots/<commit>/<file> at blobs/<etag> with a relative symlink.
  void LinkSnapshotFile(const std::string& commit, const std::string& file,
                        const std::string& etag) const;

 private:
  std::filesystem::path dir_;
};

bool IsCommitHash(const std::string& revision);
// Strips quotes and the weak prefix from an ETag header value ("W/\"abc\"" -> "abc").
std::string NormalizeEtag(std::string etag);

}  // namespace tg::model
