#include "model_files/dtype.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tg::model {
namespace {

TEST(DType, F16KnownValues) {
  EXPECT_EQ(F16ToF32(0x3c00), 1.0f);
  EXPECT_EQ(F16ToF32(0xc000), -2.0f);
  EXPECT_EQ(F16ToF32(0x7bff), 65504.0f);
  EXPECT_EQ(F16ToF32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(F16ToF32(0x3555), 0.333251953125f);
  EXPECT_TRUE(std::isinf(F16ToF32(0x7c00)));
  EXPECT_TRUE(std::isnan(F16ToF32(0x7e00)));
  EXPECT_EQ(F32ToF16(1.0f), 0x3c00);
  EXPECT_EQ(F32ToF16(-2.0f), 0xc000);
  EXPECT_EQ(F32ToF16(65520.0f), 0x7c00);  // rounds up past the largest finite value
  EXPECT_EQ(F32ToF16(65519.0f), 0x7bff);
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -25)), 0x0000);             // tie between 0 and 2^-24: even
  EXPECT_EQ(F32ToF16(3 * std::ldexp(1.0f, -25)), 0x0002);         // tie between 1 and 2 ulp: even
  EXPECT_EQ(F32ToF16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // tie: even
  EXPECT_EQ(F32ToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie: even
  EXPECT_EQ(F32ToF16(std::nanf("")) & 0x7c00, 0x7c00);
}

TEST(DType, F16RoundTripsEveryValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = F16ToF32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(F32ToF16(f), h) << std::hex << h;
  }
}

TEST(DType, Bf16) {
  EXPECT_EQ(Bf16ToF32(0x3f80), 1.0f);
  EXPECT_EQ(Bf16ToF32(0xc0a0), -5.0f);
  EXPECT_EQ(F32ToBf16(1.0f), 0x3f80);
  EXPECT_EQ(F32ToBf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);      // tie: even
  EXPECT_EQ(F32ToBf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);  // tie: even
  EXPECT_EQ(F32ToBf16(1.0f + std::ldexp(1.0f, -7) + std::ldexp(1.0f, -9)), 0x3f81);
  EXPECT_TRUE(std::isnan(Bf16ToF32(F32ToBf16(std::nanf("")))));
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const float f = Bf16ToF32(static_cast<uint16_t>(b));
    if (std::isnan(f)) continue;
    ASSERT_EQ(F32ToBf16(f), b);
  }
}

TEST(DType, F8E4M3) {
  EXPECT_EQ(F8E4M3ToF32(0x38), 1.0f);
  EXPECT_EQ(F8E4M3ToF32(0xb8), -1.0f);
  EXPECT_EQ(F8E4M3ToF32(0x7e), 448.0f);
  EXPECT_EQ(F8E4M3ToF32(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(F8E4M3ToF32(0x08), std::ldexp(1.0f, -6));
  EXPECT_EQ(F8E4M3ToF32(0x3c), 1.5f);
  EXPECT_TRUE(std::isnan(F8E4M3ToF32(0x7f)));
  EXPECT_TRUE(std::isnan(F8E4M3ToF32(0xff)));
}

TEST(DType, BlockSizes) {
  EXPECT_EQ(DTypeBytes(DType::kQ4_K, 512), 288);
  EXPECT_EQ(DTypeBytes(DType::kQ6_K, 256), 210);
  EXPECT_EQ(DTypeBytes(DType::kQ5_K, 256), 176);
  EXPECT_EQ(DTypeBytes(DType::kQ8_0, 64), 68);
  EXPECT_EQ(DTypeBytes(DType::kQ4_1, 32), 20);
  EXPECT_EQ(DTypeBytes(DType::kBF16, 3), 6);
  EXPECT_FALSE(DTypeBytes(DType::kQ4_0, 33).has_value());
  EXPECT_EQ(DTypeFromSafetensorsName("F8_E4M3"), DType::kF8E4M3);
  EXPECT_FALSE(DTypeFromSafetensorsName("Q4_K").has_value());
  EXPECT_FALSE(DTypeFromSafetensorsName("F4").has_value());
}

}  // namespace
}  // namespace tg::model
