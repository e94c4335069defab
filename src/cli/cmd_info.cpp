// fathom info: what a model directory holds — config, weights, and the latent cache per token.
#include <memory>

#include "cli/command.h"
#include "model/model.h"

namespace {

fathom::cli::Command reg("info", "Validate a model directory and print its shape, weights and KV-cache size",
                         [](CLI::App& sub) {
  auto dir = std::make_shared<std::string>();
  sub.add_option("model", *dir, "model directory (Hugging Face layout)")->required();
  return std::function<int()>([dir] {
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
    std::printf("KV cache per token  %lld bytes f32 latent (%lld bf16); full MHA would need %lld (f32)\n",
                (long long)c.kv_cache_bytes_per_token(4), (long long)c.kv_cache_bytes_per_token(2),
                (long long)c.mha_cache_bytes_per_token(4));
    return 0;
  });
});

}  // namespace
