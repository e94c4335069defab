// One GRPO step of fathom's trainer on given sampled sequences, for tests/reference/grpo_reference.py
// (which computes the same step in PyTorch and compares).
//   grpo_step_tool POLICY_DIR REF_DIR SAMPLES.json OUT_DIR
// SAMPLES.json: {"T", "clip_eps", "beta", "groups": [{"prompt": [ids], "answers": [[ids]...],
// "rewards": [...], "logp_old": [[per answer token]...]}]}. Writes OUT_DIR/grads.safetensors (the
// gradient of −J for every tensor, f32) and OUT_DIR/result.json {"loss", "kl", "clip_fraction",
// "clipped", "tokens", "advantages"}.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/checkpoint.h"
#include "training/grpo_objective.h"
#include "training/transformer.h"

int main(int argc, char** argv) {
  using namespace fathom;
  using namespace fathom::train;
  namespace fs = std::filesystem;
  if (argc != 5) {
    std::fprintf(stderr, "usage: grpo_step_tool POLICY_DIR REF_DIR SAMPLES.json OUT_DIR\n");
    return 2;
  }
  try {
    const std::string policy_dir = argv[1], ref_dir = argv[2], out = argv[4];
    const nlohmann::json j = io::read_json_file(argv[3]);
    const ModelConfig cfg = ModelConfig::from_json(io::read_json_file(policy_dir + "/config.json"), policy_dir);
    const GrpoHyper hyper{j.at("clip_eps").get<double>(), j.at("beta").get<double>()};
    const int64_t T = j.at("T");
    std::vector<GrpoSample> samples;
    nlohmann::json advantages = nlohmann::json::array();
    for (const auto& g : j.at("groups")) {
      const auto adv = group_advantages(g.at("rewards").get<std::vector<double>>());
      for (size_t i = 0; i < adv.size(); ++i) {
        GrpoSample s;
        s.prompt = g.at("prompt").get<std::vector<int32_t>>();
        s.answer = g.at("answers")[i].get<std::vector<int32_t>>();
        s.logp_old = g.at("logp_old")[i].get<std::vector<float>>();
        s.advantage = adv[i];
        advantages.push_back(adv[i]);
        samples.push_back(std::move(s));
      }
    }
    const int64_t M = int64_t(samples.size());
    const TrainSettings settings{0.0f, 0.0f};
    Model policy(cfg, M, T, nullptr, settings), ref(cfg, M, T, nullptr, settings);
    load_params(policy.layout(), policy.params(), policy_dir);
    load_params(ref.layout(), ref.params(), ref_dir);
    const int32_t pad = int32_t(cfg.eos_token_id);
    std::vector<int32_t> windows(size_t(M * policy.window()));
    grpo_windows(samples, 0, M, T, policy.window(), pad, windows.data());
    ref.set_loss_weights(record_reference_logp(samples, 0, M, T));
    ref.step(windows.data(), false);
    GrpoStats st;
    policy.set_loss_weights(grpo_weights(samples, 0, M, T, M, hyper, &st));
    policy.zero_grad();
    policy.step(windows.data(), true);
    fs::create_directories(out);
    save_params(policy.layout(), policy.grads(), out + "/grads.safetensors", false);
    nlohmann::json r = {{"loss", st.loss()},         {"kl", st.kl},         {"clip_fraction", st.clip_fraction()},
                        {"clipped", st.clipped},     {"tokens", st.tokens}, {"advantages", advantages}};
    std::ofstream(out + "/result.json") << r.dump(2) << "\n";
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grpo_step_tool: %s\n", e.what());
    return 1;
  }
  return 0;
}
