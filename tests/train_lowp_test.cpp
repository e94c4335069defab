// Mixed-precision training (DeepSeek-V3 §3.3): the E4M3 encoder, tile quantization, every GEMM
// path against the scalar reference on odd sizes and partial 128 blocks, the bf16 / fp8 Linears
// against f32, and short training runs at each precision.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/dtype.h"
#include "cpu/thread_pool.h"
#include "io/checkpoint.h"
#include "model/model.h"
#include "test_paths.h"
#include "test_util.h"
#include "train_util.h"
#include "training/lowp_linear.h"
#include "training/optimizer.h"
#include "training/trainer.h"
#include "training/transformer.h"

namespace fathom::train {
namespace {

using test::random_vec;

TEST(TrainLowp, E4M3EncodeRoundsLikeTheCoreEncoder) {
  // Every E4M3 value, the midpoints between neighbours (ties to even) and points just beside them,
  // subnormals, and values past 448 (saturate).
  std::vector<float> xs = {0.0f, -0.0f, 448.0f, 449.0f, 464.0f, 480.0f, 1e6f, 0x1p-10f, 0x1p-9f, 3 * 0x1p-10f, 0x1p-6f};
  for (int b = 0; b < 0x7e; ++b) {
    const float v = e4m3_to_f32(uint8_t(b)), w = e4m3_to_f32(uint8_t(b + 1)), mid = 0.5f * (v + w);
    for (float x : {v, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f), w}) xs.push_back(x);
  }
  for (float x : std::vector<float>(xs)) xs.push_back(-x);
  for (float x : xs) ASSERT_EQ(int(e4m3_encode(x)), int(f32_to_e4m3(x))) << x;
}

TEST(TrainLowp, TilesAreScaledByTheirOwnMax) {
  const int64_t R = 130, C = 300;  // partial blocks on both axes
  auto x = random_vec(R * C, 1);
  x[5 * C + 7] = 1000.0f;  // an outlier: only its own tiles' scales may see it
  // 1x128 (activations), 128x128 (weights), 128x1 (activations along the tokens, for Wgrad)
  for (auto [rg, cg] : {std::pair{int64_t(1), kLowpBlock}, {kLowpBlock, kLowpBlock}, {kLowpBlock, int64_t(1)}}) {
    LowpMatrix q;
    lowp_quantize(Ops{}, LowpFormat::E4M3, rg, x.data(), R, C, C, q, cg);
    std::vector<float> back(R * C);
    lowp_dequantize(Ops{}, q, back.data());
    for (int64_t r = 0; r < R; ++r)
      for (int64_t kb = 0; kb < q.col_tiles(); ++kb) {
        float amax = 0;
        for (int64_t rr = (r / rg) * rg; rr < std::min(R, (r / rg + 1) * rg); ++rr)
          for (int64_t c = kb * cg; c < std::min(C, kb * cg + cg); ++c) amax = std::max(amax, std::fabs(x[rr * C + c]));
        ASSERT_FLOAT_EQ(q.scale_of(r, kb * cg), amax / 448.0f) << r << "," << kb;
      }
    for (int64_t i = 0; i < R * C; ++i) {
      const float s = q.scale_of(i / C, i % C);
      ASSERT_EQ(int(q.bytes[i]), int(e4m3_encode(x[i] / s))) << i;  // the SIMD encoder is the scalar one
      // half a unit in the last place (3 mantissa bits), or half the subnormal step 2^-9
      ASSERT_LE(std::fabs(back[i] - x[i]), std::max(std::fabs(x[i]) * 0x1p-4f, s * 0x1p-10f) * 1.0001f) << i;
    }
    EXPECT_EQ(back[5 * C + 7], 1000.0f);  // the max of a tile maps to ±448 exactly
  }
  // Quantizing the transpose directly gives what quantizing an f32 transpose gives.
  std::vector<float> xt(C * R);
  transpose(x.data(), R, C, xt.data());
  for (LowpFormat f : {LowpFormat::E4M3, LowpFormat::BF16})
    for (int64_t rg : {int64_t(1), kLowpBlock}) {
      LowpMatrix want, got;
      lowp_quantize(Ops{}, f, rg, xt.data(), C, R, R, want);
      lowp_quantize_transposed(Ops{}, f, rg, x.data(), R, C, got);
      EXPECT_EQ(got.rows, C);
      EXPECT_EQ(got.cols, R);
      EXPECT_TRUE(got.bytes == want.bytes) << "format " << int(f) << " row group " << rg;
      EXPECT_TRUE(got.scale == want.scale) << "format " << int(f) << " row group " << rg;
    }
}

// Σ_k |A B| per output element in double, the scale of f32 rounding error.
std::vector<double> magnitude(const LowpMatrix& A, const LowpMatrix& B) {
  std::vector<float> a(A.rows * A.cols), b(B.rows * B.cols);
  lowp_dequantize(Ops{}, A, a.data());
  lowp_dequantize(Ops{}, B, b.data());
  std::vector<double> m(A.rows * B.cols, 0.0);
  for (int64_t i = 0; i < A.rows; ++i)
    for (int64_t j = 0; j < B.cols; ++j)
      for (int64_t k = 0; k < A.cols; ++k) m[i * B.cols + j] += std::fabs(double(a[i * A.cols + k]) * b[k * B.cols + j]);
  return m;
}

// The SIMD paths perform the reference's operations in its order, lane by lane: equal bit for bit.
TEST(TrainLowp, EveryGemmPathMatchesTheScalarReference) {
  cpu::ThreadPool pool(2);
  const Ops ops{&pool, nullptr, 0};
  // A's tiles rgA x 128, B's (K-major) 128 x cgB; sizes off every tile, panel and chunk boundary
  struct Shape { int64_t M, N, K, rgA, cgB; };
  const std::vector<Shape> shapes = {{1, 1, 1, 1, 1},      {5, 3, 64, 1, 128},     {67, 50, 200, 1, 128},
                                     {130, 33, 257, 128, 1}, {49, 97, 384, 1, 1},  {3, 130, 129, 1, 128},
                                     {13, 80, 1100, 1, 1},   {20, 17, 0, 1, 128}};
  for (LowpFormat f : {LowpFormat::E4M3, LowpFormat::BF16})
    for (const Shape& s : shapes) {
      auto a = random_vec(s.M * s.K, 11), b = random_vec(s.K * s.N, 12, 0.01f), c0 = random_vec(s.M * s.N, 13);
      for (int64_t i = 0; i < s.K; i += 7) a[i] *= 1e-4f;  // subnormal E4M3 values in some tiles
      LowpMatrix A, B;
      lowp_quantize(ops, f, s.rgA, a.data(), s.M, s.K, s.K, A);
      lowp_quantize(ops, f, kLowpBlock, b.data(), s.K, s.N, s.N, B, s.cgB);
      const auto mag = magnitude(A, B);
      // The reference is the dequantized product, up to f32 summation.
      std::vector<float> ref(c0);
      lowp_gemm(ops, LowpPath::Scalar, A, B, ref.data(), s.N, true);
      {
        std::vector<float> da(s.M * s.K), db(s.K * s.N);
        lowp_dequantize(ops, A, da.data());
        lowp_dequantize(ops, B, db.data());
        for (int64_t i = 0; i < s.M; ++i)
          for (int64_t j = 0; j < s.N; ++j) {
            double e = c0[i * s.N + j];
            for (int64_t k = 0; k < s.K; ++k) e += double(da[i * s.K + k]) * db[k * s.N + j];
            ASSERT_NEAR(ref[i * s.N + j], e, 1e-6 * (mag[i * s.N + j] + std::fabs(e)) + 1e-30);
          }
      }
      std::vector<float> ref0(c0.size());  // without accumulation
      lowp_gemm(Ops{}, LowpPath::Scalar, A, B, ref0.data(), s.N, false);
      for (LowpPath p : {LowpPath::Avx2, LowpPath::Avx512}) {
        if (!lowp_path_supported(p)) {
          std::printf("[ skipped  ] %s: not supported here\n", std::string(lowp_path_name(p)).c_str());
          continue;
        }
        for (bool acc : {false, true}) {
          std::vector<float> got(c0);
          lowp_gemm(ops, p, A, B, got.data(), s.N, acc);
          for (int64_t i = 0; i < s.M * s.N; ++i)
            ASSERT_EQ(got[i], acc ? ref[i] : ref0[i])
                << lowp_path_name(p) << " " << s.M << "x" << s.N << "x" << s.K << " format " << int(f) << " at " << i;
        }
      }
    }
}

double rel(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) num += double(a[i] - b[i]) * (a[i] - b[i]), den += double(b[i]) * b[i];
  return std::sqrt(num / den);
}

