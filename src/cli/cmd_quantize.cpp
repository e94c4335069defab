// fathom quantize: block-quantized copy of a checkpoint (Q8_0 or Q4_0), memory-mappable.
#include <memory>

#include "cli/command.h"
#include "model/quantize.h"

namespace {

struct Opts {
  std::string in, out, type = "q8_0";
  bool keep_fp8 = false;
};

fathom::cli::Command reg("quantize", "Write a Q8_0 / Q4_0 block-quantized copy of a checkpoint", [](CLI::App& sub) {
  auto o = std::make_shared<Opts>();
  sub.add_option("model", o->in, "input model directory")->required();
  sub.add_option("out", o->out, "output model directory")->required();
  sub.add_option("--type", o->type,
                 "q8_0: 8.5 bits/weight everywhere; q4_0: 4.5 bits/weight, embedding and lm_head at q8_0")
      ->check(CLI::IsMember({"q8_0", "q4_0"}));
  sub.add_flag("--keep-fp8", o->keep_fp8,
               "keep F8_E4M3 weights (with their block scales) as they are and quantize only the other "
               "matrices (a BF16 embedding and lm_head, BF16-only projections)");
  return std::function<int()>([o] {
    fathom::QuantizeOptions q;
    q.in_dir = o->in;
    q.out_dir = o->out;
    q.type = o->type == "q4_0" ? fathom::QuantType::Q4_0 : fathom::QuantType::Q8_0;
    q.keep_fp8 = o->keep_fp8;
    q.progress = true;
    uint64_t bytes = fathom::quantize_checkpoint(q);
    std::fprintf(stderr, "wrote %s (%s%s, %.3f GB)\n", o->out.c_str(), o->type.c_str(),
                 o->keep_fp8 ? ", F8_E4M3 weights kept" : "", double(bytes) / 1e9);
    return 0;
  });
});

}  // namespace
