// Token sampling: turns one position's logits into the next token id.
//
// Order of operations (the Hugging Face / vLLM order, so the server's OpenAI parameters mean what
// clients expect): penalties -> temperature -> top-k -> top-p -> min-p -> draw.
//   repeat_penalty     llama.cpp semantics: every distinct token among the last repeat_last_n tokens
//                      of the context (prompt and generated) has its logit divided by the penalty
//                      when positive, multiplied when negative.
//   presence/frequency OpenAI semantics over the generated tokens only:
//                      logit -= presence * [count > 0] + frequency * count.
//   temperature 0      greedy: the argmax after penalties; ties go to the lowest id.
// Every step is deterministic for a given seed: candidates are ordered by (probability desc, id asc),
// so ties and cut-offs never depend on sort stability, and the draw uses the top 53 bits of
// mt19937_64 (whose output the C++ standard fixes), not std::uniform_real_distribution (whose
// algorithm is left to the library).
#pragma once
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <span>
#include <unordered_map>
#include <vector>

namespace fathom {

struct SamplerParams {
  float temperature = 0.8f;  // 0 = greedy
  int32_t top_k = 40;        // <= 0: off
  float top_p = 0.95f;       // >= 1: off
  float min_p = 0.05f;       // <= 0: off; keep p >= min_p * p_max
  float repeat_penalty = 1.0f;  // 1: off
  int32_t repeat_last_n = 64;   // window of the repeat penalty (0: off, -1: whole context)
  float presence_penalty = 0.0f, frequency_penalty = 0.0f;
  uint64_t seed = 0;

  // The model's own distribution at `temperature`: no top-k, top-p or min-p, no penalties. What
  // OpenAI's API defaults to, and what GRPO samples and eval-arith --temp scores.
  static SamplerParams plain(float temperature) {
    SamplerParams s;
    s.temperature = temperature;
    s.top_k = 0;
    s.top_p = 1.0f;
    s.min_p = 0.0f;
    return s;
  }

  // Throws fathom::Error naming the field when a value is out of range.
  void validate() const;
};

// The one seed rule of every frontend: the given seed plus `turn` (the n-th answer of a
// conversation, so each turn draws a fresh stream that --seed still reproduces), else 64 random
// bits from the OS. The same seed gives the same tokens through run, chat (first turn) and serve.
uint64_t sequence_seed(std::optional<uint64_t> given, uint64_t turn = 0);

// A token and its probability after all filters (what a caller reporting logprobs would want).
struct Candidate {
  int32_t id;
  float p;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& params);

  // Context tokens that are not generated (the prompt): they count for the repeat penalty only.
  void accept_prompt(std::span<const int32_t> tokens);
  // A generated token: counts for all penalties.
  void accept(int32_t token);
  void reset();  // forget all accepted tokens (the seed's stream continues)

  // Picks the next token from logits [vocab]. Does not accept it.
  int32_t sample(std::span<const float> logits);

  // The candidates left after penalties, temperature and the filters, in draw order (probability
  // descending, id ascending), probabilities renormalised to sum to 1. Greedy gives one candidate.
  std::vector<Candidate> distribution(std::span<const float> logits);

  const SamplerParams& params() const { return params_; }

  // The next number of the seeded stream, in [0, 1): what sample() draws with (speculative decoding
  // draws its acceptance tests from the same stream).
  double uniform();

 private:
  void apply_penalties(std::vector<float>& logits) const;
  void remember(int32_t token);

  SamplerParams params_;
  std::mt19937_64 rng_;
  std::deque<int32_t> recent_;                      // last repeat_last_n context tokens
  std::unordered_map<int32_t, int32_t> generated_;  // generated token -> count
};

}  // namespace fathom
