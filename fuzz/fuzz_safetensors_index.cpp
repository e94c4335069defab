// Fuzz target: model.safetensors.index.json in a model folder that has a config.json and one valid
// two-tensor shard, opened as a checkpoint. The index names shards and tensors; a hostile one must
// end in fathom::Error (never a path outside the folder, never a crash).
#include "core/error.h"
#include "fuzz_util.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"

namespace {

// The folder, made once: config.json and model-00001-of-00001.safetensors (tensors "a" and "b").
const std::string& model_dir() {
  static const std::string dir = [] {
    fathom::fuzz::write_file("config.json", "{\"model_type\": \"deepseek_v3\"}");
    fathom::io::SafetensorsWriter w((fathom::fuzz::scratch_dir() / "model-00001-of-00001.safetensors").string());
    w.add("a", fathom::DType::F32, {2, 3});
    w.add("b", fathom::DType::BF16, {4});
    w.begin();
    const float a[6] = {1, 2, 3, 4, 5, 6};
    const uint16_t b[4] = {0x3f80, 0x4000, 0x4040, 0x4080};
    w.write("a", a, sizeof a);
    w.write("b", b, sizeof b);
    w.finish();
    return fathom::fuzz::scratch_dir().string();
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& dir = model_dir();
  fathom::fuzz::write_file("model.safetensors.index.json", fathom::fuzz::as_text(data, size));
  try {
    fathom::io::Checkpoint ckpt(dir);
    for (const auto& shard : ckpt.shards())
      for (const auto& [name, t] : shard->tensors()) (void)ckpt.get(name);
  } catch (const fathom::Error&) {
  }
  return 0;
}
