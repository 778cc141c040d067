// The CPU backend ops against plain double-precision references written from the op contracts in
// shard/backend/backend.h, on awkward sizes, plus the bit-exact batch invariance of Linear.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "common/error.h"
#include "shard/backend/backend.h"

namespace tg::backend {
namespace {

class CpuBackendTest : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> device_ = MakeCpuBackend({.threads = 2});
  std::mt19937 rng_{1234};

  std::vector<float> Random(size_t n, float scale = 1.0f) {
    std::uniform_real_distribution<float> dist(-scale, scale);
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng_);
    return v;
  }
  Tensor F32(const std::vector<float>& v, std::vector<int64_t> shape) {
    Tensor t = device_->Allocate(DType::kF32, std::move(shape));
    device_->CopyFromHost(v.data(), t);
    return t;
  }
  Tensor I32(const std::vector<int32_t>& v) {
    Tensor t = device_->Allocate(DType::kI32, {static_cast<int64_t>(v.size())});
    device_->CopyFromHost(v.data(), t);
    return t;
  }
  std::vector<float> Host(const Tensor& t) {
    std::vector<float> v(t.numel());
    device_->CopyToHost(t, v.data());
    return v;
  }
};

uint16_t ToBf16(float x) {  // round to nearest even
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  return static_cast<uint16_t>((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}
float FromBf16(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float x;
  std::memcpy(&x, &bits, 4);
  return x;
}

TEST_F(CpuBackendTest, LinearMatchesReferenceForEveryWeightDtype) {
  for (const int64_t k : {1, 15, 37, 64, 129}) {
    for (const int64_t rows : {1, 3, 4, 9}) {
      const int64_t out = 23;
      const std::vector<float> x = Random(rows * k), w = Random(out * k), bias = Random(out);
      for (const DType dtype : {DType::kF32, DType::kBF16}) {
        std::vector<float> w_used = w;
        Tensor weight = device_->Allocate(dtype, {out, k});
        if (dtype == DType::kBF16) {
          std::vector<uint16_t> bits(w.size());
          for (size_t i = 0; i < w.size(); ++i) {
            bits[i] = ToBf16(w[i]);
            w_used[i] = FromBf16(bits[i]);
          }
          device_->CopyFromHost(bits.data(), weight);
        } else {
          device_->CopyFromHost(w.data(), weight);
        }
        Tensor b = F32(bias, {out});
        Tensor y = device_->Allocate(DType::kF32, {rows, out});
        device_->Linear(F32(x, {rows, k}), weight, &b, y);
        const std::vector<float> got = Host(y);
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t o = 0; o < out; ++o) {
            double ref = bias[o];
            for (int64_t i = 0; i < k; ++i)
              ref += static_cast<double>(x[r * k + i]) * w_used[o * k + i];
            ASSERT_NEAR(got[r * out + o], ref, 1e-5 + 1e-5 * std::abs(ref))
                << ToString(dtype) << " k=" << k << " rows=" << rows;
          }
        }
      }
    }
  }
}

TEST_F(CpuBackendTest, LinearF16Weights) {
  // 1.0, -2.0, 0.5 and a subnormal (2^-24) in IEEE half.
  const std::vector<uint16_t> bits = {0x3c00, 0xc000, 0x3800, 0x0001};
  Tensor weight = device_->Allocate(DType::kF16, {1, 4});
  device_->CopyFromHost(bits.data(), weight);
  Tensor y = device_->Allocate(DType::kF32, {1, 1});
  device_->Linear(F32({1, 1, 1, 1 << 24}, {1, 4}), weight, nullptr, y);
  EXPECT_FLOAT_EQ(Host(y)[0], 1.0f - 2.0f + 0.5f + 1.0f);
}

// A token's outputs are bit-identical alone and inside a batch of any size.
TEST_F(CpuBackendTest, LinearIsBatchInvariantBitForBit) {
  const int64_t k = 576, out = 97;
  const std::vector<float> w = Random(out * k), x = Random(11 * k);
  Tensor weight = F32(w, {out, k});
  Tensor all = device_->Allocate(DType::kF32, {11, out});
  device_->Linear(F32(x, {11, k}), weight, nullptr, all);
  const std::vector<float> batched = Host(all);
  for (int64_t r = 0; r < 11; ++r) {
    Tensor one = device_->Allocate(DType::kF32, {1, out});
    device_->Linear(F32(std::vector<float>(x.begin() + r * k, x.begin() + (r + 1) * k), {1, k}),
                    weight, nullptr, one);
    const std::vector<float> alone = Host(one);
    ASSERT_EQ(std::memcmp(alone.data(), batched.data() + r * out, out * sizeof(float)), 0) << r;
  }
}

