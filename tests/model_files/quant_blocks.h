// Test-side encoders for GGML quant blocks, written from the block layout spec: they pack chosen
// integer codes and scales into bytes and compute the expected values from those codes directly,
// so the library's decoders are checked against an independent formulation.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "model_files/dtype.h"

namespace tg::model::testing {

// Value of a normal f16 bit pattern, computed from the IEEE definition.
inline double HalfValue(uint16_t h) {
  const int exp = (h >> 10) & 31, mant = h & 1023;
  const double v = std::ldexp(1.0 + mant / 1024.0, exp - 15);
  return (h & 0x8000) ? -v : v;
}

inline uint16_t RandomHalf(std::mt19937& rng, bool allow_negative = true) {
  const uint16_t sign = (allow_negative && (rng() & 1)) ? 0x8000 : 0;
  const uint16_t exp = static_cast<uint16_t>(8 + rng() % 10);  // about 2^-7 .. 2^2
  return sign | static_cast<uint16_t>(exp << 10) | static_cast<uint16_t>(rng() % 1024);
}

struct QuantCase {
  DType dtype;
  std::vector<uint8_t> bytes;
  std::vector<double> expected;
};

inline void PutHalf(std::vector<uint8_t>* b, uint16_t h) {
  b->push_back(static_cast<uint8_t>(h & 0xff));
  b->push_back(static_cast<uint8_t>(h >> 8));
}

inline QuantCase MakeQ8_0(std::mt19937& rng, int blocks) {
  QuantCase c{DType::kQ8_0, {}, {}};
  for (int b = 0; b < blocks; ++b) {
    const uint16_t d = RandomHalf(rng);
    PutHalf(&c.bytes, d);
    for (int i = 0; i < 32; ++i) {
      const int q = static_cast<int>(rng() % 256) - 128;
      c.bytes.push_back(static_cast<uint8_t>(static_cast<int8_t>(q)));
      c.expected.push_back(HalfValue(d) * q);
    }
  }
  return c;
}

// Q4_0 / Q4_1: 32 4-bit codes; byte j = code[j] | code[j + 16] << 4.
inline QuantCase MakeQ4(std::mt19937& rng, int blocks, bool with_min) {
  QuantCase c{with_min ? DType::kQ4_1 : DType::kQ4_0, {}, {}};
  for (int b = 0; b < blocks; ++b) {
    const uint16_t d = RandomHalf(rng), m = RandomHalf(rng);
    PutHalf(&c.bytes, d);
    if (with_min) PutHalf(&c.bytes, m);
    int code[32];
    for (int& q : code) q = static_cast<int>(rng() % 16);
    for (int j = 0; j < 16; ++j)
      c.bytes.push_back(static_cast<uint8_t>(code[j] | code[j + 16] << 4));
    for (int q : code) {
      c.expected.push_back(with_min ? HalfValue(d) * q + HalfValue(m) : HalfValue(d) * (q - 8));
    }
  }
  return c;
}

// 8 six-bit scales and mins in 12 bytes: bytes 0-3 scales 0-3 (+ top bits of scales 4-7 in bits
// 6-7), bytes 4-7 mins 0-3 (+ top bits of mins 4-7), bytes 8-11 low nibbles of scales/mins 4-7.
inline void PackScalesK4(const int sc[8], const int mn[8], std::vector<uint8_t>* b) {
  uint8_t s[12];
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
  }
  b->insert(b->end(), s, s + 12);
}

// Q4_K (bits = 4) and Q5_K (bits = 5): 256 codes in 8 sub-blocks of 32 with their own scale/min.
inline QuantCase MakeQK(std::mt19937& rng, int blocks, int bits) {
  QuantCase c{bits == 4 ? DType::kQ4_K : DType::kQ5_K, {}, {}};
  for (int b = 0; b < blocks; ++b) {
    const uint16_t d = RandomHalf(rng, false), dmin = RandomHalf(rng, false);
    int sc[8], mn[8], code[256];
    for (int j = 0; j < 8; ++j)
      sc[j] = static_cast<int>(rng() % 64), mn[j] = static_cast<int>(rng() % 64);
    for (int& q : code) q = static_cast<int>(rng() % (1u << bits));
    PutHalf(&c.bytes, d);
    PutHalf(&c.bytes, dmin);
    PackScalesK4(sc, mn, &c.bytes);
    if (bits == 5) {
      // qh[l]: bit 2g = fifth bit of element 64g + l, bit 2g + 1 = of element 64g + 32 + l.
      for (int l = 0; l < 32; ++l) {
        int h = 0;
        for (int g = 0; g < 4; ++g) {
          h |= ((code[64 * g + l] >> 4) & 1) << (2 * g);
          h |= ((code[64 * g + 32 + l] >> 4) & 1) << (2 * g + 1);
        }
        c.bytes.push_back(static_cast<uint8_t>(h));
      }
    }
    for (int g = 0; g < 4; ++g) {
      for (int l = 0; l < 32; ++l) {
        c.bytes.push_back(
            static_cast<uint8_t>((code[64 * g + l] & 15) | ((code[64 * g + 32 + l] & 15) << 4)));
      }
    }
    for (int e = 0; e < 256; ++e) {
      const int sub = e / 32;
      c.expected.push_back(HalfValue(d) * sc[sub] * code[e] - HalfValue(dmin) * mn[sub]);
    }
  }
  return c;
}

// Q6_K: 256 six-bit codes (value code - 32), 16 int8 scales (one per 16 elements), f16 d at the
// end. Within each half of 128, element 32k + l: low nibble in ql[l + 32 (k & 1)] (nibble k >> 1),
// high 2 bits in qh[l] bits 2k..2k+1, scale sc[l / 16 + 2k].
inline QuantCase MakeQ6_K(std::mt19937& rng, int blocks) {
  QuantCase c{DType::kQ6_K, {}, {}};
  for (int b = 0; b < blocks; ++b) {
    const uint16_t d = RandomHalf(rng);
    int code[256], sc[16];
    for (int& q : code) q = static_cast<int>(rng() % 64);
    for (int& s : sc) s = static_cast<int>(rng() % 256) - 128;
    uint8_t ql[128] = {}, qh[64] = {};
    for (int half = 0; half < 2; ++half) {
      for (int k = 0; k < 4; ++k) {
        for (int l = 0; l < 32; ++l) {
          const int q = code[128 * half + 32 * k + l];
          ql[64 * half + l + 32 * (k & 1)] |= static_cast<uint8_t>((q & 15) << (4 * (k >> 1)));
          qh[32 * half + l] |= static_cast<uint8_t>((q >> 4) << (2 * k));
        }
      }
    }
    c.bytes.insert(c.bytes.end(), ql, ql + 128);
    c.bytes.insert(c.bytes.end(), qh, qh + 64);
    for (int s : sc) c.bytes.push_back(static_cast<uint8_t>(static_cast<int8_t>(s)));
    PutHalf(&c.bytes, d);
    for (int e = 0; e < 256; ++e) {
      const int half = e / 128, k = (e % 128) / 32, l = e % 32;
      c.expected.push_back(HalfValue(d) * sc[8 * half + l / 16 + 2 * k] * (code[e] - 32));
    }
  }
  return c;
}

inline std::vector<QuantCase> AllQuantCases(std::mt19937& rng, int blocks) {
  return {MakeQ8_0(rng, blocks * 8), MakeQ4(rng, blocks * 8, false), MakeQ4(rng, blocks * 8, true),
          MakeQK(rng, blocks, 4),    MakeQK(rng, blocks, 5),         MakeQ6_K(rng, blocks)};
}

}  // namespace tg::model::testing
