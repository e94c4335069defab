// The GRPO objective (Shao et al., DeepSeekMath §4.1, eq. 3; DeepSeek-R1 §2.2.1) as per-token loss
// weights for the trainer's Model (transformer.h LossWeightFn), so the policy-gradient step runs the
// same forward / backward as `fathom train`.
//
// For each prompt q, G answers o_1..o_G are sampled from π_old and rewarded r_1..r_G. With M answers
// in the step (prompts × G), the objective maximised is
//
//   J = 1/M Σ_i 1/|o_i| Σ_t [ min(ρ_it A_i, clip(ρ_it, 1−ε, 1+ε) A_i) − β D_it ]
//   ρ_it = π(o_it | q, o_i<t) / π_old(o_it | …)
//   D_it = π_ref/π − log(π_ref/π) − 1        (DeepSeekMath's unbiased, non-negative KL estimator)
//   A_i  = (r_i − mean_g r) / (std_g r + ε_A) over the answer's group; population std; ε_A = 1e-4;
//          a group whose rewards are all equal gets A = 0 exactly (it carries no signal; only the
//          KL term acts on its answers).
//
// Each answer's token terms are averaged over its own length |o_i| (the DeepSeekMath normalisation),
// then answers are averaged. The loss minimised is −J. Its derivative with respect to the log-
// probability of token (i, t) is
//   ∂J/∂log π_it = ρ_it A_i · [the min picks the unclipped term] − β (1 − π_ref/π)
// where the clipped term is picked (and the gradient cut) when A > 0 and ρ > 1+ε, or A < 0 and ρ < 1−ε.
// Since ∂CE/∂log π = −1, the step's loss (1/N) Σ_n w_n CE_n has the gradient of −J when
//   w_n = N / (M |o_i|) · ∂J/∂log π_n        (N = B·T positions of a micro-batch)
// and 0 at prompt and padding positions. Micro-batches of one step add their gradients.
#pragma once
#include <cstdint>
#include <vector>

#include "training/transformer.h"

namespace fathom::train {

struct GrpoHyper {
  double clip_eps = 0.2;  // ε of the clipped ratio
  double beta = 0.04;     // β, the KL coefficient (DeepSeekMath's value)
};

// Group-normalised advantages of one group's rewards (see above for ε_A and equal rewards).
std::vector<double> group_advantages(const std::vector<double>& rewards);
constexpr double kAdvantageEps = 1e-4;

// One sampled answer and what its loss terms need.
struct GrpoSample {
  std::vector<int32_t> prompt, answer;  // the answer ends with EOS when generation stopped there
  double advantage = 0;
  std::vector<float> logp_old;  // [answer] log π_old per token; empty: filled on the first pass (ρ = 1)
  std::vector<float> logp_ref;  // [answer] log π_ref per token
};

// Sums over the answers of a step (every micro-batch adds into it).
struct GrpoStats {
  double objective = 0;   // J
  double kl = 0;          // 1/M Σ_i 1/|o_i| Σ_t D_it
  int64_t tokens = 0;     // answer tokens
  int64_t clipped = 0;    // answer tokens whose gradient the clip cut
  double clip_fraction() const { return tokens > 0 ? double(clipped) / double(tokens) : 0.0; }
  double loss() const { return -objective; }
};

// Rows [first, first + B) of samples as token windows [B, W] (W = T + 1 + D): prompt, answer, then
// pad_id. Rows past the end of samples are all padding (weight 0). Fails if a sample is longer than
// T + 1 tokens.
void grpo_windows(const std::vector<GrpoSample>& samples, int64_t first, int64_t B, int64_t T, int64_t W,
                  int32_t pad_id, int32_t* windows);

// The weights of rows [first, first + B) for the Model's heads (head 0; the MTP heads get 0: the
// objective is on the policy's next-token distribution). Fills empty logp_old from the forward pass,
// adds the micro-batch's terms to *stats. M: answers in the whole step.
LossWeightFn grpo_weights(std::vector<GrpoSample>& samples, int64_t first, int64_t B, int64_t T, int64_t M,
                          const GrpoHyper& hyper, GrpoStats* stats);

// A LossWeightFn that only records log π of each answer token of rows [first, first + B) into
// logp_ref (the frozen reference model's forward pass) and weighs nothing.
LossWeightFn record_reference_logp(std::vector<GrpoSample>& samples, int64_t first, int64_t B, int64_t T);

}  // namespace fathom::train
