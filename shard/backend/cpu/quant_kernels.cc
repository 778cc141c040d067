#include "shard/backend/cpu/quant_kernels.h"

// GCC 12 reports its own AVX-512 intrinsics as reading uninitialised values (they start from
// _mm*_undefined_*()), which is intended.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "common/error.h"
#include "shard/backend/cpu/dot_kernels.h"
#include "shard/backend/cpu/row_blocking.h"

namespace tg::backend::cpu {
namespace {

uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Where the fields of one block sit, and the integer offset folded into Σ u q (0: offset m
// stored as a float, Q4_1).
template <DType kW>
struct BlockFormat;
template <>
struct BlockFormat<DType::kQ8_0> {
  static constexpr int kBytes = 34, kQs = 2, kIntOffset = -128;
};
template <>
struct BlockFormat<DType::kQ4_0> {
  static constexpr int kBytes = 18, kQs = 2, kIntOffset = -8;
};
template <>
struct BlockFormat<DType::kQ4_1> {
  static constexpr int kBytes = 20, kQs = 4, kIntOffset = 0;
};

// Unsigned code of element i (0..31) of a block.
template <DType kW>
int Code(const uint8_t* block, int i) {
  const uint8_t* qs = block + BlockFormat<kW>::kQs;
  if constexpr (kW == DType::kQ8_0) {
    return static_cast<int>(static_cast<int8_t>(qs[i])) + 128;
  } else {
    return i < 16 ? (qs[i] & 0xf) : (qs[i - 16] >> 4);
  }
}

template <DType kW>
float BlockScale(const uint8_t* block) {
  return HalfToFloat(LoadU16(block));
}

// The float offset m of a block (Q8_0 and Q4_0: -128 d and -8 d).
template <DType kW>
float BlockOffset(const uint8_t* block) {
  if constexpr (kW == DType::kQ4_1) {
    return HalfToFloat(LoadU16(block + 2));
  } else {
    return static_cast<float>(BlockFormat<kW>::kIntOffset) * BlockScale<kW>(block);
  }
}

// ---- Reference ----
template <DType kW>
void QuantDotRowsScalar(const void* w, const QuantizedActivations& x, int64_t first_row, int rows,
                        float* out) {
  const auto* blocks = static_cast<const uint8_t*>(w);
  const int64_t nb = x.k / kQuantBlock;
  for (int r = 0; r < rows; ++r) {
    const int64_t row = first_row + r;
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* block = blocks + b * BlockFormat<kW>::kBytes;
      const int8_t* q = x.q + row * x.k;
      const float s = x.scale[row * nb + b];
      const int32_t qsum = x.qsum[row * nb + b];
      int32_t isum = BlockFormat<kW>::kIntOffset * qsum;
      for (int i = 0; i < kQuantBlock; ++i) {
        isum += Code<kW>(block, i) * q[CodePosition(x.order, nb, b, i)];
      }
      const float d = BlockScale<kW>(block);
      acc += d * s * static_cast<float>(isum);
      if constexpr (kW == DType::kQ4_1) {
        acc += BlockOffset<kW>(block) * (s * static_cast<float>(qsum));
      }
    }
    out[r] = acc;
  }
}

// ---- AVX-512 VNNI (on 256-bit vectors: one block of 32 codes per register) ----
#define TG_VNNI_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

template <DType kW>
TG_VNNI_TARGET inline __m256i LoadCodes(const uint8_t* block) {
  const uint8_t* qs = block + BlockFormat<kW>::kQs;
  if constexpr (kW == DType::kQ8_0) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs));
    return _mm256_xor_si256(q, _mm256_set1_epi8(static_cast<char>(0x80)));
  } else {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    const __m128i low_mask = _mm_set1_epi8(0x0f);
    const __m128i low = _mm_and_si128(packed, low_mask);
    const __m128i high = _mm_and_si128(_mm_srli_epi16(packed, 4), low_mask);
    return _mm256_set_m128i(high, low);
  }
}

TG_VNNI_TARGET inline float HalfToFloatF16c(const uint8_t* p) { return _cvtsh_ss(LoadU16(p)); }

