// The tensor schema (model/tensor_schema.h): what it lists for each DeepSeek variant, that synth
// writes exactly it, that the trainer's parameters are inference weight views over its buffer,
// and that tensor seeds do not depend on the standard library.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/error.h"
#include "io/checkpoint.h"
#include "model/experts.h"
#include "model/synth.h"
#include "model/tensor_schema.h"
#include "test_util.h"
#include "train_util.h"
#include "training/moe.h"
#include "training/params.h"

namespace fathom {
namespace {

std::map<std::string, TensorSpec> by_name(const ModelConfig& c) {
  std::map<std::string, TensorSpec> m;
  for (TensorSpec& t : tensor_specs(c)) {
    const std::string name = t.name;
    EXPECT_TRUE(m.emplace(name, std::move(t)).second) << "listed twice: " << name;
  }
  return m;
}

TEST(TensorSchema, V3ListsEveryTensorOnceWithItsRole) {
  const ModelConfig c = synth_preset_config("v3");
  const auto m = by_name(c);
  // Per layer: 2 norms + attention (q_a, q_a_norm, q_b, kv_a, kv_a_norm, kv_b, o) = 9, then a
  // dense MLP (3) or the MoE: gate, bias, 256 experts x 3, one shared expert x 3.
  const size_t dense = 9 + 3, moe = 9 + 2 + 256 * 3 + 3;
  const size_t mtp = 6;  // embed_tokens, enorm, hnorm, eh_proj, shared_head.norm, shared_head.head
  EXPECT_EQ(m.size(), 3 + 3 * dense + 58 * moe + (moe + mtp));  // + embed, norm, lm_head

  const TensorSpec& kv_b = m.at("model.layers.0.self_attn.kv_b_proj.weight");
  EXPECT_EQ(kv_b.shape, (std::vector<int64_t>{128 * (128 + 128), 512}));
  EXPECT_EQ(kv_b.role, TensorRole::Matrix);
  EXPECT_TRUE(kv_b.quantizable);
  EXPECT_TRUE(kv_b.fp8);
  EXPECT_EQ(kv_b.block_scale, "model.layers.0.self_attn.kv_b_proj.weight_scale_inv");

  const TensorSpec& gate = m.at("model.layers.3.mlp.gate.weight");
  EXPECT_EQ(gate.role, TensorRole::RouterWeight);
  EXPECT_FALSE(gate.quantizable);
  EXPECT_FALSE(gate.fp8);
  EXPECT_EQ(m.at("model.layers.3.mlp.gate.e_score_correction_bias").role, TensorRole::RouterBias);
  EXPECT_EQ(m.at("model.layers.60.mlp.experts.255.down_proj.weight").shape, (std::vector<int64_t>{7168, 2048}));
  EXPECT_FALSE(m.count("model.layers.2.mlp.gate.weight"));  // first_k_dense_replace = 3
  EXPECT_FALSE(m.count("model.layers.0.self_attn.q_proj.weight"));  // q_lora_rank > 0

  // Embedding and output heads: quantizable, never FP8; the MTP module may share the main ones.
  for (const char* n : {"model.embed_tokens.weight", "lm_head.weight", "model.layers.61.shared_head.head.weight"}) {
    EXPECT_TRUE(m.at(n).quantizable) << n;
    EXPECT_FALSE(m.at(n).fp8) << n;
  }
  EXPECT_EQ(m.at("lm_head.weight").role, TensorRole::Output);
  EXPECT_EQ(m.at("lm_head.weight").fallback, "");  // untied
  EXPECT_EQ(m.at("model.layers.61.embed_tokens.weight").fallback, "model.embed_tokens.weight");
  EXPECT_EQ(m.at("model.layers.61.shared_head.head.weight").fallback, "lm_head.weight");
  EXPECT_FALSE(m.at("model.layers.61.eh_proj.weight").fp8);
  EXPECT_EQ(m.at("model.norm.weight").role, TensorRole::Norm);
  EXPECT_FALSE(m.at("model.norm.weight").quantizable);
  EXPECT_EQ(m.at("model.norm.weight").block_scale, "");
}

TEST(TensorSchema, V2LiteHasQProjNoRouterBiasAndTiedHeadsFallBack) {
  ModelConfig c = synth_preset_config("v2-lite");
  auto m = by_name(c);
  EXPECT_TRUE(m.count("model.layers.0.self_attn.q_proj.weight"));
  EXPECT_FALSE(m.count("model.layers.0.self_attn.q_a_proj.weight"));
  EXPECT_FALSE(m.count("model.layers.1.mlp.gate.e_score_correction_bias"));  // greedy routing
  EXPECT_TRUE(m.count("model.layers.1.mlp.shared_experts.up_proj.weight"));
  EXPECT_EQ(m.at("model.layers.1.mlp.shared_experts.up_proj.weight").shape, (std::vector<int64_t>{2 * 1408, 2048}));
  c.tie_word_embeddings = true;
  m = by_name(c);
  EXPECT_EQ(m.at("lm_head.weight").fallback, "model.embed_tokens.weight");
}

// synth writes the schema: every listed tensor, plus the block scales of the FP8 ones, nothing else.
TEST(TensorSchema, SynthWritesExactlyTheSchema) {
  for (const char* preset : {"tiny-v2-lite", "tiny-v2", "tiny-v3"})
    for (SynthDType dt : {SynthDType::BF16, SynthDType::FP8}) {
      const std::string dir = test::synth_model(preset, dt);
      io::Checkpoint ck(dir);
      const ModelConfig c = ModelConfig::from_json(ck.config_json(), dir);
      std::set<std::string> want, got;
      for (const TensorSpec& t : tensor_specs(c)) {
        want.insert(t.name);
        if (dt == SynthDType::FP8 && t.fp8) want.insert(t.block_scale);
      }
      for (const auto& shard : ck.shards())
        for (const auto& [name, t] : shard->tensors()) got.insert(name);
      EXPECT_EQ(got, want) << preset;
    }
}

// synth --nextn 0 leaves the MTP module out (config and tensors), as a cut of V3 that fits in memory
// needs; a second MTP module is refused.
TEST(TensorSchema, SynthNextnZeroWritesNoMtpModule) {
  const std::string dir = test::scratch_dir("synth_nextn0");
  SynthOptions o;
  o.preset = "tiny-v3";
  o.out_dir = dir;
  o.dtype = SynthDType::BF16;
  o.nextn = 0;
  synth_write(o);
  io::Checkpoint ck(dir);
  const ModelConfig c = ModelConfig::from_json(ck.config_json(), dir);
  EXPECT_EQ(c.num_nextn_predict_layers, 0);
  const std::string mtp_prefix = "model.layers." + std::to_string(c.num_hidden_layers) + ".";
  for (const auto& shard : ck.shards())
    for (const auto& [name, t] : shard->tensors()) EXPECT_NE(name.rfind(mtp_prefix, 0), 0u) << name;
  EXPECT_TRUE(ck.find("model.layers.0.self_attn.kv_a_proj_with_mqa.weight") != nullptr);
  o.nextn = 2;
  EXPECT_THROW(synth_write(o), Error);
}

// FNV-1a's published test vectors: the seed of a tensor is the same with every standard library.
TEST(TensorSchema, TensorSeedIsPortableFnv1a) {
  EXPECT_EQ(tensor_seed(0, ""), 0xcbf29ce484222325ull);
  EXPECT_EQ(tensor_seed(0, "a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(tensor_seed(0, "foobar"), 0x85944171f73967e8ull);
  EXPECT_EQ(tensor_seed(1, "a"), 0x9E3779B97F4A7C15ull ^ 0xaf63dc4c8601ec8cull);
}

// The trainer's parameters are the inference weight types, viewing its buffer: no copy, and the
// inference MoE (model/experts.h) computes on them what the training MoE computes.
TEST(TensorSchema, TrainerParametersAreInferenceWeightViews) {
  const ModelConfig c = train::test::tiny_config();
  train::ParamLayout layout(c);
  std::vector<float> params(layout.numel());
  train::test::random_params(layout, params.data(), 3);
  const ModelWeights w = layout.bind(params.data());

  const train::ParamTensor* kv_b = layout.find("model.layers.1.self_attn.kv_b_proj.weight");
  ASSERT_TRUE(kv_b);
  EXPECT_EQ(w.layers[1].attn.kv_b_proj.data, params.data() + kv_b->offset);
  EXPECT_EQ(w.layers[1].attn.kv_b_proj.format, ops::WFormat::F32);
  EXPECT_EQ(w.layers[1].attn.kv_b_proj.rows, kv_b->shape[0]);
  EXPECT_EQ(w.layers[1].moe.gate.e_score_correction_bias.data(),
            params.data() + layout.find("model.layers.1.mlp.gate.e_score_correction_bias")->offset);
  EXPECT_EQ(w.mtp[0].embed_tokens.data, w.embed_tokens.data);  // MTP shares the main embedding
  EXPECT_EQ(w.mtp[0].shared_head_head.data, w.lm_head.data);
  EXPECT_EQ(w.bytes, uint64_t(layout.numel()) * 4);

  const int64_t T = 7, H = c.hidden_size;
  const std::vector<float> x = train::test::random_vec(T * H, 5);
  std::vector<float> inference(T * H), training(T * H);
  moe_forward(Exec::oracle(), c, w.layers[1].moe, x.data(), T, inference.data());

  train::Arena arena;
  train::Scratch scratch;
  train::MoeActs acts;
  acts.declare(arena, c, T);
  train::ffn_declare_scratch(arena, scratch, c, T);
  arena.allocate();
  train::LayerCtx ctx;
  ctx.cfg = &c;
  ctx.B = 1;
  ctx.T = T;
  ctx.s = &scratch;
  train::moe_forward(ctx, training.data(), acts, x.data(), w.layers[1].moe);
  double num = 0, den = 0;
  for (int64_t i = 0; i < T * H; ++i) {
    num += double(inference[i] - training[i]) * (inference[i] - training[i]);
    den += double(inference[i]) * inference[i];
  }
  EXPECT_LT(std::sqrt(num / den), 1e-5);
}

}  // namespace
}  // namespace fathom
