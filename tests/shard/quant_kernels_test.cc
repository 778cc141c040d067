// The CPU kernels on GGML block weights (shard/backend/cpu/quant_kernels.h): the scalar reference
// against model_files' independent dequantizer, the SIMD kernel against the scalar reference, and
// the backend's Linear / Embedding on block weights against the same ops on dequantized ones.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "common/error.h"
#include "model_files/dequantize.h"
#include "model_files/dtype.h"
#include "shard/backend/backend.h"
#include "shard/backend/cpu/quant_kernels.h"

namespace tg::backend::cpu {
namespace {

constexpr DType kBlockDTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1};

model::DType FileDType(DType dtype) {
  switch (dtype) {
    case DType::kQ8_0:
      return model::DType::kQ8_0;
    case DType::kQ4_0:
      return model::DType::kQ4_0;
    default:
      return model::DType::kQ4_1;
  }
}

// Random blocks of `rows` x `k` elements with realistic f16 scales (and Q4_1 offsets).
std::vector<uint8_t> RandomBlocks(DType dtype, int64_t rows, int64_t k, std::mt19937& rng) {
  const size_t block_bytes = DTypeBlockBytes(dtype);
  std::vector<uint8_t> bytes(DTypeBytes(dtype, rows * k));
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(byte(rng));
  for (size_t offset = 0; offset < bytes.size(); offset += block_bytes) {
    const uint16_t d = model::F32ToF16(scale(rng));
    std::memcpy(&bytes[offset], &d, 2);
    if (dtype == DType::kQ4_1) {
      const uint16_t m = model::F32ToF16(-8.0f * scale(rng));
      std::memcpy(&bytes[offset + 2], &m, 2);
    }
  }
  return bytes;
}

std::vector<float> RandomFloats(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  // An all-zero block and a large outlier: the scale's edge cases.
  for (size_t i = 0; i < std::min<size_t>(n, kQuantBlock); ++i) v[i] = 0.0f;
  if (n > 40) v[40] = 30.0f;
  return v;
}

struct Quantized {
  std::vector<int8_t> q;
  std::vector<float> scale;
  std::vector<int32_t> qsum;
  QuantizedActivations view(int64_t k, CodeOrder order) const {
    return {q.data(), scale.data(), qsum.data(), k, order};
  }
};

Quantized Quantize(const std::vector<float>& x, int64_t rows, int64_t k, CodeOrder order) {
  Quantized out;
  out.q.resize(rows * k);
  out.scale.resize(rows * k / kQuantBlock);
  out.qsum.resize(rows * k / kQuantBlock);
  QuantizeActivations(x.data(), rows, k, order, out.q.data(), out.scale.data(), out.qsum.data());
  return out;
}

TEST(QuantizeActivationsTest, RoundsEachBlockToItsScale) {
  std::mt19937 rng(7);
  const int64_t rows = 3, k = 160;  // 5 blocks: two pairs and an unpaired one
  const std::vector<float> x = RandomFloats(rows * k, rng);
  for (CodeOrder order : {CodeOrder::kNatural, CodeOrder::kNibbleHalves}) {
    const Quantized xq = Quantize(x, rows, k, order);
    const int64_t nb = k / kQuantBlock;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t b = 0; b < nb; ++b) {
        const float s = xq.scale[r * nb + b];
        // Exactly the documented arithmetic (the SIMD path must not round differently).
        float amax = 0.0f;
        for (int i = 0; i < kQuantBlock; ++i) {
          amax = std::max(amax, std::fabs(x[r * k + b * kQuantBlock + i]));
        }
        EXPECT_EQ(s, amax / 127.0f) << r << " " << b;
        const float inv = s > 0.0f ? 1.0f / s : 0.0f;
        int32_t sum = 0;
        for (int i = 0; i < kQuantBlock; ++i) {
          const int8_t q = xq.q[r * k + CodePosition(order, nb, b, i)];
          sum += q;
          EXPECT_LE(std::abs(int{q}), 127);
          EXPECT_NEAR(s * q, x[r * k + b * kQuantBlock + i], s * 0.5f + 1e-6f) << r << " " << b;
          EXPECT_EQ(q, static_cast<int8_t>(std::nearbyint(x[r * k + b * kQuantBlock + i] * inv)))
              << r << " " << b << " " << i;
        }
        EXPECT_EQ(sum, xq.qsum[r * nb + b]);
      }
    }
  }
  EXPECT_THROW(QuantizeActivations(x.data(), 1, 33, CodeOrder::kNatural, nullptr, nullptr, nullptr),
               tg::Error);
}

