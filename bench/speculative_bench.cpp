// What a speculative verification costs (issue 20): on any checkpoint (meant for the real V3 shape,
// synthesized with a few layers: scripts/bench-speculative.sh), one main-model step over 1+K tokens
// of one sequence (Model::decode_batch with counts, the verify pass) against a one-token step, at a
// fixed context, and what the routed experts make of it:
//   - the routed-expert bytes a step reads: the distinct experts its tokens pick, per MoE layer;
//   - the share of experts two consecutive tokens of a greedy decode have in common.
// Everything else a step reads (attention, dense and shared MLPs, lm_head) is read once whatever K.
// With --prompts FILE (one prompt a line; the model needs MTP weights and a tokenizer), it then
// decodes --gen tokens greedily from each prompt without and with K = 1..kmax drafts (the
// SpeculativeDecoder, one sequence) and prints the acceptance and decode tokens/s of each.
//
// usage: fathom_speculative_bench MODEL_DIR [--ctx N] [--steps N] [--reps N] [--kmax K] [--threads T]
//                                 [--prompts FILE] [--gen N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <fstream>

#include "core/error.h"
#include "generation/speculative.h"
#include "generation/verify_cost.h"
#include "model/decode_bytes.h"
#include "model/model.h"
#include "model/mtp.h"
#include "ops/argmax.h"
#include "tokenizer/tokenizer.h"

using namespace fathom;

