#include "cpu/read_bandwidth.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "cpu/thread_pool.h"

namespace fathom::cpu {
namespace {

TEST(ReadBandwidthProbe, RejectsABufferSmallerThanOneSlice) {
  try {
    ReadBandwidthProbe p(size_t(1) << 20);
    FAIL() << "a 1 MiB probe was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("read bandwidth probe"), std::string::npos) << e.what();
  }
}

TEST(ReadBandwidthProbe, RoundsToWholeSlicesAndMeasuresWithAndWithoutAPool) {
  ReadBandwidthProbe p((size_t(40) << 20) + 12345);  // 2.5 slices of 16 MiB
  EXPECT_EQ(p.bytes(), size_t(32) << 20);
  ThreadPool pool(2);
  for (ThreadPool* tp : {static_cast<ThreadPool*>(nullptr), &pool}) {
    const double gbs = p.measure(tp, 2);
    // Not a speed assertion: any real machine reads 32 MiB at more than 10 MB/s and less than
    // 100 TB/s, while a wrong byte count or clock unit lands outside.
    EXPECT_TRUE(std::isfinite(gbs));
    EXPECT_GT(gbs, 0.01);
    EXPECT_LT(gbs, 1e5);
  }
}

}  // namespace
}  // namespace fathom::cpu