TEST(QuantDotTest, ReferenceEqualsDequantizedDot) {
  std::mt19937 rng(11);
  for (DType dtype : kBlockDTypes) {
    for (int64_t k : {32, 96, 576}) {
      const int64_t rows = 4;
      const std::vector<uint8_t> w = RandomBlocks(dtype, 1, k, rng);
      std::vector<float> w_f32(k);
      model::DequantizeToF32(FileDType(dtype), w.data(), k, w_f32.data());
      for (int64_t i = 0; i < k; ++i) {
        ASSERT_EQ(LoadQuantized(w.data(), dtype, i), w_f32[i]) << ToString(dtype) << " " << i;
      }
      const std::vector<float> x = RandomFloats(rows * k, rng);
      const CodeOrder order = CodeOrderFor(dtype);
      const Quantized xq = Quantize(x, rows, k, order);
      float out[kMaxQuantDotRows];
      QuantDotRowsReference(dtype)(w.data(), xq.view(k, order), 0, rows, out);
      const int64_t nb = k / kQuantBlock;
      for (int64_t r = 0; r < rows; ++r) {
        double expected = 0, magnitude = 0;
        for (int64_t i = 0; i < k; ++i) {
          const int64_t b = i / kQuantBlock;
          const double xi = static_cast<double>(xq.scale[r * nb + b]) *
                            xq.q[r * k + CodePosition(order, nb, b, static_cast<int>(i % 32))];
          expected += w_f32[i] * xi;
          magnitude += std::fabs(w_f32[i] * xi);
        }
        EXPECT_NEAR(out[r], expected, 1e-5 * magnitude + 1e-6) << ToString(dtype) << " k " << k;
      }
    }
  }
}

TEST(QuantDotTest, SimdKernelEqualsReference) {
  std::mt19937 rng(13);
  bool ran = false;
  for (DType dtype : kBlockDTypes) {
    const QuantDotRowsFn simd = SelectQuantDotRows(dtype);
    if (simd == nullptr) continue;
    ran = true;
    for (int64_t k : {32, 64, 96, 576, 1536}) {
      const int64_t rows = kMaxQuantDotRows + 1;  // first_row 0..1, up to kMaxQuantDotRows rows
      const std::vector<uint8_t> w = RandomBlocks(dtype, 1, k, rng);
      const std::vector<float> x = RandomFloats(rows * k, rng);
      const CodeOrder order = CodeOrderFor(dtype);
      const Quantized xq = Quantize(x, rows, k, order);
      for (int first_row = 0; first_row < 2; ++first_row) {
        for (int n = 1; n <= kMaxQuantDotRows; ++n) {
          float got[kMaxQuantDotRows], want[kMaxQuantDotRows];
          simd(w.data(), xq.view(k, order), first_row, n, got);
          QuantDotRowsReference(dtype)(w.data(), xq.view(k, order), first_row, n, want);
          for (int r = 0; r < n; ++r) {
            // Only the float summation order differs: a tolerance of a few ulps of the terms.
            double magnitude = 0;
            for (int64_t i = 0; i < k; ++i) {
              magnitude += std::fabs(LoadQuantized(w.data(), dtype, i)) *
                           std::fabs(x[(first_row + r) * k + i]);
            }
            EXPECT_NEAR(got[r], want[r], 2e-6 * magnitude + 1e-6)
                << ToString(dtype) << " k " << k << " rows " << n << " r " << r;
          }
        }
      }
    }
  }
  if (!ran) GTEST_SKIP() << "no AVX-512 VNNI on this CPU: block weights are dequantized instead";
}

class BlockLinearTest : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> device_ = MakeCpuBackend({.threads = 2});
  std::mt19937 rng_{17};

  Tensor Upload(DType dtype, const void* data, std::vector<int64_t> shape) {
    Tensor t = device_->Allocate(dtype, std::move(shape));
    device_->CopyFromHost(data, t);
    return t;
  }
  std::vector<float> Host(const Tensor& t) {
    std::vector<float> v(t.numel());
    device_->CopyToHost(t, v.data());
    return v;
  }
};

