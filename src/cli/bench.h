// What the parts of `fathom bench` share: cmd_bench.cpp (pp, tg, tg on a text) and bench_verify.cpp
// (--verify: a speculative verify step against a one-token step).
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "model/compute.h"
#include "model/kv_cache.h"

namespace fathom {
class Model;
}

namespace fathom::cli {

double median(std::vector<double> v);

// Fills the first `depth` positions with random unit-scale latents: decode cost does not depend on
// the values, and prefilling 16K real tokens would take minutes per repetition.
void fill_cache(LatentCache& cache, int64_t layers, int64_t depth, std::mt19937& rng);

// "0,4096" -> {0, 4096}: whole numbers in [lo, hi], else an error naming `option` and the bad item.
std::vector<int64_t> parse_int_list(const std::string& s, const std::string& option, int64_t lo, int64_t hi);

struct VerifyBenchOptions {
  std::vector<int64_t> drafts;  // K of each verify step (1+K tokens)
  std::vector<int64_t> depths;  // context depths (-d)
  int reps = 3;
  CacheType cache_type = CacheType::F32;
  std::string model_dir;  // for its tokenizer, when it has one
  std::string head;       // the row's first columns: model, format, weights, threads
};

// Prints the verify table: per depth and K, a step of 1+K tokens against a one-token step (median
// times and their ratio), the distinct routed experts it reads, and the bytes; then the tokens used,
// the experts consecutive tokens share and the bytes a step reads whatever its tokens.
void bench_verify(const Model& m, const Exec& ex, const VerifyBenchOptions& o);

}  // namespace fathom::cli