TG_VNNI_TARGET inline float SumLanes(__m256 v) {
  const __m128 sum4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 sum2 = _mm_add_ps(sum4, _mm_movehl_ps(sum4, sum4));
  return _mm_cvtss_f32(_mm_add_ss(sum2, _mm_movehdup_ps(sum2)));
}

// The codes of blocks A = `block` and B (the next one) in one register, in the order
// CodeOrderFor(kW) gives the activations.
template <DType kW>
TG_VNNI_TARGET inline __m512i LoadCodePair(const uint8_t* block) {
  const uint8_t* a = block + BlockFormat<kW>::kQs;
  const uint8_t* b = a + BlockFormat<kW>::kBytes;
  if constexpr (kW == DType::kQ8_0) {
    const __m512i q = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a))),
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)), 1);
    return _mm512_xor_si512(q, _mm512_set1_epi8(static_cast<char>(0x80)));
  } else {
    const __m256i packed = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b)), 1);
    const __m256i low_mask = _mm256_set1_epi8(0x0f);
    const __m256i low = _mm256_and_si256(packed, low_mask);
    const __m256i high = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_mask);
    return _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1);
  }
}

// Two f16 values 2 bytes into blocks A and B (offset 0: d, 2: m of Q4_1) as floats 0 and 1.
template <DType kW>
TG_VNNI_TARGET inline __m128 LoadHalfPair(const uint8_t* block, int offset) {
  const uint32_t bits = static_cast<uint32_t>(LoadU16(block + offset)) |
                        static_cast<uint32_t>(LoadU16(block + BlockFormat<kW>::kBytes + offset))
                            << 16;
  return _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(bits)));
}

template <DType kW>
TG_VNNI_TARGET inline __m128 LoadFloatPair(const float* p) {
  return _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(p)));
}

template <DType kW, int kRows>
TG_VNNI_TARGET void QuantDotRowsVnniFixed(const void* w, const QuantizedActivations& x,
                                          int64_t first_row, float* out) {
  const auto* blocks = static_cast<const uint8_t*>(w);
  const int64_t nb = x.k / kQuantBlock;
  // 32-bit lanes of a block pair's products: lanes of A take index 0 (its scale), of B 1.
  const __m512i pair_lanes =
      kW == DType::kQ8_0 ? _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)
                         : _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1);
  // The lanes that start with A's and B's integer offset (Q8_0, Q4_0).
  const __mmask16 offset_lanes = kW == DType::kQ8_0 ? 0x0101 : 0x0011;
  __m512 acc[kRows];
  __m128 offset_acc[kRows];
  for (int r = 0; r < kRows; ++r) {
    acc[r] = _mm512_setzero_ps();
    offset_acc[r] = _mm_setzero_ps();
  }
  const int8_t* q0 = x.q + first_row * x.k;
  const float* scale0 = x.scale + first_row * nb;
  const int32_t* qsum0 = x.qsum + first_row * nb;
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const uint8_t* block = blocks + b * BlockFormat<kW>::kBytes;
    const __m512i codes = LoadCodePair<kW>(block);
    const __m128 d = LoadHalfPair<kW>(block, 0);
    __m128 m = _mm_setzero_ps();
    if constexpr (kW == DType::kQ4_1) m = LoadHalfPair<kW>(block, 2);
    for (int r = 0; r < kRows; ++r) {
      const __m512i q = _mm512_loadu_si512(q0 + r * x.k + b * kQuantBlock);
      __m512i start = _mm512_setzero_si512();
      const __m128i qsum = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(qsum0 + r * nb + b));
      if constexpr (BlockFormat<kW>::kIntOffset != 0) {
        const __m128i offset = _mm_mullo_epi32(qsum, _mm_set1_epi32(BlockFormat<kW>::kIntOffset));
        start = _mm512_maskz_permutexvar_epi32(offset_lanes, pair_lanes,
                                               _mm512_castsi128_si512(offset));
      }
      const __m512i isum = _mm512_dpbusd_epi32(start, codes, q);
      const __m128 s = LoadFloatPair<kW>(scale0 + r * nb + b);
      const __m512 ds = _mm512_permutexvar_ps(pair_lanes, _mm512_castps128_ps512(_mm_mul_ps(d, s)));
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), ds, acc[r]);
      if constexpr (kW == DType::kQ4_1) {
        offset_acc[r] = _mm_fmadd_ps(m, _mm_mul_ps(s, _mm_cvtepi32_ps(qsum)), offset_acc[r]);
      }
    }
  }
  float tail[kRows] = {};
  if (b < nb) {  // an unpaired last block, natural order: one 256-bit step
    const uint8_t* block = blocks + b * BlockFormat<kW>::kBytes;
    const __m256i codes = LoadCodes<kW>(block);
    const float d = HalfToFloatF16c(block);
    for (int r = 0; r < kRows; ++r) {
      const __m256i q =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q0 + r * x.k + b * kQuantBlock));
      const int32_t qsum = qsum0[r * nb + b];
      const __m256i start =
          _mm256_zextsi128_si256(_mm_cvtsi32_si128(BlockFormat<kW>::kIntOffset * qsum));
      const float s = scale0[r * nb + b];
      tail[r] = SumLanes(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_dpbusd_epi32(start, codes, q)),
                                       _mm256_set1_ps(d * s)));
      if constexpr (kW == DType::kQ4_1) {
        tail[r] += HalfToFloatF16c(block + 2) * (s * static_cast<float>(qsum));
      }
    }
  }
  for (int r = 0; r < kRows; ++r) {
    const __m128 offsets = _mm_add_ss(offset_acc[r], _mm_movehdup_ps(offset_acc[r]));
    out[r] = _mm512_reduce_add_ps(acc[r]) + _mm_cvtss_f32(offsets) + tail[r];
  }
}

