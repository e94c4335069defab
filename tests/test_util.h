// Shared helpers for tests: scratch directories and running the fathom binary.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>

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

// A synthesized tiny checkpoint (cached per preset/dtype/seed within the test process).
inline std::string synth_model(const std::string& preset, SynthDType dtype, uint64_t seed = 1) {
  namespace fs = std::filesystem;
  const char* dn = dtype == SynthDType::F32 ? "f32" : dtype == SynthDType::BF16 ? "bf16" : "fp8";
  fs::path p = fs::path(FATHOM_TEST_TMP) / "models" / (preset + "-" + dn + "-" + std::to_string(seed));
  if (!fs::exists(p / "config.json")) {
    SynthOptions o;
    o.preset = preset;
    o.out_dir = p.string();
    o.dtype = dtype;
    o.seed = seed;
    synth_write(o);
  }
  return p.string();
}

}  // namespace fathom::test
