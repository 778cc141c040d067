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

// Decode-sized GEMMs (m <= kSkinnyMaxRows) straight from float32 activations: weights read once
// with 16-byte loads (k a multiple of 8 elements, 16-byte aligned pointers).
constexpr int kSkinnyMaxRows = 8;
struct SkinnyGemmParams {
  DType dtype = DType::kBFloat16;  // of w
  const float* x = nullptr;        // [m, k]
  const void* w = nullptr;         // [n, k]
  const float* bias = nullptr;     // optional [n]
  float* y = nullptr;              // [m, n]
  int m = 0;
  int n = 0;
  int k = 0;
  bool accumulate = false;
};
bool SkinnyGemmApplies(const SkinnyGemmParams& p);
Status SkinnyGemm(const SkinnyGemmParams& p, Stream stream);

}  // namespace tg::kernels
