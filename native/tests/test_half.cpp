// core/half.h against first principles: every f16 value round-trips, f32 -> f16/bf16 picks
// the nearest representable value with ties to even, and specials behave.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/half.h"

using namespace caprese;

TEST(Half, EveryF16RoundTrips) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = F16ToF32(static_cast<uint16_t>(h));
    bool nan = ((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff) != 0;
    if (nan) {
      EXPECT_TRUE(std::isnan(f)) << h;
      EXPECT_TRUE(std::isnan(F16ToF32(F32ToF16(f)))) << h;
    } else {
      ASSERT_EQ(F32ToF16(f), h) << "f16 bits " << h << " value " << f;
    }
  }
}

TEST(Half, F16DecodesKnownValues) {
  EXPECT_EQ(F16ToF32(0x3c00), 1.0f);
  EXPECT_EQ(F16ToF32(0xc000), -2.0f);
  EXPECT_EQ(F16ToF32(0x7bff), 65504.0f);
  EXPECT_EQ(F16ToF32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(F16ToF32(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(F16ToF32(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_TRUE(std::isinf(F16ToF32(0x7c00)));
  EXPECT_TRUE(std::signbit(F16ToF32(0x8000)));
}

TEST(Half, F32ToF16RoundsToNearestEven) {
  // Ties: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10; the even one (1) wins.
  EXPECT_EQ(F32ToF16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(F32ToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(F32ToF16(65519.0f), 0x7bff);
  EXPECT_EQ(F32ToF16(65520.0f), 0x7c00);  // ties to even = inf
  EXPECT_EQ(F32ToF16(1e10f), 0x7c00);
  EXPECT_EQ(F32ToF16(-1e10f), 0xfc00);
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -25)), 0x0000);  // tie between 0 and 2^-24: 0
  EXPECT_EQ(F32ToF16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(F32ToF16(std::ldexp(3.0f, -25)), 0x0002);  // tie between 1 and 2 units: 2
  EXPECT_EQ(F32ToF16(-0.0f), 0x8000);
  EXPECT_EQ(F32ToF16(INFINITY), 0x7c00);
  EXPECT_TRUE(std::isnan(F16ToF32(F32ToF16(NAN))));
}

TEST(Half, F32ToF16IsNearest) {
  // Compared in double against the neighbours of the chosen value.
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> bits(0, 0xffffffffu);
  for (int i = 0; i < 200000; ++i) {
    float f = BitsToFloat(bits(rng));
    if (!std::isfinite(f) || std::fabs(f) >= 65504.0f) continue;
    uint16_t h = F32ToF16(f);
    double err = std::fabs(static_cast<double>(F16ToF32(h)) - f);
    for (int d : {-1, 1}) {
      uint16_t nb = static_cast<uint16_t>((h & 0x7fff) + d) | (h & 0x8000);
      if ((h & 0x7fff) == 0 && d < 0) continue;
      double nerr = std::fabs(static_cast<double>(F16ToF32(nb)) - f);
      ASSERT_LE(err, nerr) << f;
      if (err == nerr) {
        ASSERT_EQ(h & 1, 0) << "tie not to even: " << f;
      }
    }
  }
}

TEST(Half, BF16) {
  EXPECT_EQ(F32ToBF16(1.0f), 0x3f80);
  EXPECT_EQ(BF16ToF32(0x3f80), 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1).
  EXPECT_EQ(F32ToBF16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(F32ToBF16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(F32ToBF16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3f81);
  EXPECT_TRUE(std::isnan(BF16ToF32(F32ToBF16(NAN))));
  EXPECT_TRUE(std::isinf(BF16ToF32(F32ToBF16(INFINITY))));
  EXPECT_TRUE(std::isinf(BF16ToF32(F32ToBF16(3.4028235e38f))));  // rounds past the max
  for (uint32_t b = 0; b < 65536; ++b) {
    float f = BF16ToF32(static_cast<uint16_t>(b));
    if (!std::isnan(f)) {
      ASSERT_EQ(F32ToBF16(f), b);
    }
  }
}
