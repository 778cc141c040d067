// ResolveModel against a local stand-in for the hub (fake_hub.py, started here on 127.0.0.1):
// downloads land in the real HF cache layout, offline runs reuse them, partial files resume,
// and caches written by huggingface_hub are read (and vice versa, when it is installed).
#include "model_files/hub.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/error.h"
#include "model_files/weight_source.h"
#include "test_files.h"

namespace tg::model {
namespace {

namespace fs = std::filesystem;
using testing::ScratchDir;

const fs::path kStories = TG_ASSETS_DIR "/models/stories260K";
const fs::path kServer = TG_SOURCE_DIR "/tests/model_files/fake_hub.py";
constexpr const char* kRepo = "test-org/stories";
constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";

class FakeHub {
 public:
  FakeHub(const fs::path& work, std::vector<std::string> extra_args) : log_(work / "hub.log") {
    const fs::path port_file = work / "port";
    std::vector<std::string> args = {
        "python3", kServer.string(), "--root",      kStories.string(), "--repo",
        kRepo,     "--log",          log_.string(), "--port-file",     port_file.string()};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp("python3", argv.data());
      ::_exit(127);
    }
    for (int i = 0; i < 200 && !fs::exists(port_file); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::ifstream in(port_file);
    in >> port_;
  }
  ~FakeHub() { Stop(); }
  void Stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  bool ok() const { return port_ > 0; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<nlohmann::json> Requests() const {
    std::vector<nlohmann::json> out;
    std::ifstream in(log_);
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  int port_ = 0;
};

class HubTest : public ::testing::Test {
 protected:
  ResolveOptions Options(const FakeHub& hub) const {
    ResolveOptions o;
    o.endpoint = hub.endpoint();
    o.cache_dir = cache_;
    o.offline = false;
    o.token = "hf_test_token";
    return o;
  }
  static bool HaveHuggingfaceHub() {
    return std::system("python3 -c 'import huggingface_hub' >/dev/null 2>&1") == 0;
  }
  ScratchDir dir_;
  fs::path cache_ = dir_.path() / "hf" / "hub";
};

void ExpectSameWeights(const fs::path& a, const fs::path& b) {
  const auto x = WeightSource::Open(a), y = WeightSource::Open(b);
  ASSERT_EQ(x->Names(), y->Names());
  for (const auto& n : x->Names()) ASSERT_EQ(x->ReadF32(n), y->ReadF32(n)) << n;
}

TEST_F(HubTest, DownloadLandsInCacheLayoutAndOfflineRunReusesIt) {
  FakeHub hub(dir_.path(), {"--token", "hf_test_token"});
  ASSERT_TRUE(hub.ok());
  const fs::path snap = ResolveModel(kRepo, Options(hub));
  const fs::path repo = cache_ / "models--test-org--stories";
  EXPECT_EQ(snap, repo / "snapshots" / kCommit);
  std::ifstream ref(repo / "refs" / "main");
  std::string commit;
  ref >> commit;
  EXPECT_EQ(commit, kCommit);
  for (const char* f : {"config.json", "generation_config.json", "tokenizer.json",
                        "tokenizer_config.json", "model.safetensors"}) {
    SCOPED_TRACE(f);
    ASSERT_TRUE(fs::is_symlink(snap / f));
    const fs::path target = fs::read_symlink(snap / f);
    EXPECT_EQ(target.parent_path(), fs::path("../../blobs"));
    EXPECT_EQ(testing::ReadBytes(snap / f), testing::ReadBytes(kStories / f));
  }
  // Safetensors are preferred: the GGUF of the same repo is not fetched.
  EXPECT_FALSE(fs::exists(snap / "stories260K.gguf"));
  // LFS blobs are named by their sha256 (the X-Linked-Etag).
  EXPECT_EQ(fs::read_symlink(snap / "model.safetensors").filename().string().size(), 64u);
  ExpectSameWeights(snap, kStories);
  // The token goes to the hub only: the LFS bytes come from the CDN (another origin) through the
  // signed URL of the hub's redirect, and the token must not leak there.
  int cdn_requests = 0;
  for (const auto& r : hub.Requests()) {
    const bool to_hub = r.value("server", "") == "hub";
    cdn_requests += !to_hub;
    EXPECT_EQ(r.value("auth", "?"), to_hub ? "Bearer hf_test_token" : "") << r.dump();
  }
  EXPECT_GT(cdn_requests, 0);

  // A second, offline run with the hub gone resolves from the cache alone.
  hub.Stop();
  ResolveOptions offline = Options(hub);
  offline.offline = true;
  EXPECT_EQ(ResolveModel(kRepo, offline), snap);
  // Online but unreachable: falls back to the cache too.
  EXPECT_EQ(ResolveModel(kRepo, Options(hub)), snap);

  if (HaveHuggingfaceHub()) {
    // huggingface_hub finds what we downloaded, without the network.
    const std::string cmd = "HF_HUB_OFFLINE=1 HF_HUB_CACHE=" + cache_.string() +
                            " python3 -c \"from huggingface_hub import snapshot_download as s; "
                            "import sys; sys.exit(0 if s('test-org/stories') == '" +
                            snap.string() + "' else 1)\" >/dev/null 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
  }
}

TEST_F(HubTest, ReusesCacheWrittenByHuggingfaceHub) {
  if (!HaveHuggingfaceHub()) GTEST_SKIP() << "python3 huggingface_hub is not installed";
  FakeHub hub(dir_.path(), {});
  ASSERT_TRUE(hub.ok());
  const std::string cmd =
      "HF_ENDPOINT=" + hub.endpoint() + " HF_HUB_CACHE=" + cache_.string() +
      " HF_HUB_DISABLE_PROGRESS_BARS=1 python3 -c \"from huggingface_hub import "
      "snapshot_download as s; s('test-org/stories', "
      "allow_patterns=['*.json', '*.safetensors'])\" >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  hub.Stop();
  ResolveOptions o = Options(hub);
  o.offline = true;
  const fs::path snap = ResolveModel(kRepo, o);
  EXPECT_EQ(snap, cache_ / "models--test-org--stories" / "snapshots" / kCommit);
  ExpectSameWeights(snap, kStories);
}

TEST_F(HubTest, ResumesPartialDownload) {
  FakeHub hub(dir_.path(), {"--drop", "model.safetensors:300000"});
  ASSERT_TRUE(hub.ok());
  try {
    ResolveModel(kRepo, Options(hub));
    FAIL() << "the first download should break";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable) << e.what();
  }
  const fs::path blobs = cache_ / "models--test-org--stories" / "blobs";
  fs::path partial;
  for (const auto& e : fs::directory_iterator(blobs)) {
    if (e.path().extension() == ".incomplete") partial = e.path();
  }
  ASSERT_FALSE(partial.empty());
  EXPECT_EQ(fs::file_size(partial), 300000u);
  const fs::path snap = ResolveModel(kRepo, Options(hub));
  EXPECT_FALSE(fs::exists(partial));
  EXPECT_EQ(testing::ReadBytes(snap / "model.safetensors"),
            testing::ReadBytes(kStories / "model.safetensors"));
  bool resumed = false;
  for (const auto& r : hub.Requests()) resumed |= r["range"] == "bytes=300000-";
  EXPECT_TRUE(resumed);
}

TEST_F(HubTest, EtagChangeIsDetected) {
  FakeHub hub(dir_.path(), {"--change-etag", "model.safetensors"});
  ASSERT_TRUE(hub.ok());
  try {
    ResolveModel(kRepo, Options(hub));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorruptFile);
    EXPECT_NE(e.message().find("ETag"), std::string::npos) << e.message();
  }
}

TEST_F(HubTest, Sha256MismatchIsDetected) {
  FakeHub hub(dir_.path(), {"--corrupt", "model.safetensors"});
  ASSERT_TRUE(hub.ok());
  try {
    ResolveModel(kRepo, Options(hub));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorruptFile);
    EXPECT_NE(e.message().find("sha256"), std::string::npos) << e.message();
  }
  // Nothing corrupt is left behind in the cache.
  for (const auto& e : fs::recursive_directory_iterator(cache_)) {
    EXPECT_NE(e.path().filename(), "model.safetensors") << e.path();
    EXPECT_NE(e.path().extension(), ".incomplete") << e.path();
  }
}

TEST_F(HubTest, SingleFileRevisionAndErrors) {
  FakeHub hub(dir_.path(), {"--token", "right"});
  ASSERT_TRUE(hub.ok());
  ResolveOptions o = Options(hub);
  o.token = "right";
  o.revision = kCommit;
  o.filename = "stories260K.gguf";
  const fs::path gguf = ResolveModel(kRepo, o);
  EXPECT_EQ(gguf.filename(), "stories260K.gguf");
  EXPECT_EQ(WeightSource::Open(gguf)->config().hidden_size, 64u);

  o.token = "wrong";
  o.filename.clear();
  o.revision = "main";
  try {
    ResolveModel(kRepo, o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("HF_TOKEN"), std::string::npos) << e.message();
  }
  o.token = "right";
  o.revision = "no-such-branch";
  EXPECT_THROW(ResolveModel(kRepo, o), Error);
  EXPECT_THROW(ResolveModel("test-org/../etc", o), Error);
}

TEST_F(HubTest, OfflineWithEmptyCacheFailsClearly) {
  ResolveOptions o;
  o.cache_dir = cache_;
  o.offline = true;
  try {
    ResolveModel("someone/some-model", o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(e.message().find("HF_HUB_OFFLINE"), std::string::npos);
  }
  // A local path is returned as is, without looking at the cache.
  EXPECT_EQ(ResolveModel(kStories.string(), o), fs::absolute(kStories));
}

TEST(HubEnv, CacheDirAndOfflineFromEnvironment) {
  ::setenv("HF_HOME", "/tmp/hf-home", 1);
  ::unsetenv("HUGGINGFACE_HUB_CACHE");
  ::unsetenv("HF_HUB_CACHE");
  EXPECT_EQ(HubCacheDir(), fs::path("/tmp/hf-home/hub"));
  ::setenv("HUGGINGFACE_HUB_CACHE", "/tmp/other-cache", 1);
  EXPECT_EQ(HubCacheDir(), fs::path("/tmp/other-cache"));
  ::unsetenv("HUGGINGFACE_HUB_CACHE");
  ::unsetenv("HF_HOME");
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  EXPECT_TRUE(HubOfflineFromEnv());
  EXPECT_TRUE(ResolveOptions{}.offline);
  ::setenv("HF_HUB_OFFLINE", "0", 1);
  EXPECT_FALSE(HubOfflineFromEnv());
  ::unsetenv("HF_HUB_OFFLINE");
  ::setenv("HF_ENDPOINT", "http://mirror.example/", 1);
  EXPECT_EQ(HubEndpointFromEnv(), "http://mirror.example");
  ::unsetenv("HF_ENDPOINT");
  EXPECT_EQ(HubEndpointFromEnv(), "https://huggingface.co");
}

}  // namespace
}  // namespace tg::model
