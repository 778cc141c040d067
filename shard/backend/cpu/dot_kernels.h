// The inner loops of the CPU backend's Linear: dot products of float32 activations with one
// weight row stored as float32, bfloat16 or float16, accumulated in float32.
//
// One kernel computes the dots of up to kMaxDotRows activation rows against the same weight row,
// so each weight row is read from memory once per group of tokens. Each activation row has its
// own accumulators, updated in the same order whatever the group size, so a token's result is
// bit-identical alone or batched (the batch-invariance the engine tests rely on).
// Variants for AVX-512, AVX2+FMA+F16C and plain C++ are chosen once at run time.
#pragma once

#include <cstdint>

#include "shard/backend/tensor.h"

namespace tg::backend::cpu {

inline constexpr int kMaxDotRows = 4;

// out[r] = sum_i x[r * x_stride + i] * w[i] for r < rows (1..kMaxDotRows), i < k.
using DotRowsFn = void (*)(const void* w, const float* x, int64_t x_stride, int rows, int64_t k,
                           float* out);

// The best kernel this CPU runs for weights of `dtype` (kF32, kBF16 or kF16).
DotRowsFn SelectDotRows(DType dtype);
// "avx512", "avx2" or "scalar".
const char* DotKernelIsa();

// Scalar conversions.
float Bf16ToFloat(uint16_t bits);
float HalfToFloat(uint16_t bits);
// Element `index` of a tensor of any float or block dtype.
float LoadAsFloat(const void* base, DType dtype, int64_t index);

}  // namespace tg::backend::cpu
