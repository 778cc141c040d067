#include "model_files/hub.h"

#include <spdlog/spdlog.h>

#include <openssl/evp.h>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <tuple>

#include "common/error.h"
#include "model_files/hub_cache.h"
#include "model_files/hub_http.h"

namespace tg::model {

namespace fs = std::filesystem;

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

// The files a server needs besides weights; absent ones are simply skipped.
const char* const kSupportFiles[] = {
    "config.json",           "generation_config.json",  "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
};

bool EndsWith(const std::string& s, const char* suffix) {
  return s.size() >= std::strlen(suffix) &&
         s.compare(s.size() - std::strlen(suffix), std::string::npos, suffix) == 0;
}

// Picks the files to fetch from the repository's file list: safetensors weights when there are
// any, else PyTorch .bin weights, else a single GGUF file.
std::vector<std::string> SelectFiles(const std::vector<std::string>& all, const ResolveOptions& opt,
                                     const std::string& model_id) {
  auto has = [&](const std::string& f) {
    return std::find(all.begin(), all.end(), f) != all.end();
  };
  std::vector<std::string> out;
  for (const char* f : kSupportFiles) {
    if (has(f)) out.push_back(f);
  }
  if (!opt.filename.empty()) {
    TG_CHECK(has(opt.filename), kNotFound,
             "file " + opt.filename + " is not in " + model_id + " at revision " + opt.revision);
    out.push_back(opt.filename);
    return out;
  }
  auto top_level = [](const std::string& f) { return f.find('/') == std::string::npos; };
  std::vector<std::string> safetensors, bins, ggufs;
  for (const auto& f : all) {
    if (!top_level(f)) continue;
    if (EndsWith(f, ".safetensors") || f == "model.safetensors.index.json")
      safetensors.push_back(f);
    if (EndsWith(f, ".bin") && f.find("pytorch_model") == 0) bins.push_back(f);
    if (f == "pytorch_model.bin.index.json") bins.push_back(f);
    if (EndsWith(f, ".gguf")) ggufs.push_back(f);
  }
  if (!safetensors.empty()) {
    out.insert(out.end(), safetensors.begin(), safetensors.end());
  } else if (!bins.empty()) {
    out.insert(out.end(), bins.begin(), bins.end());
  } else if (ggufs.size() == 1) {
    out.push_back(ggufs[0]);
  } else if (ggufs.size() > 1) {
    std::string list;
    for (const auto& g : ggufs) list += " " + g;
    throw Error(ErrorKind::kInvalidArgument,
                model_id + " holds several GGUF files; pick one with a file name:" + list);
  } else {
    throw Error(ErrorKind::kNotFound, model_id + " has no safetensors, .bin or .gguf weights");
  }
  return out;
}

// LFS files are named by the sha256 of their content; a 64-hex ETag lets us verify the bytes.
bool IsSha256(const std::string& etag) {
  return etag.size() == 64 && std::all_of(etag.begin(), etag.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c)) &&
                  !std::isupper(static_cast<unsigned char>(c));
         });
}

std::string Sha256OfFile(const fs::path& path) {
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  TG_CHECK(ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1, kInternal,
           "cannot initialise SHA-256");
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &len);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

void CheckStatus(const HttpResponse& r, const std::string& what, const std::string& model_id) {
  if (r.status >= 200 && r.status < 400) return;
  if (r.status == 401 || r.status == 403) {
    throw Error(ErrorKind::kNotFound, what + ": access denied (HTTP " + std::to_string(r.status) +
                                          "); " + model_id +
                                          " may be private or gated: set HF_TOKEN");
  }
  if (r.status == 404) {
    throw Error(ErrorKind::kNotFound, what + ": not found (HTTP 404)");
  }
  throw Error(ErrorKind::kUnavailable, what + ": HTTP " + std::to_string(r.status));
}

