// Scalar conversions against values worked out from the format definitions.
#include <gtest/gtest.h>
#include <immintrin.h>

#include <cstring>

#include <cmath>

#include "core/dtype.h"

using namespace fathom;

TEST(DType, E4M3KnownValues) {
  EXPECT_EQ(e4m3_to_f32(0x00), 0.0f);
  EXPECT_EQ(e4m3_to_f32(0x38), 1.0f);          // exp 7 (bias 7), mantissa 0
  EXPECT_EQ(e4m3_to_f32(0x7E), 448.0f);        // largest finite
  EXPECT_EQ(e4m3_to_f32(0xFE), -448.0f);
  EXPECT_EQ(e4m3_to_f32(0x01), std::ldexp(1.0f, -9));  // smallest subnormal 2^-6 * 1/8
  EXPECT_EQ(e4m3_to_f32(0x08), std::ldexp(1.0f, -6));  // smallest normal
  EXPECT_TRUE(std::isnan(e4m3_to_f32(0x7F)));
  EXPECT_TRUE(std::isnan(e4m3_to_f32(0xFF)));
  EXPECT_EQ(e4m3_to_f32(0x78), 256.0f);        // exp 15 is finite in the fn variant
}

TEST(DType, E5M2KnownValues) {
  EXPECT_EQ(e5m2_to_f32(0x3C), 1.0f);
  EXPECT_EQ(e5m2_to_f32(0x7B), 57344.0f);
  EXPECT_TRUE(std::isinf(e5m2_to_f32(0x7C)));
  EXPECT_TRUE(std::isnan(e5m2_to_f32(0x7D)));
  EXPECT_EQ(e5m2_to_f32(0x01), std::ldexp(1.0f, -16));
}

TEST(DType, Fp8EncodeRoundTripsEveryCode) {
  for (int i = 0; i < 256; ++i) {
    float v = e4m3_to_f32(uint8_t(i));
    if (std::isnan(v)) continue;
    uint8_t back = f32_to_e4m3(v);
    EXPECT_EQ(e4m3_to_f32(back), v) << i;
  }
  for (int i = 0; i < 256; ++i) {
    float v = e5m2_to_f32(uint8_t(i));
    if (std::isnan(v) || std::isinf(v)) continue;
    EXPECT_EQ(e5m2_to_f32(f32_to_e5m2(v)), v) << i;
  }
}

TEST(DType, Fp8EncodeRoundsToNearestEvenAndSaturates) {
  // Between 1.0 (0x38) and 1.125 (0x39): the midpoint goes to the even code 0x38.
  EXPECT_EQ(f32_to_e4m3(1.0625f), 0x38);
  EXPECT_EQ(f32_to_e4m3(1.07f), 0x39);
  EXPECT_EQ(f32_to_e4m3(1000.0f), 0x7E);
  EXPECT_EQ(f32_to_e4m3(-1000.0f), 0xFE);
  EXPECT_EQ(f32_to_e4m3(-1.0f), 0xB8);
}

TEST(DType, Bf16AndF16) {
  EXPECT_EQ(bf16_to_f32(0x3F80), 1.0f);
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1.0078125: ties to even (1.0).
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
  EXPECT_EQ(f16_to_f32(0x3C00), 1.0f);
  EXPECT_EQ(f16_to_f32(0x7BFF), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(0xC000), -2.0f);
  for (uint32_t h = 0; h < 0x7C00; h += 7) EXPECT_EQ(f32_to_f16(f16_to_f32(uint16_t(h))), h);
}

// Every f16 bit pattern against the CPU's own conversion (F16C vcvtph2ps), an independent oracle.
TEST(DType, F16ToF32MatchesHardwareForAllValues) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float want = _cvtsh_ss(uint16_t(h)), got = fathom::f16_to_f32(uint16_t(h));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << h;
      continue;
    }
    uint32_t a, b;
    std::memcpy(&a, &want, 4);
    std::memcpy(&b, &got, 4);
    ASSERT_EQ(a, b) << "f16 0x" << std::hex << h;
  }
}
