// Timing behind docs/PERFORMANCE.md run 18's BF16 GEMV figures: the AVX-512 decode GEMV
// (detail::gemv_float_rows) on one thread with the matrix in cache, at the default model's shapes,
// for 1 to 4 tokens (best of 30 rounds of 200 calls each). Not part of the build:
//   g++ -O2 -march=native -std=c++20 -Isrc bench/experiments/gemv_bf16_small.cpp build/libfathom_lib.a \
//       -lfmt -lpthread -o build/gemv_bf16_small && build/gemv_bf16_small
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "ops/gemv_float.h"

using namespace fathom;

int main() {
  struct Shape {
    int64_t rows, cols;
  } shapes[] = {{4096, 256}, {1024, 256}, {128, 256}, {256, 128}, {768, 256}, {256, 768}, {80, 256}};
  std::mt19937 rng(1);
  for (const Shape s : shapes) {
    std::vector<uint16_t> w(size_t(s.rows * s.cols));
    for (auto& v : w) v = uint16_t(0x3c00 + (rng() & 0xff));
    ops::WeightMatrix W;
    W.format = ops::WFormat::BF16;
    W.rows = s.rows;
    W.cols = s.cols;
    W.data = w.data();
    std::vector<float> x(size_t(4 * s.cols)), y(size_t(4 * s.rows));
    for (auto& v : x) v = float(rng() & 1023) / 1024.0f;
    struct alignas(64) Line { float f[16]; };
    std::vector<Line> prep(size_t(4 * ops::detail::bf16_act_floats(s.cols) / 16));
    double best[5] = {1e9, 1e9, 1e9, 1e9, 1e9};
    for (int round = 0; round < 30; ++round)
      for (int n = 1; n <= 4; ++n) {
        ops::detail::prepare_bf16_act(W, x.data(), n, prep.data()->f);
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < 200; ++i) ops::detail::gemv_float_rows(W, x.data(), prep.data()->f, n, y.data(), 0, W.rows);
        const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / 200;
        best[n] = std::min(best[n], us);
      }
    std::printf("%5ldx%-4ld 1 token %6.2f us | 2 tokens %6.2f us (%.2fx) | 3 tokens %6.2f us | 4 tokens %6.2f us\n",
                long(s.rows), long(s.cols), best[1], best[2], best[2] / best[1], best[3], best[4]);
  }
}
