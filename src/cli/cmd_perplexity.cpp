// fathom perplexity: how well a model predicts a text — the measure of what a quantization costs.
// The text is tokenized (BOS first when the tokenizer asks for it) and cut into windows of --ctx
// tokens; within each window the second half is scored with the first half as context (the
// llama.cpp convention), so every scored token sees at least ctx/2 tokens of history. The default
// window is 512 tokens, or the model's max_position_embeddings when that is less: a longer window
// measures how the model extrapolates past its context, not how it predicts (issue 24).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cmath>
#include <fstream>
#include <memory>
#include <sstream>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "cli/load_model.h"
#include "core/error.h"
#include "core/json.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace {

using namespace fathom;

struct Opts {
  std::string model, file;
  int64_t ctx = 0, max_windows = 0;  // ctx 0: the default window
  int threads = 0;
  bool reference = false;
  std::string cache_type = "f32";
};

fathom::cli::Command reg("perplexity", "Perplexity of a model on a text file (to measure quantization loss)",
                         [](CLI::App& sub) {
  auto o = std::make_shared<Opts>();
  sub.add_option("model", o->model, "model directory (with tokenizer.json)")->required();
  sub.add_option("-f,--file", o->file, "UTF-8 text file")->required()->check(CLI::ExistingFile);
  sub.add_option("-c,--ctx", o->ctx, "window size in tokens (the second half of each window is scored; default: 512, at most the "
                 "model's max_position_embeddings)");
  sub.add_option("--chunks", o->max_windows, "score at most this many windows (0: all)");
  cli::add_threads_option(sub, o->threads, "-t,--threads", "threads (default: all cores)");
  sub.add_flag("--reference", o->reference, "use the scalar f32 reference path instead of the fast kernels");
  fathom::cli::add_cache_type_flag(sub, o->cache_type);
  return std::function<int()>([o] {
    if (o->ctx != 0 && o->ctx < 4) fail("--ctx must be at least 4");
    const std::string text = fathom::read_text_file(o->file);
    auto model = Model::load(o->model);
    o->ctx = cli::resolve_context(o->ctx, 512, model->config());
    if (o->ctx < 4) fail("{}: max_position_embeddings {} is less than the smallest window (4)", o->model, o->ctx);
    const CacheType cache_type = parse_cache_type(o->cache_type);
    auto tok = tok::Tokenizer::load(o->model);
    std::vector<int32_t> ids = tok.encode(text, true);
    const int64_t V = model->config().vocab_size;
    for (int32_t id : ids)
      if (id >= V) fail("{}: tokenizer id {} is outside the model's vocabulary ({})", o->file, id, V);
    const int64_t windows_all = int64_t(ids.size()) / o->ctx;
    if (windows_all < 1) fail("{}: {} tokens, fewer than one window of --ctx {}", o->file, ids.size(), o->ctx);
    const int64_t windows = o->max_windows > 0 ? std::min(windows_all, o->max_windows) : windows_all;
    std::unique_ptr<Runtime> rt;
    Exec ex = Exec::oracle();
    if (!o->reference) {
      rt = std::make_unique<Runtime>(o->threads);
      ex = rt->exec();
    }
    double nll = 0;
    int64_t scored = 0;
    auto t0 = std::chrono::steady_clock::now();
    std::vector<float> logits(o->ctx * V);
    const bool tty = isatty(fileno(stderr));
    for (int64_t w = 0; w < windows; ++w) {
      LatentCache cache = model->make_cache(o->ctx, cache_type);
      const int32_t* win = ids.data() + w * o->ctx;
      model->forward(ex, win, o->ctx, cache, AttentionPath::Expanded, logits.data(), nullptr);
      for (int64_t t = o->ctx / 2; t + 1 < o->ctx; ++t) {  // logits at t predict token t+1
        const float* l = logits.data() + t * V;
        double m = l[0];
        for (int64_t v = 1; v < V; ++v) m = std::max(m, double(l[v]));
        double z = 0;
        for (int64_t v = 0; v < V; ++v) z += std::exp(double(l[v]) - m);
        nll += (m + std::log(z)) - double(l[win[t + 1]]);
        ++scored;
      }
      if (tty)  // a running figure on a terminal; nothing when stderr is piped
        std::fprintf(stderr, "\r[%lld/%lld] ppl %.4f", (long long)(w + 1), (long long)windows, std::exp(nll / scored));
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (tty) std::fprintf(stderr, "\n");
    std::printf("perplexity %.4f over %lld scored tokens (%lld windows of %lld; %.1f tokens/s)\n", std::exp(nll / scored),
                (long long)scored, (long long)windows, (long long)o->ctx, double(windows * o->ctx) / secs);
    return 0;
  });
});

}  // namespace