namespace {

double seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

const char* str_arg(int argc, char** argv, const char* name) {
  for (int i = 2; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return nullptr;
}

// Greedy decode of n tokens after prompt; K < 0: plain one-token steps, else speculative rounds.
// Returns decode seconds (after the prefill); adds drafts and acceptances to *drafted / *accepted.
double greedy_decode(const Model& m, const Exec& ex, const std::vector<int32_t>& prompt, int64_t n, int64_t K,
                     std::vector<int32_t>* out, int64_t* drafted, int64_t* accepted) {
  const int64_t V = m.config().vocab_size, P = int64_t(prompt.size()), H = m.config().hidden_size;
  LatentCache cache = m.make_cache(P + n + 8);
  std::vector<float> hidden(static_cast<size_t>(P * H)), logits(static_cast<size_t>(V));
  m.forward(ex, prompt.data(), P, cache, AttentionPath::Expanded, nullptr, hidden.data());
  linear(ex, m.weights().lm_head, hidden.data() + (P - 1) * H, 1, logits.data());
  SamplerParams sp;
  sp.temperature = 0;
  Sampler sampler(sp);
  int32_t t = sampler.sample(logits);
  out->assign(1, t);
  const auto t0 = std::chrono::steady_clock::now();
  if (K < 0) {
    while (int64_t(out->size()) < n) {
      m.forward(ex, &t, 1, cache, AttentionPath::Absorbed, logits.data(), nullptr);
      t = sampler.sample(logits);
      out->push_back(t);
    }
    return seconds(t0);
  }
  MtpDrafter drafter(m, cache.capacity());
  drafter.observe(ex, prompt.data(), hidden.data(), P);
  SpeculativeSampler spec(sampler);
  SpeculativeDecoder decoder(m);
  SpeculativeSequence seq{.cache = &cache, .drafter = &drafter, .sampler = &spec, .next = t, .max_drafts = K,
                          .tokens = {}, .drafted = 0, .accepted = 0};
  while (int64_t(out->size()) < n) {
    seq.next = t;
    seq.max_drafts = std::min<int64_t>(K, n - int64_t(out->size()) - 1);  // no drafts past the end
    SpeculativeSequence* one = &seq;
    decoder.step(ex, std::span(&one, 1));
    out->insert(out->end(), seq.tokens.begin(), seq.tokens.end());
    t = seq.tokens.back();
    *drafted += seq.drafted;
    *accepted += seq.accepted;
  }
  out->resize(size_t(n));
  return seconds(t0);
}

int64_t arg(int argc, char** argv, const char* name, int64_t def) {
  for (int i = 2; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::stoll(argv[i + 1]);
  return def;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR [--ctx N] [--steps N] [--reps N] [--kmax K] [--threads T]\n", argv[0]);
    return 2;
  }
  const int64_t ctx = arg(argc, argv, "--ctx", 256), steps = arg(argc, argv, "--steps", 32),
                reps = arg(argc, argv, "--reps", 7), kmax = arg(argc, argv, "--kmax", 3);
  auto model = Model::load(argv[1]);
  const ModelConfig& c = model->config();
  Runtime rt(int(arg(argc, argv, "--threads", 0)));
  const Exec ex = rt.exec();
  const int64_t V = c.vocab_size, k = c.num_experts_per_tok;

  const DecodeBytes bytes = decode_bytes(*model);
  std::printf("model %s: %lld layers (%lld MoE), %lld routed experts of %.1f MB, %lld per token; fixed weights %.1f MB/step\n",
              argv[1], (long long)c.num_hidden_layers, (long long)bytes.moe_layers, (long long)c.n_routed_experts,
              double(bytes.expert) / 1e6, (long long)k, double(bytes.fixed()) / 1e6);

  std::mt19937_64 rng(7);
  std::vector<int32_t> prompt(static_cast<size_t>(ctx));
  for (int32_t& t : prompt) t = int32_t(rng() % uint64_t(V));
  LatentCache cache = model->make_cache(ctx + steps + kmax + 2);
  for (int64_t at = 0; at < ctx; at += 512)
    model->forward(ex, prompt.data() + at, std::min<int64_t>(512, ctx - at), cache, AttentionPath::Expanded, nullptr, nullptr);

  // A greedy decode, then its routing (the same tokens at the same positions): consecutive tokens'
  // shared experts, per MoE layer.
  std::vector<float> logits(size_t((kmax + 1) * V));
  std::vector<int32_t> greedy;
  int32_t tok = prompt.back();
  for (int64_t s = 0; s < steps; ++s) {
    greedy.push_back(tok);
    model->decode_batch(ex, &tok, 1, std::vector<LatentCache*>{&cache}.data(), logits.data());
    tok = int32_t(ops::argmax(logits.data(), V));
  }
  cache.truncate(ctx);
  int64_t pairs = 0;
  const double shared = route_one_by_one(*model, ex, greedy.data(), steps, cache).consecutive_share(&pairs);
  std::printf("experts two consecutive tokens share: %.1f%% (%lld pairs; independent picks would share %.1f%%)\n",
              100.0 * shared, (long long)pairs, 100.0 * double(k) / double(c.n_routed_experts));

  // Verify steps of 1+K tokens at the same context: routed bytes (one traced pass per K, greedy
  // continuation tokens), then interleaved timed passes.
  const int64_t L0 = cache.length();
  std::vector<int32_t> run(size_t(kmax + 1));
  run[0] = tok;
  for (int64_t i = 1; i <= kmax; ++i) {  // the greedy continuation: drafts that would all be accepted
    std::vector<LatentCache*> p{&cache};
    model->decode_batch(ex, &run[size_t(i - 1)], 1, p.data(), logits.data());
    run[size_t(i)] = int32_t(ops::argmax(logits.data(), V));
  }
  cache.truncate(L0);
  std::vector<double> routed(size_t(kmax + 1));
  for (int64_t K = 0; K <= kmax; ++K) {
    TokenRoutes r;
    verify_step(*model, ex, run.data(), K + 1, cache, logits.data(), &r);
    routed[size_t(K)] = double(r.distinct_total(K + 1)) * double(bytes.expert);
  }
  std::vector<std::vector<double>> times(size_t(kmax + 1));
  for (int64_t r = 0; r < reps; ++r)
    for (int64_t K = 0; K <= kmax; ++K) {
      const auto t0 = std::chrono::steady_clock::now();
      verify_step(*model, ex, run.data(), K + 1, cache, logits.data());
      times[size_t(K)].push_back(seconds(t0));
    }
  std::printf("context %lld, %d threads, median of %lld\n", (long long)L0, rt.threads(), (long long)reps);
  std::printf("%-4s %-7s %10s %8s %16s %8s\n", "K", "tokens", "step ms", "x 1-tok", "routed MB read", "x 1-tok");
  double base = 0;
  for (int64_t K = 0; K <= kmax; ++K) {
    std::vector<double>& t = times[size_t(K)];
    std::sort(t.begin(), t.end());
    const double med = t[t.size() / 2];
    if (K == 0) base = med;
    std::printf("%-4lld %-7lld %10.2f %8.2f %16.1f %8.2f\n", (long long)K, (long long)(K + 1), 1e3 * med, med / base,
                routed[size_t(K)] / 1e6, routed[size_t(K)] / routed[0]);
  }

  const char* prompts_file = str_arg(argc, argv, "--prompts");
  if (!prompts_file) return 0;
  const int64_t gen = arg(argc, argv, "--gen", 256);
  const tok::Tokenizer tk = tok::Tokenizer::load(argv[1]);
  std::ifstream in(prompts_file);
  if (!in) fail("cannot read {}", prompts_file);
  std::printf("\ngreedy decode of %lld tokens per prompt, %d threads (tokens/s over the decode, prefill excluded)\n",
              (long long)gen, rt.threads());
  std::printf("%-7s %-3s %10s %8s %12s %s\n", "prompt", "K", "tokens/s", "x plain", "accepted", "same tokens");
  int line = 0;
  for (std::string text; std::getline(in, text);) {
    if (text.empty()) continue;
    ++line;
    std::vector<int32_t> prompt = {int32_t(c.bos_token_id)};
    for (int32_t id : tk.encode(text)) prompt.push_back(id);
    std::vector<int32_t> plain, spec;
    int64_t d = 0, a = 0;
    const double base = double(gen) / greedy_decode(*model, ex, prompt, gen, -1, &plain, &d, &a);
    std::printf("%-7d %-3s %10.0f %8.2f %12s %s\n", line, "-", base, 1.0, "-", "-");
    for (int64_t K = 1; K <= kmax; ++K) {
      d = a = 0;
      const double tps = double(gen) / greedy_decode(*model, ex, prompt, gen, K, &spec, &d, &a);
      std::printf("%-7d %-3lld %10.0f %8.2f %5lld/%-4lld %2.0f%% %s\n", line, (long long)K, tps, tps / base,
                  (long long)a, (long long)d, d ? 100.0 * double(a) / double(d) : 0.0, spec == plain ? "yes" : "NO");
    }
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
