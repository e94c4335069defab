// Shared helpers for tests: scratch directories and running the fathom binary.
#pragma once
#include "test_paths.h"
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "model/synth.h"

namespace fathom::test {

// A fresh, empty directory under the build tree's test-tmp, unique per name.
inline std::string scratch_dir(const std::string& name) {
  namespace fs = std::filesystem;
  fs::path p = fs::path(FATHOM_TEST_TMP) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

// A synthesized tiny checkpoint, cached per preset/dtype/seed under test-tmp/models. CTest runs test
// processes in parallel, so each writes into its own directory and renames it into place; a loser
// of the race keeps the winner's (identical) copy.
inline std::string synth_model(const std::string& preset, SynthDType dtype, uint64_t seed = 1) {
  namespace fs = std::filesystem;
  const char* dn = dtype == SynthDType::F32 ? "f32" : dtype == SynthDType::BF16 ? "bf16" : "fp8";
  fs::path p = fs::path(FATHOM_TEST_TMP) / "models" / (preset + "-" + dn + "-" + std::to_string(seed));
  if (!fs::exists(p / "config.json")) {
    fs::path tmp = p.string() + ".tmp" + std::to_string(::getpid());
    fs::remove_all(tmp);
    SynthOptions o;
    o.preset = preset;
    o.out_dir = tmp.string();
    o.dtype = dtype;
    o.seed = seed;
    synth_write(o);
    std::error_code ec;
    fs::rename(tmp, p, ec);  // fails if another process got there first: theirs is the same model
    if (ec) fs::remove_all(tmp);
  }
  return p.string();
}

// synth_model() with the preset's synthesized tokenizer beside it (what generation needs).
inline std::string synth_model_with_tokenizer(const std::string& preset, SynthDType dtype) {
  const std::string dir = synth_model(preset, dtype);
  if (!std::filesystem::exists(std::filesystem::path(dir) / "tokenizer.json"))
    synth_write_tokenizer(synth_preset_config(preset), dir, "");
  return dir;
}

// Relative L2 distance ||a - b|| / ||b||: how far a result is from its reference.
inline double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += double(a[i] - b[i]) * (a[i] - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

}  // namespace fathom::test
