// The trainer's forward pass against the inference Model's, on the three tiny families: V2-Lite's
// shape (no q_lora, softmax scores, greedy routing), V2 (q_lora, softmax, group-limited greedy) and
// V3 (q_lora, sigmoid, noaux_tc with groups, MTP). The trainer's random parameters are saved as a
// checkpoint, the inference Model loads it, and both compute the logits (and the MTP module's) of
// the same tokens: the same maths in two code bases, so they agree to rounding.
#include "test_paths.h"
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/model.h"
#include "model/mtp.h"
#include "model/synth.h"
#include "test_util.h"
#include "train_util.h"
#include "training/transformer.h"

namespace fathom::train {
namespace {

namespace fs = std::filesystem;

using ::fathom::test::rel_l2;

class TrainMatchesInference : public ::testing::TestWithParam<std::string> {};

TEST_P(TrainMatchesInference, LogitsAndMtpLogits) {
  const std::string preset = GetParam();
  const ModelConfig c = synth_preset_config(preset);
  // Past YaRN's original context (16), so the interpolated frequencies are exercised.
  const int64_t T = 20, V = c.vocab_size, H = c.hidden_size, D = c.num_nextn_predict_layers;
  Model t(c, 1, T, nullptr, TrainSettings{});
  test::random_params(t.layout(), t.params(), 7);

  const fs::path dir = fs::path(FATHOM_TEST_TMP) / "train_inference" / preset;
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << c.to_json().dump(2);
  save_params(t.layout(), t.params(), (dir / "model.safetensors").string(), false, {});

  std::vector<int32_t> win(t.window());
  for (size_t i = 0; i < win.size(); ++i) win[i] = int32_t((i * 37 + 11) % V);
  std::vector<float> train_logits(T * V), train_mtp(T * V);
  t.step(win.data(), false, train_logits.data(), D > 0 ? train_mtp.data() : nullptr);

  auto model = fathom::Model::load(dir.string());
  ASSERT_EQ(model->config().q_lora_rank, c.q_lora_rank);
  ASSERT_EQ(model->config().topk_method, c.topk_method);
  ASSERT_EQ(model->config().scoring_func, c.scoring_func);
  const Exec ex = Exec::oracle();
  std::vector<float> logits(T * V), hidden(T * H);
  LatentCache cache = model->make_cache(T);
  model->forward(ex, win.data(), T, cache, AttentionPath::Expanded, logits.data(), hidden.data());
  EXPECT_LT(rel_l2(train_logits, logits), 1e-4) << preset;

  if (D > 0) {  // MTP module 0 on (h_i, t_{i+1}), predicting t_{i+2}
    std::vector<float> mtp_logits(T * V);
    LatentCache mcache = model->make_mtp_cache(T);
    mtp_forward(ex, *model, 0, hidden.data(), win.data() + 1, T, mcache, AttentionPath::Expanded, mtp_logits.data());
    EXPECT_LT(rel_l2(train_mtp, mtp_logits), 1e-4) << preset;
  }
}

INSTANTIATE_TEST_SUITE_P(TinyPresets, TrainMatchesInference, ::testing::Values("tiny-v2-lite", "tiny-v2", "tiny-v3"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           std::string n = i.param;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace fathom::train
