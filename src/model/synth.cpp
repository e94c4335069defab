#include "model/synth.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/safetensors.h"
#include "tokenizer/synth_tokenizer.h"
#include "model/tensor_schema.h"

namespace fathom {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> synth_presets() { return {"tiny-v2-lite", "tiny-v2", "tiny-v3", "v2-lite", "v3"}; }

bool synth_write_tokenizer(const ModelConfig& c, const std::string& out_dir, const std::string& copy_from) {
  return tok::synth_write_tokenizer({c.vocab_size, c.bos_token_id, c.eos_token_id, c.max_position_embeddings},
                                    out_dir, copy_from);
}

ModelConfig synth_preset_config(const std::string& name) {
  ModelConfig c;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 10000;
  c.bos_token_id = 0;
  c.eos_token_id = 1;
  if (name == "tiny-v2-lite" || name == "tiny-v2" || name == "tiny-v3") {
    // Small, but every mechanism is live: YaRN ramps inside the rope dims (original context 16),
    // fp8 edge blocks (vocab 300 and intermediate 200 are not multiples of 128), several groups.
    c.vocab_size = 300;
    c.hidden_size = 64;
    c.intermediate_size = 200;
    c.moe_intermediate_size = 32;
    c.num_hidden_layers = 3;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 4;
    c.kv_lora_rank = 32;
    c.qk_nope_head_dim = 16;
    c.qk_rope_head_dim = 8;
    c.v_head_dim = 16;
    c.first_k_dense_replace = 1;
    c.moe_layer_freq = 1;
    c.max_position_embeddings = 4096;
    c.rope_scaling = RopeScaling{"yarn", 4.0, 16, 32.0, 1.0, 0.707, 0.707};
    if (name == "tiny-v2-lite") {
      c.model_type = "deepseek_v2";
      c.q_lora_rank = 0;
      c.n_routed_experts = 8;
      c.n_shared_experts = 2;
      c.num_experts_per_tok = 2;
      c.scoring_func = ScoringFunc::Softmax;
      c.topk_method = TopkMethod::Greedy;
      c.norm_topk_prob = false;
      c.routed_scaling_factor = 1.0;
    } else if (name == "tiny-v2") {
      c.model_type = "deepseek_v2";
      c.q_lora_rank = 48;
      c.n_routed_experts = 8;
      c.n_shared_experts = 2;
      c.num_experts_per_tok = 3;
      c.n_group = 4;
      c.topk_group = 2;
      c.scoring_func = ScoringFunc::Softmax;
      c.topk_method = TopkMethod::GroupLimitedGreedy;
      c.norm_topk_prob = false;
      c.routed_scaling_factor = 16.0;
    } else {
      c.model_type = "deepseek_v3";
      c.q_lora_rank = 48;
      c.n_routed_experts = 16;
      c.n_shared_experts = 1;
      c.num_experts_per_tok = 4;
      c.n_group = 4;
      c.topk_group = 2;
      c.scoring_func = ScoringFunc::Sigmoid;
      c.topk_method = TopkMethod::NoauxTc;
      c.norm_topk_prob = true;
      c.routed_scaling_factor = 2.5;
      c.num_nextn_predict_layers = 1;
      c.rope_scaling = RopeScaling{"yarn", 4.0, 16, 32.0, 1.0, 1.0, 1.0};
    }
    return c;
  }
  if (name == "v2-lite") {  // deepseek-ai/DeepSeek-V2-Lite
    c.model_type = "deepseek_v2";
    c.vocab_size = 102400;
    c.hidden_size = 2048;
    c.intermediate_size = 10944;
    c.moe_intermediate_size = 1408;
    c.num_hidden_layers = 27;
    c.num_attention_heads = 16;
    c.num_key_value_heads = 16;
    c.q_lora_rank = 0;
    c.kv_lora_rank = 512;
    c.qk_nope_head_dim = 128;
    c.qk_rope_head_dim = 64;
    c.v_head_dim = 128;
    c.n_routed_experts = 64;
    c.n_shared_experts = 2;
    c.num_experts_per_tok = 6;
    c.first_k_dense_replace = 1;
    c.scoring_func = ScoringFunc::Softmax;
    c.topk_method = TopkMethod::Greedy;
    c.norm_topk_prob = false;
    c.routed_scaling_factor = 1.0;
    c.max_position_embeddings = 163840;
    c.bos_token_id = 100000;
    c.eos_token_id = 100001;
    c.rope_scaling = RopeScaling{"yarn", 40.0, 4096, 32.0, 1.0, 0.707, 0.707};
    return c;
  }
  if (name == "v3") {  // deepseek-ai/DeepSeek-V3
    c.model_type = "deepseek_v3";
    c.vocab_size = 129280;
    c.hidden_size = 7168;
    c.intermediate_size = 18432;
    c.moe_intermediate_size = 2048;
    c.num_hidden_layers = 61;
    c.num_nextn_predict_layers = 1;
    c.num_attention_heads = 128;
    c.num_key_value_heads = 128;
    c.q_lora_rank = 1536;
    c.kv_lora_rank = 512;
    c.qk_nope_head_dim = 128;
    c.qk_rope_head_dim = 64;
    c.v_head_dim = 128;
    c.n_routed_experts = 256;
    c.n_shared_experts = 1;
    c.num_experts_per_tok = 8;
    c.n_group = 8;
    c.topk_group = 4;
    c.first_k_dense_replace = 3;
    c.scoring_func = ScoringFunc::Sigmoid;
    c.topk_method = TopkMethod::NoauxTc;
    c.norm_topk_prob = true;
    c.routed_scaling_factor = 2.5;
    c.max_position_embeddings = 163840;
    c.bos_token_id = 0;
    c.eos_token_id = 1;
    c.rope_scaling = RopeScaling{"yarn", 40.0, 4096, 32.0, 1.0, 1.0, 1.0};
    return c;
  }
  fail("unknown preset '{}' (choose one of tiny-v2-lite, tiny-v2, tiny-v3, v2-lite, v3)", name);
}

namespace {

// Each tensor its own stream from (seed, name) (model/tensor_schema.h): values do not depend on
// write order and any tensor can be regenerated alone.
struct Rng : TensorRng {
  using TensorRng::TensorRng;
  float uniform() { return float(double(next() >> 11) * 0x1.0p-53 * 2.0 - 1.0); }  // [-1, 1)
};

// Fills n rows of a tensor with its random values (row-major, cols per row).
void generate_rows(Rng& rng, const TensorSpec& s, int64_t cols, int64_t n, float* out) {
  const float lin = std::sqrt(3.0f / float(cols));  // unit-variance outputs for unit-variance inputs
  for (int64_t i = 0; i < n * cols; ++i) {
    float u = rng.uniform();
    switch (s.role) {
      case TensorRole::Matrix:
      case TensorRole::Output:
      case TensorRole::RouterWeight: out[i] = u * lin; break;
      case TensorRole::Embedding: out[i] = u; break;
      case TensorRole::Norm: out[i] = 1.0f + 0.25f * u; break;
      case TensorRole::RouterBias: out[i] = 0.05f * u; break;
    }
  }
}

class ProgressBar {
 public:
  ProgressBar(bool on, uint64_t total) : on_(on && isatty(2)), total_(total) {}
  void add(uint64_t n) {
    done_ += n;
    if (!on_) return;
    int pct = total_ ? int(100.0 * double(done_) / double(total_)) : 100;
    if (pct == last_) return;
    last_ = pct;
    int bars = pct * 30 / 100;
    std::fprintf(stderr, "\r[%.*s%*s] %3d%% %.2f / %.2f GB", bars, "==============================", 30 - bars,
                 "", pct, double(done_) / 1e9, double(total_) / 1e9);
    if (done_ >= total_) std::fprintf(stderr, "\n");
  }