TEST_F(CpuBackendTest, RmsNormWithFusedResidual) {
  const int64_t rows = 5, h = 33;
  const std::vector<float> x = Random(rows * h), res = Random(rows * h), w = Random(h);
  Tensor residual = F32(res, {rows, h});
  Tensor out = device_->Allocate(DType::kF32, {rows, h});
  device_->RmsNorm(F32(x, {rows, h}), &residual, F32(w, {h}), 1e-5f, out);
  const std::vector<float> got = Host(out), new_res = Host(residual);
  for (int64_t r = 0; r < rows; ++r) {
    double sq = 0;
    for (int64_t i = 0; i < h; ++i) {
      const double v = static_cast<double>(x[r * h + i]) + res[r * h + i];
      ASSERT_NEAR(new_res[r * h + i], v, 1e-6);
      sq += v * v;
    }
    const double inv = 1.0 / std::sqrt(sq / h + 1e-5);
    for (int64_t i = 0; i < h; ++i) {
      const double v = static_cast<double>(x[r * h + i]) + res[r * h + i];
      ASSERT_NEAR(got[r * h + i], v * inv * w[i], 1e-5);
    }
  }
}

TEST_F(CpuBackendTest, RotaryRotatesHalves) {
  const int64_t n = 3, hq = 4, hk = 2, d = 8;
  const std::vector<float> q0 = Random(n * hq * d), k0 = Random(n * hk * d);
  const std::vector<float> inv_freq = {1.0f, 0.1f, 0.01f, 0.001f};
  const std::vector<int32_t> pos = {0, 7, 300};
  Tensor q = F32(q0, {n, hq, d}), k = F32(k0, {n, hk, d});
  device_->Rotary(q, k, I32(pos), F32(inv_freq, {4}));
  auto check = [&](const std::vector<float>& before, const std::vector<float>& after, int64_t h) {
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t head = 0; head < h; ++head) {
        const float* x = before.data() + (t * h + head) * d;
        const float* y = after.data() + (t * h + head) * d;
        for (int64_t i = 0; i < d / 2; ++i) {
          const double angle = static_cast<double>(static_cast<float>(pos[t]) * inv_freq[i]);
          EXPECT_NEAR(y[i], x[i] * std::cos(angle) - x[i + d / 2] * std::sin(angle), 1e-5);
          EXPECT_NEAR(y[i + d / 2], x[i + d / 2] * std::cos(angle) + x[i] * std::sin(angle), 1e-5);
        }
      }
    }
  };
  check(q0, Host(q), hq);
  check(k0, Host(k), hk);
}

// Paged prefill attention (scattered blocks, a cached prefix, GQA) against dense causal attention.
TEST_F(CpuBackendTest, PagedAttentionMatchesDenseCausalAttention) {
  const int hq = 6, hk = 2, d = 16, block = 16, num_blocks = 12;
  // Two sequences: 21 tokens with 9 already cached, and 5 fresh tokens.
  const std::vector<int> lens = {21, 5}, cached = {9, 0};
  const std::vector<std::vector<int32_t>> tables = {{7, 2}, {4}};
  std::vector<std::vector<float>> keys, values, queries;
  Tensor k_cache = device_->Allocate(DType::kF32, {num_blocks, block, hk, d});
  Tensor v_cache = device_->Allocate(DType::kF32, {num_blocks, block, hk, d});
  std::vector<int32_t> slots, query_start = {0}, seq_lens, block_tables;
  std::vector<float> q_all, k_all, v_all;
  for (int s = 0; s < 2; ++s) {
    keys.push_back(Random(lens[s] * hk * d));
    values.push_back(Random(lens[s] * hk * d));
    queries.push_back(Random(lens[s] * hq * d));
    for (int p = 0; p < lens[s]; ++p) {
      slots.push_back(tables[s][p / block] * block + p % block);
      k_all.insert(k_all.end(), keys[s].begin() + p * hk * d, keys[s].begin() + (p + 1) * hk * d);
      v_all.insert(v_all.end(), values[s].begin() + p * hk * d,
                   values[s].begin() + (p + 1) * hk * d);
    }
    seq_lens.push_back(lens[s]);
    for (int b = 0; b < 2; ++b)
      block_tables.push_back(b < static_cast<int>(tables[s].size()) ? tables[s][b] : 0);
  }
  const int64_t total = static_cast<int64_t>(slots.size());
  device_->WriteKv(F32(k_all, {total, hk, d}), F32(v_all, {total, hk, d}), I32(slots), k_cache,
                   v_cache);
  // Queries only for the uncached tokens.
  for (int s = 0; s < 2; ++s) {
    q_all.insert(q_all.end(), queries[s].begin() + cached[s] * hq * d, queries[s].end());
    query_start.push_back(query_start.back() + lens[s] - cached[s]);
  }
  AttentionBatch batch;
  batch.num_seqs = 2;
  batch.num_tokens = query_start.back();
  batch.max_query_len = 12;
  batch.max_seq_len = 21;
  batch.query_start = I32(query_start);
  batch.seq_lens = I32(seq_lens);
  batch.block_tables = I32(block_tables).Reshape({2, 2});
  const float scale = 0.25f;
  Tensor out = device_->Allocate(DType::kF32, {batch.num_tokens, hq, d});
  device_->PrefillAttention(F32(q_all, {batch.num_tokens, hq, d}), k_cache, v_cache, batch, scale,
                            out);
  const std::vector<float> got = Host(out);
  int row = 0;
  for (int s = 0; s < 2; ++s) {
    for (int p = cached[s]; p < lens[s]; ++p, ++row) {
      for (int h = 0; h < hq; ++h) {
        const int kv = h / (hq / hk);
        std::vector<double> w(p + 1);
        double max = -1e30, sum = 0;
        for (int j = 0; j <= p; ++j) {
          double dot = 0;
          for (int i = 0; i < d; ++i) {
            dot += static_cast<double>(queries[s][(p * hq + h) * d + i]) *
                   keys[s][(j * hk + kv) * d + i];
          }
          w[j] = dot * scale;
          max = std::max(max, w[j]);
        }
        for (double& x : w) sum += (x = std::exp(x - max));
        for (int i = 0; i < d; ++i) {
          double ref = 0;
          for (int j = 0; j <= p; ++j) ref += w[j] / sum * values[s][(j * hk + kv) * d + i];
          ASSERT_NEAR(got[(row * hq + h) * d + i], ref, 1e-5) << s << " " << p << " " << h;
        }
      }
    }
  }
  // Decode attention of each sequence's last token equals the prefill result for it.
  AttentionBatch decode = batch;
  decode.num_tokens = 2;
  decode.max_query_len = 1;
  decode.query_start = I32({0, 1, 2});
  std::vector<float> q_last;
  for (int s = 0; s < 2; ++s) {
    q_last.insert(q_last.end(), queries[s].end() - hq * d, queries[s].end());
  }
  Tensor out_decode = device_->Allocate(DType::kF32, {2, hq, d});
  device_->DecodeAttention(F32(q_last, {2, hq, d}), k_cache, v_cache, decode, scale, out_decode);
  const std::vector<float> got_decode = Host(out_decode);
  const int last_rows[2] = {query_start[1] - 1, query_start[2] - 1};
  for (int s = 0; s < 2; ++s) {
    for (int i = 0; i < hq * d; ++i) {
      ASSERT_FLOAT_EQ(got_decode[s * hq * d + i], got[last_rows[s] * hq * d + i]);
    }
  }
}

