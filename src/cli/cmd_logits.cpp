// fathom logits: every position's logits for a token sequence, as float32 .npy — the interface
// the reference tests compare against.
#include <memory>
#include <sstream>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "core/error.h"
#include "io/npy.h"
#include "model/model.h"
#include "model/mtp.h"

namespace {

struct Opts {
  std::string model, ids, out, mode = "prefill", mtp_out;
  bool reference = false;
  int threads = 0;
};

std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(tok, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != tok.size() || v < 0 || v > INT32_MAX) fathom::fail("--ids: '{}' is not a token id", tok);
    ids.push_back(int32_t(v));
  }
  if (ids.empty()) fathom::fail("--ids: no token ids given");
  return ids;
}

fathom::cli::Command reg("logits", "Write every position's logits for --ids as a float32 .npy [tokens, vocab]",
                         [](CLI::App& sub) {
  auto o = std::make_shared<Opts>();
  sub.add_option("model", o->model, "model directory (Hugging Face layout)")->required();
  sub.add_option("--ids", o->ids, "comma-separated token ids, e.g. 0,5,7")->required();
  sub.add_option("--out", o->out, "output .npy path")->required();
  sub.add_option("--mode", o->mode,
                 "prefill: all tokens in one pass (expanded MLA); decode: one token at a time through the "
                 "latent cache (absorbed MLA)")
      ->check(CLI::IsMember({"prefill", "decode"}));
  sub.add_flag("--reference", o->reference,
               "use the scalar f32 reference path (the oracle) instead of the fast kernels (SIMD, threads)");
  fathom::cli::add_threads_option(sub, o->threads, "-t,--threads",
                                  "threads for the fast kernels (default: all cores)");
  sub.add_option("--mtp-out", o->mtp_out, "also write the MTP module's logits [tokens-1, vocab] (predicting i+2)");
  return std::function<int()>([o] {
    using namespace fathom;
    std::vector<int32_t> ids = parse_ids(o->ids);
    auto model = Model::load(o->model);
    const ModelConfig& c = model->config();
    for (int32_t id : ids)
      if (id >= c.vocab_size) fail("--ids: token id {} is outside the vocabulary [0, {})", id, c.vocab_size);
    if (!o->mtp_out.empty() && c.num_nextn_predict_layers < 1)
      fail("--mtp-out: {} has no MTP module (num_nextn_predict_layers = 0)", o->model);
    const int64_t T = int64_t(ids.size()), V = c.vocab_size, H = c.hidden_size;
    std::unique_ptr<Runtime> runtime;
    Exec ex = Exec::oracle();
    if (!o->reference) {
      runtime = std::make_unique<Runtime>(o->threads);
      ex = runtime->exec();
    }
    std::vector<float> logits(T * V), hidden(T * H);
    LatentCache cache = model->make_cache(T);
    const bool decode = o->mode == "decode";
    const AttentionPath path = decode ? AttentionPath::Absorbed : AttentionPath::Expanded;
    if (decode) {
      for (int64_t t = 0; t < T; ++t)
        model->forward(ex, &ids[t], 1, cache, path, logits.data() + t * V, hidden.data() + t * H);
    } else {
      model->forward(ex, ids.data(), T, cache, path, logits.data(), hidden.data());
    }
    io::write_npy_f32(o->out, logits.data(), {T, V});
    if (!o->mtp_out.empty()) {
      const int64_t n = T - 1;
      std::vector<float> mtp(std::max<int64_t>(n, 0) * V);
      LatentCache mcache = model->make_mtp_cache(std::max<int64_t>(n, 1));
      if (decode) {
        for (int64_t t = 0; t < n; ++t)
          mtp_forward(ex, *model, 0, hidden.data() + t * H, &ids[t + 1], 1, mcache, path, mtp.data() + t * V);
      } else if (n > 0) {
        mtp_forward(ex, *model, 0, hidden.data(), ids.data() + 1, n, mcache, path, mtp.data());
      }
      io::write_npy_f32(o->mtp_out, mtp.data(), {n, V});
    }
    return 0;
  });
});

}  // namespace
