// Every CUDA backend op against the CPU reference backend on random inputs of awkward sizes
// (odd, prime, batch 1, contexts spanning several split-K partitions), outputs surrounded by
// NaN guard rows. Skips when no GPU is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <numeric>

#include "common/error.h"
#include "kernels/gemm.h"
#include "kernels/prefill_hopper.h"
#include "shard/backend/cuda/cuda_backend.h"
#include "tests/kernels/op_compare.h"

namespace tg::backend {
namespace {

using testing::AllocateGuarded;
using testing::Download;
using testing::DownloadGuarded;
using testing::ExpectClose;
using testing::RandomVector;
using testing::Upload;
using testing::UploadInts;

class CudaOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
    // A float32 KV cache makes the attention comparisons exact up to summation order.
    cpu_ = MakeCpuBackend({});
    gpu_ = MakeCudaBackend({.device = DeviceKind::kCuda, .kv_cache_dtype = DType::kF32});
  }
  std::unique_ptr<Backend> cpu_;
  std::unique_ptr<Backend> gpu_;
};

TEST_F(CudaOpsTest, Embedding) {
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const int vocab = 97, hidden = 67, n = 13;
    const auto table = RandomVector(vocab * hidden, 1);
    std::vector<int32_t> ids(n);
    for (int i = 0; i < n; ++i) ids[i] = (i * 31 + 7) % vocab;
    Tensor c_out = cpu_->Allocate(DType::kF32, {n, hidden});
    cpu_->Embedding(Upload(*cpu_, dtype, {vocab, hidden}, table), UploadInts(*cpu_, {n}, ids),
                    c_out);
    auto g = AllocateGuarded(*gpu_, {n, hidden});
    Tensor g_out = g.Out();
    gpu_->Embedding(Upload(*gpu_, dtype, {vocab, hidden}, table), UploadInts(*gpu_, {n}, ids),
                    g_out);
    ExpectClose(DownloadGuarded(*gpu_, g), Download(*cpu_, c_out), 0, 0, "Embedding");
  }
}

TEST_F(CudaOpsTest, RmsNormWithAndWithoutResidual) {
  for (int rows : {1, 7}) {
    for (int h : {64, 131, 4096}) {
      const auto x = RandomVector(rows * h, 2);
      const auto r = RandomVector(rows * h, 3);
      const auto w = RandomVector(h, 4, 0.5f);
      for (bool fused : {false, true}) {
        Tensor cx = Upload(*cpu_, DType::kF32, {rows, h}, x);
        Tensor cr = Upload(*cpu_, DType::kF32, {rows, h}, r);
        Tensor cout = cpu_->Allocate(DType::kF32, {rows, h});
        cpu_->RmsNorm(cx, fused ? &cr : nullptr, Upload(*cpu_, DType::kBF16, {h}, w), 1e-5f, cout);
        Tensor gx = Upload(*gpu_, DType::kF32, {rows, h}, x);
        Tensor gr = Upload(*gpu_, DType::kF32, {rows, h}, r);
        auto g = AllocateGuarded(*gpu_, {rows, h});
        Tensor gout = g.Out();
        gpu_->RmsNorm(gx, fused ? &gr : nullptr, Upload(*gpu_, DType::kBF16, {h}, w), 1e-5f, gout);
        const std::string what = "RmsNorm rows=" + std::to_string(rows) + " h=" + std::to_string(h);
        ExpectClose(DownloadGuarded(*gpu_, g), Download(*cpu_, cout), 1e-5f, 1e-4f, what);
        if (fused)
          ExpectClose(Download(*gpu_, gr), Download(*cpu_, cr), 1e-6f, 1e-6f, what + " residual");
      }
    }
  }
}

// RmsNorm writing bf16 rows (Backend::ActivationDType): the float32 result rounded once, so
// within one bf16 rounding of the CPU's float32 output, on both kernel forms (whole rows of
// cols % 4 == 0 in registers; odd widths two-pass).
TEST_F(CudaOpsTest, RmsNormBf16Output) {
  EXPECT_EQ(gpu_->ActivationDType(DType::kBF16), DType::kBF16);
  EXPECT_EQ(gpu_->ActivationDType(DType::kF32), DType::kF32);
  for (int rows : {1, 5}) {
    for (int h : {131, 576, 4096, 8192}) {
      const auto x = RandomVector(rows * h, 12);
      const auto r = RandomVector(rows * h, 13);
      const auto w = RandomVector(h, 14, 0.5f);
      Tensor cr = Upload(*cpu_, DType::kF32, {rows, h}, r);
      Tensor cout = cpu_->Allocate(DType::kF32, {rows, h});
      cpu_->RmsNorm(Upload(*cpu_, DType::kF32, {rows, h}, x), &cr,
                    Upload(*cpu_, DType::kBF16, {h}, w), 1e-5f, cout);
      Tensor gr = Upload(*gpu_, DType::kF32, {rows, h}, r);
      Tensor gout = gpu_->Allocate(DType::kBF16, {rows, h});
      gpu_->RmsNorm(Upload(*gpu_, DType::kF32, {rows, h}, x), &gr,
                    Upload(*gpu_, DType::kBF16, {h}, w), 1e-5f, gout);
      const std::string what =
          "RmsNorm bf16 rows=" + std::to_string(rows) + " h=" + std::to_string(h);
      ExpectClose(Download(*gpu_, gout), Download(*cpu_, cout), 1e-3f, 8e-3f, what);
      ExpectClose(Download(*gpu_, gr), Download(*cpu_, cr), 1e-6f, 1e-6f, what + " residual");
    }
  }
}

