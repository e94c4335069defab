#include "cli/load_model.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli/option_checks.h"
#include "cli/terminal.h"
#include "core/error.h"

namespace fathom::cli {

namespace fs = std::filesystem;

void add_model_flags(CLI::App& app, ModelFlags& f) {
  app.add_option("model", f.model, "model directory (Hugging Face layout: config.json, *.safetensors, tokenizer.json)");
  app.add_option("-c,--ctx", f.ctx, "context size in tokens, prompt and answer together (default: 4096, at most the model's)");
  add_threads_option(app, f.threads, "-t,--threads", "threads (default: all cores)");
  app.add_flag("--verbose", f.verbose, "report load time, weight bytes, KV-cache bytes per token and peak memory");
  add_cache_type_flag(app, f.cache_type);
}

void add_cache_type_flag(CLI::App& app, std::string& type) {
  app.add_option("--cache-type", type,
                 "latent (KV) cache storage: f32 (exact) or q8 (8-bit with a scale per row part: 3.9x smaller at "
                 "DeepSeek's shape and faster at long contexts; see docs/USAGE.md)")
      ->check([](const std::string& s) {  // parse_cache_type is the one list of types
        try {
          parse_cache_type(s);
          return std::string();
        } catch (const Error& e) {
          return std::string(e.what());
        }
      })
      ->capture_default_str();
}

int64_t resolve_context(int64_t given, int64_t preferred, const ModelConfig& c) {
  const int64_t max_ctx = c.max_position_embeddings > 0 ? c.max_position_embeddings : 4096;
  if (given < 0) fail("--ctx must be positive (got {})", given);
  if (given > max_ctx) fail("--ctx {} exceeds the model's max_position_embeddings ({})", given, max_ctx);
  return given > 0 ? given : std::min(preferred, max_ctx);
}

void add_sampling_flags(CLI::App& app, SamplingFlags& f) {
  SamplerParams& p = f.params;
  app.add_option_function<int64_t>("-n,--n-predict", [&f](int64_t n) {
    f.n = n;
    f.n_given = true;
  }, "stop after N generated tokens (default: until end of text or a full context)");
  app.add_flag("--ignore-eos", f.ignore_eos, "keep generating past the end-of-text token (as llama.cpp's --ignore-eos)");
  app.add_option("--temp", p.temperature, "temperature; 0 = greedy (always the most likely token)")->capture_default_str();
  app.add_option("--top-k", p.top_k, "sample from the K most likely tokens (0 = off)")->capture_default_str();
  app.add_option("--top-p", p.top_p, "sample from the smallest set with probability >= P (1 = off)")->capture_default_str();
  app.add_option("--min-p", p.min_p, "drop tokens below P times the most likely one's probability (0 = off)")
      ->capture_default_str();
  app.add_option("--repeat-penalty", p.repeat_penalty, "penalise tokens among the last --repeat-last-n (1 = off)")
      ->capture_default_str();
  app.add_option("--repeat-last-n", p.repeat_last_n, "window of the repeat penalty (-1 = whole context)")
      ->capture_default_str();
  app.add_option("--presence-penalty", p.presence_penalty, "subtract from generated tokens' logits once (OpenAI)")
      ->capture_default_str();
  app.add_option("--frequency-penalty", p.frequency_penalty, "subtract per occurrence in the generated text (OpenAI)")
      ->capture_default_str();
  app.add_option_function<uint64_t>("-s,--seed", [&f](uint64_t s) {
    f.params.seed = s;
    f.seed_given = true;
  }, "random seed: the same seed gives the same output (default: random)");
  app.add_option("--stop", f.stop, "stop when the text contains STR (not printed); repeatable")->take_all();
}

void add_mtp_flags(CLI::App& app, MtpFlags& f) {
  app.add_flag("--mtp", f.on,
               "self-speculative decoding: the model's MTP module drafts tokens that one batched step verifies "
               "(same output, faster; needs num_nextn_predict_layers >= 1)");
  app.add_option("--mtp-draft", f.draft, "tokens drafted per step with --mtp")->capture_default_str();
}

int mtp_drafts(const MtpFlags& f, const ModelConfig& c, bool warn_only) {
  if (f.draft < 1 || f.draft > 16) fail("--mtp-draft must be in [1, 16] (got {})", f.draft);
  if (!f.on) return 0;
  if (c.num_nextn_predict_layers < 1) {
    if (!warn_only)
      fail("--mtp: the model has no MTP module (config.json: num_nextn_predict_layers is {})",
           c.num_nextn_predict_layers);
    std::fprintf(stderr,
                 "fathom: note: --mtp ignored: the model has no MTP module (config.json: num_nextn_predict_layers "
                 "is %lld); serving without speculative decoding\n",
                 (long long)c.num_nextn_predict_layers);
    return 0;
  }
  return f.draft;
}

SamplerParams resolve_sampling(const SamplingFlags& f) {
  if (f.n_given && f.n < 0) fail("-n must be >= 0 (got {})", f.n);
  SamplerParams p = f.params;
  p.seed = sequence_seed(f.seed_given ? std::optional<uint64_t>(p.seed) : std::nullopt);
  for (auto& s : f.stop)
    if (s.empty()) fail("--stop: the stop string must not be empty");
  p.validate();
  return p;
}

namespace {

// Where a model is found when none is named: $FATHOM_MODEL, then models/default in the working
// directory, then models/default beside the build directory of the executable (build/fathom in a
// checkout), then share/fathom/models/default beside its bin directory (where `make install` puts it).
std::string default_model_dir() {
  if (const char* env = std::getenv("FATHOM_MODEL"); env && *env) return env;
  std::vector<fs::path> candidates = {fs::path("models/default")};
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path prefix = exe.parent_path().parent_path();
    candidates.push_back(prefix / "models/default");
    candidates.push_back(prefix / "share/fathom/models/default");
  }
  for (auto& c : candidates)
    if (fs::exists(c / "config.json")) return c.string();
  return "";
}

void check_model_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) fail("{}: no such model directory", dir);
  if (!fs::is_directory(dir, ec)) fail("{}: not a directory (give the model's directory)", dir);
  if (!fs::exists(fs::path(dir) / "config.json"))
    fail("{}: no config.json; not a Hugging Face model directory", dir);
  if (!fs::exists(fs::path(dir) / "tokenizer.json"))
    fail("{}: no tokenizer.json; generation needs the model's tokenizer beside its weights", dir);
}

