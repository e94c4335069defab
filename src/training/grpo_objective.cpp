#include "training/grpo_objective.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace fathom::train {

std::vector<double> group_advantages(const std::vector<double>& rewards) {
  const size_t G = rewards.size();
  std::vector<double> adv(G, 0.0);
  if (G == 0 || std::all_of(rewards.begin(), rewards.end(), [&](double r) { return r == rewards[0]; })) return adv;
  double mean = 0;
  for (double r : rewards) mean += r / double(G);
  double var = 0;
  for (double r : rewards) var += (r - mean) * (r - mean) / double(G);
  const double denom = std::sqrt(var) + kAdvantageEps;
  for (size_t i = 0; i < G; ++i) adv[i] = (rewards[i] - mean) / denom;
  return adv;
}

void grpo_windows(const std::vector<GrpoSample>& samples, int64_t first, int64_t B, int64_t T, int64_t W,
                  int32_t pad_id, int32_t* windows) {
  std::fill(windows, windows + B * W, pad_id);
  for (int64_t b = 0; b < B && first + b < int64_t(samples.size()); ++b) {
    const GrpoSample& s = samples[size_t(first + b)];
    const int64_t n = int64_t(s.prompt.size() + s.answer.size());
    if (s.prompt.empty() || s.answer.empty()) fail("GRPO sample {}: empty prompt or answer", first + b);
    if (n > T + 1)
      fail("GRPO sample {}: prompt + answer is {} tokens, more than the training sequence + 1 ({})", first + b, n,
           T + 1);
    std::copy(s.prompt.begin(), s.prompt.end(), windows + b * W);
    std::copy(s.answer.begin(), s.answer.end(), windows + b * W + int64_t(s.prompt.size()));
  }
}

namespace {
// Calls fn(sample, j, n) for answer token j of each sample in rows [first, first + B), n being the
// position [b·T + t] whose target it is.
template <typename Fn>
void for_answer_tokens(std::vector<GrpoSample>& samples, int64_t first, int64_t B, int64_t T, Fn&& fn) {
  for (int64_t b = 0; b < B && first + b < int64_t(samples.size()); ++b) {
    GrpoSample& s = samples[size_t(first + b)];
    const int64_t p = int64_t(s.prompt.size());
    for (int64_t j = 0; j < int64_t(s.answer.size()); ++j) fn(s, j, b * T + p + j - 1);
  }
}
}  // namespace

LossWeightFn grpo_weights(std::vector<GrpoSample>& samples, int64_t first, int64_t B, int64_t T, int64_t M,
                          const GrpoHyper& hyper, GrpoStats* stats) {
  return [&samples, first, B, T, M, hyper, stats](int head, const float* logp, float* w) {
    const int64_t N = B * T;
    std::fill(w, w + N, 0.0f);
    if (head != 0) return;
    const double eps = hyper.clip_eps, beta = hyper.beta;
    for_answer_tokens(samples, first, B, T, [&](GrpoSample& s, int64_t j, int64_t n) {
      const double lp = logp[n];
      // Without π_old's values the answers were sampled from the current weights: π_old = π, ρ = 1.
      if (j == 0 && s.logp_old.size() != s.answer.size()) s.logp_old.clear();
      if (int64_t(s.logp_old.size()) == j) s.logp_old.push_back(float(lp));
      if (s.logp_ref.size() != s.answer.size()) fail("GRPO: sample {} has no reference log-probabilities", first + n / T);
      const double A = s.advantage, L = double(s.answer.size());
      const double rho = std::exp(lp - double(s.logp_old[size_t(j)]));
      const double log_ratio_ref = double(s.logp_ref[size_t(j)]) - lp;  // log(π_ref / π)
      const double r = std::exp(log_ratio_ref);
      const double kl = r - log_ratio_ref - 1.0;
      const double rho_c = std::clamp(rho, 1.0 - eps, 1.0 + eps);
      const bool clipped = (A > 0 && rho > 1.0 + eps) || (A < 0 && rho < 1.0 - eps);
      const double surrogate = std::min(rho * A, rho_c * A);
      const double dJ = (clipped ? 0.0 : rho * A) - beta * (1.0 - r);
      w[n] = float(double(N) / (double(M) * L) * dJ);
      stats->objective += (surrogate - beta * kl) / (double(M) * L);
      stats->kl += kl / (double(M) * L);
      stats->tokens += 1;
      stats->clipped += clipped ? 1 : 0;
    });
  };
}

LossWeightFn record_reference_logp(std::vector<GrpoSample>& samples, int64_t first, int64_t B, int64_t T) {
  return [&samples, first, B, T](int head, const float* logp, float* w) {
    std::fill(w, w + B * T, 0.0f);
    if (head != 0) return;
    for_answer_tokens(samples, first, B, T, [&](GrpoSample& s, int64_t j, int64_t n) {
      if (j == 0) s.logp_ref.clear();
      s.logp_ref.push_back(logp[n]);
    });
  };
}

}  // namespace fathom::train