TEST_F(CudaOpsTest, LinearAgainstCpu) {
  struct Shape {
    int m, n, k;
    bool bias;
  };
  for (const Shape s :
       {Shape{1, 256, 128, false}, Shape{7, 131, 67, true}, Shape{33, 512, 576, true},
        Shape{1, 1001, 172, false}, Shape{5, 300, 256, true}, Shape{8, 4096, 576, false}}) {
    for (DType dtype : {DType::kF32, DType::kBF16}) {
      const auto x = RandomVector(s.m * s.k, 5);
      const auto w = RandomVector(s.n * s.k, 6, 0.05f);
      const auto b = RandomVector(s.n, 7);
      Tensor cb = Upload(*cpu_, DType::kF32, {s.n}, b);
      Tensor cout = cpu_->Allocate(DType::kF32, {s.m, s.n});
      cpu_->Linear(Upload(*cpu_, DType::kF32, {s.m, s.k}, x), Upload(*cpu_, dtype, {s.n, s.k}, w),
                   s.bias ? &cb : nullptr, cout);
      Tensor gb = Upload(*gpu_, DType::kF32, {s.n}, b);
      auto g = AllocateGuarded(*gpu_, {s.m, s.n});
      Tensor gout = g.Out();
      gpu_->Linear(Upload(*gpu_, DType::kF32, {s.m, s.k}, x), Upload(*gpu_, dtype, {s.n, s.k}, w),
                   s.bias ? &gb : nullptr, gout);
      // bf16 weights: the GPU also rounds x to bf16 (the CPU keeps float32 x), ~2^-9 relative
      // per product, averaging out over k. float32: TF32 is not used, only summation order.
      const float tol = dtype == DType::kBF16 ? 2e-2f : 1e-4f;
      ExpectClose(DownloadGuarded(*gpu_, g), Download(*cpu_, cout), tol, tol,
                  "Linear m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) +
                      " k=" + std::to_string(s.k) + " " + ToString(dtype));
    }
  }
}

// A bf16 x (the attention output of a prompt step, Backend::AttentionOutDType) with bf16 weights
// goes to the GEMM as it is, at row counts of both paths a float32 x takes (skinny and
// cuBLASLt): equal to the CPU op on the same bf16 values widened to float32. Other weights throw.
TEST_F(CudaOpsTest, LinearBf16InputAgainstCpu) {
  struct Shape {
    int m, n, k;
    bool bias;
  };
  for (const Shape s :
       {Shape{1, 256, 128, false}, Shape{7, 131, 64, true}, Shape{3, 2200, 584, true},
        Shape{8, 4096, 576, false}, Shape{33, 512, 576, true}, Shape{300, 1024, 4096, false}}) {
    auto x = RandomVector(static_cast<size_t>(s.m) * s.k, 30);
    for (float& v : x) v = testing::Bf16ToFloat(testing::ToBf16Bits(v));
    const auto w = RandomVector(static_cast<size_t>(s.n) * s.k, 31, 0.05f);
    const auto b = RandomVector(s.n, 32);
    Tensor cb = Upload(*cpu_, DType::kF32, {s.n}, b);
    Tensor cout = cpu_->Allocate(DType::kF32, {s.m, s.n});
    cpu_->Linear(Upload(*cpu_, DType::kF32, {s.m, s.k}, x),
                 Upload(*cpu_, DType::kBF16, {s.n, s.k}, w), s.bias ? &cb : nullptr, cout);
    Tensor gb = Upload(*gpu_, DType::kF32, {s.n}, b);
    auto g = AllocateGuarded(*gpu_, {s.m, s.n});
    Tensor gout = g.Out();
    gpu_->Linear(Upload(*gpu_, DType::kBF16, {s.m, s.k}, x),
                 Upload(*gpu_, DType::kBF16, {s.n, s.k}, w), s.bias ? &gb : nullptr, gout);
    // Same products (x exact in bf16), float32 accumulation: only the summation order differs.
    ExpectClose(DownloadGuarded(*gpu_, g), Download(*cpu_, cout), 1e-3f, 1e-3f,
                "Linear bf16 x m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) +
                    " k=" + std::to_string(s.k));
  }
  Tensor x = gpu_->Allocate(DType::kBF16, {2, 64});
  Tensor out = gpu_->Allocate(DType::kF32, {2, 32});
  for (DType dtype : {DType::kF32, DType::kF16}) {
    Tensor w = gpu_->Allocate(dtype, {32, 64});
    try {
      gpu_->Linear(x, w, nullptr, out);
      ADD_FAILURE() << "bf16 x with " << ToString(dtype) << " weights did not throw";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUnsupported) << e.what();
    }
  }
}