TEST_F(BlockLinearTest, LinearOnBlocksMatchesDequantizedWeights) {
  for (DType dtype : kBlockDTypes) {
    if (!device_->ComputesOnBlocks(dtype)) GTEST_SKIP() << "no block kernels on this CPU";
    for (int64_t rows : {1, 5, 70}) {
      const int64_t n_out = 37, k = 96;
      const std::vector<uint8_t> w = RandomBlocks(dtype, n_out, k, rng_);
      std::vector<float> w_f32(n_out * k);
      model::DequantizeToF32(FileDType(dtype), w.data(), n_out * k, w_f32.data());
      const std::vector<float> x = RandomFloats(rows * k, rng_);
      std::vector<float> bias(n_out);
      for (int64_t o = 0; o < n_out; ++o) bias[o] = 0.01f * static_cast<float>(o);
      Tensor xt = Upload(DType::kF32, x.data(), {rows, k});
      Tensor bt = Upload(DType::kF32, bias.data(), {n_out});
      Tensor block_out = device_->Allocate(DType::kF32, {rows, n_out});
      Tensor float_out = device_->Allocate(DType::kF32, {rows, n_out});
      device_->Linear(xt, Upload(dtype, w.data(), {n_out, k}), &bt, block_out);
      device_->Linear(xt, Upload(DType::kF32, w_f32.data(), {n_out, k}), &bt, float_out);
      const std::vector<float> got = Host(block_out), want = Host(float_out);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t o = 0; o < n_out; ++o) {
          // The only difference is x rounded to its block's int8 grid: at most half a step each.
          double bound = 1e-5;
          for (int64_t b = 0; b < k / kQuantBlock; ++b) {
            float amax = 0.0f, w_abs = 0.0f;
            for (int i = 0; i < kQuantBlock; ++i) {
              amax = std::max(amax, std::fabs(x[r * k + b * kQuantBlock + i]));
              w_abs += std::fabs(w_f32[o * k + b * kQuantBlock + i]);
            }
            bound += w_abs * amax / 127.0f * 0.5f * 1.01f;
          }
          EXPECT_NEAR(got[r * n_out + o], want[r * n_out + o], bound)
              << ToString(dtype) << " row " << r << " out " << o;
        }
      }
    }
  }
}

TEST_F(BlockLinearTest, EmbeddingOfBlockTableIsTheDequantizedRow) {
  const int64_t vocab = 9, hidden = 64;
  const std::vector<uint8_t> table = RandomBlocks(DType::kQ8_0, vocab, hidden, rng_);
  std::vector<float> table_f32(vocab * hidden);
  model::DequantizeToF32(model::DType::kQ8_0, table.data(), vocab * hidden, table_f32.data());
  const std::vector<int32_t> ids = {8, 0, 3};
  Tensor id_tensor = device_->Allocate(DType::kI32, {3});
  device_->CopyFromHost(ids.data(), id_tensor);
  Tensor out = device_->Allocate(DType::kF32, {3, hidden});
  device_->Embedding(Upload(DType::kQ8_0, table.data(), {vocab, hidden}), id_tensor, out);
  const std::vector<float> got = Host(out);
  for (size_t t = 0; t < ids.size(); ++t) {
    for (int64_t i = 0; i < hidden; ++i) {
      EXPECT_EQ(got[t * hidden + i], table_f32[ids[t] * hidden + i]);
    }
  }
}

TEST(BlockDTypeTest, SizesAreWholeBlocks) {
  EXPECT_EQ(DTypeBytes(DType::kQ4_1, 64), 40u);
  EXPECT_EQ(DTypeBytes(DType::kQ8_0, 32), 34u);
  EXPECT_EQ(DTypeBytes(DType::kQ4_0, 96), 54u);
  EXPECT_THROW(DTypeBytes(DType::kQ4_1, 33), tg::Error);
  EXPECT_THROW(DTypeSize(DType::kQ8_0), tg::Error);
}

}  // namespace
}  // namespace tg::backend::cpu
