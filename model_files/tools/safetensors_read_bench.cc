// Benchmark (not a test): how fast weights come out of a page-cached safetensors file.
//
//   safetensors_read_bench --make /tmp/big.safetensors 1536   # write a ~1.5 GB BF16 file
//   safetensors_read_bench /tmp/big.safetensors               # read it (warm the cache first,
//                                                              # e.g. with cat FILE >/dev/null)
// Reports GB/s (of file bytes) for: opening + touching every mapped page (the zero-copy path),
// ReadBF16 (a copy out of the mapping), ReadF32 (BF16 -> F32 conversion), each into a fresh
// vector and into one reused buffer.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/error.h"
#include "model_files/safetensors.h"
#include "model_files/tensor_slice.h"

namespace {

using Clock = std::chrono::steady_clock;

void Make(const char* path, int64_t megabytes) {
  constexpr int64_t kTensorBytes = 64ll << 20;  // 64 MiB per tensor, like a large projection
  const int64_t n = std::max<int64_t>(1, (megabytes << 20) / kTensorBytes);
  nlohmann::json header;
  for (int64_t i = 0; i < n; ++i) {
    header["model.layers." + std::to_string(i) + ".mlp.up_proj.weight"] = {
        {"dtype", "BF16"},
        {"shape", {8192, 4096}},
        {"data_offsets", {i * kTensorBytes, (i + 1) * kTensorBytes}}};
  }
  const std::string h = header.dump();
  std::ofstream out(path, std::ios::binary);
  const uint64_t len = h.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out << h;
  std::string chunk(kTensorBytes, '\0');
  for (int64_t i = 0; i < kTensorBytes / 2; ++i) {
    const uint16_t v = static_cast<uint16_t>(0x3f00 + (i % 255));
    std::memcpy(chunk.data() + 2 * i, &v, 2);
  }
  for (int64_t i = 0; i < n; ++i) out.write(chunk.data(), kTensorBytes);
  std::printf("wrote %s: %lld tensors, %.2f GB\n", path, static_cast<long long>(n),
              static_cast<double>(n * kTensorBytes) / 1e9);
}

double Seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void Read(const char* path) {
  auto t0 = Clock::now();
  const auto file = tg::model::SafetensorsFile::Open(path);
  uint64_t bytes = 0, sum = 0;
  for (const auto& [name, t] : file.tensors()) {
    const uint8_t* p = file.Data(t);
    for (uint64_t off = 0; off < t.end - t.begin; off += 4096) sum += p[off];
    bytes += t.end - t.begin;
  }
  const double touch = Seconds(t0);
  t0 = Clock::now();
  for (const auto& [name, t] : file.tensors()) {
    const auto b = tg::model::ResolveSlice(t.shape, {}, {}, name);
    sum += tg::model::ReadSliceBF16(t.dtype, file.Data(t), b)[12345];
  }
  const double copy = Seconds(t0);
  t0 = Clock::now();
  for (const auto& [name, t] : file.tensors()) {
    const auto b = tg::model::ResolveSlice(t.shape, {}, {}, name);
    sum += static_cast<uint64_t>(tg::model::ReadSliceF32(t.dtype, file.Data(t), b)[777]);
  }
  const double convert = Seconds(t0);
  // The same conversions into one reused buffer (what a loader with a staging buffer does).
  std::vector<float> staging;
  t0 = Clock::now();
  for (const auto& [name, t] : file.tensors()) {
    const auto b = tg::model::ResolveSlice(t.shape, {}, {}, name);
    staging.resize(static_cast<size_t>(b.out_elems()));
    tg::model::ReadSliceInto(t.dtype, file.Data(t), b, {}, staging.data());
    sum += static_cast<uint64_t>(staging[777]);
  }
  const double convert_reused = Seconds(t0);
  std::vector<uint16_t> staging16;
  t0 = Clock::now();
  for (const auto& [name, t] : file.tensors()) {
    const auto b = tg::model::ResolveSlice(t.shape, {}, {}, name);
    staging16.resize(static_cast<size_t>(b.out_elems()));
    tg::model::ReadSliceInto(t.dtype, file.Data(t), b, {}, staging16.data());
    sum += staging16[12345];
  }
  const double copy_reused = Seconds(t0);
  const double gb = static_cast<double>(bytes) / 1e9;
  std::printf("%.2f GB in %zu tensors (checksum %llu)\n", gb, file.tensors().size(),
              static_cast<unsigned long long>(sum));
  std::printf("  mmap + touch every page : %6.2f GB/s\n", gb / touch);
  std::printf("  ReadBF16 (copy out)     : %6.2f GB/s\n", gb / copy);
  std::printf("  ReadF32 (BF16 -> F32)   : %6.2f GB/s of file bytes\n", gb / convert);
  std::printf("  ReadBF16Into reused buf : %6.2f GB/s\n", gb / copy_reused);
  std::printf("  ReadF32Into reused buf  : %6.2f GB/s of file bytes\n", gb / convert_reused);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 4 && std::strcmp(argv[1], "--make") == 0) {
      Make(argv[2], std::atoll(argv[3]));
    } else if (argc == 2) {
      Read(argv[1]);
    } else {
      std::fprintf(stderr, "usage: %s FILE | --make FILE MEGABYTES\n", argv[0]);
      return 2;
    }
  } catch (const tg::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