// Decode-sized Linear (the skinny kernels, kernels/gemm_skinny.cu) at every row count class up
// to kSkinnyMaxRows and past it (cuBLASLt): odd n (partial 16- and 32-column tiles), k a
// multiple of 8 but not of 32 (a partial k chunk), 16-bit weights of both kinds, with a bias.
TEST_F(CudaOpsTest, LinearDecodeRowsAgainstCpu) {
  struct Shape {
    int n, k;
  };
  // Every block shape of the 16-bit kernel (LaunchForRows): few column tiles (16-warp blocks),
  // one tile per warp for every SM (2200 columns), two per warp for every SM (4250 columns).
  for (const Shape s :
       {Shape{131, 584}, Shape{1000, 256}, Shape{48, 1032}, Shape{2200, 264}, Shape{4250, 72}}) {
    for (int m : {1, 2, 3, 5, 8, 9, 13, 16, 17, 31, 33, 48, 64, 65}) {
      for (DType dtype : {DType::kBF16, DType::kF16, DType::kF32}) {
        const bool bias = m % 2 == 1;
        const auto x = RandomVector(static_cast<size_t>(m) * s.k, 20 + m);
        const auto w = RandomVector(static_cast<size_t>(s.n) * s.k, 21, 0.05f);
        const auto b = RandomVector(s.n, 22);
        Tensor cb = Upload(*cpu_, DType::kF32, {s.n}, b);
        Tensor cout = cpu_->Allocate(DType::kF32, {m, s.n});
        cpu_->Linear(Upload(*cpu_, DType::kF32, {m, s.k}, x), Upload(*cpu_, dtype, {s.n, s.k}, w),
                     bias ? &cb : nullptr, cout);
        Tensor gb = Upload(*gpu_, DType::kF32, {s.n}, b);
        auto g = AllocateGuarded(*gpu_, {m, s.n});
        Tensor gout = g.Out();
        gpu_->Linear(Upload(*gpu_, DType::kF32, {m, s.k}, x), Upload(*gpu_, dtype, {s.n, s.k}, w),
                     bias ? &gb : nullptr, gout);
        // 16-bit weights: x is rounded to the weight type (2^-9 relative for bf16, 2^-12 for
        // f16 per product); float32: only the summation order differs.
        const float tol = dtype == DType::kF32 ? 1e-4f : 2e-2f;
        ExpectClose(DownloadGuarded(*gpu_, g), Download(*cpu_, cout), tol, tol,
                    "Linear m=" + std::to_string(m) + " n=" + std::to_string(s.n) +
                        " k=" + std::to_string(s.k) + " " + ToString(dtype));
      }
    }
  }
}

TEST_F(CudaOpsTest, RotaryInPlace) {
  for (int d : {8, 64, 128}) {
    const int n = 5, hq = 6, hk = 2;
    const auto q = RandomVector(n * hq * d, 8);
    const auto k = RandomVector(n * hk * d, 9);
    std::vector<float> inv(d / 2);
    for (int i = 0; i < d / 2; ++i)
      inv[i] = std::pow(500000.f, -2.f * i / d) * (i % 3 == 0 ? 0.125f : 1.f);
    const std::vector<int32_t> pos = {0, 1, 17, 4095, 100000};
    Tensor cq = Upload(*cpu_, DType::kF32, {n, hq, d}, q),
           ck = Upload(*cpu_, DType::kF32, {n, hk, d}, k);
    cpu_->Rotary(cq, ck, UploadInts(*cpu_, {n}, pos), Upload(*cpu_, DType::kF32, {d / 2}, inv));
    Tensor gq = Upload(*gpu_, DType::kF32, {n, hq, d}, q),
           gk = Upload(*gpu_, DType::kF32, {n, hk, d}, k);
    gpu_->Rotary(gq, gk, UploadInts(*gpu_, {n}, pos), Upload(*gpu_, DType::kF32, {d / 2}, inv));
    // Angles up to 1e5 rad: float32 sincos argument reduction differs in the last bits.
    ExpectClose(Download(*gpu_, gq), Download(*cpu_, cq), 2e-4f, 1e-4f,
                "Rotary q d=" + std::to_string(d));
    ExpectClose(Download(*gpu_, gk), Download(*cpu_, ck), 2e-4f, 1e-4f,
                "Rotary k d=" + std::to_string(d));
  }
}

// The fused rotary + cache write against the CPU backend's two ops: q and k rotated in place,
// k and v rows at their slots (a negative slot skipped, its cache rows untouched), in float32
// and bf16 caches; GQA ratios 1, 4 and 8 and head sizes 64 and 128.
TEST_F(CudaOpsTest, RotaryWriteKvMatchesRotaryThenWriteKv) {
  auto bf16 = MakeCudaBackend({.device = DeviceKind::kCuda});
  ASSERT_EQ(bf16->KvDType(), DType::kBF16);
  const int blocks = 4, block_size = 16;
  for (int d : {64, 128}) {
    for (int group : {1, 4, 8}) {
      const int n = 6, hk = 2, hq = hk * group;
      const auto q = RandomVector(n * hq * d, 21), k = RandomVector(n * hk * d, 22),
                 v = RandomVector(n * hk * d, 23),
                 fill = RandomVector(blocks * block_size * hk * d, 24);
      std::vector<float> inv(d / 2);
      for (int i = 0; i < d / 2; ++i) inv[i] = std::pow(500000.f, -2.f * i / d);
      const std::vector<int32_t> pos = {0, 1, 17, 63, 4095, 70000};
      const std::vector<int32_t> slots = {5, 0, -1, 63, 17, 40};
      const std::vector<int64_t> cache_shape = {blocks, block_size, hk, d};
      auto run = [&](Backend& b, bool fused, std::vector<float>* out) {
        Tensor tq = Upload(b, DType::kF32, {n, hq, d}, q),
               tk = Upload(b, DType::kF32, {n, hk, d}, k),
               tv = Upload(b, DType::kF32, {n, hk, d}, v);
        Tensor kc = Upload(b, b.KvDType(), cache_shape, fill),
               vc = Upload(b, b.KvDType(), cache_shape, fill);
        Tensor tpos = UploadInts(b, {n}, pos), tinv = Upload(b, DType::kF32, {d / 2}, inv),
               tslots = UploadInts(b, {n}, slots);
        if (fused) {
          b.RotaryWriteKv(tq, tk, tv, tpos, tinv, tslots, kc, vc);
        } else {
          b.Rotary(tq, tk, tpos, tinv);
          b.WriteKv(tk, tv, tslots, kc, vc);
        }
        for (const Tensor* t : {&tq, &tk, &kc, &vc}) {
          const std::vector<float> part = Download(b, *t);
          out->insert(out->end(), part.begin(), part.end());
        }
      };
      std::vector<float> ref, got_f32, got_bf16;
      run(*cpu_, /*fused=*/false, &ref);
      run(*gpu_, /*fused=*/true, &got_f32);
      run(*bf16, /*fused=*/true, &got_bf16);
      const std::string what = " d=" + std::to_string(d) + " group=" + std::to_string(group);
      // Angles up to 7e4 rad: float32 sincos argument reduction differs in the last bits (as
      // RotaryInPlace); bf16 cache rows are rounded to 8 bits of mantissa.
      ExpectClose(got_f32, ref, 2e-4f, 1e-4f, "RotaryWriteKv f32 cache" + what);
      ExpectClose(got_bf16, ref, 8e-3f, 8e-3f, "RotaryWriteKv bf16 cache" + what);
    }
  }
}

