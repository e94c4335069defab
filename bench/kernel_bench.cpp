// Kernel benchmarks at DeepSeek-V2-Lite shapes (hidden 2048, dense FFN 10944, expert FFN 1408).
//   GEMV/<fmt>/<rows>/<cols>/<threads>: decode (n = 1). The weights are cycled through copies
//     totalling > 512 MiB so they stream from DRAM, not from the (large) L3; reports weight GB/s.
//   MoeGemv/<fmt>/<threads>: one MoE layer's decode products as the model issues them (two
//     matmul_batch calls: gate and up of 6 routed experts + the 2-expert-wide shared expert, then
//     their down products), experts drawn from 64 so they stream from DRAM; reports weight GB/s.
//   GEMM/<fmt>/<rows>/<cols>/<n>/<threads>: prefill; reports GFLOP/s (2 * rows * cols * n).
//   ReadCeiling/<threads>: the read bandwidth the same threads sustain (cpu::ReadBandwidthProbe, as
//     `fathom bench --ceiling`): the GEMV's GB/s divided by it is its share of the ceiling.
// Run: chrt -r 1 build/bench/fathom_kernel_bench [--benchmark_filter=GEMV] (FATHOM_ISA caps the path).
#include <benchmark/benchmark.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "cpu/read_bandwidth.h"
#include "cpu/thread_pool.h"
#include "ops/latent_attention.h"
#include "ops/quant/latent_q8.h"
#include "ops/matmul.h"
#include "ops/quant/q4_0.h"
#include "ops/quant/q8_0.h"

namespace {

using fathom::ops::WFormat;

constexpr WFormat kFormats[] = {WFormat::F32, WFormat::F16, WFormat::BF16, WFormat::F8_E4M3,
                                WFormat::Q8_0, WFormat::Q4_0};
const char* format_name(WFormat f) {
  switch (f) {
    case WFormat::F32: return "F32";
    case WFormat::F16: return "F16";
    case WFormat::BF16: return "BF16";
    case WFormat::F8_E4M3: return "F8_E4M3";
    case WFormat::F8_E5M2: return "F8_E5M2";
    case WFormat::Q8_0: return "Q8_0";
    case WFormat::Q4_0: return "Q4_0";
  }
  return "?";
}

// `copies` identical matrices in one allocation, each usable as a WeightMatrix.
// Weight memory is anonymous and advised to use transparent huge pages, as the model loader should
// do for decode: with 4 KiB pages the TLB misses of a VM's nested page walk cost about half the
// streaming bandwidth.
struct Mapping {
  void* p = nullptr;
  size_t n = 0;
  ~Mapping() {
    if (p) munmap(p, n);
  }
  // n bytes of anonymous memory, huge-page advised (FATHOM_BENCH_NO_HUGEPAGES=1: 4 KiB pages).
  uint8_t* map(size_t bytes) {
    n = bytes;
    p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    if (std::getenv("FATHOM_BENCH_NO_HUGEPAGES") == nullptr) madvise(p, n, MADV_HUGEPAGE);
    return static_cast<uint8_t*>(p);
  }
};

// How many copies of `bytes` to cycle through so that each comes from memory, not cache (at least
// 2, over 512 MiB in all); FATHOM_BENCH_HOT=1: one, cache-resident (the kernels' compute ceiling).
int64_t streamed_copies(int64_t bytes) {
  return std::getenv("FATHOM_BENCH_HOT") ? 1 : std::max<int64_t>(2, (512ll << 20) / bytes + 1);
}

struct Weights {
  Mapping map;
  std::vector<float> scales;
  std::vector<fathom::ops::WeightMatrix> mats;
};

Weights make_weights(WFormat f, int64_t rows, int64_t cols, int64_t copies) {
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.0f, 0.02f);
  std::vector<float> w(size_t(rows * cols));
  for (auto& v : w) v = g(rng);
  const int64_t row_bytes = fathom::ops::weight_row_bytes(f, cols), mat_bytes = rows * row_bytes;
  Weights out;
  uint8_t* first = out.map.map(size_t(mat_bytes * copies));
  for (size_t i = 0; i < w.size(); ++i) {
    switch (f) {
      case WFormat::F32: reinterpret_cast<float*>(first)[i] = w[i]; break;
      case WFormat::F16: reinterpret_cast<uint16_t*>(first)[i] = fathom::f32_to_f16(w[i]); break;
      case WFormat::BF16: reinterpret_cast<uint16_t*>(first)[i] = fathom::f32_to_bf16(w[i]); break;
      case WFormat::F8_E4M3: first[i] = fathom::f32_to_e4m3(w[i] * 1e4f); break;
      case WFormat::F8_E5M2: first[i] = fathom::f32_to_e5m2(w[i]); break;
      default: break;
    }
  }
  if (f == WFormat::Q8_0) fathom::ops::quant::q8_0_quantize(w.data(), rows, cols, first);
  if (f == WFormat::Q4_0) fathom::ops::quant::q4_0_quantize(w.data(), rows, cols, first);
  out.scales.assign(size_t(((rows + 127) / 128) * ((cols + 127) / 128)), 1e-4f);
  for (int64_t c = 1; c < copies; ++c) std::memcpy(first + c * mat_bytes, first, size_t(mat_bytes));
  for (int64_t c = 0; c < copies; ++c) {
    fathom::ops::WeightMatrix m;
    m.format = f;
    m.rows = rows;
    m.cols = cols;
    m.data = first + c * mat_bytes;
    m.scale_inv = out.scales.data();
    out.mats.push_back(m);
  }
  return out;
}

