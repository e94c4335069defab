// What `fathom run` and `fathom chat` share before generating: the model flags, finding and
// checking the model directory, loading weights (with a progress bar on a terminal) and the
// tokenizer, choosing how the model computes, and the speed / resource reports on stderr.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "generation/generator.h"
#include "model/compute.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace fathom::cli {

struct ModelFlags {
  std::string model;  // empty: the default model, when one is installed
  int64_t ctx = 0;    // 0: min(4096, max_position_embeddings)
  int threads = 0;    // 0: all cores
  bool verbose = false;
  std::string cache_type = "f32";  // --cache-type: f32 | q8
};
void add_model_flags(CLI::App& app, ModelFlags& f);
// --cache-type alone (commands that load a model their own way: bench, perplexity).
void add_cache_type_flag(CLI::App& app, std::string& type);

struct SamplingFlags {
  SamplerParams params;
  int64_t n = -1;  // -1: no limit
  bool n_given = false;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  bool seed_given = false;
};
// The context a command works in: --ctx when given (0: not given), else `preferred`, and never more
// than the model's max_position_embeddings (4096 when the config has none) — past the context a model
// was trained for it extrapolates, and what comes out is not its prediction.
int64_t resolve_context(int64_t given, int64_t preferred, const ModelConfig& c);

void add_sampling_flags(CLI::App& app, SamplingFlags& f);
// Validates and fills what depends on run time (a random seed unless --seed was given).
SamplerParams resolve_sampling(const SamplingFlags& f);

// --mtp and --mtp-draft K: self-speculative decoding with the model's MTP modules.
struct MtpFlags {
  bool on = false;
  int draft = 1;
};
void add_mtp_flags(CLI::App& app, MtpFlags& f);
// The drafts per step the engine should use (EngineOptions::mtp_draft): 0 without --mtp. A model
// without MTP weights is an error naming num_nextn_predict_layers, or, with `warn_only` (serve), a
// note on stderr and 0.
int mtp_drafts(const MtpFlags& f, const ModelConfig& c, bool warn_only = false);

struct LoadedModel {
  std::unique_ptr<Model> model;
  std::optional<Tokenizer> tokenizer;
  std::unique_ptr<Runtime> runtime;  // the fast path's threads
  Exec exec;                         // how the model computes: the fast kernels on `runtime`
  CacheType cache_type = CacheType::F32;  // of every latent cache made for this model (--cache-type)
  int64_t context = 0;
  double load_seconds = 0;
};

// Finds the directory (the given one, else $FATHOM_MODEL, else an installed default), checks it
// holds a model and a tokenizer, loads both and sets up the fast kernels. Throws fathom::Error
// with one clear line.
LoadedModel load_model(const ModelFlags& f);

// "prompt: ... | generation: ... | stop: ..." on stderr, and "| mtp: accepted A/D (P%)" with `mtp`.
void report_speed(const GenerationStats& s, FinishReason finish, bool mtp = false);
// Peak resident memory, for --verbose.
void report_peak_rss();

}  // namespace fathom::cli