// Float4 copies (widths of whole 16-byte groups: q|k|v) and the scalar path (odd widths).
TEST_F(CudaOpsTest, SplitColumnsAgainstCpu) {
  for (const std::vector<int64_t>& widths :
       std::vector<std::vector<int64_t>>{{512, 128, 128}, {7, 5, 3, 1}}) {
    const int64_t rows = 37;
    int64_t width = 0;
    for (int64_t w : widths) width += w;
    const auto x = RandomVector(static_cast<size_t>(rows * width), 12, 1.f);
    std::vector<Tensor> cpu_outs, gpu_outs;
    for (int64_t w : widths) {
      cpu_outs.push_back(cpu_->Allocate(DType::kF32, {rows, w}));
      gpu_outs.push_back(gpu_->Allocate(DType::kF32, {rows, w}));
    }
    std::vector<Tensor*> cpu_parts, gpu_parts;
    for (size_t i = 0; i < widths.size(); ++i) {
      cpu_parts.push_back(&cpu_outs[i]);
      gpu_parts.push_back(&gpu_outs[i]);
    }
    cpu_->SplitColumns(Upload(*cpu_, DType::kF32, {rows, width}, x), cpu_parts);
    gpu_->SplitColumns(Upload(*gpu_, DType::kF32, {rows, width}, x), gpu_parts);
    for (size_t i = 0; i < widths.size(); ++i) {
      ExpectClose(Download(*gpu_, gpu_outs[i]), Download(*cpu_, cpu_outs[i]), 0.f, 0.f,
                  "SplitColumns part " + std::to_string(i));
    }
  }
}

TEST_F(CudaOpsTest, SiluAndMul) {
  for (int n : {1, 7}) {
    const int inter = 173;
    const auto x = RandomVector(n * 2 * inter, 10, 3.f);
    Tensor cout = cpu_->Allocate(DType::kF32, {n, inter});
    cpu_->SiluAndMul(Upload(*cpu_, DType::kF32, {n, 2 * inter}, x), cout);
    auto g = AllocateGuarded(*gpu_, {n, inter});
    Tensor gout = g.Out();
    gpu_->SiluAndMul(Upload(*gpu_, DType::kF32, {n, 2 * inter}, x), gout);
    ExpectClose(DownloadGuarded(*gpu_, g), Download(*cpu_, cout), 1e-6f, 1e-5f, "SiluAndMul");
    // bf16 rows for a 16-bit GEMM: the same values, rounded once.
    Tensor gbf = gpu_->Allocate(DType::kBF16, {n, inter});
    gpu_->SiluAndMul(Upload(*gpu_, DType::kF32, {n, 2 * inter}, x), gbf);
    ExpectClose(Download(*gpu_, gbf), Download(*cpu_, cout), 1e-3f, 8e-3f, "SiluAndMul bf16");
    // bf16 gate|up rows (GateUpDType): the CPU op over the same rounded values.
    std::vector<float> rounded = x;
    for (float& v : rounded) v = testing::Bf16ToFloat(testing::ToBf16Bits(v));
    Tensor cref = cpu_->Allocate(DType::kF32, {n, inter});
    cpu_->SiluAndMul(Upload(*cpu_, DType::kF32, {n, 2 * inter}, rounded), cref);
    auto h = AllocateGuarded(*gpu_, {n, inter});
    Tensor hout = h.Out();
    gpu_->SiluAndMul(Upload(*gpu_, DType::kBF16, {n, 2 * inter}, x), hout);
    ExpectClose(DownloadGuarded(*gpu_, h), Download(*cpu_, cref), 1e-6f, 1e-5f,
                "SiluAndMul from bf16 rows");
  }
}