void BM_Gemv(benchmark::State& state) {
  const WFormat f = kFormats[state.range(0)];
  const int64_t rows = state.range(1), cols = state.range(2);
  const int threads = int(state.range(3));
  const int64_t mat_bytes = rows * fathom::ops::weight_row_bytes(f, cols);
  const int64_t copies = streamed_copies(mat_bytes);
  Weights W = make_weights(f, rows, cols, copies);
  std::vector<float> x(size_t(cols), 0.5f), y(static_cast<size_t>(rows));
  fathom::cpu::ThreadPool pool(threads);
  size_t i = 0;
  for (auto _ : state) {
    fathom::ops::matmul(W.mats[i], x.data(), 1, y.data(), &pool);
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % W.mats.size();
  }
  state.SetLabel(format_name(f));
  state.counters["GB/s"] = benchmark::Counter(double(mat_bytes) * double(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_MoeGemv(benchmark::State& state) {
  const WFormat f = kFormats[state.range(0)];
  const int threads = int(state.range(1));
  constexpr int64_t H = 2048, I = 1408, kExperts = 64, kActive = 6, kShared = 2;
  Weights gate = make_weights(f, I, H, kExperts), up = make_weights(f, I, H, kExperts),
          down = make_weights(f, H, I, kExperts);
  const int64_t shared_bytes = 3 * fathom::ops::weight_row_bytes(f, H) * kShared * I;
  const int64_t shared_copies = streamed_copies(shared_bytes * 3);
  Weights sgate = make_weights(f, kShared * I, H, shared_copies), sup = make_weights(f, kShared * I, H, shared_copies),
          sdown = make_weights(f, H, kShared * I, shared_copies);
  std::vector<float> x(size_t(H), 0.5f), g(size_t((kActive + kShared) * I)), u(g.size()), y(size_t((kActive + 1) * H));
  fathom::cpu::ThreadPool pool(threads);
  std::vector<fathom::ops::MatmulJob> jobs;
  int64_t i = 0;
  for (auto _ : state) {
    jobs.clear();
    for (int64_t e = 0; e < kActive; ++e) {
      const int64_t m = (i * kActive + e) % kExperts;
      jobs.push_back({&gate.mats[m], x.data(), 1, g.data() + e * I});
      jobs.push_back({&up.mats[m], x.data(), 1, u.data() + e * I});
    }
    const int64_t sc = i % shared_copies;
    jobs.push_back({&sgate.mats[sc], x.data(), 1, g.data() + kActive * I});
    jobs.push_back({&sup.mats[sc], x.data(), 1, u.data() + kActive * I});
    fathom::ops::matmul_batch(jobs, &pool);
    jobs.clear();
    for (int64_t e = 0; e < kActive; ++e)
      jobs.push_back({&down.mats[(i * kActive + e) % kExperts], g.data() + e * I, 1, y.data() + e * H});
    jobs.push_back({&sdown.mats[sc], g.data() + kActive * I, 1, y.data() + kActive * H});
    fathom::ops::matmul_batch(jobs, &pool);
    benchmark::DoNotOptimize(y.data());
    ++i;
  }
  state.SetLabel(format_name(f));
  const double bytes = double(3 * kActive * I * fathom::ops::weight_row_bytes(f, H) + shared_bytes);
  state.counters["GB/s"] = benchmark::Counter(bytes * double(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_Gemm(benchmark::State& state) {
  const WFormat f = kFormats[state.range(0)];
  const int64_t rows = state.range(1), cols = state.range(2), n = state.range(3);
  const int threads = int(state.range(4));
  Weights W = make_weights(f, rows, cols, 1);
  std::vector<float> x(size_t(n * cols), 0.5f), y(size_t(n * rows));
  fathom::cpu::ThreadPool pool(threads);
  for (auto _ : state) {
    fathom::ops::matmul(W.mats[0], x.data(), n, y.data(), &pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(format_name(f));
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * double(rows * cols * n) * double(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
}

void BM_ReadCeiling(benchmark::State& state) {
  fathom::cpu::ThreadPool pool(int(state.range(0)));
  const fathom::cpu::ReadBandwidthProbe probe(size_t(1) << 30);
  double best = 0;
  for (auto _ : state) best = std::max(best, probe.measure(&pool, 1));
  state.counters["GB/s"] = best;
}

void gemv_args(benchmark::internal::Benchmark* b) {
  for (int64_t f = 0; f < int64_t(std::size(kFormats)); ++f)
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{10944, 2048}, {2048, 10944}, {1408, 2048}, {2048, 1408},
                              {3072, 2048}, {576, 2048}, {102400, 2048}})
      for (int64_t t : {1, 2}) b->Args({f, rows, cols, t});
}

void gemm_args(benchmark::internal::Benchmark* b) {
  for (int64_t f = 0; f < int64_t(std::size(kFormats)); ++f)
    for (int64_t t : {1, 2}) b->Args({f, 10944, 2048, 512, t});
  for (int64_t f : {2, 3, 4, 5})
    for (int64_t t : {1, 2}) b->Args({f, 1408, 2048, 48, t});  // a routed expert's share of pp512
}

// Absorbed-MLA decode attention (V2-Lite/V3 shape: 16 heads, 512 + 64 latent row) over `positions`
// cached rows. Several layers' caches are cycled (FATHOM_BENCH_HOT=1: one) so the rows come from
// memory, as at decode. isa: 0 the AVX2 kernel, 1 the active ISA.
void BM_LatentAttention(benchmark::State& state) {
  const int64_t positions = state.range(0), heads = state.range(1), threads = state.range(2);
  const int64_t dk = 576, dv = 512;
  // Huge-page-backed, as the model's latent cache is.
  const size_t cache_bytes = size_t(positions * dk) * sizeof(float);
  const int64_t layers = streamed_copies(int64_t(cache_bytes));
  Mapping map;
  uint8_t* base = map.map(cache_bytes * size_t(layers));
  std::vector<float*> caches;
  for (int64_t c = 0; c < layers; ++c) caches.push_back(reinterpret_cast<float*>(base + c * cache_bytes));
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (int64_t k = 0; k < positions * dk; ++k) caches[0][k] = g(rng);
  for (int64_t c = 1; c < layers; ++c) std::memcpy(caches[c], caches[0], cache_bytes);
  std::vector<float> q(size_t(heads * dk)), out(size_t(heads * dv));
  for (auto& v : q) v = g(rng) * 0.3f;
  const fathom::cpu::Isa isa = state.range(3) ? fathom::cpu::active_isa() : fathom::cpu::Isa::Avx2;
  fathom::cpu::ThreadPool pool{int(threads)};
  size_t i = 0;
  for (auto _ : state) {
    fathom::ops::LatentAttention a{q.data(), heads, caches[i], dk, positions, dk, dv, 0.05f, out.data()};
    fathom::ops::latent_attention(isa, a, &pool);
    benchmark::DoNotOptimize(out.data());
    i = (i + 1) % caches.size();
  }
  state.SetLabel(std::string(fathom::cpu::isa_name(isa)));
  const double flop = 2.0 * double(heads * positions * (dk + dv));
  state.counters["GFLOP/s"] = benchmark::Counter(flop * double(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
  state.counters["GB/s"] =
      benchmark::Counter(double(positions * dk * 4) * double(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
}

// The same over the 8-bit cache (--cache-type q8): GB/s counts the bytes it really reads.
void BM_LatentAttentionQ8(benchmark::State& state) {
  const int64_t positions = state.range(0), heads = state.range(1), threads = state.range(2);
  const int64_t rank = 512, rope = 64, dk = rank + rope;
  const fathom::ops::LatentQ8Layout lay(rank, rope);
  const int64_t rows_p = fathom::ops::LatentQ8Layout::padded_rows(positions);
  const size_t layer_bytes = size_t(lay.bytes(positions) + 2 * rows_p * 4);
  const int64_t layers = streamed_copies(int64_t(layer_bytes));
  Mapping map;
  uint8_t* first = map.map(layer_bytes * size_t(layers));
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<fathom::ops::LatentQ8Rows> caches;
  std::vector<float> row(static_cast<size_t>(dk));
  for (int64_t c = 0; c < layers; ++c) {
    uint8_t* base = first + size_t(c) * layer_bytes;
    float* sl = reinterpret_cast<float*>(base + lay.bytes(positions));
    if (c == 0)
      for (int64_t s = 0; s < positions; ++s) {
        for (auto& v : row) v = g(rng);
        fathom::ops::latent_q8_store_row(lay, base, sl, sl + rows_p, s, row.data());
      }
    else
      std::memcpy(base, first, layer_bytes);
    caches.push_back({base, sl, sl + rows_p, lay});
  }
  std::vector<float> q(size_t(heads * dk)), out(size_t(heads * rank));
  for (auto& v : q) v = g(rng) * 0.3f;
  const fathom::cpu::Isa isa = state.range(3) ? fathom::cpu::active_isa() : fathom::cpu::Isa::Avx2;
  fathom::cpu::ThreadPool pool{int(threads)};
  size_t i = 0;
  for (auto _ : state) {
    const fathom::ops::LatentAttentionQ8 a{q.data(), heads, caches[i], positions, 0.05f, out.data()};
    fathom::ops::latent_attention(isa, a, &pool);
    benchmark::DoNotOptimize(out.data());
    i = (i + 1) % caches.size();
  }
  state.SetLabel(std::string(fathom::cpu::isa_name(isa)));
  const double flop = 2.0 * double(heads * positions * (dk + rank));
  state.counters["GFLOP/s"] = benchmark::Counter(flop * double(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
  state.counters["GB/s"] = benchmark::Counter(double(layer_bytes) * double(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
}

void latent_args(benchmark::internal::Benchmark* b) {
  for (int64_t isa : {0, 1})
    for (int64_t positions : {256, 1024, 4096, 16384})
      for (int64_t t : {1, 2}) b->Args({positions, 16, t, isa});
}

BENCHMARK(BM_ReadCeiling)->ArgsProduct({{1, 2}})->ArgNames({"threads"})->UseRealTime()->Iterations(4);
BENCHMARK(BM_Gemv)->Apply(gemv_args)->ArgNames({"fmt", "rows", "cols", "threads"})->UseRealTime()->MinTime(0.3);
BENCHMARK(BM_MoeGemv)->ArgsProduct({{4, 5}, {1, 2}})->ArgNames({"fmt", "threads"})->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_Gemm)->Apply(gemm_args)->ArgNames({"fmt", "rows", "cols", "n", "threads"})->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_LatentAttention)->Apply(latent_args)->ArgNames({"positions", "heads", "threads", "isa"})->UseRealTime()->MinTime(0.3);
BENCHMARK(BM_LatentAttentionQ8)->Apply(latent_args)->ArgNames({"positions", "heads", "threads", "isa"})->UseRealTime()->MinTime(0.3);

}  // namespace

BENCHMARK_MAIN();
