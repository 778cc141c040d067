// --kv-cache-dtype: the names it takes, what each backend accepts, and that a shard given a bad
// value exits at once with an error that names the flag.
#include "shard/backend/kv_cache_dtype.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

#include "tests/common/invalid_argument.h"

namespace tg::backend {
namespace {

using tg::testing::InvalidArgumentMessage;

TEST(KvCacheDType, ParsesVllmNames) {
  EXPECT_EQ(ParseKvCacheDType("auto"), std::nullopt);
  EXPECT_EQ(ParseKvCacheDType("bfloat16"), DType::kBF16);
  EXPECT_EQ(ParseKvCacheDType("float16"), DType::kF16);
  EXPECT_EQ(ParseKvCacheDType("float32"), DType::kF32);
  for (const char* bad : {"", "fp8", "bf16", "int32", "Auto"}) {
    EXPECT_NE(InvalidArgumentMessage([&] {
                ParseKvCacheDType(bad);
              }).find("--kv-cache-dtype expects auto"),
              std::string::npos)
        << bad;
  }
}

TEST(KvCacheDType, EachBackendAcceptsWhatItServes) {
  EXPECT_EQ(ResolveKvCacheDType(DeviceKind::kCpu, std::nullopt), DType::kF32);
  EXPECT_EQ(ResolveKvCacheDType(DeviceKind::kCpu, DType::kF32), DType::kF32);
  EXPECT_EQ(ResolveKvCacheDType(DeviceKind::kCuda, std::nullopt), DType::kBF16);
  EXPECT_EQ(ResolveKvCacheDType(DeviceKind::kCuda, DType::kBF16), DType::kBF16);
  EXPECT_EQ(ResolveKvCacheDType(DeviceKind::kCuda, DType::kF32), DType::kF32);
  for (const DType bad : {DType::kBF16, DType::kF16}) {
    EXPECT_NE(InvalidArgumentMessage([&] { ResolveKvCacheDType(DeviceKind::kCpu, bad); })
                  .find("--kv-cache-dtype " + std::string(ToString(bad)) +
                        " is not supported on the CPU backend"),
              std::string::npos);
  }
  EXPECT_NE(InvalidArgumentMessage([&] {
              ResolveKvCacheDType(DeviceKind::kCuda, DType::kF16);
            }).find("--kv-cache-dtype float16 is not supported on the CUDA backend"),
            std::string::npos);
}

TEST(KvCacheDType, CpuBackendRefusesWhatItCannotServe) {
  EXPECT_EQ(MakeCpuBackend({.kv_cache_dtype = DType::kF32})->KvDType(), DType::kF32);
  EXPECT_NE(InvalidArgumentMessage([] {
              MakeCpuBackend({.kv_cache_dtype = DType::kBF16});
            }).find("--kv-cache-dtype bfloat16"),
            std::string::npos);
}

struct Exit {
  int status = -1;
  std::string output;
  double seconds = 0;
};

// Runs text-gen-shard on the CPU with `kv` and a model path that does not exist: the flag must
// be refused before the model is opened.
Exit RunShard(const std::string& kv) {
  const std::string command = std::string(TG_SHARD_BINARY) +
                              " --model-id /nonexistent/model --device cpu --uds-path "
                              "/tmp/tg-kv-cache-dtype-test --kv-cache-dtype '" +
                              kv + "' 2>&1";
  const auto start = std::chrono::steady_clock::now();
  FILE* pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  Exit exit;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) exit.output.append(buffer, n);
  const int status = pclose(pipe);
  exit.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  exit.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return exit;
}

TEST(KvCacheDTypeProcess, ShardFailsFastNamingTheFlag) {
  const Exit unknown = RunShard("fp8");
  EXPECT_EQ(unknown.status, 1) << unknown.output;
  EXPECT_NE(unknown.output.find("--kv-cache-dtype expects auto, bfloat16, float16 or float32, "
                                "got 'fp8'"),
            std::string::npos)
      << unknown.output;
  EXPECT_LT(unknown.seconds, 10) << unknown.output;

  const Exit unserved = RunShard("bfloat16");
  EXPECT_EQ(unserved.status, 1) << unserved.output;
  EXPECT_NE(unserved.output.find("--kv-cache-dtype bfloat16 is not supported on the CPU backend"),
            std::string::npos)
      << unserved.output;
  EXPECT_EQ(unserved.output.find("/nonexistent/model"), std::string::npos)
      << "the model was opened before the flag was checked: " << unserved.output;
}

}  // namespace
}  // namespace tg::backend