// The gate|up projection in GateUpDType at prefill sizes: cuBLASLt writes bf16 rows, equal to
// the CPU's float32 product rounded once; SiluAndMulLinear then reads them (unfused path).
TEST_F(CudaOpsTest, GateUpInBf16MatchesCpu) {
  const int m = 33, k = 256, inter = 192;
  ASSERT_EQ(gpu_->GateUpDType(DType::kBF16, m), DType::kBF16);
  ASSERT_EQ(gpu_->GateUpDType(DType::kBF16, kernels::kSkinnyGatedMaxRows), DType::kF32);
  ASSERT_EQ(gpu_->GateUpDType(DType::kF32, m), DType::kF32);
  const auto x = RandomVector(static_cast<size_t>(m) * k, 60, 1.f);
  const auto w = RandomVector(static_cast<size_t>(2 * inter) * k, 61, 0.1f);
  const auto down = RandomVector(static_cast<size_t>(k) * inter, 62, 0.1f);
  std::vector<float> xr = x;  // the CUDA Linear rounds x to the weight dtype (as cuBLASLt does)
  for (float& v : xr) v = testing::Bf16ToFloat(testing::ToBf16Bits(v));
  Tensor cgu = cpu_->Allocate(DType::kF32, {m, 2 * inter});
  cpu_->Linear(Upload(*cpu_, DType::kF32, {m, k}, xr),
               Upload(*cpu_, DType::kBF16, {2 * inter, k}, w), nullptr, cgu);
  Tensor ggu = gpu_->Allocate(DType::kBF16, {m, 2 * inter});
  gpu_->Linear(Upload(*gpu_, DType::kF32, {m, k}, x),
               Upload(*gpu_, DType::kBF16, {2 * inter, k}, w), nullptr, ggu);
  const std::vector<float> gate_up = Download(*gpu_, ggu);
  ExpectClose(gate_up, Download(*cpu_, cgu), 1e-2f, 8e-3f, "gate_up bf16 out");
  // The down projection over those rows, against the CPU's composition on the same values.
  Tensor cact = cpu_->Allocate(DType::kF32, {m, inter});
  cpu_->SiluAndMul(Upload(*cpu_, DType::kF32, {m, 2 * inter}, gate_up), cact);
  std::vector<float> act = Download(*cpu_, cact);
  for (float& v : act) v = testing::Bf16ToFloat(testing::ToBf16Bits(v));
  Tensor cout = cpu_->Allocate(DType::kF32, {m, k});
  cpu_->Linear(Upload(*cpu_, DType::kF32, {m, inter}, act),
               Upload(*cpu_, DType::kBF16, {k, inter}, down), nullptr, cout);
  Tensor gact = gpu_->Allocate(DType::kF32, {m, inter});
  Tensor gout = gpu_->Allocate(DType::kF32, {m, k});
  gpu_->SiluAndMulLinear(ggu, Upload(*gpu_, DType::kBF16, {k, inter}, down), gact, gout);
  ExpectClose(Download(*gpu_, gout), Download(*cpu_, cout), 2e-2f, 2e-2f,
              "SiluAndMulLinear over bf16 gate_up");
  // A bias cannot be added to 16-bit rows.
  Tensor bias = Upload(*gpu_, DType::kF32, {2 * inter}, std::vector<float>(2 * inter, 0.f));
  EXPECT_THROW(gpu_->Linear(Upload(*gpu_, DType::kF32, {m, k}, x),
                            Upload(*gpu_, DType::kBF16, {2 * inter, k}, w), &bias, ggu),
               Error);
}

// SiLU-and-mul fused into the down projection against the CPU's SiluAndMul then Linear: the
// fused skinny path (up to kSkinnyGatedMaxRows rows, 16-bit and float32 weights) and the
// unfused fallbacks (more rows; an intermediate size that is not a multiple of 8).
TEST_F(CudaOpsTest, SiluAndMulLinearMatchesComposition) {
  for (int inter : {584, 172}) {
    for (int m : {1, 3, 8, 9, 33}) {
      for (DType dtype : {DType::kBF16, DType::kF16, DType::kF32}) {
        const int n = m == 3 ? 2200 : 131;  // 8- and 16-warp blocks of the skinny kernel
        const auto gu = RandomVector(static_cast<size_t>(m) * 2 * inter, 40 + m, 2.f);
        const auto w = RandomVector(static_cast<size_t>(n) * inter, 41, 0.05f);
        Tensor cact = cpu_->Allocate(DType::kF32, {m, inter});
        Tensor cout = cpu_->Allocate(DType::kF32, {m, n});
        cpu_->SiluAndMul(Upload(*cpu_, DType::kF32, {m, 2 * inter}, gu), cact);
        // With 16-bit weights the CUDA Linear rounds its input to the weight type (as cuBLASLt
        // and HF do); the reference does the same, so only the summation order differs.
        std::vector<float> act = Download(*cpu_, cact);
        for (float& a : act) {
          if (dtype == DType::kBF16) a = testing::Bf16ToFloat(testing::ToBf16Bits(a));
          if (dtype == DType::kF16) a = model::F16ToF32(model::F32ToF16(a));
        }
        cpu_->Linear(Upload(*cpu_, DType::kF32, {m, inter}, act),
                     Upload(*cpu_, dtype, {n, inter}, w), nullptr, cout);
        Tensor gact = gpu_->Allocate(DType::kF32, {m, inter});
        auto g = AllocateGuarded(*gpu_, {m, n});
        Tensor gout = g.Out();
        gpu_->SiluAndMulLinear(Upload(*gpu_, DType::kF32, {m, 2 * inter}, gu),
                               Upload(*gpu_, dtype, {n, inter}, w), gact, gout);
        const float tol = dtype == DType::kF32 ? 1e-4f : 2e-2f;
        ExpectClose(DownloadGuarded(*gpu_, g), Download(*cpu_, cout), tol, tol,
                    "SiluAndMulLinear m=" + std::to_string(m) + " inter=" + std::to_string(inter) +
                        " " + ToString(dtype));
      }
    }
  }
}

// A batch of sequences in a shuffled paged cache: the prefix of each (cache hit or previous
// steps) and its new tokens are written with WriteKv, then attention runs on both backends.
struct PagedBatch {
  std::vector<int> cached;  // tokens already in the cache per sequence
  std::vector<int> fresh;   // new tokens per sequence
  int hq, hk, d, block_size = 16;
  int launch_len = 0;        // > the longest sequence: a graph's launch shape (wider block table)
  bool poison = false;       // fill the cache with NaN first: reading any unwritten slot shows
  bool bf16_inputs = false;  // q, k, v rounded to bf16 first (exact in a bf16 cache)
  DType out_dtype = DType::kF32;  // kBF16: as the CUDA backend writes it in a prompt step
};

