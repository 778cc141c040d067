// Element types of stored model tensors, and the scalar conversions between float formats.
//
// Plain types (F32, F16, BF16, F8_E4M3, integers) have one element per "block"; GGML quantized
// types pack a fixed number of elements (32 or 256) into a fixed-size block. Everything that
// walks tensor bytes goes through DTypeBlockElems / DTypeBlockBytes so the two kinds share code.
#pragma once

#include <bit>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tg::model {

enum class DType {
  kF32,
  kF16,
  kBF16,
  kF8E4M3,
  kQ8_0,
  kQ4_0,
  kQ4_1,
  kQ4_K,
  kQ5_K,
  kQ6_K,
  kI32,
  kI64,
  kI16,
  kI8,
  kU8,
  kF64,
  kBool,
};

// "F32", "BF16", "Q4_K", ... (safetensors spelling for plain types, GGML spelling for quants).
const char* DTypeName(DType dtype);
// Inverse of the safetensors dtype strings ("F32", "F16", "BF16", "F8_E4M3", "I32", ...).
std::optional<DType> DTypeFromSafetensorsName(std::string_view name);

// Elements per block: 1 for plain types, 32 for Q8_0/Q4_0/Q4_1, 256 for the K-quants.
int64_t DTypeBlockElems(DType dtype);
// Bytes per block.
int64_t DTypeBlockBytes(DType dtype);
bool IsQuantized(DType dtype);
// True for the types ReadF32/ReadBF16 can convert (floats and GGML quants, not integers).
bool IsFloatConvertible(DType dtype);
// Bytes of `elems` consecutive elements; nullopt when elems is not a whole number of blocks or
// the size overflows.
std::optional<int64_t> DTypeBytes(DType dtype, int64_t elems);

// The converters used in dequantization loops are inline so those loops vectorize.
inline float Bf16ToF32(uint16_t bits);
inline uint16_t F32ToBf16(float value);  // round to nearest even; NaN stays NaN
inline float F16ToF32(uint16_t bits);
uint16_t F32ToF16(float value);   // round to nearest even; overflow gives inf
float F8E4M3ToF32(uint8_t bits);  // OCP FP8 E4M3 "fn" (no inf, 0x7f/0xff are NaN)

inline float Bf16ToF32(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

inline uint16_t F32ToBf16(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((bits >> 16) | 0x40);  // quiet NaN
  // Round to nearest, ties to even: add 0x7fff plus the lowest kept bit.
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

inline float F16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {
      // Subnormal: value = mant * 2^-24, exactly representable in float32.
      const float v = static_cast<float>(mant) * 0x1p-24f;
      return sign ? -v : v;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

}  // namespace tg::model