TEST(TrainLowp, LinearPassesStayWithinTheFormatsError) {
  cpu::ThreadPool pool(2);
  const int64_t N = 150, I = 200, O = 70;  // kv_lora_rank-like 70 < 128: partial blocks everywhere
  auto x = random_vec(N * I, 1), w = random_vec(O * I, 2, 0.05f), dy = random_vec(N * O, 3);
  auto run = [&](Precision p, std::vector<float>& y, std::vector<float>& dx, std::vector<float>& dw) {
    LowpWorkspace ws;
    ws.path = lowp_best_path();
    std::vector<float> scratch(matmul_scratch(N, I, O));
    const LinearCtx ctx{Ops{&pool, scratch.data(), int64_t(scratch.size())}, p, &ws};
    y.assign(N * O, 0.0f);
    dx.assign(N * I, 0.0f);
    dw.assign(O * I, 0.0f);
    linear_forward(ctx, y.data(), x.data(), w.data(), N, I, O);
    linear_backward(ctx, dx.data(), dw.data(), dy.data(), x.data(), w.data(), N, I, O);
  };
  std::vector<float> y32, dx32, dw32, y16, dx16, dw16, y8, dx8, dw8;
  run(Precision::F32, y32, dx32, dw32);
  run(Precision::BF16, y16, dx16, dw16);
  run(Precision::FP8, y8, dx8, dw8);
  // BF16 operands (8 significant bits): ~2^-9 relative per operand; E4M3 (4 bits): ~2^-5.
  for (auto [got, want, name] : {std::tuple{&y16, &y32, "bf16 y"}, {&dx16, &dx32, "bf16 dx"}, {&dw16, &dw32, "bf16 dW"}}) {
    std::printf("[ info     ] %s: relative L2 error %.3g\n", name, rel(*got, *want));
    EXPECT_LT(rel(*got, *want), 4e-3) << name;
    EXPECT_GT(rel(*got, *want), 1e-4) << name << ": not computed in bf16?";
  }
  for (auto [got, want, name] : {std::tuple{&y8, &y32, "fp8 y"}, {&dx8, &dx32, "fp8 dx"}, {&dw8, &dw32, "fp8 dW"}}) {
    std::printf("[ info     ] %s: relative L2 error %.3g\n", name, rel(*got, *want));
    EXPECT_LT(rel(*got, *want), 5.5e-2) << name;
    EXPECT_GT(rel(*got, *want), 5e-3) << name << ": not computed in fp8?";
  }
}

