// Dense GEMMs through cuBLASLt: y[m, n] = x[m, k] · w[n, k]^T (+ bias[n]) (+ y if accumulate),
// all row-major, float32 accumulation. x and w share `dtype`; y is `out_dtype` (the same, or
// float32 for logits). The context owns the cuBLASLt handle and caches one algorithm per shape,
// so a decode step pays for the heuristic query only once; workspace memory is the caller's.
#pragma once

#include <memory>

#include "kernels/common.h"

namespace tg::kernels {

struct GemmParams {
  DType dtype = DType::kBFloat16;
  DType out_dtype = DType::kBFloat16;
  const void* x = nullptr;     // [m, k]
  const void* w = nullptr;     // [n, k]
  const void* bias = nullptr;  // optional [n] in out_dtype
  void* y = nullptr;           // [m, n]
  int m = 0;
  int n = 0;
  int k = 0;
  bool accumulate = false;  // y += x · w^T (the residual add of a row-parallel layer)
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

// Workspace the caller should give every Gemm call (cuBLASLt's recommendation for Hopper).
constexpr size_t kGemmWorkspaceBytes = 32u << 20;

class GemmContext {
 public:
  // Returns null if cuBLASLt cannot be initialised (no device).
  static std::unique_ptr<GemmContext> Create();
  ~GemmContext();
  GemmContext(const GemmContext&) = delete;
  GemmContext& operator=(const GemmContext&) = delete;

  Status Run(const GemmParams& p, Stream stream);

 private:
  struct Impl;
  explicit GemmContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The fallback for shapes cuBLASLt has no algorithm for (float32 output only, any dtype): a
// tiled SIMT kernel, correct but far slower.
Status SimpleGemm(const GemmParams& p, Stream stream);

// y[m, n] += bias[n] (float32): the bias of a Linear, kept out of cuBLASLt's epilogue.
Status AddBias(float* y, const float* bias, int m, int n, Stream stream);

// Decode-sized GEMMs straight from float32 activations, reading every weight once with 16-byte
// loads (k a multiple of 8 elements, 16-byte aligned x and w); kernels/gemm_skinny.cu.
//  - bfloat16/float16 weights, m <= kSkinnyMaxRows: tensor cores (mma.sync); x is rounded to the
//    weight dtype on the fly (as cuBLASLt's path does), accumulation in float32. The cost is
//    nearly flat in m: each weight tile is applied to all m rows at once.
//  - float32 weights, m <= kSkinnyFloatMaxRows: CUDA cores, float32 throughout (the exact
//    configuration the CPU comparisons use).
// Linear uses it where it applies and SkinnyGemmPreferred says it wins; otherwise cuBLASLt.
constexpr int kSkinnyMaxRows = 64;
constexpr int kSkinnyFloatMaxRows = 8;
// Every block recomputes SiLU over the whole input, so the fused activation only pays off
// while the input is a few rows (the caller runs SiluAndMul + GEMM above).
constexpr int kSkinnyGatedMaxRows = 8;
struct SkinnyGemmParams {
  DType dtype = DType::kBFloat16;  // of w
  const void* x = nullptr;         // [m, k], or [m, 2k] (gate | up) with silu_gated_input
  // float32, or the weight's 16-bit dtype (a norm or activation that wrote the GEMM's input
  // type directly; not with silu_gated_input): then x is read as the mma operand as it is.
  DType x_dtype = DType::kFloat32;
  const void* w = nullptr;      // [n, k]
  const float* bias = nullptr;  // optional [n]
  float* y = nullptr;           // [m, n]
  int m = 0;
  int n = 0;
  int k = 0;
  bool accumulate = false;
  // The input row is silu(x[:, :k]) * x[:, k:] (SiluAndMul fused into the down projection).
  bool silu_gated_input = false;
};
bool SkinnyGemmApplies(const SkinnyGemmParams& p);
// Whether the skinny kernel should serve a Linear it applies to. Measured on an H200
// (2026-12-03, cuda_bench "linear" lines, Llama-3-8B shapes, back-to-back launches). Since the
// skinny kernel is a programmatic dependent (kernels/dependent_launch.cuh) that issues its first
// weight loads before waiting for x, it beats cuBLASLt on short weights (k <= 4096) up to the
// fused q|k|v width at up to 8 rows: q|k|v (n = 6144) 0.74-0.90 of copy against cuBLASLt's
// 0.71-0.74, q/o 0.70-0.99 against 0.76-0.81, k/v 0.47-0.56 against 0.21. Without PDL it lost
// q|k|v at 2-8 rows (0.65-0.70). cuBLASLt keeps the wide gate_up (0.94 against 0.87) and
// lm_head, and every shape from 12 rows on. The long down projection (k = 14336) is cuBLASLt's
// too: one block per 16 outputs re-reads x (and recomputes SiLU) for every tile, and an ncu
// profile of the batch-1 step timed ours at 62 us (1.9 TB/s) against 61 us for the twice-larger
// gate_up on cuBLASLt. Float32 weights keep the exact float32 kernel.
constexpr int kSkinnyPreferredMaxRows = 8;
constexpr int kSkinnyPreferredMaxOutputs = 6144;
constexpr int kSkinnyPreferredMaxOutputsWithoutPdl = 4096;
constexpr int kSkinnyPreferredMaxDepth = 4096;
inline bool SkinnyGemmPreferred(const SkinnyGemmParams& p) {
  if (p.dtype == DType::kFloat32) return true;
  const int max_outputs =
      DependentLaunchEnabled() ? kSkinnyPreferredMaxOutputs : kSkinnyPreferredMaxOutputsWithoutPdl;
  return p.m <= kSkinnyPreferredMaxRows && p.n <= max_outputs && p.k <= kSkinnyPreferredMaxDepth;
}
Status SkinnyGemm(const SkinnyGemmParams& p, Stream stream);

}  // namespace tg::kernels
