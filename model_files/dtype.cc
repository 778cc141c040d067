#include "model_files/dtype.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace tg::model {

namespace {

struct DTypeTraits {
  DType dtype;
  const char* name;
  int64_t block_elems;
  int64_t block_bytes;
  bool quantized;
  bool float_convertible;
};

// Block sizes from the GGML block layouts: Q8_0 = f16 d + 32 int8; Q4_0 = f16 d + 16 bytes of
// nibbles; Q4_1 = f16 d, f16 m + 16 bytes; Q4_K = f16 d, f16 dmin, 12 scale bytes, 128 nibble
// bytes; Q5_K = Q4_K + 32 high-bit bytes; Q6_K = 128 low bytes, 64 high bytes, 16 int8 scales, f16
// d.
constexpr DTypeTraits kTraits[] = {
    {DType::kF32, "F32", 1, 4, false, true},      {DType::kF16, "F16", 1, 2, false, true},
    {DType::kBF16, "BF16", 1, 2, false, true},    {DType::kF8E4M3, "F8_E4M3", 1, 1, false, true},
    {DType::kQ8_0, "Q8_0", 32, 34, true, true},   {DType::kQ4_0, "Q4_0", 32, 18, true, true},
    {DType::kQ4_1, "Q4_1", 32, 20, true, true},   {DType::kQ4_K, "Q4_K", 256, 144, true, true},
    {DType::kQ5_K, "Q5_K", 256, 176, true, true}, {DType::kQ6_K, "Q6_K", 256, 210, true, true},
    {DType::kI32, "I32", 1, 4, false, false},     {DType::kI64, "I64", 1, 8, false, false},
    {DType::kI16, "I16", 1, 2, false, false},     {DType::kI8, "I8", 1, 1, false, false},
    {DType::kU8, "U8", 1, 1, false, false},       {DType::kF64, "F64", 1, 8, false, false},
    {DType::kBool, "BOOL", 1, 1, false, false},
};

const DTypeTraits& Traits(DType dtype) {
  for (const auto& t : kTraits) {
    if (t.dtype == dtype) return t;
  }
  return kTraits[0];  // unreachable for valid enum values
}

}  // namespace

const char* DTypeName(DType dtype) { return Traits(dtype).name; }

std::optional<DType> DTypeFromSafetensorsName(std::string_view name) {
  for (const auto& t : kTraits) {
    if (!t.quantized && name == t.name) return t.dtype;
  }
  return std::nullopt;
}

int64_t DTypeBlockElems(DType dtype) { return Traits(dtype).block_elems; }
int64_t DTypeBlockBytes(DType dtype) { return Traits(dtype).block_bytes; }
bool IsQuantized(DType dtype) { return Traits(dtype).quantized; }
bool IsFloatConvertible(DType dtype) { return Traits(dtype).float_convertible; }

std::optional<int64_t> DTypeBytes(DType dtype, int64_t elems) {
  const auto& t = Traits(dtype);
  if (elems < 0 || elems % t.block_elems != 0) return std::nullopt;
  const int64_t blocks = elems / t.block_elems;
  if (blocks > std::numeric_limits<int64_t>::max() / t.block_bytes) return std::nullopt;
  return blocks * t.block_bytes;
}

uint16_t F32ToF16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: inf
  if (abs < 0x38800000u) {
    // Result is subnormal (or zero) in f16: round abs * 2^24 to an integer, ties to even.
    const float scaled = std::bit_cast<float>(abs) * 0x1p24f;
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));
  }
  // Normal: rebias exponent, round the 13 dropped mantissa bits to nearest even.
  uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);
  return sign | static_cast<uint16_t>((rounded - (112u << 23)) >> 13);
}

float F8E4M3ToF32(uint8_t v) {
  const bool negative = v & 0x80u;
  const int exp = (v >> 3) & 0xf;
  const int mant = v & 0x7;
  float out;
  if (exp == 0xf && mant == 0x7) {
    out = std::numeric_limits<float>::quiet_NaN();
  } else if (exp == 0) {
    out = std::ldexp(static_cast<float>(mant), -9);  // subnormal: mant/8 * 2^-6
  } else {
    out = std::ldexp(1.0f + static_cast<float>(mant) / 8.0f, exp - 7);
  }
  return negative ? -out : out;
}

}  // namespace tg::model
