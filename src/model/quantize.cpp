#include "model/quantize.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "io/checkpoint.h"
#include "model/config.h"
#include "model/tensor_schema.h"
#include "model/weights.h"
#include "ops/quant/q4_0.h"
#include "ops/quant/q8_0.h"

namespace fathom {

namespace fs = std::filesystem;
using nlohmann::json;

std::string quant_metadata_key(const std::string& tensor) { return "fathom.quant." + tensor; }
std::string quant_layout_tag(ops::WFormat f) { return f == ops::WFormat::Q8_0 ? "Q8_0G" : "Q4_0G"; }

namespace {

// The block format of a quantizable tensor. Embedding and output stay at 8 bits even for Q4_0:
// they are where 4 bits cost the most quality.
ops::WFormat format_for(const TensorSpec& t, QuantType type) {
  const bool io_tensor = t.role == TensorRole::Embedding || t.role == TensorRole::Output;
  if (type == QuantType::Q8_0 || io_tensor) return ops::WFormat::Q8_0;
  return ops::WFormat::Q4_0;
}

ops::WeightMatrix source_matrix(const io::Checkpoint& ck, const io::TensorView& t, const std::string& block_scale,
                                const ModelConfig& cfg) {
  ops::WeightMatrix w;
  w.rows = t.shape[0];
  w.cols = t.shape[1];
  w.data = t.data;
  switch (t.dtype) {
    case DType::F32: w.format = ops::WFormat::F32; break;
    case DType::BF16: w.format = ops::WFormat::BF16; break;
    case DType::F16: w.format = ops::WFormat::F16; break;
    case DType::F8_E5M2: w.format = ops::WFormat::F8_E5M2; break;
    case DType::F8_E4M3: {
      w.format = ops::WFormat::F8_E4M3;
      if (cfg.quantization_config) {
        w.block_rows = cfg.quantization_config->weight_block_size[0];
        w.block_cols = cfg.quantization_config->weight_block_size[1];
      }
      const io::TensorView& s = ck.get(block_scale, "block scales of " + t.name);
      if (s.dtype != DType::F32) fail("{}: '{}' must be F32", *s.file, s.name);
      w.scale_inv = reinterpret_cast<const float*>(s.data);
      break;
    }
    default: fail("{}: tensor '{}' has dtype {}, which cannot be quantized", *t.file, t.name, dtype_name(t.dtype));
  }
  return w;
}

}  // namespace

uint64_t quantize_checkpoint(const QuantizeOptions& opt) {
  io::Checkpoint ck(opt.in_dir);
  const std::string cfg_path = (fs::path(opt.in_dir) / "config.json").string();
  ModelConfig cfg = ModelConfig::from_json(ck.config_json(), cfg_path);
  load_weights(ck, cfg);  // validate everything before writing anything
  if (fs::exists(opt.out_dir) && fs::equivalent(opt.out_dir, opt.in_dir))
    fail("quantize: output directory must differ from the input");
  fs::create_directories(opt.out_dir);

  // What the schema says of each tensor; a tensor it does not know travels unchanged.
  std::map<std::string, TensorSpec> schema;
  for (TensorSpec& t : tensor_specs(cfg)) schema.emplace(t.name, std::move(t));
  std::set<std::string> block_scales;
  for (const auto& [name, t] : schema)
    if (!t.block_scale.empty()) block_scales.insert(t.block_scale);
  bool kept_fp8 = false;  // some F8_E4M3 weight travels unchanged (keep_fp8)
  auto quantized = [&](const io::TensorView* t) -> const TensorSpec* {
    if (opt.keep_fp8 && t->dtype == DType::F8_E4M3) return nullptr;
    auto it = schema.find(t->name);
    return it != schema.end() && it->second.quantizable && t->shape.size() == 2 ? &it->second : nullptr;
  };

  // All tensors in a stable order; block scales are consumed by their weights (or, keep_fp8, travel
  // with them).
  std::vector<const io::TensorView*> tensors;
  for (auto& shard : ck.shards())
    for (auto& [name, t] : shard->tensors()) {
      if (!block_scales.count(name) || opt.keep_fp8) tensors.push_back(&t);
      kept_fp8 |= opt.keep_fp8 && t.dtype == DType::F8_E4M3;
    }
  std::sort(tensors.begin(), tensors.end(), [](auto* a, auto* b) { return a->name < b->name; });

  auto out_bytes = [&](const io::TensorView* t) -> uint64_t {
    if (const TensorSpec* q = quantized(t))
      return uint64_t(t->shape[0] * ops::weight_row_bytes(format_for(*q, opt.type), t->shape[1]));
    return t->nbytes;
  };
  uint64_t total = 0;
  for (auto* t : tensors) total += out_bytes(t);
  const uint64_t cap = uint64_t(4) << 30;
  std::vector<std::vector<const io::TensorView*>> shards(1);
  uint64_t in_shard = 0;
  for (auto* t : tensors) {
    if (in_shard > 0 && in_shard + out_bytes(t) > cap) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(t);
    in_shard += out_bytes(t);
  }

  const bool bar = opt.progress && isatty(2);
  uint64_t done = 0;
  json weight_map = json::object();
  for (size_t si = 0; si < shards.size(); ++si) {
    const std::string fname = fmt::format("model-{:05d}-of-{:05d}.safetensors", si + 1, shards.size());
    io::SafetensorsWriter w((fs::path(opt.out_dir) / fname).string());
    w.set_metadata("format", "pt");
    for (auto* t : shards[si]) {
      weight_map[t->name] = fname;
      if (const TensorSpec* q = quantized(t)) {
        const ops::WFormat f = format_for(*q, opt.type);
        w.add(t->name, DType::U8, {t->shape[0], ops::weight_row_bytes(f, t->shape[1])});
        w.set_metadata(quant_metadata_key(t->name), fmt::format("{}:{}x{}", quant_layout_tag(f),
                                                                  t->shape[0], t->shape[1]));
      } else {
        w.add(t->name, t->dtype, t->shape);
      }
    }
    w.begin();
    for (auto* t : shards[si]) {
      const TensorSpec* q = quantized(t);
      if (!q) {
        w.write(t->name, t->data, t->nbytes);
        done += t->nbytes;
        continue;
      }
      const ops::WFormat f = format_for(*q, opt.type);
      const ops::WeightMatrix src = source_matrix(ck, *t, q->block_scale, cfg);
      const int64_t rb = ops::weight_row_bytes(f, src.cols);
      std::vector<float> row(src.cols);
      std::vector<uint8_t> chunk;
      for (int64_t r0 = 0; r0 < src.rows; r0 += 256) {  // streamed: a few rows at a time
        const int64_t n = std::min<int64_t>(256, src.rows - r0);
        chunk.resize(n * rb);
        for (int64_t r = 0; r < n; ++r) {
          ops::dequant_row(src, r0 + r, row.data());
          if (f == ops::WFormat::Q8_0)
            ops::quant::q8_0_quantize_row(row.data(), src.cols, chunk.data() + r * rb);
          else
            ops::quant::q4_0_quantize_row(row.data(), src.cols, chunk.data() + r * rb);
        }
        w.write(t->name, chunk.data(), chunk.size());
        done += chunk.size();
      }
      if (bar) std::fprintf(stderr, "\rquantizing %5.1f%%  %.2f / %.2f GB", 100.0 * double(done) / double(total),
                            double(done) / 1e9, double(total) / 1e9);
    }
    w.finish();
  }
  if (bar) std::fprintf(stderr, "\n");

  json config = ck.config_json();
  if (!kept_fp8) config.erase("quantization_config");  // the fp8 scales have been folded in
  config["fathom_quantization"] = {{"type", opt.type == QuantType::Q8_0 ? "q8_0" : "q4_0"},
                                   {"embed_and_output", "q8_0"}};
  if (kept_fp8) config["fathom_quantization"]["kept_fp8"] = true;
  std::ofstream(fs::path(opt.out_dir) / "config.json") << config.dump(2) << "\n";
  json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  std::ofstream(fs::path(opt.out_dir) / "model.safetensors.index.json") << index.dump(2) << "\n";
  // Tokenizer and generation files travel along unchanged.
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json", "special_tokens_map.json"})
    if (fs::exists(fs::path(opt.in_dir) / f))
      fs::copy_file(fs::path(opt.in_dir) / f, fs::path(opt.out_dir) / f, fs::copy_options::overwrite_existing);
  return total;
}

}  // namespace fathom