enum class AttentionPath {
  kDecode,
  kPrefill,                   // the backend op as the model calls it (host lengths given)
  kPrefillDeviceLengthsOnly,  // the backend op without host lengths: never FlashInfer's
  kHopperDirect,              // kernels::HopperPrefill::Run itself, which must accept the shape
};

// FlashInfer's kernel on the queries/caches of `b` (a CUDA backend), bypassing the fallbacks.
void RunHopperDirect(Backend& b, kernels::HopperPrefill& hopper, kernels::PrefillAttentionParams p,
                     const std::vector<int32_t>& qstart, const std::vector<int32_t>& lens) {
  p.hopper = &hopper;
  p.host_query_starts = qstart.data();
  p.host_seq_lens = lens.data();
  p.workspace_bytes =
      hopper.WorkspaceBytes(qstart.back(), p.num_seqs, p.num_q_heads, p.head_dim, p.out_dtype);
  Tensor workspace = b.Allocate(DType::kI32, {static_cast<int64_t>((p.workspace_bytes + 3) / 4)});
  p.workspace = workspace.data();
  ASSERT_EQ(hopper.Run(p, static_cast<kernels::Stream>(b.NativeStream())), kernels::Status::kOk);
  b.Synchronize();
}

void RunAttention(Backend& b, const PagedBatch& pb, AttentionPath path, std::vector<float>* out) {
  const int seqs = static_cast<int>(pb.cached.size());
  int max_len = 0, max_q = 0, total_new = 0, total_blocks = 0;
  for (int s = 0; s < seqs; ++s) {
    const int len = pb.cached[s] + pb.fresh[s];
    max_len = std::max(max_len, len);
    max_q = std::max(max_q, pb.fresh[s]);
    total_new += pb.fresh[s];
    total_blocks += (len + pb.block_size - 1) / pb.block_size;
  }
  const int launch_len = std::max(max_len, pb.launch_len);
  const int max_blocks = (launch_len + pb.block_size - 1) / pb.block_size;
  const int num_blocks = total_blocks + 3;
  // Blocks handed out in a scrambled order, as an allocator would after churn.
  std::vector<int32_t> perm(num_blocks);
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937 rng(11);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<int32_t> tables(seqs * max_blocks, -1), qstart(seqs + 1, 0), lens(seqs);
  std::vector<int32_t> all_slots, new_slots, positions;
  int next = 0;
  for (int s = 0; s < seqs; ++s) {
    const int len = pb.cached[s] + pb.fresh[s];
    lens[s] = len;
    qstart[s + 1] = qstart[s] + pb.fresh[s];
    for (int i = 0; i < (len + pb.block_size - 1) / pb.block_size; ++i)
      tables[s * max_blocks + i] = perm[next++];
    for (int p = 0; p < len; ++p) {
      const int slot =
          tables[s * max_blocks + p / pb.block_size] * pb.block_size + p % pb.block_size;
      all_slots.push_back(slot);
      if (p >= pb.cached[s]) new_slots.push_back(slot);
    }
  }
  const int total = static_cast<int>(all_slots.size());
  auto k = RandomVector(static_cast<size_t>(total) * pb.hk * pb.d, 12);
  auto v = RandomVector(static_cast<size_t>(total) * pb.hk * pb.d, 13);
  auto q = RandomVector(static_cast<size_t>(total_new) * pb.hq * pb.d, 14);
  if (pb.bf16_inputs) {
    for (auto* values : {&k, &v, &q}) {
      for (float& x : *values) x = testing::Bf16ToFloat(testing::ToBf16Bits(x));
    }
  }
  const std::vector<int64_t> cache_shape = {num_blocks, pb.block_size, pb.hk, pb.d};
  const std::vector<float> fill(static_cast<size_t>(num_blocks) * pb.block_size * pb.hk * pb.d,
                                pb.poison ? std::nanf("") : 0.f);
  Tensor kc = Upload(b, b.KvDType(), cache_shape, fill);
  Tensor vc = Upload(b, b.KvDType(), cache_shape, fill);
  b.WriteKv(Upload(b, DType::kF32, {total, pb.hk, pb.d}, k),
            Upload(b, DType::kF32, {total, pb.hk, pb.d}, v), UploadInts(b, {total}, all_slots), kc,
            vc);
  AttentionBatch batch;
  batch.num_seqs = seqs;
  batch.num_tokens = total_new;
  batch.max_query_len = max_q;
  batch.max_seq_len = launch_len;
  batch.block_size = pb.block_size;
  batch.query_start = UploadInts(b, {seqs + 1}, qstart);
  batch.seq_lens = UploadInts(b, {seqs}, lens);
  batch.block_tables = UploadInts(b, {seqs, max_blocks}, tables);
  batch.slots = UploadInts(b, {total_new}, new_slots);
  if (path != AttentionPath::kPrefillDeviceLengthsOnly) {
    batch.host_query_start = qstart;
    batch.host_seq_lens = lens;
  }
  Tensor qt = Upload(b, DType::kF32, {total_new, pb.hq, pb.d}, q);
  Tensor o = b.Allocate(pb.out_dtype, {total_new, pb.hq, pb.d});
  const float scale = 1.f / std::sqrt(static_cast<float>(pb.d));
  if (path == AttentionPath::kDecode) {
    b.DecodeAttention(qt, kc, vc, batch, scale, o);
  } else if (path == AttentionPath::kHopperDirect) {
    auto hopper = kernels::HopperPrefill::Create(0);
    ASSERT_TRUE(hopper != nullptr);
    kernels::PrefillAttentionParams p;
    p.dtype = kernels::DType::kBFloat16;
    p.q = qt.data_as<float>();
    p.q_stride = p.out_stride = pb.hq * pb.d;
    p.k_cache = kc.data();
    p.v_cache = vc.data();
    p.block_tables = batch.block_tables.data_as<int32_t>();
    p.max_blocks_per_seq = max_blocks;
    p.query_starts = batch.query_start.data_as<int32_t>();
    p.seq_lens = batch.seq_lens.data_as<int32_t>();
    p.out = o.data();
    p.out_dtype =
        pb.out_dtype == DType::kBF16 ? kernels::DType::kBFloat16 : kernels::DType::kFloat32;
    p.num_seqs = seqs;
    p.max_query_len = max_q;
    p.num_q_heads = pb.hq;
    p.num_kv_heads = pb.hk;
    p.head_dim = pb.d;
    p.block_size = pb.block_size;
    p.scale = scale;
    RunHopperDirect(b, *hopper, p, qstart, lens);
  } else {
    b.PrefillAttention(qt, kc, vc, batch, scale, o);
  }
  *out = Download(b, o);
}

