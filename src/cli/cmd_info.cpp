// fathom info: what a model directory holds — config, weights, and the latent cache per token.
// With --check it also reads every weight and reports the tensors holding NaN or infinite values,
// which otherwise show up only as generation that produces nothing.
#include <map>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "cli/command.h"
#include "cli/terminal.h"
#include "io/tensor_scan.h"
#include "model/model.h"

namespace {

// Scans all floating-point tensors, shard by shard; prints each bad tensor (at most a few) and
// returns how many there are. A progress bar shows on a terminal, nothing when piped.
size_t check_weights(const fathom::io::Checkpoint& ck) {
  uint64_t total = 0, before = 0;
  for (auto& shard : ck.shards())
    for (auto& [name, t] : shard->tensors()) total += t.nbytes;
  fathom::cli::ProgressBar bar("checking", total);
  size_t bad = 0;
  for (auto& shard : ck.shards())
    for (auto& [name, t] : shard->tensors()) {
      const int64_t at = fathom::io::first_non_finite(t, [&](uint64_t done) { bar.set(before + done); });
      before += t.nbytes;
      bar.set(before);
      if (at < 0) continue;
      if (bad++ == 0) bar.done();
      if (bad <= 10)
        std::printf("%s: %s element %lld of %s %s is not finite (NaN or infinite)\n", shard->path().c_str(),
                    name.c_str(), (long long)at, std::string(fathom::dtype_name(t.dtype)).c_str(), t.shape_str().c_str());
    }
  bar.done();
  return bad;
}

// "F8_E4M3 217 (6.1 MB, block scales 128x128 in weight_scale_inv), BF16 88 (2.9 MB), F32 2 (...)":
// what each tensor format holds, so a mixed checkpoint (DeepSeek-V3's release) shows its mix.
std::string dtype_summary(const fathom::io::Checkpoint& ck, const fathom::ModelConfig& c) {
  struct Tally {
    size_t tensors = 0;
    uint64_t bytes = 0;
  };
  std::map<std::string, Tally> by;
  for (auto& shard : ck.shards())
    for (auto& [name, t] : shard->tensors()) {
      Tally& y = by[std::string(fathom::dtype_name(t.dtype))];
      ++y.tensors;
      y.bytes += t.nbytes;
    }
  std::string out;
  for (auto& [name, y] : by) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {} ({:.1f} MB", name, y.tensors, double(y.bytes) / 1e6);
    if (name == "F8_E4M3" && c.quantization_config)
      out += fmt::format(", block scales {}x{} in weight_scale_inv", c.quantization_config->weight_block_size[0],
                         c.quantization_config->weight_block_size[1]);
    out += ")";
  }
  return out;
}

fathom::cli::Command reg("info", "Validate a model directory and print its shape, weights and KV-cache size",
                         [](CLI::App& sub) {
  auto dir = std::make_shared<std::string>();
  auto check = std::make_shared<bool>(false);
  sub.add_option("model", *dir, "model directory (Hugging Face layout)")->required();
  sub.add_flag("--check", *check, "also read every weight and report tensors holding NaN or infinite values");
  return std::function<int()>([dir, check] {
    using namespace fathom;
    auto m = Model::load(*dir);
    const ModelConfig& c = m->config();
    std::printf("model_type          %s\n", c.model_type.c_str());
    std::printf("layers              %lld (+%lld MTP)\n", (long long)c.num_hidden_layers,
                (long long)c.num_nextn_predict_layers);
    std::printf("hidden / heads      %lld / %lld\n", (long long)c.hidden_size, (long long)c.num_attention_heads);
    std::printf("MLA                 q_lora_rank %lld, kv_lora_rank %lld, qk_nope %lld, qk_rope %lld, v %lld\n",
                (long long)c.q_lora_rank, (long long)c.kv_lora_rank, (long long)c.qk_nope_head_dim,
                (long long)c.qk_rope_head_dim, (long long)c.v_head_dim);
    if (c.n_routed_experts)
      std::printf("MoE                 %lld routed (top %lld, %s/%s, groups %lld/%lld) + %lld shared\n",
                  (long long)c.n_routed_experts, (long long)c.num_experts_per_tok, scoring_func_name(c.scoring_func),
                  topk_method_name(c.topk_method), (long long)c.topk_group, (long long)c.n_group,
                  (long long)c.n_shared_experts);
    std::printf("tensors             %zu in %zu shard(s), %.3f GB\n", m->checkpoint().num_tensors(),
                m->checkpoint().shards().size(), double(m->checkpoint().total_bytes()) / 1e9);
    std::printf("dtypes              %s\n", dtype_summary(m->checkpoint(), c).c_str());
    std::printf("KV cache per token  %lld bytes f32 latent (%lld bf16); full MHA would need %lld (f32)\n",
                (long long)c.kv_cache_bytes_per_token(4), (long long)c.kv_cache_bytes_per_token(2),
                (long long)c.mha_cache_bytes_per_token(4));
    if (*check) {
      const size_t bad = check_weights(m->checkpoint());
      if (bad) {
        std::printf("weights             %zu tensor(s) hold NaN or infinite values; this model cannot generate\n", bad);
        return 1;
      }
      std::printf("weights             all finite\n");
    }
    return 0;
  });
});

}  // namespace