class Downloader {
 public:
  Downloader(const std::string& model_id, const ResolveOptions& opt, const HubCacheRepo& repo)
      : id_(model_id),
        opt_(opt),
        repo_(repo),
        http_(opt.token.empty()
                  ? (Env("HF_TOKEN").empty() ? Env("HUGGING_FACE_HUB_TOKEN") : Env("HF_TOKEN"))
                  : opt.token) {}

  // Asks the hub API for the commit and file list of the revision.
  std::pair<std::string, std::vector<std::string>> ListFiles() const {
    const std::string url = opt_.endpoint + "/api/models/" + id_ + "/revision/" + opt_.revision;
    const HttpResponse r = http_.Get(url);
    CheckStatus(r, "listing " + id_ + " revision " + opt_.revision, id_);
    try {
      const auto j = nlohmann::json::parse(r.body);
      std::string sha = j.at("sha").get<std::string>();
      TG_CHECK(IsCommitHash(sha), kCorruptFile, "hub API returned a bad commit for " + id_);
      std::vector<std::string> files;
      for (const auto& s : j.at("siblings")) files.push_back(s.at("rfilename").get<std::string>());
      return {sha, files};
    } catch (const nlohmann::json::exception& e) {
      throw Error(ErrorKind::kCorruptFile,
                  "hub API answer for " + id_ + " is malformed: " + e.what());
    }
  }

  void Fetch(const std::string& commit, const std::string& file) const {
    if (repo_.HasFile(commit, file)) return;
    const std::string url = opt_.endpoint + "/" + id_ + "/resolve/" + commit + "/" + file;
    // LFS files answer with a redirect whose X-Linked-Etag/X-Linked-Size describe the content.
    HttpResponse head = http_.Head(url, /*follow_redirects=*/false);
    if (head.status >= 300 && head.status < 400 && head.Header("x-linked-etag").empty()) {
      head = http_.Head(url, /*follow_redirects=*/true);
    }
    CheckStatus(head, "fetching " + file + " of " + id_, id_);
    std::string etag = NormalizeEtag(head.Header("x-linked-etag"));
    if (etag.empty()) etag = NormalizeEtag(head.Header("etag"));
    TG_CHECK(!etag.empty() && etag.find('/') == std::string::npos && etag != "." && etag != "..",
             kCorruptFile, "the hub sent no usable ETag for " + file);
    std::string size_text = head.Header("x-linked-size");
    if (size_text.empty()) size_text = head.Header("content-length");
    const uint64_t size = size_text.empty() ? 0 : std::stoull(size_text);
    const fs::path blob = repo_.BlobPath(etag);
    std::error_code ec;
    if (!(fs::is_regular_file(blob, ec) && (size == 0 || fs::file_size(blob) == size))) {
      Download(url, file, etag, size);
    }
    repo_.LinkSnapshotFile(commit, file, etag);
  }

 private:
  void Download(const std::string& url, const std::string& file, const std::string& etag,
                uint64_t size) const {
    const fs::path part = repo_.IncompletePath(etag);
    fs::create_directories(part.parent_path());
    std::error_code ec;
    if (fs::exists(part) && size > 0 && fs::file_size(part) > size) fs::remove(part);
    spdlog::info("downloading {} of {} ({:.1f} MB{})", file, id_, size / 1e6,
                 fs::exists(part) ? ", resuming" : "");
    const HttpResponse r = http_.DownloadTo(url, part, size, opt_.show_progress, file);
    CheckStatus(r, "downloading " + file + " of " + id_, id_);
    std::string got = NormalizeEtag(r.Header("x-linked-etag"));
    if (got.empty()) got = NormalizeEtag(r.Header("etag"));
    // A changed ETag means the file changed under us: the bytes we resumed from are stale.
    if (!got.empty() && got != etag) {
      fs::remove(part, ec);
      throw Error(ErrorKind::kCorruptFile, "ETag of " + file + " changed during the download (" +
                                               etag + " -> " + got + "); run again");
    }
    const uint64_t have = fs::file_size(part);
    if (size > 0 && have != size) {
      throw Error(ErrorKind::kUnavailable,
                  "download of " + file + " stopped at " + std::to_string(have) + " of " +
                      std::to_string(size) + " bytes; run again to resume");
    }
    if (IsSha256(etag)) {
      const std::string sha = Sha256OfFile(part);
      if (sha != etag) {
        fs::remove(part, ec);
        throw Error(ErrorKind::kCorruptFile,
                    "downloaded " + file + " has sha256 " + sha + " but the hub announced " + etag);
      }
    }
    fs::rename(part, repo_.BlobPath(etag));
  }

