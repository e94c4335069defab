#include "cpu/cpu_features.h"

#include <gtest/gtest.h>

namespace fathom::cpu {

TEST(CpuFeatures, LevelsAreConsistent) {
  const Features& f = features();
  EXPECT_TRUE(isa_supported(Isa::Scalar));
  if (isa_supported(Isa::Avx2)) {
    EXPECT_TRUE(f.avx2 && f.fma && f.f16c && f.os_ymm);
  }
  if (isa_supported(Isa::Avx512)) {
    EXPECT_TRUE(isa_supported(Isa::Avx2));
    EXPECT_TRUE(f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512_vnni && f.os_zmm);
  }
  EXPECT_TRUE(isa_supported(active_isa()));
  // This project's baseline build is x86-64-v3: a machine running the tests has AVX2.
  EXPECT_TRUE(isa_supported(Isa::Avx2));
}

TEST(CpuFeatures, NamesRoundTrip) {
  for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    Isa back;
    ASSERT_TRUE(parse_isa(isa_name(i), &back));
    EXPECT_EQ(back, i);
  }
  Isa dummy;
  EXPECT_FALSE(parse_isa("sse9", &dummy));
  EXPECT_FALSE(describe().empty());
}

}  // namespace fathom::cpu
