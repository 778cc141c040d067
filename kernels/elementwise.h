// Token-wise kernels of a transformer layer: embedding lookup, (fused residual-add +) RMSNorm,
// rotary position embeddings and SiLU-and-mul. Activations are float32 (the backend contract,
// shard/backend/backend.h), except the rows RmsNorm and SiluAndMul write for a 16-bit GEMM
// (`out_dtype`, Backend::ActivationDType); `dtype` is the type of the weights (embedding table,
// norm weight).
#pragma once

#include "kernels/common.h"

namespace tg::kernels {

// out[t, :] = table[ids[t] - vocab_start, :] for ids inside [vocab_start, vocab_start +
// vocab_size), zeros otherwise (the vocab-parallel slice of a tensor-parallel rank).
struct EmbeddingParams {
  DType dtype = DType::kBFloat16;
  const int32_t* token_ids = nullptr;  // [num_tokens]
  const void* table = nullptr;         // [vocab_size, hidden] in dtype
  float* out = nullptr;                // [num_tokens, hidden]
  int num_tokens = 0;
  int hidden = 0;
  int vocab_start = 0;
  int vocab_size = 0;
};
Status Embedding(const EmbeddingParams& p, Stream stream);

// RMSNorm over rows of `cols` elements, optionally fused with the residual add:
//   if residual: residual = input + residual; x = residual; else x = input
//   out = (x * rsqrt(mean(x^2) + eps)) * weight             (float32, in that order)
// then rounded to out_dtype: float32, or 16-bit when the next op is a 16-bit GEMM that reads it
// as it is (one rounding, the one the GEMM's input conversion would have made).
// Rows may be heads inside a token (Qwen3 q/k norm): row r is token r / heads_per_token, head
// r % heads_per_token, found at token * stride + head * cols. `out` may alias `input`.
struct RmsNormParams {
  DType dtype = DType::kBFloat16;
  const float* input = nullptr;
  float* residual = nullptr;     // optional, same layout as input (residual_stride)
  const void* weight = nullptr;  // [cols] in dtype
  void* out = nullptr;
  DType out_dtype = DType::kFloat32;
  int num_tokens = 0;
  int heads_per_token = 1;
  int cols = 0;
  int input_stride = 0;  // elements between tokens; 0 = heads_per_token * cols
  int residual_stride = 0;
  int out_stride = 0;
  float eps = 1e-6f;
};
Status RmsNorm(const RmsNormParams& p, Stream stream);

// out[t, i] = silu(in[t, i]) * in[t, inter + i] for in = [num_tokens, 2 * inter] (gate | up,
// float32 or the 16-bit rows a GEMM wrote), computed in float32 and written in out_dtype
// (16-bit for the GEMM that reads it next).
struct SiluAndMulParams {
  const void* input = nullptr;
  DType input_dtype = DType::kFloat32;
  void* out = nullptr;
  DType out_dtype = DType::kFloat32;
  int num_tokens = 0;
  int inter = 0;
};
Status SiluAndMul(const SiluAndMulParams& p, Stream stream);

// Column ranges of the rows of `input` [num_rows, sum of widths] copied into contiguous
// tensors: out[part] is [num_rows, widths[part]] (a fused q|k|v projection into q, k and v).
struct SplitColumnsParams {
  static constexpr int kMaxParts = 4;
  const float* input = nullptr;
  float* outs[kMaxParts] = {};
  int widths[kMaxParts] = {};
  int num_parts = 0;
  int num_rows = 0;
};
Status SplitColumns(const SplitColumnsParams& p, Stream stream);

// Rotary embeddings applied in place to q and k (angles positions[t] * inv_freq[i], computed in
// float32). neox_style rotates halves (HF Llama's rotate_half); otherwise adjacent pairs.
struct RotaryParams {
  float* q = nullptr;  // token t, head h at q + t * q_stride + h * head_dim
  float* k = nullptr;
  const int32_t* positions = nullptr;  // [num_tokens]
  const float* inv_freq = nullptr;     // device, [rotary_dim / 2]
  int num_tokens = 0;
  int num_q_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int rotary_dim = 0;  // <= head_dim, even
  int q_stride = 0;
  int k_stride = 0;
  bool neox_style = true;
};
Status Rotary(const RotaryParams& p, Stream stream);

// out[i] = dtype(in[i]): float32 activations to the GEMM input type.
struct ConvertParams {
  DType dtype = DType::kBFloat16;
  const float* input = nullptr;
  void* out = nullptr;
  size_t count = 0;
};
Status ConvertFromFloat(const ConvertParams& p, Stream stream);

}  // namespace tg::kernels
