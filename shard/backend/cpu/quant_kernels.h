// Linear on weights kept in GGML's block formats (Q8_0, Q4_0, Q4_1, as a GGUF file stores them),
// against activations quantized to int8 per block of 32 at the start of each Linear.
//
// Every weight block of 32 is read as unsigned codes u with a scale d and an offset m:
//   Q8_0: w = d * q            (q int8)        -> u = q + 128, m = -128 d
//   Q4_0: w = d * (n - 8)      (n a nibble)    -> u = n,       m = -8 d
//   Q4_1: w = d * n + m        (n a nibble)    -> u = n,       m as stored
// and an activation block as x ≈ s * q (q int8, s = max|x| / 127, qsum = Σq). So one block's dot is
//   Σ w x ≈ d s Σ u q + m s qsum,
// integers multiplied exactly; for Q8_0/Q4_0 the offset is folded into the integer sum
// (Σ u q - 128 qsum, resp. - 8 qsum). The SIMD kernel (AVX-512 VNNI: vpdpbusd multiplies unsigned
// by signed bytes) computes exactly this formula; only the float summation order differs from
// the scalar reference, which the unit tests compare it with.
#pragma once

#include <cstdint>

#include "shard/backend/tensor.h"

namespace tg::backend::cpu {

inline constexpr int64_t kQuantBlock = 32;
// Activation rows per weight-row pass: 8 concurrent decodes unpack each weight block once (the
// accumulators of 8 rows still fit the 32 vector registers).
inline constexpr int kMaxQuantDotRows = 8;

// Where the codes of a pair of activation blocks (2p, 2p + 1) sit, so that one 64-byte load lines
// up with how the weight codes of two blocks unpack into a 512-bit register:
//   kNatural:     A0..31, B0..31 (Q8_0: two 32-byte loads)
//   kNibbleHalves: A0..15, B0..15, A16..31, B16..31 (Q4_0/Q4_1: the low nibbles of A and B, then
//                 the high ones)
// A last unpaired block (odd block count) is always in natural order.
enum class CodeOrder { kNatural, kNibbleHalves };
CodeOrder CodeOrderFor(DType weight_dtype);

// Activation rows quantized per block: for row r and block b of a row of k elements (nb = k/32),
// x[r * k + b * 32 + i] ≈ scale[r * nb + b] * q[r * k + CodePosition(order, nb, b, i)],
// qsum[r * nb + b] = Σ_i q.
struct QuantizedActivations {
  const int8_t* q;
  const float* scale;
  const int32_t* qsum;
  int64_t k;  // elements per row, a multiple of kQuantBlock
  CodeOrder order;
};
// Offset within a row of the code of element i of block b.
int64_t CodePosition(CodeOrder order, int64_t blocks, int64_t b, int i);

// Quantizes `rows` rows of k floats (k a multiple of kQuantBlock) into q / scale / qsum
// (round to nearest, max |x| maps to ±127), codes in `order`.
void QuantizeActivations(const float* x, int64_t rows, int64_t k, CodeOrder order, int8_t* q,
                         float* scale, int32_t* qsum);

// out[r] = Σ_blocks of weight row `w` (k elements in `dtype` blocks) · activation row
// `first_row + r`, for r < rows (1..kMaxQuantDotRows).
using QuantDotRowsFn = void (*)(const void* w, const QuantizedActivations& x, int64_t first_row,
                                int rows, float* out);

// The SIMD kernel for `dtype` on this CPU, or nullptr when there is none (no AVX-512 VNNI, or
// not a block dtype): the caller then computes on dequantized weights instead.
QuantDotRowsFn SelectQuantDotRows(DType dtype);
// The plain C++ reference of the same formula (any CPU).
QuantDotRowsFn QuantDotRowsReference(DType dtype);

// Element `index` of a block-quantized tensor as float (d u + m), for gathers such as Embedding.
float LoadQuantized(const void* base, DType dtype, int64_t index);

}  // namespace tg::backend::cpu