// The forward quantizes each weight once in 128x128 blocks and multiplies its transpose
// (lowp_transpose: bytes and block scales moved, nothing re-rounded), which must be exactly what
// quantizing the transposed f32 matrix gives; and Dgrad reuses that quantization only within the
// pass that made it: after the weight changes and a new pass starts, it quantizes again.
TEST(TrainLowp, WeightQuantizedOncePerPassEqualsQuantizingEachTime) {
  cpu::ThreadPool pool(2);
  const int64_t O = 300, I = 200;  // partial 128 blocks both ways
  for (LowpFormat f : {LowpFormat::E4M3, LowpFormat::BF16}) {
    const auto w = random_vec(O * I, 4, 0.05f);
    const Ops ops{&pool, nullptr, 0};
    LowpMatrix q, qt, direct;
    lowp_quantize(ops, f, kLowpBlock, w.data(), O, I, I, q);
    lowp_transpose(ops, q, qt);
    lowp_quantize_transposed(ops, f, kLowpBlock, w.data(), O, I, direct);
    EXPECT_EQ(qt.rows, I);
    EXPECT_EQ(qt.cols, O);
    EXPECT_EQ(qt.bytes, direct.bytes);
    EXPECT_EQ(qt.scale, direct.scale);
  }
  const int64_t N = 40;
  auto x = random_vec(N * I, 5), dy = random_vec(N * O, 6);
  auto w = random_vec(O * I, 7, 0.05f);
  std::vector<float> scratch(matmul_scratch(N, I, O));
  auto dgrad = [&](LowpWorkspace& ws, const std::vector<float>& weight, bool forward_first) {
    ws.path = lowp_best_path();
    const LinearCtx ctx{Ops{&pool, scratch.data(), int64_t(scratch.size())}, Precision::FP8, &ws};
    std::vector<float> y(N * O), dx(N * I, 0.0f), dw(O * I, 0.0f);
    if (forward_first) linear_forward(ctx, y.data(), x.data(), weight.data(), N, I, O);
    linear_backward(ctx, dx.data(), dw.data(), dy.data(), x.data(), weight.data(), N, I, O);
    return dx;
  };
  LowpWorkspace ws;
  dgrad(ws, w, true);           // quantizes w in this pass
  for (auto& v : w) v *= 1.5f;  // the optimizer's step
  ws.new_pass();
  LowpWorkspace fresh;
  EXPECT_EQ(dgrad(ws, w, false), dgrad(fresh, w, false)) << "a stale quantization of the weight was used";
  EXPECT_EQ(dgrad(ws, w, true), dgrad(fresh, w, false));
}