TEST_F(CudaOpsTest, DecodeAttentionSplitK) {
  for (int d : {8, 64, 128}) {
    // Lengths 1, a prime inside one partition, and 1000+ across four partitions (split-K).
    PagedBatch pb{{0, 256, 1022}, {1, 1, 1}, 8, 2, d};
    std::vector<float> ref, got;
    RunAttention(*cpu_, pb, AttentionPath::kDecode, &ref);
    RunAttention(*gpu_, pb, AttentionPath::kDecode, &got);
    ExpectClose(got, ref, 1e-5f, 1e-4f, "DecodeAttention d=" + std::to_string(d));
    // bf16 output rows (our kernel's unsplit store and its split-K merge): ~2^-9 relative.
    pb.out_dtype = DType::kBF16;
    RunAttention(*gpu_, pb, AttentionPath::kDecode, &got);
    ExpectClose(got, ref, 1e-2f, 1e-2f, "DecodeAttention bf16 out d=" + std::to_string(d));
  }
  PagedBatch mha{{4096}, {1}, 5, 5, 128};  // batch 1, long context, no GQA, odd head count
  std::vector<float> ref, got;
  RunAttention(*cpu_, mha, AttentionPath::kDecode, &ref);
  RunAttention(*gpu_, mha, AttentionPath::kDecode, &got);
  ExpectClose(got, ref, 1e-5f, 1e-4f, "DecodeAttention long");
}

// The decode kernel's launch plans (kernels/decode_attention.cu): few blocks split the context
// into partitions, many blocks (40 sequences x 8 kv heads) do not unless a context outgrows
// one block's shared memory (one sequence of 2501 tokens); each at GQA ratios 1, 4 and 8 and head
// sizes 64 and 128, odd lengths, a launch shape longer than every context (a CUDA graph), and a
// NaN-filled cache around the context.
TEST_F(CudaOpsTest, DecodeAttentionPlansAgainstCpu) {
  auto bf16 = MakeCudaBackend({.device = DeviceKind::kCuda});
  std::vector<int> many_cached(40), many_fresh(40, 1);
  for (int i = 0; i < 40; ++i) many_cached[i] = (i * 37) % 301;
  many_cached[7] = 2500;  // past one block's score buffer: split although the grid is full
  for (int d : {64, 128}) {
    for (int group : {1, 4, 8}) {
      const int hk = group == 1 ? 8 : 4;
      const int hq = hk * group;
      const std::vector<PagedBatch> batches = {
          {{0, 130, 1500}, {1, 1, 1}, hq, hk, d, 16, 1700, true},
          {many_cached, many_fresh, hq, 8, d, 16, 0, true},
          {{4999}, {1}, hq, hk, d, 16, 5100, true},
      };
      for (size_t i = 0; i < batches.size(); ++i) {
        PagedBatch pb = batches[i];
        pb.hq = pb.hk * group;
        const std::string what = "DecodeAttention case " + std::to_string(i) +
                                 " d=" + std::to_string(d) + " group=" + std::to_string(group);
        std::vector<float> ref, got, got_bf16;
        RunAttention(*cpu_, pb, AttentionPath::kDecode, &ref);
        RunAttention(*gpu_, pb, AttentionPath::kDecode, &got);
        ExpectClose(got, ref, 1e-5f, 1e-4f, what + " float32 cache");
        PagedBatch bf16_out = pb;  // our kernel's bf16 stores, split and unsplit
        bf16_out.out_dtype = DType::kBF16;
        RunAttention(*gpu_, bf16_out, AttentionPath::kDecode, &got);
        ExpectClose(got, ref, 1e-2f, 1e-2f, what + " float32 cache, bf16 out");
        RunAttention(*bf16, pb, AttentionPath::kDecode, &got_bf16);
        ExpectClose(got_bf16, ref, 2e-2f, 2e-2f, what + " bf16 cache");
      }
    }
  }
}

