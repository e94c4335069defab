// Training runs under `mpirun` compared with one process (dp_train_check.cpp, ep_train_check.cpp):
// the tiny config of train_util.h (MTP, noaux_tc routing with groups, a shared expert, a dense
// layer) on random token data, a 4-step run, and comparisons of train_log.jsonl and
// training_state.safetensors within relative 1e-5.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "mpi_util.h"
#include "test_util.h"
#include "train_util.h"

namespace fathom::train {

namespace fs = std::filesystem;
using nlohmann::json;

struct RunDirs {
  std::string root, config, data;
};

inline RunDirs make_setup(const std::string& name) {
  RunDirs s;
  s.root = ::fathom::test::scratch_dir("mpi/" + name);
  s.data = s.root + "/data";
  fs::create_directories(s.data);
  test::write_data(s.data, test::tiny_config().vocab_size, 4000, 600);
  s.config = s.root + "/model.json";
  std::ofstream(s.config) << test::tiny_config().to_json().dump(2);
  return s;
}

// A 4-step run, global batch 4, checkpoints every 2 steps, validation every 2.
inline std::string train_args(const RunDirs& s, const std::string& out) {
  return " train --config " + s.config + " --data " + s.data + " --out " + out +
         " --steps 4 --batch 4 --seq 8 --warmup 1 --lr 3e-3 --threads 1 --eval-every 2 --eval-batches 1"
         " --save-every 2 --bias-update 1e-2";
}

inline void train(const RunDirs& s, int ranks, const std::string& out, const std::string& extra = "") {
  const std::string log = out + ".log";
  const int rc = ::fathom::test::run_logged(::fathom::test::fathom_cmd(ranks) + train_args(s, out) + extra, log);
  ASSERT_EQ(rc, 0) << ::fathom::test::read_all(log);
}

inline std::vector<json> read_log(const std::string& out) {
  std::vector<json> lines;
  std::ifstream f(out + "/train_log.jsonl");
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty()) lines.push_back(json::parse(line));
  }
  return lines;
}

inline double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-12); }

inline void expect_same_log(const std::string& got_dir, const std::string& want_dir) {
  const auto got = read_log(got_dir), want = read_log(want_dir);
  ASSERT_EQ(got.size(), want.size());
  ASSERT_GT(want.size(), 4u);
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i]["step"], want[i]["step"]) << "line " << i;
    for (const char* k : {"loss", "mtp_loss", "balance_loss", "grad_norm", "lr", "val_loss", "val_mtp_loss"}) {
      if (!want[i].contains(k)) continue;
      ASSERT_TRUE(got[i].contains(k)) << k;
      EXPECT_LT(rel(got[i][k].get<double>(), want[i][k].get<double>()), 1e-5)
          << k << " at step " << want[i]["step"] << ": " << got[i][k] << " vs " << want[i][k];
    }
    if (want[i].contains("expert_load")) {
      EXPECT_EQ(got[i]["expert_load"], want[i]["expert_load"]) << "step " << want[i]["step"];
    }
  }
}

inline std::vector<float> tensor(const std::string& out, const char* name) {
  io::SafetensorsFile f(out + "/training_state.safetensors");
  const io::TensorView* t = f.find(name);
  EXPECT_NE(t, nullptr) << name;
  if (!t) return {};
  const auto* p = reinterpret_cast<const float*>(t->data);
  return std::vector<float>(p, p + t->numel());
}

inline void expect_same_state(const std::string& got, const std::string& want) {
  for (const char* name : {"params", "adam_m", "adam_v"}) {
    const auto a = tensor(got, name), b = tensor(want, name);
    ASSERT_EQ(a.size(), b.size()) << name;
    EXPECT_LT(::fathom::test::rel_l2(a, b), 1e-5) << name;
  }
}

}  // namespace fathom::train