// A layer that keeps its input (keep_input: the quantized 1x128 tiles, DeepSeek's FP8 storage of the
// Linears' cached activations) gets exactly what the f32 input gives, bit for bit, in all three
// passes, even though the f32 values are overwritten right after they are kept; in f32 precision
// the kept input is the f32 activation itself.
TEST(TrainLowp, KeptInputsGiveExactlyTheF32InputsResults) {
  cpu::ThreadPool pool(2);
  const int64_t N = 150, I = 200, O = 70;
  const auto x = random_vec(N * I, 1), w = random_vec(O * I, 2, 0.05f), dy = random_vec(N * O, 3);
  for (Precision p : {Precision::F32, Precision::BF16, Precision::FP8}) {
    auto run = [&](bool keep, std::vector<float>& y, std::vector<float>& dx, std::vector<float>& dw) {
      LowpWorkspace ws;
      ws.path = lowp_best_path();
      std::vector<float> scratch(matmul_scratch(N, I, O));
      const LinearCtx ctx{Ops{&pool, scratch.data(), int64_t(scratch.size())}, p, &ws};
      std::vector<float> xin = x;
      LowpMatrix tiles;
      const LinearIn in = keep ? keep_input(ctx, xin.data(), N, I, tiles) : LinearIn(xin.data());
      if (keep && p != Precision::F32) {
        EXPECT_EQ(in.f32, nullptr);
        std::fill(xin.begin(), xin.end(), NAN);  // the shared f32 buffer's next use
      }
      y.assign(N * O, 0.0f);
      dx.assign(N * I, 0.0f);
      dw.assign(O * I, 0.0f);
      linear_forward(ctx, y.data(), in, w.data(), N, I, O);
      linear_backward(ctx, dx.data(), dw.data(), dy.data(), in, w.data(), N, I, O);
    };
    std::vector<float> y0, dx0, dw0, y1, dx1, dw1;
    run(false, y0, dx0, dw0);
    run(true, y1, dx1, dw1);
    EXPECT_EQ(std::memcmp(y0.data(), y1.data(), y0.size() * 4), 0) << precision_name(p);
    EXPECT_EQ(std::memcmp(dx0.data(), dx1.data(), dx0.size() * 4), 0) << precision_name(p);
    EXPECT_EQ(std::memcmp(dw0.data(), dw1.data(), dw0.size() * 4), 0) << precision_name(p);
  }
}

