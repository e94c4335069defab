// `fathom train-tokenizer`: learns a byte-level BPE with DeepSeek-V3's pre-tokenizer from text files
// and writes tokenizer.json + tokenizer_config.json (Hugging Face format) into --out.
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "tokenizer/bpe_trainer.h"

namespace {

struct Options {
  std::vector<std::string> files;
  std::string out;
  int64_t vocab_size = 8192;
  int64_t min_frequency = 2;
  int digits_per_token = 3;
};

int run(const Options& o) {
  fathom::tok::BpeTrainOptions opts;
  opts.vocab_size = o.vocab_size;
  opts.min_frequency = o.min_frequency;
  opts.digits_per_token = o.digits_per_token;
  opts.progress = isatty(STDERR_FILENO);
  std::vector<std::filesystem::path> files(o.files.begin(), o.files.end());
  auto r = fathom::tok::train_tokenizer(files, o.out, opts);
  std::fprintf(stderr,
               "[train-tokenizer] %.1f MB, %lld pre-tokens (%lld distinct) -> %lld merges, vocab "
               "%lld, in %.1f s; wrote %s/tokenizer.json and tokenizer_config.json\n",
               r.bytes / 1e6, static_cast<long long>(r.pre_tokens),
               static_cast<long long>(r.unique_pre_tokens), static_cast<long long>(r.merges),
               static_cast<long long>(r.vocab_size), r.seconds, o.out.c_str());
  if (r.vocab_size < o.vocab_size)
    std::fprintf(stderr, "[train-tokenizer] note: ran out of pairs seen >= %lld times before "
                         "reaching --vocab-size %lld\n",
                 static_cast<long long>(o.min_frequency), static_cast<long long>(o.vocab_size));
  return 0;
}

fathom::cli::Command reg(
    "train-tokenizer", "Learn a byte-level BPE tokenizer (DeepSeek-V3 pre-tokenizer) from text files",
    [](CLI::App& sub) {
      auto o = std::make_shared<Options>();
      sub.add_option("files", o->files, "UTF-8 text files to learn from")->required();
      sub.add_option("--out", o->out, "directory for tokenizer.json and tokenizer_config.json")
          ->required();
      sub.add_option("--vocab-size", o->vocab_size,
                     "total vocabulary, 3 special + 2 chat tokens included")
          ->capture_default_str();
      sub.add_option("--min-frequency", o->min_frequency, "never merge a pair seen fewer times")
          ->capture_default_str();
      sub.add_option("--digits-per-token", o->digits_per_token,
                     "longest run of digits in one token: 3 as DeepSeek-V3; 1 keeps every digit its own "
                     "token (what digit-by-digit arithmetic needs)")
          ->check(CLI::Range(1, 3))
          ->capture_default_str();
      return std::function<int()>([o] { return run(*o); });
    });

}  // namespace