  std::string id_;
  const ResolveOptions& opt_;
  const HubCacheRepo& repo_;
  HttpClient http_;
};

// The snapshot of a cached revision, when it already holds what the server needs.
std::optional<fs::path> CachedSnapshot(const HubCacheRepo& repo, const ResolveOptions& opt) {
  const auto commit = repo.CommitFor(opt.revision);
  if (!commit) return std::nullopt;
  const fs::path snap = repo.SnapshotDir(*commit);
  if (!opt.filename.empty()) {
    if (repo.HasFile(*commit, opt.filename)) return snap / opt.filename;
    return std::nullopt;
  }
  if (!repo.HasFile(*commit, "config.json") && !fs::is_directory(snap)) return std::nullopt;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(snap, ec)) {
    const auto ext = e.path().extension();
    if (ext == ".safetensors" || ext == ".gguf" || ext == ".bin") return snap;
  }
  return std::nullopt;
}

}  // namespace

fs::path HubCacheDir() {
  for (const char* var : {"HUGGINGFACE_HUB_CACHE", "HF_HUB_CACHE"}) {
    if (std::string v = Env(var); !v.empty()) return v;
  }
  if (std::string home = Env("HF_HOME"); !home.empty()) return fs::path(home) / "hub";
  if (std::string xdg = Env("XDG_CACHE_HOME"); !xdg.empty()) {
    return fs::path(xdg) / "huggingface" / "hub";
  }
  return fs::path(Env("HOME")) / ".cache" / "huggingface" / "hub";
}

bool HubOfflineFromEnv() {
  std::string v = Env("HF_HUB_OFFLINE");
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  return v == "1" || v == "true" || v == "yes" || v == "on";
}

std::string HubEndpointFromEnv() {
  std::string e = Env("HF_ENDPOINT");
  if (e.empty()) e = "https://huggingface.co";
  while (!e.empty() && e.back() == '/') e.pop_back();
  return e;
}

fs::path ResolveModel(const std::string& model_id, const ResolveOptions& opt) {
  std::error_code ec;
  if (!model_id.empty() && fs::exists(model_id, ec)) return fs::absolute(model_id);
  const fs::path cache = opt.cache_dir.empty() ? HubCacheDir() : opt.cache_dir;
  const HubCacheRepo repo(cache, model_id);
  if (opt.offline) {
    if (auto snap = CachedSnapshot(repo, opt)) return *snap;
    throw Error(ErrorKind::kNotFound, model_id + " (revision " + opt.revision +
                                          ") is not a local path and not in the HF cache at " +
                                          cache.string() + "; HF_HUB_OFFLINE forbids downloading");
  }
  const Downloader downloader(model_id, opt, repo);
  std::string commit;
  std::vector<std::string> files;
  try {
    std::tie(commit, files) = downloader.ListFiles();
  } catch (const Error& e) {
    // Like huggingface_hub: an unreachable hub falls back to what the cache already has.
    if (e.kind() != ErrorKind::kUnavailable) throw;
    if (auto snap = CachedSnapshot(repo, opt)) {
      spdlog::warn("{}; using the cached snapshot {}", e.message(), snap->string());
      return *snap;
    }
    throw;
  }
  const std::vector<std::string> wanted = SelectFiles(files, opt, model_id);
  for (const auto& f : wanted) downloader.Fetch(commit, f);
  repo.WriteRef(opt.revision, commit);
  const fs::path snap = repo.SnapshotDir(commit);
  return opt.filename.empty() ? snap : snap / opt.filename;
}

}  // namespace tg::model