// In bf16 / fp8 the model keeps no per-layer f32 copy of the kept Linear inputs (ln1, q_a_norm, c,
// o, a dense layer's ln2, the dense and shared MLPs' SwiGLU output): its activation arena is
// smaller than f32's by exactly those buffers.
TEST(TrainLowp, LowPrecisionKeepsNoF32CopyOfTheLinearInputs) {
  const ModelConfig c = test::tiny_config();
  const int64_t B = 2, T = 16, N = B * T;
  auto bytes = [&](Precision p) {
    TrainSettings s;
    s.precision = p;
    Model m(c, B, T, nullptr, s);
    return int64_t(m.activation_bytes());
  };
  auto rounded = [](int64_t floats) { return (floats * 4 + 63) / 64 * 64; };
  int64_t per_layer = 0;
  const int64_t layers = c.num_hidden_layers + c.num_nextn_predict_layers;
  for (int64_t l = 0; l < layers; ++l) {
    per_layer += rounded(N * c.hidden_size);  // ln1
    if (c.q_lora_rank > 0) per_layer += rounded(N * c.q_lora_rank);
    per_layer += rounded(N * c.kv_lora_rank) + rounded(N * c.num_attention_heads * c.v_head_dim);
    if (c.is_moe_layer(l)) {
      if (c.n_shared_experts > 0) per_layer += rounded(N * c.moe_intermediate_size * c.n_shared_experts);
    } else {
      per_layer += rounded(N * c.hidden_size) + rounded(N * c.intermediate_size);  // ln2, a
    }
  }
  ASSERT_GT(per_layer, 0);
  EXPECT_EQ(bytes(Precision::F32) - bytes(Precision::FP8), per_layer);
  EXPECT_EQ(bytes(Precision::F32) - bytes(Precision::BF16), per_layer);
}

// The three passes against tests/reference/lowp_linear_ref.py, NumPy's emulation of the recipe
// written from the paper (float64 sums): the quantized operands must be the same values, so what
// is left is f32 accumulation, a few ulps of Σ|terms|. Skipped without python3 + NumPy.
TEST(TrainLowp, LinearMatchesTheNumpyReference) {
  const int64_t N = 150, I = 200, O = 70;
  auto x = random_vec(N * I, 1), w = random_vec(O * I, 2, 0.05f), dy = random_vec(N * O, 3);
  for (int64_t i = 0; i < N * I; i += 13) x[i] *= 1e-3f;  // subnormal E4M3 values in many tiles
  const std::string dir = ::fathom::test::scratch_dir("train/lowp-numpy");
  auto dump = [&](const char* name, const std::vector<float>& v) {
    std::ofstream(dir + "/" + name, std::ios::binary).write(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  };
  dump("x.f32", x);
  dump("w.f32", w);
  dump("dy.f32", dy);
  std::ofstream(dir + "/shape.json") << "{\"N\": " << N << ", \"I\": " << I << ", \"O\": " << O << "}";
  const std::string cmd =
      "/usr/bin/python3 " + FATHOM_SOURCE_DIR + "/tests/reference/lowp_linear_ref.py " + dir + " 2>&1";
  const int rc = std::system(cmd.c_str());
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) GTEST_SKIP() << "python3 with NumPy is not available";
  ASSERT_EQ(rc, 0) << cmd;
  cpu::ThreadPool pool(2);
  for (Precision p : {Precision::BF16, Precision::FP8}) {
    std::vector<double> ref(2 * (N * O + N * I + O * I));  // values, then magnitudes
    std::ifstream(dir + "/" + std::string(precision_name(p)) + ".f64", std::ios::binary)
        .read(reinterpret_cast<char*>(ref.data()), std::streamsize(ref.size() * 8));
    for (LowpPath path : {LowpPath::Scalar, LowpPath::Avx2, LowpPath::Avx512}) {
      if (!lowp_path_supported(path)) continue;
      LowpWorkspace ws;
      ws.path = path;
      const LinearCtx ctx{Ops{&pool, nullptr, 0}, p, &ws};
      std::vector<float> y(N * O), dx(N * I, 0.0f), dw(O * I, 0.0f);
      linear_forward(ctx, y.data(), x.data(), w.data(), N, I, O);
      linear_backward(ctx, dx.data(), dw.data(), dy.data(), x.data(), w.data(), N, I, O);
      const double* r = ref.data();
      const double* mag = ref.data() + ref.size() / 2;
      for (const auto& [got, name] : {std::pair{&y, "y"}, {&dx, "dx"}, {&dw, "dW"}}) {
        for (size_t i = 0; i < got->size(); ++i)
          ASSERT_NEAR((*got)[i], r[i], 1e-5 * mag[i] + 1e-30)
              << precision_name(p) << " " << lowp_path_name(path) << " " << name << "[" << i << "]";
        r += got->size();
        mag += got->size();
      }
    }
  }
}

