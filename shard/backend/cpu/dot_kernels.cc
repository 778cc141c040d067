#include "shard/backend/cpu/dot_kernels.h"

// GCC 12 reports its own AVX-512 intrinsics (_mm512_cvtepu16_epi32, _mm512_reduce_add_ps) as
// reading uninitialised values: they start from _mm512_undefined_*(), which is intended.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstring>

#include "common/error.h"
#include "shard/backend/cpu/quant_kernels.h"
#include "shard/backend/cpu/row_blocking.h"

namespace tg::backend::cpu {

float Bf16ToFloat(uint16_t bits) {
  const uint32_t word = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &word, sizeof(value));
  return value;
}

float HalfToFloat(uint16_t bits) {
  const uint32_t sign = (bits & 0x8000u) << 16;
  uint32_t exponent = (bits >> 10) & 0x1f;
  uint32_t mantissa = bits & 0x3ff;
  uint32_t word;
  if (exponent == 0x1f) {
    word = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {
    word = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    word = sign;
  } else {  // subnormal: normalise
    exponent = 113;
    while ((mantissa & 0x400) == 0) {
      mantissa <<= 1;
      --exponent;
    }
    word = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
  }
  float value;
  std::memcpy(&value, &word, sizeof(value));
  return value;
}

float LoadAsFloat(const void* base, DType dtype, int64_t index) {
  switch (dtype) {
    case DType::kF32:
      return static_cast<const float*>(base)[index];
    case DType::kBF16:
      return Bf16ToFloat(static_cast<const uint16_t*>(base)[index]);
    case DType::kF16:
      return HalfToFloat(static_cast<const uint16_t*>(base)[index]);
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1:
      return LoadQuantized(base, dtype, index);
    case DType::kI32:
      break;
  }
  throw Error(ErrorKind::kUnsupported, "int32 is not a float dtype");
}

namespace {

// ---- Scalar ----
template <DType kW>
void DotRowsScalar(const void* w, const float* x, int64_t x_stride, int rows, int64_t k,
                   float* out) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + r * x_stride;
    float acc = 0.0f;
    for (int64_t i = 0; i < k; ++i) acc += LoadAsFloat(w, kW, i) * xr[i];
    out[r] = acc;
  }
}

// ---- AVX-512 ----
template <DType kW>
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline __m512 Load16Avx512(const void* w,
                                                                                int64_t i,
                                                                                __mmask16 mask) {
  if constexpr (kW == DType::kF32) {
    return _mm512_maskz_loadu_ps(mask, static_cast<const float*>(w) + i);
  } else if constexpr (kW == DType::kBF16) {
    const __m256i bits = _mm256_maskz_loadu_epi16(mask, static_cast<const uint16_t*>(w) + i);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
  } else {
    const __m256i bits = _mm256_maskz_loadu_epi16(mask, static_cast<const uint16_t*>(w) + i);
    return _mm512_cvtph_ps(bits);
  }
}

template <DType kW, int kRows>
__attribute__((target("avx512f,avx512bw,avx512vl"))) void DotRowsAvx512Fixed(
    const void* w, const float* x, int64_t x_stride, int64_t k, float* out) {
  // Two accumulators per row (32 elements per step) hide the FMA latency.
  __m512 acc0[kRows], acc1[kRows];
  for (int r = 0; r < kRows; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= k; i += 32) {
    const __m512 w0 = Load16Avx512<kW>(w, i, 0xffff);
    const __m512 w1 = Load16Avx512<kW>(w, i + 16, 0xffff);
    for (int r = 0; r < kRows; ++r) {
      acc0[r] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + r * x_stride + i), acc0[r]);
      acc1[r] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + r * x_stride + i + 16), acc1[r]);
    }
  }
  for (; i < k; i += 16) {
    const int64_t left = k - i;
    const __mmask16 mask = left >= 16 ? 0xffff : static_cast<__mmask16>((1u << left) - 1);
    const __m512 w0 = Load16Avx512<kW>(w, i, mask);
    for (int r = 0; r < kRows; ++r) {
      acc0[r] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(mask, x + r * x_stride + i), acc0[r]);
    }
  }
  for (int r = 0; r < kRows; ++r) out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[r], acc1[r]));
}