TEST_F(CudaOpsTest, PrefillAttentionVarlenWithCacheHits) {
  for (int d : {8, 64, 128}) {
    // A single token, a prime-length prompt after a 5-token cache hit, and a prompt longer than
    // one query tile after a two-block hit.
    PagedBatch pb{{0, 5, 32}, {1, 37, 131}, 6, 3, d};
    std::vector<float> ref, got;
    RunAttention(*cpu_, pb, AttentionPath::kPrefill, &ref);
    RunAttention(*gpu_, pb, AttentionPath::kPrefill, &got);
    ExpectClose(got, ref, 1e-5f, 1e-4f, "PrefillAttention d=" + std::to_string(d));
    pb.out_dtype = DType::kBF16;  // the SIMT kernel's bf16 store
    RunAttention(*gpu_, pb, AttentionPath::kPrefill, &got);
    ExpectClose(got, ref, 1e-2f, 1e-2f, "PrefillAttention bf16 out d=" + std::to_string(d));
  }
}

// The serving configuration: a bfloat16 cache (prefill on FlashInfer's kernel on sm_90 when
// built with it, on our tensor-core kernel without host lengths). Tolerances cover bf16 rounding
// of K, V (and of Q, the probabilities and the output in the tensor-core kernels): about 2^-8
// relative on outputs of magnitude ~1.
TEST_F(CudaOpsTest, AttentionWithBf16Cache) {
  auto bf16 = MakeCudaBackend({.device = DeviceKind::kCuda});
  ASSERT_EQ(bf16->KvDType(), DType::kBF16);
  for (int d : {64, 128}) {
    for (AttentionPath path : {AttentionPath::kDecode, AttentionPath::kPrefill,
                               AttentionPath::kPrefillDeviceLengthsOnly}) {
      // Float32 and bf16 output rows (bf16: FlashInfer's decode with bf16 split-KV partials on
      // sm_90, else ours; FlashInfer's prefill in place or our tensor-core kernel).
      for (DType out_dtype : {DType::kF32, DType::kBF16}) {
        const bool decode = path == AttentionPath::kDecode;
        PagedBatch pb = decode ? PagedBatch{{0, 300, 1100}, {1, 1, 1}, 32, 8, d}
                               : PagedBatch{{0, 5, 32, 0}, {1, 37, 131, 200}, 8, 2, d};
        pb.out_dtype = out_dtype;
        std::vector<float> ref, got;
        RunAttention(*cpu_, PagedBatch{pb.cached, pb.fresh, pb.hq, pb.hk, pb.d}, path, &ref);
        RunAttention(*bf16, pb, path, &got);
        ExpectClose(got, ref, 2e-2f, 2e-2f,
                    std::string(decode ? "Decode" : "Prefill") +
                        " bf16 cache d=" + std::to_string(d) + " path " +
                        std::to_string(static_cast<int>(path)) + " out " + ToString(out_dtype));
      }
    }
  }
}

// FlashInfer's Hopper prefill itself (kernels::HopperPrefill::Run must accept every shape):
// causal, prefix-cache hits (cache_len > 0), odd lengths, one token, chunks over several
// 128-row query tiles, GQA groups 1/4/8, head sizes 64/128. Inputs are rounded to bf16 first, so
// the reference differs only by the kernel's bf16 probabilities and output (~2^-9 relative).
TEST_F(CudaOpsTest, PrefillAttentionHopperAgainstCpu) {
  if (!kernels::HopperPrefill::Compiled()) GTEST_SKIP() << "built without FlashInfer";
  if (!kernels::HopperPrefill::Create(0)) GTEST_SKIP() << "device 0 is not sm_90";
  auto bf16 = MakeCudaBackend({.device = DeviceKind::kCuda});
  for (int d : {64, 128}) {
    for (int group : {1, 4, 8}) {
      PagedBatch pb{{0, 5, 32, 0, 300}, {1, 37, 131, 200, 257}, 2 * group, 2, d};
      pb.bf16_inputs = true;
      std::vector<float> ref, direct, op;
      RunAttention(*cpu_, pb, AttentionPath::kPrefill, &ref);
      RunAttention(*bf16, pb, AttentionPath::kHopperDirect, &direct);
      RunAttention(*bf16, pb, AttentionPath::kPrefill, &op);
      const std::string what = " d=" + std::to_string(d) + " group=" + std::to_string(group);
      ExpectClose(direct, ref, 1e-2f, 1e-2f, "HopperPrefill" + what);
      ExpectClose(op, ref, 1e-2f, 1e-2f, "PrefillAttention (backend)" + what);
      // bf16 outputs written by the kernel in place: the same bf16 values as the staged path.
      PagedBatch in_place = pb;
      in_place.out_dtype = DType::kBF16;
      std::vector<float> direct_bf16, op_bf16;
      RunAttention(*bf16, in_place, AttentionPath::kHopperDirect, &direct_bf16);
      RunAttention(*bf16, in_place, AttentionPath::kPrefill, &op_bf16);
      ExpectClose(direct_bf16, direct, 0.f, 0.f, "HopperPrefill bf16 out vs staged" + what);
      ExpectClose(op_bf16, ref, 1e-2f, 1e-2f, "PrefillAttention (backend) bf16 out" + what);
    }
  }
}

TEST_F(CudaOpsTest, TokenLogprobs) {
  const int rows = 3, vocab = 50257;
  const auto logits = RandomVector(rows * vocab, 15, 3.f);
  const std::vector<int32_t> targets = {0, 50256, 12345};
  const auto ref = cpu_->TokenLogprobs(Upload(*cpu_, DType::kF32, {rows, vocab}, logits), targets);
  const auto got = gpu_->TokenLogprobs(Upload(*gpu_, DType::kF32, {rows, vocab}, logits), targets);
  ExpectClose(got, ref, 1e-4f, 1e-5f, "TokenLogprobs");
}

}  // namespace
}  // namespace tg::backend