 private:
  bool on_;
  uint64_t total_, done_ = 0;
  int last_ = -1;
};

}  // namespace

uint64_t synth_write(const SynthOptions& opt) {
  ModelConfig c = synth_preset_config(opt.preset);
  if (opt.layers >= 0) {
    if (opt.layers < 1) fail("--layers must be at least 1");
    c.num_hidden_layers = opt.layers;
    c.first_k_dense_replace = std::min(c.first_k_dense_replace, std::max<int64_t>(opt.layers - 1, 0));
  }
  // The MTP module is one more MoE layer: at V3's shape 11 GB in fp8, which decides whether a cut
  // of the model fits this machine's memory. Measurements of the main model do without it.
  if (opt.nextn >= 0) {
    if (opt.nextn > 1) fail("--nextn must be 0 or 1 (DeepSeek-V3 has one MTP module)");
    c.num_nextn_predict_layers = opt.nextn;
  }
  const bool fp8 = opt.dtype == SynthDType::FP8;
  const DType plain = opt.dtype == SynthDType::F32 ? DType::F32 : DType::BF16;
  c.torch_dtype = opt.dtype == SynthDType::F32 ? "float32" : "bfloat16";
  if (fp8) c.quantization_config = QuantizationConfig{"fp8", "e4m3", "dynamic", {128, 128}};

  fs::create_directories(opt.out_dir);
  synth_write_tokenizer(c, opt.out_dir, opt.tokenizer_dir);  // first: a bad --tokenizer fails fast
  const std::vector<TensorSpec> specs = tensor_specs(c);  // every tensor, fallbacks included (as V3)

  // Shards: at most ~4 GB each, and at least two so the index is always exercised.
  // The router bias is F32 in every release; the rest is the chosen dtype, or FP8 where DeepSeek's is.
  auto dtype_of = [&](const TensorSpec& s) { return s.role == TensorRole::RouterBias ? DType::F32 : plain; };
  auto tensor_bytes = [&](const TensorSpec& s) {
    const uint64_t n = uint64_t(s.numel());
    if (fp8 && s.fp8) return n + uint64_t(((s.shape[0] + 127) / 128) * ((s.shape[1] + 127) / 128) * 4);
    return n * dtype_size(dtype_of(s));
  };
  uint64_t total = 0;
  for (auto& s : specs) total += tensor_bytes(s);
  const uint64_t cap = std::max<uint64_t>(std::min<uint64_t>(uint64_t(4) << 30, total / 2 + 1), 1);
  std::vector<std::vector<const TensorSpec*>> shards(1);
  uint64_t in_shard = 0;
  for (auto& s : specs) {
    if (in_shard > 0 && in_shard + tensor_bytes(s) > cap) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(&s);
    in_shard += tensor_bytes(s);
  }

  ProgressBar bar(opt.progress, total);
  json weight_map = json::object();
  const int nshards = int(shards.size());
  for (int si = 0; si < nshards; ++si) {
    const std::string fname = fmt::format("model-{:05d}-of-{:05d}.safetensors", si + 1, nshards);
    io::SafetensorsWriter w((fs::path(opt.out_dir) / fname).string());
    w.set_metadata("format", "pt");
    for (const TensorSpec* s : shards[si]) {
      if (fp8 && s->fp8) {
        w.add(s->name, DType::F8_E4M3, s->shape);
        w.add(s->block_scale, DType::F32, {(s->shape[0] + 127) / 128, (s->shape[1] + 127) / 128});
        weight_map[s->block_scale] = fname;
      } else {
        w.add(s->name, dtype_of(*s), s->shape);
      }
      weight_map[s->name] = fname;
    }
    w.begin();
    for (const TensorSpec* s : shards[si]) {
      Rng rng(opt.seed, s->name);
      const int64_t rows = s->shape[0], cols = s->shape.size() > 1 ? s->shape[1] : 1;
      const int64_t chunk = 128;  // one fp8 block row at a time: never the whole tensor in RAM
      std::vector<float> buf;
      std::vector<float> scales;
      for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        const int64_t n = std::min(chunk, rows - r0);
        buf.resize(n * cols);
        generate_rows(rng, *s, cols, n, buf.data());
        if (fp8 && s->fp8) {
          // Per 128x128 block: scale_inv = amax / 448, stored value = e4m3(w / scale_inv).
          const int64_t bc = (cols + 127) / 128;
          std::vector<uint8_t> q(n * cols);
          for (int64_t b = 0; b < bc; ++b) {
            float amax = 0;
            for (int64_t r = 0; r < n; ++r)
              for (int64_t j = b * 128; j < std::min(cols, (b + 1) * 128); ++j) amax = std::max(amax, std::fabs(buf[r * cols + j]));
            const float sinv = amax > 0 ? amax / 448.0f : 1.0f;
            scales.push_back(sinv);
            for (int64_t r = 0; r < n; ++r)
              for (int64_t j = b * 128; j < std::min(cols, (b + 1) * 128); ++j) q[r * cols + j] = f32_to_e4m3(buf[r * cols + j] / sinv);
          }
          w.write(s->name, q.data(), q.size());
        } else if (dtype_of(*s) == DType::F32) {
          w.write(s->name, buf.data(), buf.size() * 4);
        } else {
          std::vector<uint16_t> h(buf.size());
          for (size_t i = 0; i < buf.size(); ++i) h[i] = f32_to_bf16(buf[i]);
          w.write(s->name, h.data(), h.size() * 2);
        }
        bar.add(tensor_bytes(*s) * uint64_t(n) / uint64_t(rows));
      }
      if (fp8 && s->fp8) w.write(s->block_scale, scales.data(), scales.size() * 4);
    }
    w.finish();
  }

  json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  std::ofstream(fs::path(opt.out_dir) / "model.safetensors.index.json") << index.dump(2) << "\n";
  std::ofstream(fs::path(opt.out_dir) / "config.json") << c.to_json().dump(2) << "\n";
  json gen = {{"_from_model_config", true}, {"bos_token_id", c.bos_token_id}, {"eos_token_id", c.eos_token_id}};
  std::ofstream(fs::path(opt.out_dir) / "generation_config.json") << gen.dump(2) << "\n";
  return total;
}

}  // namespace fathom
