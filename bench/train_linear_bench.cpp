// The cost of one training Linear (forward + both backward GEMMs, quantization included) at each
// --precision, on the default model's Linear shapes (configs/default-model.json) for N tokens,
// and of the bare lowp_gemm on each path. Plain timing, interleaved: each round runs every case
// once, and the median over rounds is reported, in GFLOP/s of the 3 GEMMs (6·N·I·O) and ms.
//   cmake --build build --target fathom_train_linear_bench
//   build/bench/fathom_train_linear_bench [N=1024] [threads=2] [rounds=5]
// FATHOM_ISA caps the low-precision path as it does in `fathom train`.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "cpu/thread_pool.h"
#include "training/lowp_linear.h"

using namespace fathom;
using namespace fathom::train;

namespace {

struct Shape { const char* name; int64_t I, O; };
// q_a, q_b, kv_a, kv_b, o, dense gate/up, dense down, expert (and shared) gate/up, expert down
constexpr Shape kShapes[] = {{"q_a", 256, 128}, {"q_b", 128, 192}, {"kv_a", 256, 80}, {"kv_b", 64, 256},
                             {"o", 128, 256},   {"mlp_up", 256, 768}, {"mlp_down", 768, 256},
                             {"exp_up", 256, 128}, {"exp_down", 128, 256}};

std::vector<float> random(int64_t n, uint32_t seed, float scale) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(g);
  return v;
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

int main(int argc, char** argv) {
  const int64_t N = argc > 1 ? std::atoll(argv[1]) : 1024;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 5;
  cpu::ThreadPool pool(threads);
  std::printf("N = %lld tokens, %d threads, %d rounds (median); low-precision path %s\n", (long long)N, threads, rounds,
              std::string(lowp_path_name(lowp_best_path())).c_str());
  const Precision precs[] = {Precision::F32, Precision::BF16, Precision::FP8};
  std::printf("%-9s %6s %6s |", "linear", "I", "O");
  for (Precision p : precs) std::printf(" %5s ms  GF/s |", std::string(precision_name(p)).c_str());
  std::printf("\n");
  double total[3] = {};
  for (const Shape& s : kShapes) {
    auto x = random(N * s.I, 1, 1.0f), w = random(s.O * s.I, 2, 0.05f), dy = random(N * s.O, 3, 1e-3f);
    std::vector<float> y(N * s.O), dx(N * s.I), dw(s.O * s.I), scratch(matmul_scratch(N, s.I, s.O));
    LowpWorkspace ws;
    ws.path = lowp_best_path();
    std::vector<double> t[3];
    for (int r = 0; r < rounds + 1; ++r)
      for (int pi = 0; pi < 3; ++pi) {
        const LinearCtx ctx{Ops{&pool, scratch.data(), int64_t(scratch.size())}, precs[pi], &ws};
        const double t0 = now();
        linear_forward(ctx, y.data(), x.data(), w.data(), N, s.I, s.O);
        linear_backward(ctx, dx.data(), dw.data(), dy.data(), x.data(), w.data(), N, s.I, s.O);
        if (r > 0) t[pi].push_back(now() - t0);  // round 0 warms the buffers
      }
    std::printf("%-9s %6lld %6lld |", s.name, (long long)s.I, (long long)s.O);
    for (int pi = 0; pi < 3; ++pi) {
      std::sort(t[pi].begin(), t[pi].end());
      const double med = t[pi][t[pi].size() / 2];
      total[pi] += med;
      std::printf(" %8.2f %5.1f |", med * 1e3, 6.0 * double(N) * s.I * s.O / med * 1e-9);
    }
    std::printf("\n");
  }
  std::printf("%-23s |", "sum of medians");
  for (int pi = 0; pi < 3; ++pi) std::printf(" %8.2f %5s |", total[pi] * 1e3, "");
  std::printf("\nspeed-up over f32: bf16 %.2fx, fp8 %.2fx\n", total[0] / total[1], total[0] / total[2]);
}
