// GRPO (training/grpo_objective.h, grpo_trainer.h): group-normalised advantages, the per-token
// weights of the clipped-ratio + KL objective against values worked out by hand, and the whole loop
// on a tiny synthesized model: on a toy task that rewards one kind of answer, the policy's
// probability of that kind rises; a run stopped and resumed ends where an uninterrupted one does.
#include "test_paths.h"
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/safetensors.h"
#include "model/model.h"
#include "model/synth.h"
#include "tokenizer/tokenizer.h"
#include "training/chat_tokens.h"
#include "training/grpo_trainer.h"

namespace fathom::train {
namespace {

namespace fs = std::filesystem;

TEST(GrpoAdvantages, GroupNormalised) {
  const auto a = group_advantages({1, 0, 0, 1});
  const double s = 0.5 / (0.5 + kAdvantageEps);  // mean 0.5, population std 0.5
  EXPECT_DOUBLE_EQ(a[0], s);
  EXPECT_DOUBLE_EQ(a[1], -s);
  const auto b = group_advantages({0.3, 0.3, 0.3});
  for (double x : b) EXPECT_EQ(x, 0.0) << "equal rewards carry no signal";
  const auto c = group_advantages({2, 0, 0, 0});  // mean 0.5, std sqrt(0.75)
  EXPECT_NEAR(c[0], 1.5 / (std::sqrt(0.75) + kAdvantageEps), 1e-12);
}

// One row of T = 4 positions: prompt of 2 tokens, answer of 3 (targets of positions 1, 2, 3).
TEST(GrpoWeights, ClippedRatioAndKlByHand) {
  const int64_t T = 4, M = 2;
  const GrpoHyper h{0.2, 0.1};
  std::vector<GrpoSample> s(1);
  s[0].prompt = {5, 6};
  s[0].answer = {7, 8, 9};
  s[0].advantage = 1.5;
  s[0].logp_old = {-1.0f, -2.0f, -0.5f};
  s[0].logp_ref = {-1.2f, -2.0f, -0.4f};
  const float logp[4] = {-9.0f, -0.8f, -2.5f, -0.5f};  // position 0 is a prompt token
  GrpoStats st;
  float w[4];
  grpo_weights(s, 0, 1, T, M, h, &st)(0, logp, w);
  EXPECT_EQ(w[0], 0.0f) << "prompt positions are masked";
  double J = 0, kl = 0;
  const double L = 3, N = T;
  const double lp[3] = {-0.8, -2.5, -0.5}, old[3] = {-1.0, -2.0, -0.5}, ref[3] = {-1.2, -2.0, -0.4};
  const bool clipped[3] = {true, false, false};  // ρ = e^0.2 > 1.2 with A > 0; e^-0.5 < 0.8 but A > 0
  for (int j = 0; j < 3; ++j) {
    const double rho = std::exp(lp[j] - old[j]), r = std::exp(ref[j] - lp[j]);
    const double d = r - std::log(r) - 1;
    const double surr = std::min(rho * 1.5, std::clamp(rho, 0.8, 1.2) * 1.5);
    J += (surr - 0.1 * d) / (M * L);
    kl += d / (M * L);
    const double dJ = (clipped[j] ? 0.0 : rho * 1.5) - 0.1 * (1 - r);
    EXPECT_NEAR(w[j + 1], N / (M * L) * dJ, 1e-6) << "answer token " << j;
  }
  // The inputs are floats; the hand computation reads them as doubles.
  EXPECT_NEAR(st.objective, J, 1e-7);
  EXPECT_NEAR(st.kl, kl, 1e-7);
  EXPECT_EQ(st.tokens, 3);
  EXPECT_EQ(st.clipped, 1);
  float wm[4];
  grpo_weights(s, 0, 1, T, M, h, &st)(1, logp, wm);
  for (float x : wm) EXPECT_EQ(x, 0.0f) << "MTP heads carry no GRPO term";
}

// Rewards an answer whose first byte is a lowercase letter.
class LowercaseTask : public Task {
 public:
  TaskItem item(uint64_t, int64_t) const override { return {"Say a word.", "", "word"}; }
  Verdict verify(const TaskItem&, std::string_view c) const override {
    Verdict v;
    v.format_ok = true;
    v.correct = !c.empty() && c[0] >= 'a' && c[0] <= 'z';
    v.reward = v.correct ? 1.0 : 0.0;
    return v;
  }
};

// The policy's probability that the first answer token starts with a lowercase letter.
double lowercase_probability(const std::string& dir) {
  auto model = fathom::Model::load(dir);
  const tok::Tokenizer tok = tok::Tokenizer::load(dir);
  const auto prompt = ChatRenderer(tok).prompt("Say a word.");
  const int64_t T = int64_t(prompt.size()), V = model->config().vocab_size;
  std::vector<float> logits(size_t(T * V));
  LatentCache cache = model->make_cache(T);
  model->forward(Exec::oracle(), prompt.data(), T, cache, AttentionPath::Expanded, logits.data(), nullptr);
  const float* z = logits.data() + (T - 1) * V;
  double mx = z[0], sum = 0, good = 0;
  for (int64_t v = 1; v < V; ++v) mx = std::max(mx, double(z[v]));
  for (int64_t v = 0; v < V; ++v) {
    const double p = std::exp(double(z[v]) - mx);
    sum += p;
    const std::string& b = tok.token_bytes(int32_t(v));
    if (!tok.is_special(int32_t(v)) && !b.empty() && b[0] >= 'a' && b[0] <= 'z') good += p;
  }
  return good / sum;
}

fs::path tiny_model(const std::string& name) {
  const fs::path dir = fs::path(FATHOM_TEST_TMP) / "grpo" / name;
  fs::remove_all(dir);
  SynthOptions so;
  so.preset = "tiny-v3";
  so.out_dir = dir.string();
  so.dtype = SynthDType::F32;
  so.seed = 3;
  synth_write(so);
  return dir;
}

GrpoOptions toy_options(const fs::path& init, const fs::path& out) {
  GrpoOptions o;
  o.init_dir = init.string();
  o.out_dir = out.string();
  o.steps = 8;
  o.prompts = 2;
  o.group = 8;
  o.max_answer = 1;
  o.micro_batch = 8;
  o.lr = 1e-2;
  o.threads = 2;
  o.quiet = true;
  o.handle_signals = false;
  o.save_minutes = 0;
  return o;
}

TEST(GrpoLoop, RewardedAnswersBecomeMoreLikely) {
  const fs::path init = tiny_model("init"), out = fs::path(FATHOM_TEST_TMP) / "grpo" / "toy";
  fs::remove_all(out);
  const double before = lowercase_probability(init.string());
  LowercaseTask task;
  double first_reward = -1, last_reward = -1;
  run_grpo(toy_options(init, out), task, [&](const GrpoStepRecord& r) {
    if (first_reward < 0) first_reward = r.reward_mean;
    last_reward = r.reward_mean;
    EXPECT_GE(r.stats.kl, 0.0);
    EXPECT_EQ(r.stats.tokens, 16) << "one token per answer";
  });
  const double after = lowercase_probability(out.string());
  EXPECT_GT(after, before + 0.2) << "P(rewarded answer) before " << before << ", after " << after;
  EXPECT_GT(last_reward, first_reward);
}

TEST(GrpoLoop, ResumeContinuesExactly) {
  const fs::path init = tiny_model("init-resume"), root = fs::path(FATHOM_TEST_TMP) / "grpo";
  LowercaseTask task;
  GrpoOptions whole = toy_options(init, root / "whole");
  whole.steps = 3;
  whole.max_answer = 3;
  fs::remove_all(whole.out_dir);
  run_grpo(whole, task);
  GrpoOptions part = whole;
  part.out_dir = (root / "part").string();
  fs::remove_all(part.out_dir);
  part.save_every = 2;
  part.stop_after = 2;
  EXPECT_EQ(run_grpo(part, task).steps, 2);
  {  // a step logged after the checkpoint, as a kill after step 3 but before its save would leave
    std::ofstream(fs::path(part.out_dir) / "train_log.jsonl", std::ios::app) << "{\"step\": 3, \"stale\": true}\n";
  }
  GrpoOptions resumed;
  resumed.out_dir = part.out_dir;
  resumed.resume = true;
  resumed.steps = 0;
  resumed.threads = 2;
  resumed.quiet = true;
  resumed.handle_signals = false;
  resumed.save_minutes = 0;
  EXPECT_EQ(run_grpo(resumed, task).steps, 3);
  {  // the log holds steps 1, 2, 3 once each, the stale line gone
    std::ifstream log(fs::path(part.out_dir) / "train_log.jsonl");
    std::string line;
    int64_t expect = 1;
    while (std::getline(log, line)) {
      EXPECT_EQ(line.find("stale"), std::string::npos);
      EXPECT_NE(line.find("\"step\":" + std::to_string(expect++)), std::string::npos) << line;
    }
    EXPECT_EQ(expect, 4);
  }
  const io::SafetensorsFile fa((fs::path(whole.out_dir) / "model.safetensors").string());
  const io::SafetensorsFile fb((fs::path(part.out_dir) / "model.safetensors").string());
  ASSERT_EQ(fa.tensors().size(), fb.tensors().size());
  for (const auto& [name, x] : fa.tensors()) {
    const io::TensorView* y = fb.find(name);
    ASSERT_NE(y, nullptr) << name;
    ASSERT_EQ(x.nbytes, y->nbytes) << name;
    EXPECT_EQ(std::memcmp(x.data, y->data, x.nbytes), 0) << name;
  }
}

}  // namespace
}  // namespace fathom::train
