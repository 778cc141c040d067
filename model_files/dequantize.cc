#include "model_files/dequantize.h"

#include <cstring>
#include <string>
#include <vector>

#include "common/error.h"

namespace tg::model {

namespace {

uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);  // GGUF and safetensors are little-endian, like every host we run on
  return v;
}

float LoadF16(const uint8_t* p) { return F16ToF32(LoadU16(p)); }

void DequantQ8_0(const uint8_t* b, float* y) {
  const float d = LoadF16(b);
  const auto* qs = reinterpret_cast<const int8_t*>(b + 2);
  for (int i = 0; i < 32; ++i) y[i] = d * static_cast<float>(qs[i]);
}

// Q4_0/Q4_1: byte j holds element j (low nibble) and element j + 16 (high nibble).
void DequantQ4_0(const uint8_t* b, float* y) {
  const float d = LoadF16(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>((qs[j] & 0xf) - 8);
    y[j + 16] = d * static_cast<float>((qs[j] >> 4) - 8);
  }
}

void DequantQ4_1(const uint8_t* b, float* y) {
  const float d = LoadF16(b);
  const float m = LoadF16(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>(qs[j] & 0xf) + m;
    y[j + 16] = d * static_cast<float>(qs[j] >> 4) + m;
  }
}

// The 8 (scale, min) pairs of a Q4_K/Q5_K super-block are 6-bit values packed into 12 bytes:
// pairs 0-3 use the low 6 bits of bytes 0-3 (scale) and 4-7 (min); pairs 4-7 use the nibbles of
// bytes 8-11 plus the top 2 bits of bytes 0-3 (scale) and 4-7 (min).
void ScaleMinK4(int j, const uint8_t* q, float* scale, float* min) {
  if (j < 4) {
    *scale = static_cast<float>(q[j] & 63);
    *min = static_cast<float>(q[j + 4] & 63);
  } else {
    *scale = static_cast<float>((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
    *min = static_cast<float>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

void DequantQ4_K(const uint8_t* b, float* y) {
  const float d = LoadF16(b);
  const float dmin = LoadF16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qs = b + 16;
  // Four groups of 64 elements; each group's 32 bytes give 32 low nibbles then 32 high nibbles.
  for (int g = 0; g < 4; ++g) {
    float sc0, m0, sc1, m1;
    ScaleMinK4(2 * g, scales, &sc0, &m0);
    ScaleMinK4(2 * g + 1, scales, &sc1, &m1);
    const float d0 = d * sc0, d1 = d * sc1, mm0 = dmin * m0, mm1 = dmin * m1;
    const uint8_t* q = qs + 32 * g;
    float* out = y + 64 * g;
    for (int l = 0; l < 32; ++l) out[l] = d0 * static_cast<float>(q[l] & 0xf) - mm0;
    for (int l = 0; l < 32; ++l) out[32 + l] = d1 * static_cast<float>(q[l] >> 4) - mm1;
  }
}

void DequantQ5_K(const uint8_t* b, float* y) {
  const float d = LoadF16(b);
  const float dmin = LoadF16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;  // bit 2g / 2g+1 of qh[l]: fifth bit of the low / high nibble
  const uint8_t* qs = b + 48;
  for (int g = 0; g < 4; ++g) {
    float sc0, m0, sc1, m1;
    ScaleMinK4(2 * g, scales, &sc0, &m0);
    ScaleMinK4(2 * g + 1, scales, &sc1, &m1);
    const float d0 = d * sc0, d1 = d * sc1, mm0 = dmin * m0, mm1 = dmin * m1;
    const uint8_t* q = qs + 32 * g;
    const int lo_bit = 2 * g, hi_bit = 2 * g + 1;
    float* out = y + 64 * g;
    for (int l = 0; l < 32; ++l) {
      const int v = (q[l] & 0xf) | (((qh[l] >> lo_bit) & 1) << 4);
      out[l] = d0 * static_cast<float>(v) - mm0;
    }
    for (int l = 0; l < 32; ++l) {
      const int v = (q[l] >> 4) | (((qh[l] >> hi_bit) & 1) << 4);
      out[32 + l] = d1 * static_cast<float>(v) - mm1;
    }
  }
}

void DequantQ6_K(const uint8_t* b, float* y) {
  const uint8_t* ql = b;        // 128 bytes: low 4 bits
  const uint8_t* qh = b + 128;  // 64 bytes: high 2 bits, four elements per byte
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);  // 16 scales, one per 16 elements
  const float d = LoadF16(b + 208);
  // Two halves of 128 elements; in each, element l + 32k (k = 0..3) takes its low bits from
  // ql[l + 32 (k & 1)] (nibble k >> 1) and its high bits from qh[l] bits 2k..2k+1.
  for (int half = 0; half < 2; ++half) {
    const uint8_t* l4 = ql + 64 * half;
    const uint8_t* h2 = qh + 32 * half;
    const int8_t* s = sc + 8 * half;
    float* out = y + 128 * half;
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((l4[l] & 0xf) | (((h2[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((l4[l + 32] & 0xf) | (((h2[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((l4[l] >> 4) | (((h2[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((l4[l + 32] >> 4) | (((h2[l] >> 6) & 3) << 4)) - 32;
      out[l] = d * static_cast<float>(s[is + 0] * q1);
      out[l + 32] = d * static_cast<float>(s[is + 2] * q2);
      out[l + 64] = d * static_cast<float>(s[is + 4] * q3);
      out[l + 96] = d * static_cast<float>(s[is + 6] * q4);
    }
  }
}

using BlockFn = void (*)(const uint8_t*, float*);

BlockFn BlockDequantizer(DType dtype) {
  switch (dtype) {
    case DType::kQ8_0:
      return DequantQ8_0;
    case DType::kQ4_0:
      return DequantQ4_0;
    case DType::kQ4_1:
      return DequantQ4_1;
    case DType::kQ4_K:
      return DequantQ4_K;
    case DType::kQ5_K:
      return DequantQ5_K;
    case DType::kQ6_K:
      return DequantQ6_K;
    default:
      return nullptr;
  }
}

void CheckConvertible(DType dtype, int64_t elems) {
  TG_CHECK(IsFloatConvertible(dtype), kUnsupported,
           std::string("cannot convert ") + DTypeName(dtype) + " tensors to float");
  TG_CHECK(
      elems >= 0 && elems % DTypeBlockElems(dtype) == 0, kInvalidArgument,
      std::to_string(elems) + " elements is not a whole number of " + DTypeName(dtype) + " blocks");
}

}  // namespace

void DequantizeToF32(DType dtype, const void* src, int64_t elems, float* dst) {
  CheckConvertible(dtype, elems);
  const auto* s = static_cast<const uint8_t*>(src);
  switch (dtype) {
    case DType::kF32:
      std::memcpy(dst, s, static_cast<size_t>(elems) * 4);
      return;
    case DType::kF16:
      for (int64_t i = 0; i < elems; ++i) dst[i] = F16ToF32(LoadU16(s + 2 * i));
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < elems; ++i) dst[i] = Bf16ToF32(LoadU16(s + 2 * i));
      return;
    case DType::kF8E4M3:
      for (int64_t i = 0; i < elems; ++i) dst[i] = F8E4M3ToF32(s[i]);
      return;
    default:
      break;
  }
  const BlockFn fn = BlockDequantizer(dtype);
  const int64_t block_elems = DTypeBlockElems(dtype);
  const int64_t block_bytes = DTypeBlockBytes(dtype);
  for (int64_t b = 0; b < elems / block_elems; ++b) fn(s + b * block_bytes, dst + b * block_elems);
}

void DequantizeToBF16(DType dtype, const void* src, int64_t elems, uint16_t* dst) {
  CheckConvertible(dtype, elems);
  if (dtype == DType::kBF16) {
    std::memcpy(dst, src, static_cast<size_t>(elems) * 2);
    return;
  }
  // Convert in chunks through a small float buffer so memory stays bounded.
  constexpr int64_t kChunk = 256 * 64;
  std::vector<float> tmp(static_cast<size_t>(std::min<int64_t>(elems, kChunk)));
  const auto* s = static_cast<const uint8_t*>(src);
  const int64_t block_elems = DTypeBlockElems(dtype);
  const int64_t block_bytes = DTypeBlockBytes(dtype);
  for (int64_t done = 0; done < elems; done += kChunk) {
    const int64_t n = std::min(kChunk, elems - done);
    DequantizeToF32(dtype, s + done / block_elems * block_bytes, n, tmp.data());
    for (int64_t i = 0; i < n; ++i) dst[done + i] = F32ToBf16(tmp[static_cast<size_t>(i)]);
  }
}

}  // namespace tg::model