template <DType kW>
void DotRowsAvx512(const void* w, const float* x, int64_t x_stride, int rows, int64_t k,
                   float* out) {
  DispatchRows<kMaxDotRows>(
      rows, [&]<int kRows>() { DotRowsAvx512Fixed<kW, kRows>(w, x, x_stride, k, out); });
}

// ---- AVX2 + FMA + F16C ----
template <DType kW>
__attribute__((target("avx2,fma,f16c"))) inline __m256 Load8Avx2(const void* w, int64_t i) {
  if constexpr (kW == DType::kF32) {
    return _mm256_loadu_ps(static_cast<const float*>(w) + i);
  } else if constexpr (kW == DType::kBF16) {
    const __m128i bits =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
  } else {
    const __m128i bits =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i));
    return _mm256_cvtph_ps(bits);
  }
}

__attribute__((target("avx2,fma,f16c"))) inline float HorizontalSum(__m256 v) {
  const __m128 sum4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 sum2 = _mm_add_ps(sum4, _mm_movehl_ps(sum4, sum4));
  return _mm_cvtss_f32(_mm_add_ss(sum2, _mm_movehdup_ps(sum2)));
}

template <DType kW, int kRows>
__attribute__((target("avx2,fma,f16c"))) void DotRowsAvx2Fixed(const void* w, const float* x,
                                                               int64_t x_stride, int64_t k,
                                                               float* out) {
  __m256 acc0[kRows], acc1[kRows];
  for (int r = 0; r < kRows; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    const __m256 w0 = Load8Avx2<kW>(w, i);
    const __m256 w1 = Load8Avx2<kW>(w, i + 8);
    for (int r = 0; r < kRows; ++r) {
      acc0[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + r * x_stride + i), acc0[r]);
      acc1[r] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + r * x_stride + i + 8), acc1[r]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    float acc = HorizontalSum(_mm256_add_ps(acc0[r], acc1[r]));
    for (int64_t j = i; j < k; ++j) acc += LoadAsFloat(w, kW, j) * x[r * x_stride + j];
    out[r] = acc;
  }
}

template <DType kW>
void DotRowsAvx2(const void* w, const float* x, int64_t x_stride, int rows, int64_t k, float* out) {
  DispatchRows<kMaxDotRows>(
      rows, [&]<int kRows>() { DotRowsAvx2Fixed<kW, kRows>(w, x, x_stride, k, out); });
}

enum class Isa { kAvx512, kAvx2, kScalar };

Isa DetectIsa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl")) {
    return Isa::kAvx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c")) {
    return Isa::kAvx2;
  }
  return Isa::kScalar;
}

const Isa kIsa = DetectIsa();

template <DType kW>
DotRowsFn Select() {
  switch (kIsa) {
    case Isa::kAvx512:
      return &DotRowsAvx512<kW>;
    case Isa::kAvx2:
      return &DotRowsAvx2<kW>;
    case Isa::kScalar:
      break;
  }
  return &DotRowsScalar<kW>;
}

}  // namespace

DotRowsFn SelectDotRows(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return Select<DType::kF32>();
    case DType::kBF16:
      return Select<DType::kBF16>();
    case DType::kF16:
      return Select<DType::kF16>();
    case DType::kI32:
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1:
      break;
  }
  throw Error(ErrorKind::kUnsupported, "Linear weights must be float32, bfloat16 or float16");
}

const char* DotKernelIsa() {
  switch (kIsa) {
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kScalar:
      break;
  }
  return "scalar";
}

}  // namespace tg::backend::cpu
