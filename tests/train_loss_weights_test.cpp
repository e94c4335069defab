// Per-token loss weights (transformer.h LossWeightFn): all-ones weights are the unweighted step
// exactly, gradients are linear in the weights (a weight of 2 doubles a token's gradient, a weight
// of 0 removes it), masked data gives the mean over the mask's targets, and a head with weight 0
// (--mtp-weight 0) adds no gradient at all.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "train_util.h"
#include "training/loss_weights.h"
#include "training/transformer.h"

namespace fathom::train {
namespace {

constexpr int64_t kB = 2, kT = 6;

struct Fixture {
  ModelConfig cfg = test::tiny_config();
  Model model;
  std::vector<int32_t> windows;
  explicit Fixture(TrainSettings s = TrainSettings{0.3f, 0.0f}) : model(cfg, kB, kT, nullptr, s) {
    test::random_params(model.layout(), model.params(), 11);
    windows.resize(size_t(kB * model.window()));
    for (size_t i = 0; i < windows.size(); ++i) windows[i] = int32_t((i * 13 + 5) % cfg.vocab_size);
  }
  // The gradient of one step with the given weights (per head: [N]) or none.
  std::vector<float> grads(const std::vector<std::vector<float>>* w, double* loss = nullptr) {
    if (w)
      model.set_loss_weights([w](int head, const float*, float* out) {
        const auto& src = (*w)[size_t(head)];
        std::copy(src.begin(), src.end(), out);
      });
    else
      model.set_loss_weights({});
    model.zero_grad();
    const StepLosses l = model.step(windows.data(), true);
    if (loss) *loss = l.total;
    return std::vector<float>(model.grads(), model.grads() + model.layout().numel());
  }
};

std::vector<std::vector<float>> constant_weights(float v) {
  return std::vector<std::vector<float>>(2, std::vector<float>(kB * kT, v));
}

TEST(TrainLossWeights, AllOnesIsTheUnweightedStepExactly) {
  Fixture f;
  double l0 = 0, l1 = 0;
  const auto g0 = f.grads(nullptr, &l0);
  const auto ones = constant_weights(1.0f);
  const auto g1 = f.grads(&ones, &l1);
  EXPECT_EQ(l0, l1);
  ASSERT_EQ(g0.size(), g1.size());
  for (size_t i = 0; i < g0.size(); ++i) ASSERT_EQ(g0[i], g1[i]) << "parameter " << i;
}

TEST(TrainLossWeights, GradientIsLinearInTheWeights) {
  Fixture f;
  const int64_t a = 3, b = kT + 4;  // one position in each row
  auto only = [&](int64_t n, float v) {
    auto w = constant_weights(0.0f);
    w[0][size_t(n)] = v;
    return w;
  };
  const auto wa = only(a, 1.0f), wb = only(b, 1.0f), wb2 = only(b, 2.0f);
  auto both = only(a, 1.0f);
  both[0][size_t(b)] = 2.0f;
  const auto ga = f.grads(&wa), gb = f.grads(&wb), gb2 = f.grads(&wb2), gboth = f.grads(&both);
  const auto zeros = constant_weights(0.0f);
  const auto g0 = f.grads(&zeros);
  double norm = 0, err2 = 0, errsum = 0;
  for (size_t i = 0; i < ga.size(); ++i) {
    norm += double(gb[i]) * gb[i];
    err2 += std::pow(double(gb2[i]) - 2.0 * gb[i], 2);
    errsum += std::pow(double(gboth[i]) - (double(ga[i]) + 2.0 * gb[i]), 2);
    ASSERT_EQ(g0[i], 0.0f) << "all-zero weights must give exactly zero gradient (parameter " << i << ")";
  }
  ASSERT_GT(norm, 1e-6);
  EXPECT_LT(std::sqrt(err2 / norm), 1e-6) << "a weight of 2 must double the token's gradient";
  EXPECT_LT(std::sqrt(errsum / norm), 1e-5) << "gradients of weighted tokens must add";
}

TEST(TrainLossWeights, MaskedMeanIsTheMeanOverMarkedTargets) {
  Fixture f(TrainSettings{0.0f, 0.0f});
  const int64_t W = f.model.window(), V = f.cfg.vocab_size, N = kB * kT;
  std::vector<uint8_t> mask(size_t(kB * W), 0);
  for (int64_t j : {2, 3, 5}) mask[size_t(j)] = 1;   // row 0: targets of positions 1, 2, 4
  for (int64_t j : {1, 6}) mask[size_t(W + j)] = 1;  // row 1: positions 0, 5
  std::vector<float> logits(size_t(N * V));
  f.model.set_loss_weights({});
  f.model.step(f.windows.data(), false, logits.data());
  double want = 0;
  int count = 0;
  for (int64_t b = 0; b < kB; ++b)
    for (int64_t t = 0; t < kT; ++t) {
      if (!mask[size_t(b * W + t + 1)]) continue;
      const float* z = logits.data() + (b * kT + t) * V;
      double mx = z[0], s = 0;
      for (int64_t v = 1; v < V; ++v) mx = std::max(mx, double(z[v]));
      for (int64_t v = 0; v < V; ++v) s += std::exp(double(z[v]) - mx);
      want += std::log(s) + mx - z[f.windows[size_t(b * W + t + 1)]];
      ++count;
    }
  want /= count;
  f.model.set_loss_weights(masked_mean_weights(mask.data(), kB, kT, W));
  const StepLosses l = f.model.step(f.windows.data(), false);
  EXPECT_NEAR(l.loss, want, 1e-5 * std::fabs(want));
}

TEST(TrainLossWeights, ZeroMtpWeightAddsNoGradient) {
  Fixture f(TrainSettings{0.0f, 0.0f});
  const auto g = f.grads(nullptr);
  // The MTP module's own tensors get nothing, and lm_head only the main head's gradient.
  for (const auto& t : f.model.layout().tensors()) {
    if (t.name.rfind("model.layers." + std::to_string(f.cfg.num_hidden_layers) + ".", 0) != 0) continue;
    for (int64_t i = 0; i < t.numel; ++i) ASSERT_EQ(g[size_t(t.offset + i)], 0.0f) << t.name;
  }
  auto main_only = constant_weights(1.0f);
  std::fill(main_only[1].begin(), main_only[1].end(), 0.0f);
  const auto gw = f.grads(&main_only);
  const ParamTensor* head = f.model.layout().find("lm_head.weight");
  ASSERT_NE(head, nullptr);
  for (int64_t i = 0; i < head->numel; ++i) ASSERT_EQ(g[size_t(head->offset + i)], gw[size_t(head->offset + i)]);
}

}  // namespace
}  // namespace fathom::train
