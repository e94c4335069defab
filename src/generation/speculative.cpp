#include "generation/speculative.h"

#include <algorithm>
#include <limits>
#include <string>

#include "core/assert.h"
#include "core/error.h"
#include "generation/logits_check.h"
#include "model/model.h"
#include "model/mtp.h"
#include "tokenizer/tokenizer.h"

namespace fathom {

std::vector<int32_t> draft_vocabulary(const tok::Tokenizer& tok, int64_t vocab, int64_t n) {
  std::vector<int32_t> first, last;
  const int32_t eos = tok.eos_id();
  if (eos >= 0 && eos < vocab) first.push_back(eos);
  for (int32_t id = 0; id < vocab; ++id) {
    if (id == eos) continue;
    bool rare = !tok.is_valid_id(id);
    if (!rare && !tok.is_special(id)) {
      const std::string& b = tok.token_bytes(id);
      const unsigned char ch = b.size() == 1 ? static_cast<unsigned char>(b[0]) : 0;
      rare = b.size() == 1 && !((ch >= 0x20 && ch < 0x7f) || ch == '\t' || ch == '\n');
    }
    (rare ? last : first).push_back(id);
  }
  first.insert(first.end(), last.begin(), last.end());
  first.resize(size_t(std::clamp<int64_t>(n, 1, vocab)));
  return first;
}

int64_t default_draft_vocabulary_size(int64_t vocab) {
  return std::min(vocab, std::max<int64_t>(1024, vocab / 4));
}

void SpeculativeSampler::begin_round(RoundMask* mask) {
  history_ = sampler_;
  drafts_.clear();
  mask_ = mask;
  if (mask_) mask_->restart();
}

std::span<const float> SpeculativeSampler::masked(std::span<const float> row, bool* any_allowed) {
  *any_allowed = true;
  if (!mask_) return row;
  masked_.assign(row.begin(), row.end());
  *any_allowed = mask_->apply(masked_);
  // A draft row scores only its sub-vocabulary (-inf elsewhere): the mask may leave nothing of it.
  if (*any_allowed)
    *any_allowed = std::any_of(masked_.begin(), masked_.end(),
                               [](float x) { return x > -std::numeric_limits<float>::infinity(); });
  return masked_;
}

int32_t SpeculativeSampler::draw(const std::vector<Candidate>& d) {
  // Sampler::sample's rule, so a round without drafts draws exactly what sample() would.
  if (d.size() == 1) return d[0].id;
  const double u = sampler_.uniform();
  double cum = 0;
  for (const Candidate& c : d) {
    cum += c.p;
    if (u < cum) return c.id;
  }
  return d.back().id;
}

int32_t SpeculativeSampler::draft(std::span<const float> draft_logits) {
  const size_t k = drafts_.size();
  bool any = true;
  const std::span<const float> row = masked(draft_logits, &any);
  if (!any) return -1;
  if (q_.size() <= k) q_.resize(k + 1);
  q_[k] = history_.distribution(row);
  const int32_t x = draw(q_[k]);
  history_.accept(x);
  if (mask_) mask_->advance(x);
  drafts_.push_back(x);
  return x;
}

int64_t SpeculativeSampler::verify(std::span<const float> target_logits, int64_t first_position,
                                   std::vector<int32_t>& out) {
  const int64_t K = drafts(), rows = K + 1;
  if (target_logits.empty() || target_logits.size() % size_t(rows) != 0)
    fail("speculative verify: {} logits are not {} rows", target_logits.size(), rows);
  const size_t V = target_logits.size() / size_t(rows);
  if (q_dense_.size() < V) q_dense_.assign(V, 0.0);
  history_ = sampler_;
  if (mask_) mask_->restart();
  for (int64_t j = 0; j <= K; ++j) {
    check_logits_finite(target_logits.subspan(size_t(j) * V, V), first_position + j);
    bool any = true;
    const std::span<const float> row = masked(target_logits.subspan(size_t(j) * V, V), &any);
    if (!any) fail("no token of the vocabulary can continue the JSON document at position {}", first_position + j);
    const std::vector<Candidate> p = history_.distribution(row);
    if (j == K) {  // every draft accepted: the bonus token comes from the last row
      out.push_back(draw(p));
      return K;
    }
    const std::vector<Candidate>& q = q_[size_t(j)];
    for (const Candidate& c : q) q_dense_[size_t(c.id)] = c.p;
    const int32_t x = drafts_[size_t(j)];
    double px = 0;
    for (const Candidate& c : p)
      if (c.id == x) px = c.p;
    const double qx = q_dense_[size_t(x)];  // > 0: x was drawn from q
    // Keep x with probability min(1, p(x) / q(x)); no draw when the answer is certain (greedy).
    const bool keep = px >= qx || (px > 0 && sampler_.uniform() * qx < px);
    if (keep) {
      for (const Candidate& c : q) q_dense_[size_t(c.id)] = 0.0;
      out.push_back(x);
      history_.accept(x);
      if (mask_) mask_->advance(x);
      continue;
    }
    // Rejected: draw from normalize(max(0, p - q)). Its support lies within p's.
    residual_.clear();
    double sum = 0;
    for (const Candidate& c : p) {
      const double r = double(c.p) - q_dense_[size_t(c.id)];
      if (r > 0) {
        residual_.push_back({c.id, float(r)});
        sum += r;
      }
    }
    for (const Candidate& c : q) q_dense_[size_t(c.id)] = 0.0;
    if (sum > 0) {
      for (Candidate& c : residual_) c.p = float(double(c.p) / sum);
      out.push_back(draw(residual_));
    } else {
      out.push_back(draw(p));  // p == q up to rounding: the residual is empty
    }
    return j;
  }
  return K;  // not reached
}

void SpeculativeDecoder::step(const Exec& ex, std::span<SpeculativeSequence* const> seqs) {
  const int64_t V = model_.config().vocab_size, H = model_.config().hidden_size, B = int64_t(seqs.size());
  if (B == 0) return;
  tokens_.clear();
  counts_.clear();
  caches_.clear();
  std::vector<int64_t>& length = lengths_;
  length.clear();
  for (SpeculativeSequence* s : seqs) {
    FATHOM_ASSERT(s->cache && s->sampler, "speculative sequence without a cache or a sampler");
    const int64_t L = s->cache->length();
    if (s->drafter && s->drafter->length() != L)
      fail("speculative step: the drafter has seen {} positions, the cache holds {}", s->drafter->length(), L);
    // The verification writes 1 + K rows: never more than the cache has room for.
    const int64_t K = s->drafter ? std::clamp<int64_t>(s->max_drafts, 0, s->cache->capacity() - L - 1) : 0;
    s->tokens.clear();
    s->sampler->begin_round(s->mask);
    tokens_.push_back(s->next);
    int64_t drafted = 0;
    if (K > 0) {
      int32_t d = s->sampler->draft(s->drafter->first_draft(ex, s->next));
      while (d >= 0) {  // -1: the mask left the draft nothing to propose
        tokens_.push_back(d);
        if (++drafted == K) break;
        d = s->sampler->draft(s->drafter->next_draft(ex, d));
      }
    }
    counts_.push_back(1 + drafted);
    caches_.push_back(s->cache);
    length.push_back(L);
  }
  const int64_t N = int64_t(tokens_.size());
  logits_.resize(size_t(N * V));
  hidden_.resize(size_t(N * H));
  model_.decode_batch(ex, tokens_.data(), counts_.data(), B, caches_.data(), logits_.data(), hidden_.data());
  for (int64_t b = 0, row = 0; b < B; ++b) {
    SpeculativeSequence& s = *seqs[size_t(b)];
    const int64_t n = counts_[size_t(b)];
    const std::span<const float> target(logits_.data() + row * V, size_t(n * V));
    s.accepted = s.sampler->verify(target, length[size_t(b)], s.tokens);
    s.drafted = n - 1;
    s.cache->truncate(length[size_t(b)] + s.accepted + 1);  // drop the rows of rejected drafts
    if (s.drafter) s.drafter->observe(ex, tokens_.data() + row, hidden_.data() + row * H, s.accepted + 1);
    row += n;
  }
}

}  // namespace fathom