template <DType kW>
void QuantDotRowsVnni(const void* w, const QuantizedActivations& x, int64_t first_row, int rows,
                      float* out) {
  DispatchRows<kMaxQuantDotRows>(
      rows, [&]<int kRows>() { QuantDotRowsVnniFixed<kW, kRows>(w, x, first_row, out); });
}

bool HasVnni() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
         __builtin_cpu_supports("f16c") && __builtin_cpu_supports("fma");
}

const bool kHasVnni = HasVnni();

// QuantizeActivations with AVX-512, the same arithmetic as the scalar loop (max |x|, s = amax /
// 127, codes = x * (1 / s) rounded to nearest even): every code, scale and sum is identical.
// It runs before every Linear on block weights, once per activation row.
TG_VNNI_TARGET void QuantizeActivationsAvx512(const float* x, int64_t rows, int64_t k,
                                              CodeOrder order, int8_t* q, float* scale,
                                              int32_t* qsum) {
  const int64_t nb = k / kQuantBlock;
  for (int64_t r = 0; r < rows; ++r) {
    int8_t* qs = q + r * k;
    for (int64_t b = 0; b < nb; ++b) {
      const float* xs = x + r * k + b * kQuantBlock;
      const __m512 lo = _mm512_loadu_ps(xs);
      const __m512 hi = _mm512_loadu_ps(xs + 16);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi)));
      const float s = amax / 127.0f;
      const float inv = s > 0.0f ? 1.0f / s : 0.0f;
      const __m512 inv_v = _mm512_set1_ps(inv);
      // cvtps rounds by MXCSR, nearest-even by default, as std::nearbyint does.
      const __m512i codes_lo = _mm512_cvtps_epi32(_mm512_mul_ps(lo, inv_v));
      const __m512i codes_hi = _mm512_cvtps_epi32(_mm512_mul_ps(hi, inv_v));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + CodePosition(order, nb, b, 0)),
                       _mm512_cvtepi32_epi8(codes_lo));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + CodePosition(order, nb, b, 16)),
                       _mm512_cvtepi32_epi8(codes_hi));
      scale[r * nb + b] = s;
      qsum[r * nb + b] = _mm512_reduce_add_epi32(_mm512_add_epi32(codes_lo, codes_hi));
    }
  }
}

