// fathom synth: write a random checkpoint in the Hugging Face layout of the real models.
#include <unistd.h>

#include <memory>

#include "cli/command.h"
#include "core/error.h"
#include "model/synth.h"

namespace {

struct Opts {
  std::string preset, out, dtype = "bf16", tokenizer;
  int64_t layers = -1, nextn = -1;
  uint64_t seed = 0;
};

fathom::cli::Command reg("synth", "Write a random-weight checkpoint (Hugging Face layout) from a preset",
                         [](CLI::App& sub) {
  auto o = std::make_shared<Opts>();
  sub.add_option("--preset", o->preset, "tiny-v2-lite | tiny-v2 | tiny-v3 | v2-lite | v3")->required();
  sub.add_option("--out", o->out, "output model directory")->required();
  sub.add_option("--dtype", o->dtype, "f32 | bf16 | fp8 (e4m3 with 128x128 block scales)")
      ->check(CLI::IsMember({"f32", "bf16", "fp8"}));
  sub.add_option("--layers", o->layers, "override num_hidden_layers (same per-layer shape)");
  sub.add_option("--nextn", o->nextn, "override num_nextn_predict_layers: 0 leaves the MTP module out, 1 keeps it");
  sub.add_option("--seed", o->seed, "random seed");
  sub.add_option("--tokenizer", o->tokenizer,
                 "copy tokenizer.json / tokenizer_config.json from this directory (tiny presets get a "
                 "synthesized tokenizer otherwise)");
  return std::function<int()>([o] {
    fathom::SynthOptions s;
    s.preset = o->preset;
    s.out_dir = o->out;
    s.dtype = o->dtype == "f32" ? fathom::SynthDType::F32 : o->dtype == "fp8" ? fathom::SynthDType::FP8
                                                                              : fathom::SynthDType::BF16;
    s.layers = o->layers;
    s.nextn = o->nextn;
    s.seed = o->seed;
    s.progress = true;
    s.tokenizer_dir = o->tokenizer;
    uint64_t bytes = fathom::synth_write(s);
    std::fprintf(stderr, "wrote %s (%s, %.3f GB of weights)\n", o->out.c_str(), o->preset.c_str(), double(bytes) / 1e9);
    return 0;
  });
});

}  // namespace
