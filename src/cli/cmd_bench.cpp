// fathom bench: llama-bench-style prompt-processing (pp) and text-generation (tg) throughput, with the
// memory bandwidth decode achieves (bytes of weights and latent cache read per token / time per token).
#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <sstream>

#include "cli/bench.h"
#include "cli/command.h"
#include "cli/option_checks.h"
#include "cli/load_model.h"
#include "core/error.h"
#include "core/json.h"
#include "cpu/cpu_features.h"
#include "cpu/read_bandwidth.h"
#include "generation/generator.h"
#include "model/decode_bytes.h"
#include "model/model.h"
#include "ops/argmax.h"
#include "tokenizer/tokenizer.h"

namespace fathom::cli {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void fill_cache(LatentCache& cache, int64_t layers, int64_t depth, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> r(static_cast<size_t>(cache.row_size()));
  for (int64_t l = 0; l < layers; ++l)
    for (int64_t p = 0; p < depth; ++p) {
      for (auto& v : r) v = nd(rng);
      cache.store_row(l, p, r.data());
    }
  cache.advance(depth);
}

std::vector<int64_t> parse_int_list(const std::string& s, const std::string& option, int64_t lo, int64_t hi) {
  std::vector<int64_t> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    int64_t x = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), x);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size())
      fail("{}: '{}' is not a whole number", option, item);
    if (x < lo || x > hi) fail("{}: {} is out of range ({}..{})", option, x, lo, hi);
    v.push_back(x);
  }
  if (v.empty() || s.back() == ',') fail("{}: '{}' is not a comma-separated list of whole numbers", option, s);
  return v;
}

}  // namespace fathom::cli