template <template <DType> class Pick>
QuantDotRowsFn ForDType(DType dtype) {
  switch (dtype) {
    case DType::kQ8_0:
      return Pick<DType::kQ8_0>::fn;
    case DType::kQ4_0:
      return Pick<DType::kQ4_0>::fn;
    case DType::kQ4_1:
      return Pick<DType::kQ4_1>::fn;
    default:
      return nullptr;
  }
}

template <DType kW>
struct PickScalar {
  static constexpr QuantDotRowsFn fn = &QuantDotRowsScalar<kW>;
};
template <DType kW>
struct PickVnni {
  static constexpr QuantDotRowsFn fn = &QuantDotRowsVnni<kW>;
};

template <DType kW>
float LoadQuantizedAs(const void* base, int64_t index) {
  const auto* block =
      static_cast<const uint8_t*>(base) + (index / kQuantBlock) * BlockFormat<kW>::kBytes;
  const int i = static_cast<int>(index % kQuantBlock);
  const int offset = BlockFormat<kW>::kIntOffset;
  const float d = BlockScale<kW>(block);
  if constexpr (kW == DType::kQ4_1) {
    return d * static_cast<float>(Code<kW>(block, i)) + BlockOffset<kW>(block);
  } else {
    return d * static_cast<float>(Code<kW>(block, i) + offset);
  }
}

}  // namespace

CodeOrder CodeOrderFor(DType weight_dtype) {
  return weight_dtype == DType::kQ8_0 ? CodeOrder::kNatural : CodeOrder::kNibbleHalves;
}

int64_t CodePosition(CodeOrder order, int64_t blocks, int64_t b, int i) {
  const bool paired = (b | 1) < blocks;  // the last block of an odd count has no partner
  if (order == CodeOrder::kNatural || !paired) return b * kQuantBlock + i;
  // Pair (A, B) = blocks (b & ~1, b | 1): A0..15, B0..15, A16..31, B16..31.
  const int64_t pair_base = (b & ~int64_t{1}) * kQuantBlock;
  const int64_t half_offset = i < 16 ? 0 : 32;
  return pair_base + half_offset + (b & 1) * 16 + (i % 16);
}

void QuantizeActivations(const float* x, int64_t rows, int64_t k, CodeOrder order, int8_t* q,
                         float* scale, int32_t* qsum) {
  TG_CHECK(k % kQuantBlock == 0, kInvalidArgument,
           "rows of " + std::to_string(k) + " elements are not whole blocks of 32");
  if (kHasVnni) return QuantizeActivationsAvx512(x, rows, k, order, q, scale, qsum);
  const int64_t nb = k / kQuantBlock;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const float* xs = x + r * k + b * kQuantBlock;
      int8_t* qs = q + r * k;
      float amax = 0.0f;
      for (int i = 0; i < kQuantBlock; ++i) amax = std::max(amax, std::fabs(xs[i]));
      const float s = amax / 127.0f;
      const float inv = s > 0.0f ? 1.0f / s : 0.0f;
      int32_t sum = 0;
      for (int i = 0; i < kQuantBlock; ++i) {
        const auto code = static_cast<int8_t>(std::nearbyint(xs[i] * inv));
        qs[CodePosition(order, nb, b, i)] = code;
        sum += code;
      }
      scale[r * nb + b] = s;
      qsum[r * nb + b] = sum;
    }
  }
}

QuantDotRowsFn SelectQuantDotRows(DType dtype) {
  return kHasVnni ? ForDType<PickVnni>(dtype) : nullptr;
}

QuantDotRowsFn QuantDotRowsReference(DType dtype) { return ForDType<PickScalar>(dtype); }

float LoadQuantized(const void* base, DType dtype, int64_t index) {
  switch (dtype) {
    case DType::kQ8_0:
      return LoadQuantizedAs<DType::kQ8_0>(base, index);
    case DType::kQ4_0:
      return LoadQuantizedAs<DType::kQ4_0>(base, index);
    case DType::kQ4_1:
      return LoadQuantizedAs<DType::kQ4_1>(base, index);
    default:
      break;
  }
  throw Error(ErrorKind::kUnsupported, std::string(ToString(dtype)) + " is not a block dtype");
}

}  // namespace tg::backend::cpu
