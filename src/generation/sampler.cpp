#include "generation/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "core/error.h"
#include "ops/argmax.h"

namespace fathom {

void SamplerParams::validate() const {
  if (!std::isfinite(temperature) || temperature < 0) fail("temperature must be >= 0 (got {})", temperature);
  if (!(top_p >= 0 && top_p <= 1)) fail("top-p must be in [0, 1] (got {})", top_p);
  if (!(min_p >= 0 && min_p <= 1)) fail("min-p must be in [0, 1] (got {})", min_p);
  if (!std::isfinite(repeat_penalty) || repeat_penalty <= 0)
    fail("repeat penalty must be > 0 (got {})", repeat_penalty);
  if (repeat_last_n < -1) fail("repeat-last-n must be >= -1 (got {})", repeat_last_n);
  if (!std::isfinite(presence_penalty)) fail("presence penalty must be finite");
  if (!std::isfinite(frequency_penalty)) fail("frequency penalty must be finite");
}

uint64_t sequence_seed(std::optional<uint64_t> given, uint64_t turn) {
  if (given) return *given + turn;  // unsigned: wraps, never overflows
  std::random_device rd;
  return uint64_t(rd()) << 32 | uint64_t(rd());
}

Sampler::Sampler(const SamplerParams& params) : params_(params), rng_(params.seed) { params_.validate(); }

void Sampler::remember(int32_t token) {
  if (params_.repeat_last_n == 0) return;
  recent_.push_back(token);
  if (params_.repeat_last_n > 0 && recent_.size() > size_t(params_.repeat_last_n)) recent_.pop_front();
}

void Sampler::accept_prompt(std::span<const int32_t> tokens) {
  for (int32_t t : tokens) remember(t);
}

void Sampler::accept(int32_t token) {
  remember(token);
  ++generated_[token];
}

void Sampler::reset() {
  recent_.clear();
  generated_.clear();
}

double Sampler::uniform() { return double(rng_() >> 11) * 0x1.0p-53; }

void Sampler::apply_penalties(std::vector<float>& l) const {
  const int64_t V = int64_t(l.size());
  if (params_.repeat_penalty != 1.0f) {
    // Each distinct token once, however often it occurs in the window (llama.cpp's rule).
    std::unordered_set<int32_t> seen(recent_.begin(), recent_.end());
    for (int32_t t : seen) {
      if (t < 0 || t >= V) continue;
      l[t] = l[t] > 0 ? l[t] / params_.repeat_penalty : l[t] * params_.repeat_penalty;
    }
  }
  if (params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f) {
    for (auto [t, n] : generated_) {
      if (t < 0 || t >= V) continue;
      l[t] -= params_.presence_penalty + params_.frequency_penalty * float(n);
    }
  }
}

std::vector<Candidate> Sampler::distribution(std::span<const float> logits) {
  if (logits.empty()) fail("sampler: empty logits");
  if (params_.temperature <= 0 && params_.repeat_penalty == 1.0f && params_.presence_penalty == 0.0f &&
      params_.frequency_penalty == 0.0f) {
    // Greedy without penalties (several times a step with MTP): the argmax of the logits as they
    // are, without the copy, unless no value is above -inf (then the NaN rule below decides).
    const int64_t i = ops::argmax(logits.data(), int64_t(logits.size()));
    if (logits[size_t(i)] > -std::numeric_limits<float>::infinity()) return {{int32_t(i), 1.0f}};
  }
  std::vector<float> l(logits.begin(), logits.end());
  for (float& x : l)  // NaN can only come from a broken model; never let it win
    if (std::isnan(x)) x = -std::numeric_limits<float>::infinity();
  apply_penalties(l);
  const int32_t V = int32_t(l.size());

  if (params_.temperature <= 0) {
    return {{int32_t(ops::argmax(l.data(), V)), 1.0f}};  // the lowest id wins a tie
  }

  struct Scored {
    int32_t id;
    float logit;
  };
  std::vector<Scored> c;
  c.reserve(V);
  for (int32_t i = 0; i < V; ++i)
    if (l[i] != -std::numeric_limits<float>::infinity()) c.push_back({i, l[i] / params_.temperature});
  if (c.empty()) return {{0, 1.0f}};  // every token masked: nothing sensible left, pick id 0
  auto before = [](const Scored& a, const Scored& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); };
  if (params_.top_k > 0 && size_t(params_.top_k) < c.size()) {
    std::partial_sort(c.begin(), c.begin() + params_.top_k, c.end(), before);
    c.resize(params_.top_k);
  } else {
    std::sort(c.begin(), c.end(), before);
  }

  // Softmax over what is left (in double: 100k+ terms), then the nucleus and min-p cuts, each on
  // the distribution renormalised by the previous cut as Hugging Face's warpers do.
  std::vector<double> p(c.size());
  double sum = 0;
  for (size_t i = 0; i < c.size(); ++i) sum += p[i] = std::exp(double(c[i].logit) - double(c[0].logit));
  size_t keep = c.size();
  if (params_.top_p < 1.0f) {
    double cum = 0;
    for (size_t i = 0; i < keep; ++i) {
      cum += p[i] / sum;
      if (cum >= double(params_.top_p)) {
        keep = i + 1;  // the smallest prefix reaching top_p, never empty
        break;
      }
    }
    sum = 0;
    for (size_t i = 0; i < keep; ++i) sum += p[i];
  }
  if (params_.min_p > 0.0f) {
    const double threshold = double(params_.min_p) * p[0];  // p[0] is the most probable
    size_t n = 1;
    while (n < keep && p[n] >= threshold) ++n;
    keep = n;
    sum = 0;
    for (size_t i = 0; i < keep; ++i) sum += p[i];
  }
  std::vector<Candidate> out(keep);
  for (size_t i = 0; i < keep; ++i) out[i] = {c[i].id, float(p[i] / sum)};
  return out;
}

int32_t Sampler::sample(std::span<const float> logits) {
  std::vector<Candidate> d = distribution(logits);
  if (d.size() == 1) return d[0].id;
  const double u = uniform();
  double cum = 0;
  for (const Candidate& c : d) {
    cum += c.p;
    if (u < cum) return c.id;
  }
  return d.back().id;  // u landed in the rounding slack above the last cumulative sum
}

}  // namespace fathom