// A few training steps of the tiny model at each precision: the losses follow f32's closely, and
// the thread count does not change a bit.
TEST(TrainLowp, ShortRunsFollowF32AndIgnoreThreads) {
  ModelConfig c = test::tiny_config();
  c.hidden_size = 64;  // wide enough for a 1x128 tile to hold more than a handful of values
  c.intermediate_size = 96;
  c.moe_intermediate_size = 32;
  auto train = [&](Precision p, int threads) {
    cpu::ThreadPool pool(threads);
    TrainSettings s;
    s.precision = p;
    Model m(c, 2, 16, &pool, s);
    init_params(m.layout(), m.params(), 1);
    std::vector<int32_t> win(2 * m.window());
    std::mt19937 rng(3);
    for (auto& t : win) t = int32_t(rng() % 8);  // a small alphabet: learnable in a few steps
    std::vector<float> mom(m.layout().numel()), var(m.layout().numel());
    const Ops ops{&pool, nullptr, 0};
    AdamWConfig ac;
    ac.bf16_moments = p != Precision::F32;
    std::vector<double> losses;
    for (int step = 0; step < 8; ++step) {
      m.zero_grad();
      losses.push_back(m.step(win.data(), true).total);
      clip_grad_norm(ops, m.layout(), m.grads(), 1.0);
      adamw_step(ops, m.layout(), m.params(), m.grads(), mom.data(), var.data(), step + 1, 3e-3, ac);
    }
    return losses;
  };
  const auto f32 = train(Precision::F32, 2);
  EXPECT_LT(f32.back(), 0.9 * f32.front());  // it learns
  for (Precision p : {Precision::BF16, Precision::FP8}) {
    const auto l2 = train(p, 2);
    if (p == Precision::FP8) {
      EXPECT_EQ(train(p, 1), l2) << "fp8 depends on the thread count";
    }
    std::printf("[ info     ] %s: loss %.5f -> %.5f (f32 %.5f -> %.5f)\n", std::string(precision_name(p)).c_str(),
                l2.front(), l2.back(), f32.front(), f32.back());
    for (size_t i = 0; i < f32.size(); ++i)
      EXPECT_NEAR(l2[i], f32[i], 0.01 * f32[i]) << precision_name(p) << " step " << i + 1;
    EXPECT_NE(l2.back(), f32.back()) << precision_name(p) << ": ran in f32?";
  }
}

// A quiet 2-thread run of a tiny model, batch 2 x 8.
TrainOptions tiny_run(const std::string& config, const std::string& data, const std::string& out) {
  TrainOptions o;
  o.config_path = config;
  o.data_dir = data;
  o.out_dir = out;
  o.batch = 2;
  o.seq = 8;
  o.threads = 2;
  o.eval_every = 0;
  o.quiet = true;
  o.handle_signals = false;
  return o;
}

// An fp8 run interrupted after step 2 and resumed without --precision continues in fp8: the same
// steps, bit for bit, as the run that was not interrupted.
TEST(TrainLowp, ResumeContinuesThePrecision) {
  const std::string root = ::fathom::test::scratch_dir("train/lowp-resume");
  const std::string data = root + "/data";
  std::filesystem::create_directories(data);
  test::write_data(data, test::tiny_config().vocab_size, 4000, 600);
  const std::string cfg = root + "/model.json";
  std::ofstream(cfg) << test::tiny_config().to_json().dump(2);
  auto options = [&](const std::string& out) {
    TrainOptions o = tiny_run(cfg, data, root + "/" + out);
    o.steps = 4;
    o.warmup = 1;
    o.precision = "fp8";
    return o;
  };
  std::vector<double> straight, resumed;
  run_training(options("a"), [&](const StepRecord& r) { straight.push_back(r.losses.total); });
  TrainOptions b = options("b");
  b.stop_after = 2;
  b.save_every = 2;
  run_training(b, [&](const StepRecord& r) { resumed.push_back(r.losses.total); });
  TrainOptions c = options("b");
  c.precision = "f32";  // not typed: the saved fp8 wins
  c.resume = true;
  run_training(c, [&](const StepRecord& r) { resumed.push_back(r.losses.total); });
  EXPECT_EQ(straight, resumed);
  TrainOptions f32 = options("c");
  f32.precision = "f32";
  std::vector<double> other;
  run_training(f32, [&](const StepRecord& r) { other.push_back(r.losses.total); });
  EXPECT_NE(straight.back(), other.back());  // fp8 is not f32 here
}

