// `fathom bench --verify K,...` (issue 20): what a speculative verify step of 1+K tokens costs against
// a one-token step, on the model's own decode / verify entry point (generation/verify_cost.h), at the
// -d depths. At the real V3 shape (a few layers synthesized) decode is bound by the bytes it reads,
// and the routed experts are the part that grows with the tokens of a step, so the table gives the
// distinct experts and the bytes beside the times, and the footer the bytes read whatever the tokens,
// per part, for extrapolating a cut model to the whole (docs/PERFORMANCE.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include "cli/bench.h"
#include "generation/verify_cost.h"
#include "model/decode_bytes.h"
#include "model/model.h"
#include "ops/argmax.h"
#include "tokenizer/tokenizer.h"

namespace fathom::cli {

namespace {

using Clock = std::chrono::steady_clock;

// The tokens whose consecutive pairs give the shared-expert share (more than any verify step).
constexpr int64_t kRouteTokens = 32;
constexpr const char* kPrompt = "The history of the printing press begins in";

// The step's tokens: with a tokenizer, greedy continuation of a fixed prompt (the routing of text the
// model itself writes, which is what drafts are accepted on); without, fixed-seed random ids.
std::vector<int32_t> step_tokens(const Model& m, const Exec& ex, const std::string& dir, int64_t n, std::string* what) {
  const ModelConfig& c = m.config();
  std::vector<int32_t> out;
  if (!std::filesystem::exists(std::filesystem::path(dir) / "tokenizer.json")) {
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> id(0, int32_t(c.vocab_size - 1));
    for (int64_t i = 0; i < n; ++i) out.push_back(id(rng));
    *what = "random ids (no tokenizer.json; fixed seed)";
    return out;
  }
  const std::vector<int32_t> prompt = Tokenizer::load(dir).encode(kPrompt, true);
  LatentCache cache = m.make_cache(int64_t(prompt.size()) + n);
  std::vector<float> logits(size_t(c.vocab_size));
  if (prompt.size() > 1)
    m.forward(ex, prompt.data(), int64_t(prompt.size()) - 1, cache, AttentionPath::Expanded, nullptr, nullptr);
  int32_t t = prompt.back();
  for (int64_t i = 0; i < n; ++i) {
    m.forward(ex, &t, 1, cache, AttentionPath::Absorbed, logits.data(), nullptr);
    t = int32_t(ops::argmax(logits.data(), c.vocab_size));
    out.push_back(t);
  }
  *what = std::string("greedy continuation of \"") + kPrompt + "\"";
  return out;
}

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double mb(uint64_t bytes) { return double(bytes) / 1e6; }

}  // namespace

void bench_verify(const Model& m, const Exec& ex, const VerifyBenchOptions& o) {
  const ModelConfig& c = m.config();
  const int64_t kmax = *std::max_element(o.drafts.begin(), o.drafts.end());
  const int64_t n = std::max(kmax + 1, kRouteTokens);
  std::string source;
  const std::vector<int32_t> tokens = step_tokens(m, ex, o.model_dir, n, &source);
  const DecodeBytes b = decode_bytes(m);
  const int64_t moe = b.moe_layers, k = b.experts_per_token;
  std::vector<float> logits(size_t((kmax + 1) * c.vocab_size));
  std::mt19937 rng(1234);
  std::vector<float> hidden(size_t((kmax + 1) * c.hidden_size));  // rows for timing the head alone
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (float& v : hidden) v = nd(rng);

  std::printf("\n| model | format | weights | threads | test | 1-token ms | verify ms | x 1-token | head ms "
              "| experts/layer | routed MB | step MB | bytes x |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::vector<std::string> shares;
  for (int64_t depth : o.depths) {
    LatentCache cache = m.make_cache(depth + n, o.cache_type);
    fill_cache(cache, c.num_hidden_layers, depth, rng);
    int64_t pairs = 0;
    const double share = route_one_by_one(m, ex, tokens.data(), n, cache).consecutive_share(&pairs);
    char line[200];
    std::snprintf(line, sizeof line, "%.1f%% at d%lld (%lld pairs)", 100.0 * share, (long long)depth, (long long)pairs);
    shares.push_back(line);
    std::vector<int64_t> distinct;  // summed over the MoE layers, per K
    for (int64_t K : o.drafts) {
      TokenRoutes r;
      verify_step(m, ex, tokens.data(), K + 1, cache, logits.data(), &r);  // also the warm-up
      distinct.push_back(r.distinct_total(K + 1));
    }
    verify_step(m, ex, tokens.data(), 1, cache, logits.data());
    // Interleaved: a one-token step, then each K, per repetition, so that the machine's load drifts
    // into both alike; the ratio is the median of each repetition's own ratio. The output head alone
    // over as many rows is timed beside each: a cut model is mostly head, the whole one mostly layers,
    // so extrapolating needs the two apart.
    std::vector<double> one, head_one;
    std::vector<std::vector<double>> ver(o.drafts.size()), ratio(o.drafts.size()), head(o.drafts.size());
    auto time_head = [&](int64_t rows) {
      const auto t0 = Clock::now();
      linear(ex, m.weights().lm_head, hidden.data(), rows, logits.data());
      return ms_since(t0);
    };
    for (int r = 0; r < o.reps; ++r) {
      auto t0 = Clock::now();
      verify_step(m, ex, tokens.data(), 1, cache, logits.data());
      one.push_back(ms_since(t0));
      head_one.push_back(time_head(1));
      for (size_t i = 0; i < o.drafts.size(); ++i) {
        t0 = Clock::now();
        verify_step(m, ex, tokens.data(), o.drafts[i] + 1, cache, logits.data());
        ver[i].push_back(ms_since(t0));
        ratio[i].push_back(ver[i].back() / one.back());
        head[i].push_back(time_head(o.drafts[i] + 1));
      }
    }
    for (size_t i = 0; i < o.drafts.size(); ++i) {
      const uint64_t routed1 = uint64_t(moe * k) * b.expert, routed = uint64_t(distinct[i]) * b.expert;
      std::printf("| %s | verify K=%lld @ d%lld | %.3f | %.3f | %.2f | %.3f / %.3f | %.1f / %lld | %.1f / %.1f "
                  "| %.1f / %.1f | %.2f |\n",
                  o.head.c_str(), (long long)o.drafts[i], (long long)depth, median(one), median(ver[i]),
                  median(ratio[i]), median(head[i]), median(head_one), moe ? double(distinct[i]) / double(moe) : 0.0,
                  (long long)(moe ? k : 0), mb(routed), mb(routed1), mb(b.step(distinct[i])), mb(b.one_token()),
                  double(b.step(distinct[i])) / double(b.one_token()));
      std::fflush(stdout);
    }
  }
  std::printf("\nverify: the a / b columns are verify / one-token step; head ms: lm_head alone over 1+K / 1 rows; "
              "experts/layer: distinct routed experts per MoE layer.\n");
  std::printf("verify tokens: %s.\n", source.c_str());
  if (moe > 0) {
    std::printf("routed experts: %lld per MoE layer, %lld per token, %.2f MB each (gate, up, down as stored);",
                (long long)c.n_routed_experts, (long long)k, mb(b.expert));
    std::printf(" two consecutive tokens share (mean |E(t) ∩ E(t+1)| / %lld over %lld MoE layers):", (long long)k,
                (long long)moe);
    for (size_t i = 0; i < shares.size(); ++i) std::printf("%s %s", i ? "," : "", shares[i].c_str());
    std::printf("; independent picks would share %.1f%%.\n", 100.0 * double(k) / double(c.n_routed_experts));
  }
  std::printf("read once per step: attention %.1f MB (%lld layers), dense MLPs %.1f MB (%lld layers), shared experts "
              "+ router %.1f MB (%lld MoE layers), embedding row + lm_head %.1f MB; an MTP module (draft, %lld "
              "experts, full head) %.1f MB.\n",
              mb(b.attention), (long long)b.layers, mb(b.dense_mlp), (long long)(b.layers - moe), mb(b.shared),
              (long long)moe, mb(b.head), (long long)k, mb(b.mtp));
  std::fflush(stdout);
}

}  // namespace fathom::cli