namespace {

using namespace fathom;
using Clock = std::chrono::steady_clock;
using cli::fill_cache;
using cli::median;

// More drafts than any speculative round makes (V3 has one MTP module; vLLM runs it up to a few times).
constexpr int64_t kMaxVerifyDrafts = 64;

struct Opts {
  std::string model;
  int64_t prompt = 512, gen = 128;
  int threads = 0, reps = 3;
  bool ceiling = false;
  std::string cache_type = "f32";
  std::vector<int64_t> depths = {0};
  std::string file;  // -f: a prompt text for tg on real text (with and without --mtp)
  cli::MtpFlags mtp;
};

// The format of the decoder layers' projections, which hold nearly all the weights and are what
// `fathom quantize` converts ("mixed" when they differ); embeddings, norms, the router gate and
// lm_head are left out, as checkpoints and quantize keep those in wider formats.
std::string weight_format_name(const Model& m) {
  std::optional<ops::WFormat> seen;
  bool mixed = false;
  auto note = [&](const WeightMatrix& w) {
    if (w.empty()) return;
    if (seen && *seen != w.format) mixed = true;
    seen = w.format;
  };
  auto note_mlp = [&](const MlpWeights& p) {
    note(p.gate_proj);
    note(p.up_proj);
    note(p.down_proj);
  };
  for (const LayerWeights& L : m.weights().layers) {
    const AttentionWeights& a = L.attn;
    for (const WeightMatrix* w : {&a.q_proj, &a.q_a_proj, &a.q_b_proj, &a.kv_a_proj_with_mqa, &a.kv_b_proj, &a.o_proj})
      note(*w);
    if (L.is_moe) {
      for (const MlpWeights& e : L.moe.experts) note_mlp(e);
      if (L.moe.has_shared) note_mlp(L.moe.shared_experts);
    } else {
      note_mlp(L.mlp);
    }
  }
  if (mixed) return "mixed";
  if (!seen) return "none";
  switch (*seen) {
    case ops::WFormat::F32: return "f32";
    case ops::WFormat::F16: return "f16";
    case ops::WFormat::BF16: return "bf16";
    case ops::WFormat::F8_E4M3: return "fp8";
    case ops::WFormat::F8_E5M2: return "fp8_e5m2";
    case ops::WFormat::Q8_0: return "q8_0";
    case ops::WFormat::Q4_0: return "q4_0";
  }
  return "?";
}

// Weight bytes for the table: MB below 1 GB (tiny and test models), GB above; the column says which.
std::string weight_size(uint64_t bytes) {
  char s[32];
  if (bytes < 1'000'000'000ull)
    std::snprintf(s, sizeof s, "%.1f MB", double(bytes) / 1e6);
  else
    std::snprintf(s, sizeof s, "%.2f GB", double(bytes) / 1e9);
  return s;
}

// tg on a real text: greedy from FILE's tokens through the generation engine, `gen` tokens (past any
// EOS), without MTP and, with --mtp, with K drafts per step, the two interleaved per repetition.
// Speculation only pays where drafts are accepted, which random tokens never give: hence a text.
void bench_text(const Opts& o, const Model& model, Exec ex, CacheType cache_type, int mtp_draft,
                const std::string& head, const char* no_ceiling) {
  const Tokenizer tok = Tokenizer::load(o.model);
  GenerationRequest req;
  req.prompt = tok.encode(read_text_file(o.file), true);
  if (req.prompt.empty()) fail("{}: the prompt text is empty", o.file);
  req.max_tokens = o.gen;
  req.ignore_eos = true;
  req.sampling.temperature = 0;
  const int64_t context = int64_t(req.prompt.size()) + o.gen;
  if (context > model.config().max_position_embeddings)
    fail("{}: {} prompt tokens + {} generated exceed the model's {} positions", o.file, req.prompt.size(), o.gen,
         model.config().max_position_embeddings);
  auto once = [&](int k) { return Generator(model, tok, context, ex, cache_type, k).generate(req).stats; };
  once(0);  // warm-up, not counted
  if (mtp_draft > 0) once(mtp_draft);
  std::vector<double> plain, mtp;
  GenerationStats drafts;
  for (int r = 0; r < o.reps; ++r) {
    plain.push_back(once(0).generation_tokens_per_second());
    if (mtp_draft == 0) continue;
    const GenerationStats s = once(mtp_draft);
    mtp.push_back(s.generation_tokens_per_second());
    drafts.drafted_tokens += s.drafted_tokens;
    drafts.accepted_drafts += s.accepted_drafts;
  }
  std::printf("| %s | tg%lld text | %.2f | |%s\n", head.c_str(), (long long)o.gen, median(plain), no_ceiling);
  if (mtp_draft > 0)
    std::printf("| %s | tg%lld text, mtp K=%d: %.2fx, accepted %lld/%lld (%.1f%%) | %.2f | |%s\n", head.c_str(),
                (long long)o.gen, mtp_draft, median(mtp) / median(plain), (long long)drafts.accepted_drafts,
                (long long)drafts.drafted_tokens,
                drafts.drafted_tokens ? 100.0 * double(drafts.accepted_drafts) / double(drafts.drafted_tokens) : 0.0,
                median(mtp), no_ceiling);
  std::fflush(stdout);
}

fathom::cli::Command reg("bench", "Measure prompt processing and generation speed (llama-bench style)", [](CLI::App& sub) {
  auto o = std::make_shared<Opts>();
  auto depth_str = std::make_shared<std::string>("0");
  sub.add_option("model", o->model, "model directory")->required();
  sub.add_option("-p,--prompt", o->prompt, "prompt tokens for pp (0 skips pp)");
  sub.add_option("-n,--gen", o->gen, "generated tokens for tg (0 skips tg)");
  cli::add_threads_option(sub, o->threads, "-t,--threads", "threads (default: all cores)");
  sub.add_option("-r,--reps", o->reps, "repetitions (the median is reported)");
  sub.add_flag("--ceiling", o->ceiling,
               "before every tg repetition, measure the read bandwidth the same threads sustain (1 GiB of "
               "huge pages, best of 2 passes) and report tg's GB/s as a share of it");
  cli::add_cache_type_flag(sub, o->cache_type);
  sub.add_option("-d,--depth,--ctx", *depth_str,
                 "comma-separated context depths at which tg is measured, e.g. 0,4096,16384 (the latent cache "
                 "is pre-filled with random rows)");
  sub.add_option("-f,--file", o->file,
                 "also measure tg on this prompt text (greedy through the generation engine; with --mtp, with and "
                 "without speculative decoding)");
  cli::add_mtp_flags(sub, o->mtp);
  auto verify_str = std::make_shared<std::string>();
  sub.add_option("--verify", *verify_str,
                 "comma-separated draft counts K, e.g. 1,2,3: at each -d depth, time a speculative verify step of "
                 "1+K tokens against a one-token step (-r interleaved repetitions, medians) and report the routed "
                 "experts and bytes each reads and the experts consecutive tokens share");
  return std::function<int()>([o, depth_str, verify_str] {
    o->depths = cli::parse_int_list(*depth_str, "--depth", 0, std::numeric_limits<int64_t>::max() / 2);
    std::vector<int64_t> verify;
    if (!verify_str->empty()) verify = cli::parse_int_list(*verify_str, "--verify", 1, kMaxVerifyDrafts);
    if (o->prompt < 0 || o->gen < 0 || o->reps < 1) fail("-p, -n must be >= 0 and -r >= 1");
    if (o->mtp.on && o->file.empty())
      fail("bench --mtp needs -f FILE: drafts are accepted on real text, never on the random tokens of tg");
    auto t0 = Clock::now();
    io::Checkpoint::Options lo;
    lo.in_memory = true;  // huge pages: what decode speed depends on
    auto model = Model::load(o->model, lo);
    Runtime rt(o->threads);
    Exec ex = rt.exec();
    const CacheType cache_type = parse_cache_type(o->cache_type);
    const ModelConfig& c = model->config();
    const double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const uint64_t wbytes = decode_bytes(*model).one_token();
    const int mtp_draft = cli::mtp_drafts(o->mtp, c);
    std::fprintf(stderr, "fathom bench: %s, %d threads, kernels %s, %s latent cache, loaded in %.1f s\n",
                 o->model.c_str(), rt.threads(), std::string(cpu::isa_name(cpu::active_isa())).c_str(),
                 cache_type_name(cache_type), load_s);
    std::unique_ptr<cpu::ReadBandwidthProbe> probe;
    if (o->ceiling && o->gen > 0) probe = std::make_unique<cpu::ReadBandwidthProbe>(size_t(1) << 30);
    if (o->prompt > 0 || o->gen > 0)  // else no pp or tg rows (a --verify run prints its own table)
      std::printf(probe ? "| model | format | weights | threads | test | t/s | GB/s | read GB/s | %% of read |\n"
                          "|---|---|---|---|---|---|---|---|---|\n"
                        : "| model | format | weights | threads | test | t/s | GB/s |\n"
                          "|---|---|---|---|---|---|---|\n");
    const char* no_ceiling = probe ? " | |" : "";
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> tok(0, int32_t(c.vocab_size - 1));
    const std::string name = c.model_type + " " + std::to_string(c.num_hidden_layers) + "L";
    // The columns every row starts with: model, weight format, weight size, threads.
    const std::string head = name + " | " + weight_format_name(*model) + " | " + weight_size(model->weights().bytes) +
                             " | " + std::to_string(rt.threads());

    if (o->prompt > 0) {
      std::vector<int32_t> ids(o->prompt);
      std::vector<float> logits(c.vocab_size);
      std::vector<float> hidden(size_t(o->prompt * c.hidden_size));
      std::vector<double> tps;
      for (int r = 0; r <= o->reps; ++r) {  // the first run warms the page cache and is not counted
        for (auto& i : ids) i = tok(rng);
        LatentCache cache = model->make_cache(o->prompt, cache_type);
        auto s = Clock::now();
        // Only the last position's logits are needed, as in generation (Generator::prefill) and in
        // llama-bench's pp: final hidden states for all T, lm_head on the last row.
        model->forward(ex, ids.data(), o->prompt, cache, AttentionPath::Expanded, nullptr, hidden.data());
        linear(ex, model->weights().lm_head, hidden.data() + (o->prompt - 1) * c.hidden_size, 1, logits.data());
        double dt = std::chrono::duration<double>(Clock::now() - s).count();
        if (r > 0) tps.push_back(double(o->prompt) / dt);
      }
      std::printf("| %s | pp%lld | %.2f | |%s\n", head.c_str(), (long long)o->prompt, median(tps), no_ceiling);
      std::fflush(stdout);
    }
    if (o->gen > 0) {
      for (int64_t depth : o->depths) {
        std::vector<double> tps, bw, ceil, share;
        LatentCache cache = model->make_cache(depth + o->gen, cache_type);
        std::vector<float> logits(c.vocab_size);
        for (int r = 0; r <= o->reps; ++r) {
          cache.clear();
          fill_cache(cache, c.num_hidden_layers, depth, rng);
          int32_t t = tok(rng);
          if (probe && r > 0) ceil.push_back(probe->measure(ex.pool, 2));
          auto s = Clock::now();
          for (int64_t i = 0; i < o->gen; ++i) {
            model->forward(ex, &t, 1, cache, AttentionPath::Absorbed, logits.data(), nullptr);
            t = int32_t(ops::argmax(logits.data(), int64_t(logits.size())));
          }
          double dt = std::chrono::duration<double>(Clock::now() - s).count();
          // Latent rows read: each token reads the whole visible cache once per layer.
          const double avg_ctx = double(depth) + double(o->gen + 1) / 2.0;
          const double cache_bytes = avg_ctx * double(cache.bytes_per_token());
          if (r > 0) {
            tps.push_back(double(o->gen) / dt);
            bw.push_back((double(wbytes) + cache_bytes) * double(o->gen) / dt / 1e9);
            if (probe) share.push_back(bw.back() / ceil.back());
          }
        }
        std::printf("| %s | tg%lld @ d%lld | %.2f | %.1f |", head.c_str(), (long long)o->gen, (long long)depth,
                    median(tps), median(bw));
        // The share is the median of each repetition's GB/s over the ceiling measured just before it.
        if (probe) std::printf(" %.1f | %.0f%% |", median(ceil), 100.0 * median(share));
        std::printf("\n");
        std::fflush(stdout);
      }
    }
    if (!o->file.empty() && o->gen > 0) bench_text(*o, *model, ex, cache_type, mtp_draft, head, no_ceiling);
    if (!verify.empty())
      cli::bench_verify(*model, ex, {.drafts = verify, .depths = o->depths, .reps = o->reps, .cache_type = cache_type,
                                     .model_dir = o->model, .head = head});
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    std::fprintf(stderr, "decode reads %s of weights per token; peak RSS %.2f GB\n", weight_size(wbytes).c_str(),
                 double(ru.ru_maxrss) / 1e6);
    return 0;
  });
});

}  // namespace
