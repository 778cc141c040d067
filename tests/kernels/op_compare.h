// Helpers for comparing the CUDA backend against the CPU reference backend op by op:
// random inputs, bf16 rounding, NaN-poisoned guard rows, and the atol + rtol·|ref| check.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "model_files/dtype.h"
#include "shard/backend/backend.h"

namespace tg::backend::testing {

inline uint16_t ToBf16Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fff + ((u >> 16) & 1);  // round to nearest even
  return static_cast<uint16_t>(u >> 16);
}

inline float Bf16ToFloat(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline std::vector<float> RandomVector(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Uploads float data as `dtype` (float32, bfloat16 or float16).
inline Tensor Upload(Backend& b, DType dtype, std::vector<int64_t> shape,
                     const std::vector<float>& data) {
  Tensor t = b.Allocate(dtype, std::move(shape));
  if (dtype == DType::kBF16 || dtype == DType::kF16) {
    std::vector<uint16_t> bits(data.size());
    for (size_t i = 0; i < data.size(); ++i) {
      bits[i] = dtype == DType::kBF16 ? ToBf16Bits(data[i]) : model::F32ToF16(data[i]);
    }
    b.CopyFromHost(bits.data(), t);
  } else {
    b.CopyFromHost(data.data(), t);
  }
  return t;
}

inline Tensor UploadInts(Backend& b, std::vector<int64_t> shape, const std::vector<int32_t>& data) {
  Tensor t = b.Allocate(DType::kI32, std::move(shape));
  b.CopyFromHost(data.data(), t);
  return t;
}

// A float32 or bfloat16 tensor's values as float32.
inline std::vector<float> Download(Backend& b, const Tensor& t) {
  std::vector<float> out(t.numel());
  if (t.dtype() == DType::kBF16) {
    std::vector<uint16_t> bits(t.numel());
    b.CopyToHost(t, bits.data());
    for (size_t i = 0; i < bits.size(); ++i) out[i] = Bf16ToFloat(bits[i]);
    return out;
  }
  EXPECT_EQ(t.dtype(), DType::kF32) << "Download of " << t.DebugString();
  b.CopyToHost(t, out.data());
  return out;
}

// A float32 output with one NaN-filled guard row on each side: Out() is the middle rows.
struct Guarded {
  Tensor whole;
  int64_t rows;
  Tensor Out() const { return whole.Rows(1, rows); }
};

inline Guarded AllocateGuarded(Backend& b, std::vector<int64_t> shape) {
  const int64_t rows = shape[0];
  std::vector<int64_t> big = shape;
  big[0] += 2;
  Guarded g{b.Allocate(DType::kF32, big), rows};
  std::vector<float> nan(g.whole.numel(), std::nanf(""));
  b.CopyFromHost(nan.data(), g.whole);
  return g;
}

// Checks the guard rows are still NaN and returns the middle rows.
inline std::vector<float> DownloadGuarded(Backend& b, const Guarded& g) {
  const std::vector<float> all = Download(b, g.whole);
  const size_t row = all.size() / (g.rows + 2);
  for (size_t i = 0; i < row; ++i) {
    EXPECT_TRUE(std::isnan(all[i])) << "guard before output overwritten at " << i;
    EXPECT_TRUE(std::isnan(all[all.size() - row + i])) << "guard after output overwritten at " << i;
  }
  return std::vector<float>(all.begin() + row, all.end() - row);
}

inline void ExpectClose(const std::vector<float>& got, const std::vector<float>& ref, float atol,
                        float rtol, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  size_t bad = 0;
  size_t first = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const bool ok = std::fabs(got[i] - ref[i]) <= atol + rtol * std::fabs(ref[i]);
    if (!ok && bad++ == 0) first = i;
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << ref.size()
                     << " elements out of tolerance; first at " << first << " got " << got[first]
                     << " want " << ref[first];
}

}  // namespace tg::backend::testing