TEST_F(CpuBackendTest, SplitColumnsCopiesEachRangeOfEveryRow) {
  const std::vector<float> input = Random(3 * 9);
  Tensor a = device_->Allocate(DType::kF32, {3, 4}), b = device_->Allocate(DType::kF32, {3, 2}),
         c = device_->Allocate(DType::kF32, {3, 3});
  Tensor* parts[3] = {&a, &b, &c};
  device_->SplitColumns(F32(input, {3, 9}), parts);
  const std::vector<float> got_a = Host(a), got_b = Host(b), got_c = Host(c);
  for (int r = 0; r < 3; ++r) {
    for (int i = 0; i < 4; ++i) EXPECT_EQ(got_a[r * 4 + i], input[r * 9 + i]);
    for (int i = 0; i < 2; ++i) EXPECT_EQ(got_b[r * 2 + i], input[r * 9 + 4 + i]);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(got_c[r * 3 + i], input[r * 9 + 6 + i]);
  }
  Tensor* short_parts[2] = {&a, &b};  // 6 of the 9 columns
  EXPECT_THROW(device_->SplitColumns(F32(input, {3, 9}), short_parts), Error);
}

TEST_F(CpuBackendTest, SiluAndMulAndEmbedding) {
  const std::vector<float> gate_up = Random(2 * 2 * 7, 4.0f);
  Tensor out = device_->Allocate(DType::kF32, {2, 7});
  device_->SiluAndMul(F32(gate_up, {2, 14}), out);
  const std::vector<float> got = Host(out);
  for (int r = 0; r < 2; ++r) {
    for (int i = 0; i < 7; ++i) {
      const double g = gate_up[r * 14 + i], u = gate_up[r * 14 + 7 + i];
      EXPECT_NEAR(got[r * 7 + i], g / (1 + std::exp(-g)) * u, 1e-5);
    }
  }
  const std::vector<float> table = Random(5 * 3);
  Tensor rows = device_->Allocate(DType::kF32, {3, 3});
  device_->Embedding(F32(table, {5, 3}), I32({4, 0, 4}), rows);
  const std::vector<float> gathered = Host(rows);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(gathered[i], table[12 + i]);
    EXPECT_EQ(gathered[3 + i], table[i]);
  }
  EXPECT_THROW(device_->Embedding(F32(table, {5, 3}), I32({5}), rows), Error);
}

}  // namespace
}  // namespace tg::backend
