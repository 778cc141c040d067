#include "model_files/dequantize.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "quant_blocks.h"

namespace tg::model {
namespace {

using testing::QuantCase;

void ExpectMatches(const QuantCase& c) {
  SCOPED_TRACE(DTypeName(c.dtype));
  const auto n = static_cast<int64_t>(c.expected.size());
  ASSERT_EQ(static_cast<int64_t>(c.bytes.size()), DTypeBytes(c.dtype, n).value());
  std::vector<float> out(c.expected.size(), -12345.0f);
  DequantizeToF32(c.dtype, c.bytes.data(), n, out.data());
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_NEAR(out[i], c.expected[i], 1e-6 * std::abs(c.expected[i]) + 1e-7) << "element " << i;
  }
  std::vector<uint16_t> bf(c.expected.size());
  DequantizeToBF16(c.dtype, c.bytes.data(), n, bf.data());
  for (size_t i = 0; i < bf.size(); ++i) ASSERT_EQ(bf[i], F32ToBf16(out[i])) << "element " << i;
}

TEST(Dequantize, EveryQuantTypeMatchesSpecEncoding) {
  std::mt19937 rng(1234);
  for (const auto& c : testing::AllQuantCases(rng, 3)) ExpectMatches(c);
}

// Blocks worked out by hand from the layout.
TEST(Dequantize, HandComputedBlocks) {
  std::vector<uint8_t> q8(34, 0);
  q8[0] = 0x00, q8[1] = 0x38;  // d = 0.5
  q8[2] = static_cast<uint8_t>(-3);
  q8[33] = 100;
  float out[32];
  DequantizeToF32(DType::kQ8_0, q8.data(), 32, out);
  EXPECT_EQ(out[0], -1.5f);
  EXPECT_EQ(out[1], 0.0f);
  EXPECT_EQ(out[31], 50.0f);

  std::vector<uint8_t> q40(18, 0x88);  // every code 8 -> 0
  q40[0] = 0x00, q40[1] = 0x40;        // d = 2
  q40[2] = 0x9f;                       // element 0: 15 - 8 = 7, element 16: 9 - 8 = 1
  DequantizeToF32(DType::kQ4_0, q40.data(), 32, out);
  EXPECT_EQ(out[0], 14.0f);
  EXPECT_EQ(out[16], 2.0f);
  EXPECT_EQ(out[1], 0.0f);

  std::vector<uint8_t> q41(20, 0);
  q41[0] = 0x00, q41[1] = 0x34;  // d = 0.25
  q41[2] = 0x00, q41[3] = 0xbc;  // m = -1
  q41[4] = 0x31;                 // element 0: 1, element 16: 3
  DequantizeToF32(DType::kQ4_1, q41.data(), 32, out);
  EXPECT_EQ(out[0], -0.75f);
  EXPECT_EQ(out[16], -0.25f);
  EXPECT_EQ(out[5], -1.0f);
}

TEST(Dequantize, Q6KHandComputed) {
  // All codes 32 (value 0) except element 0 (code 33 -> 1) and element 200 (code 0 -> -32).
  std::vector<uint8_t> b(210, 0);
  for (int i = 128; i < 192; ++i) b[i] = 0xaa;  // high bits 2 for every element: code 32
  b[0] = 0x01;                                  // element 0 low nibble 1 -> code 33
  // Element 200: half 1, k = 2 (elements 64..95 of the half), l = 8: low nibble is the high
  // nibble of ql[64 + 8], high bits are bits 4-5 of qh[32 + 8].
  b[128 + 32 + 8] = 0xaa & ~0x30;
  for (int s = 0; s < 16; ++s) b[192 + s] = static_cast<uint8_t>(s + 1);
  b[208] = 0x00, b[209] = 0x3c;  // d = 1
  float out[256];
  DequantizeToF32(DType::kQ6_K, b.data(), 256, out);
  EXPECT_EQ(out[0], 1.0f * 1);                    // scale index 0 -> 1
  EXPECT_EQ(out[200], -32.0f * (8 + 0 + 4 + 1));  // scale 8 * half + l / 16 + 2k = 12 -> 13
  EXPECT_EQ(out[1], 0.0f);
}

TEST(Dequantize, PlainFloatTypes) {
  const uint16_t h[3] = {0x3c00, 0xc000, 0x3555};
  float out[3];
  DequantizeToF32(DType::kF16, h, 3, out);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -2.0f);
  EXPECT_EQ(out[2], 0.333251953125f);
  const uint8_t f8[2] = {0x38, 0x7e};
  DequantizeToF32(DType::kF8E4M3, f8, 2, out);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], 448.0f);
}

TEST(Dequantize, RejectsPartialBlocksAndIntegers) {
  std::vector<uint8_t> b(64);
  float out[64];
  EXPECT_THROW(DequantizeToF32(DType::kQ8_0, b.data(), 31, out), Error);
  EXPECT_THROW(DequantizeToF32(DType::kI32, b.data(), 4, out), Error);
}

}  // namespace
}  // namespace tg::model