// --save-dtype fp8 writes DeepSeek-V3's layout: fathom's loader reads it back (the Linears within
// E4M3's rounding of 128x128-block-scaled weights), and inference gives nearly the logits of the
// bf16 save of the same weights.
TEST(TrainLowp, Fp8CheckpointLoadsLikeDeepSeeksRelease) {
  const std::string root = ::fathom::test::scratch_dir("train/lowp-save");
  const std::string data = root + "/data";
  std::filesystem::create_directories(data);
  const ModelConfig cfg = test::tiny_config();
  test::write_data(data, cfg.vocab_size, 4000, 600);
  std::ofstream(root + "/model.json") << cfg.to_json().dump(2);
  auto run = [&](const std::string& dtype) {
    TrainOptions o = tiny_run(root + "/model.json", data, root + "/" + dtype);
    o.steps = 2;
    o.save_dtype = dtype;
    run_training(o);
    return o.out_dir;
  };
  const std::string f32_dir = run("f32"), bf16_dir = run("bf16"), fp8_dir = run("fp8");

  io::Checkpoint ck(fp8_dir);
  const std::string q = "model.layers.1.self_attn.kv_b_proj.weight";
  ASSERT_TRUE(ck.find(q) && ck.find(q + "_scale_inv"));
  EXPECT_EQ(ck.find(q)->dtype, DType::F8_E4M3);
  EXPECT_EQ(ck.find(q + "_scale_inv")->dtype, DType::F32);
  EXPECT_EQ(ck.find("model.layers.2.mlp.experts.3.down_proj.weight")->dtype, DType::F8_E4M3);  // MTP's layer
  EXPECT_EQ(ck.find("model.embed_tokens.weight")->dtype, DType::BF16);
  EXPECT_EQ(ck.find("model.layers.2.eh_proj.weight")->dtype, DType::BF16);
  EXPECT_EQ(ck.find("model.layers.1.mlp.gate.weight")->dtype, DType::BF16);
  EXPECT_EQ(ck.find("model.layers.1.mlp.gate.e_score_correction_bias")->dtype, DType::F32);

  // Loaded back, every FP8 Linear is the f32 weight within half an E4M3 step of its block's scale.
  const ParamLayout layout(cfg);
  std::vector<float> exact(layout.numel()), back(layout.numel());
  load_params(layout, exact.data(), f32_dir);
  load_params(layout, back.data(), fp8_dir);
  int64_t fp8_tensors = 0;
  for (const ParamTensor& t : layout.tensors()) {
    if (ck.find(t.name)->dtype != DType::F8_E4M3) continue;
    ++fp8_tensors;
    float amax = 0;  // the tiny model's matrices fit one 128x128 block
    for (int64_t i = 0; i < t.numel; ++i) amax = std::max(amax, std::fabs(exact[t.offset + i]));
    for (int64_t i = 0; i < t.numel; ++i) {
      const float w = exact[t.offset + i];
      ASSERT_LE(std::fabs(back[t.offset + i] - w), std::max(std::fabs(w) * 0x1p-4f, amax / 448 * 0x1p-10f) * 1.001f)
          << t.name << "[" << i << "]";
    }
  }
  EXPECT_GT(fp8_tensors, 20);

  // Inference on both saves of the same weights.
  auto logits_of = [&](const std::string& dir) {
    auto model = fathom::Model::load(dir);
    const int64_t T = 10, V = cfg.vocab_size;
    std::vector<int32_t> win(T);
    for (int64_t i = 0; i < T; ++i) win[i] = int32_t((i * 7 + 3) % V);
    std::vector<float> logits(T * V), hidden(T * cfg.hidden_size);
    LatentCache cache = model->make_cache(T);
    model->forward(Exec::oracle(), win.data(), T, cache, AttentionPath::Expanded, logits.data(), hidden.data());
    return logits;
  };
  const auto l16 = logits_of(bf16_dir), l8 = logits_of(fp8_dir);
  const double d = ::fathom::test::rel_l2(l8, l16);
  std::printf("[ info     ] fp8 vs bf16 save: logits relative L2 %.3g\n", d);
  EXPECT_LT(d, 0.02);
  EXPECT_GT(d, 1e-4);  // the Linears really are E4M3
}

}  // namespace
}  // namespace fathom::train