// Whether the weights fit in memory with room to spare: then they are read into huge-page memory
// (io::CheckpointOptions::in_memory), which loading shows with a progress bar and which decode
// speed depends on. Otherwise they stay memory-mapped and the kernel streams them as needed.
bool fits_in_memory(const std::string& dir) {
  uint64_t total = 0;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") total += e.file_size();
  const uint64_t ram = uint64_t(sysconf(_SC_PHYS_PAGES)) * uint64_t(sysconf(_SC_PAGESIZE));
  return total <= ram / 10 * 7;
}

}  // namespace

LoadedModel load_model(const ModelFlags& f) {
  std::string dir = f.model.empty() ? default_model_dir() : f.model;
  if (dir.empty())
    fail("no model given and no default model installed (give MODEL_DIR, e.g. one written by `fathom synth`, or set FATHOM_MODEL)");
  check_model_dir(dir);

  auto t0 = std::chrono::steady_clock::now();
  LoadedModel m;
  {
    io::CheckpointOptions lo;
    lo.in_memory = fits_in_memory(dir);
    std::unique_ptr<ProgressBar> bar;
    lo.progress = [&](uint64_t done, uint64_t all) {
      if (!bar) bar = std::make_unique<ProgressBar>("loading", all);
      bar->set(done);
    };
    m.model = Model::load(dir, lo);
    if (bar) bar->done();
  }
  m.tokenizer.emplace(Tokenizer::load(dir));
  const ModelConfig& c = m.model->config();
  if (int64_t(m.tokenizer->vocab_size()) > c.vocab_size)
    fail("{}: the tokenizer has {} tokens but the model's vocab_size is {}", dir, m.tokenizer->vocab_size(), c.vocab_size);
  // The one place that decides how run/chat compute: the fast kernels on a thread pool.
  if (f.threads < 0) fail("--threads must be >= 0 (got {})", f.threads);
  m.runtime = std::make_unique<Runtime>(f.threads);
  m.cache_type = parse_cache_type(f.cache_type);
  m.exec = m.runtime->exec();
  m.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  m.context = resolve_context(f.ctx, 4096, c);

  if (f.verbose) {
    const int64_t kv = m.model->make_cache(0, m.cache_type).bytes_per_token();  // what the cache really stores
    std::fprintf(stderr,
                 "model: %s (%s, %lld layers, vocab %lld)\n"
                 "load: %.2f s, weights %.3f GB, KV cache (%s) %lld bytes/token x %lld tokens = %.1f MB, %d threads\n",
                 dir.c_str(), c.model_type.c_str(), (long long)c.num_hidden_layers, (long long)c.vocab_size,
                 m.load_seconds, double(m.model->weights().bytes) / 1e9, cache_type_name(m.cache_type),
                 (long long)kv, (long long)m.context,
                 double(kv) * double(m.context) / 1e6, m.runtime->threads());
  }
  return m;
}

void report_speed(const GenerationStats& s, FinishReason finish, bool mtp) {
  const int64_t evaluated = s.prompt_tokens - s.reused_tokens;
  std::fprintf(stderr, "prompt: %lld tokens", (long long)s.prompt_tokens);
  if (s.reused_tokens > 0) std::fprintf(stderr, " (%lld cached)", (long long)s.reused_tokens);
  std::fprintf(stderr, ", %.2f s, %.1f tok/s | generation: %lld tokens, %.2f s, %.1f tok/s | stop: %s",
               s.prompt_seconds, evaluated > 0 ? s.prompt_tokens_per_second() : 0.0,
               (long long)s.generated_tokens, s.generation_seconds, s.generation_tokens_per_second(),
               finish_reason_name(finish));
  if (mtp)
    std::fprintf(stderr, " | mtp: accepted %lld/%lld (%.1f%%)", (long long)s.accepted_drafts,
                 (long long)s.drafted_tokens,
                 s.drafted_tokens > 0 ? 100.0 * double(s.accepted_drafts) / double(s.drafted_tokens) : 0.0);
  std::fputc('\n', stderr);
}

void report_peak_rss() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::fprintf(stderr, "peak RSS: %.1f MB\n", double(ru.ru_maxrss) / 1024.0);  // ru_maxrss is in KiB
}

}  // namespace fathom::cli
