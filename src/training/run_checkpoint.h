#pragma once
// The files of a training run's checkpoint, written once for `fathom train` and `fathom train-grpo`:
// the model directory (config.json, generation_config.json, weights) and beside it a state file with
// the f32 parameters and the AdamW moments, which is what --resume reads. A checkpoint is assembled in
// OUT/.checkpoint.tmp and renamed into place with the state file last, so a kill at any moment leaves
// either the previous checkpoint or the new one.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "training/params.h"

namespace fathom::train {

// AdamW's moments and the number of steps taken.
struct OptimizerState {
  std::vector<float> m, v;
  int64_t step = 0;
};

// A hash of the tensor names and shapes: a state file saved for one model is refused by another.
std::string layout_fingerprint(const ParamLayout& layout);

void write_text(const std::filesystem::path& p, const std::string& s);
// Replaces p by s all at once: a temporary beside it, fsynced, renamed over it.
void replace_text(const std::filesystem::path& p, const std::string& s);

// config.json and generation_config.json of cfg into dir.
void write_model_config(const std::filesystem::path& dir, const ModelConfig& cfg);

// The state file's three buffers, in the full layout (every routed expert): 0 the parameters, 1 and
// 2 AdamW's m and v. A StatePart is asked for each once and in that order, so a caller may gather
// each (under expert parallelism) into one buffer reused for the next.
using StatePart = std::function<const float*(int)>;

// The state file: tensors params, adam_m, adam_v (F32) and metadata step, layout, options.
void write_optimizer_state(const std::filesystem::path& path, const ParamLayout& full, const StatePart& part,
                           int64_t step, const nlohmann::json& options);
// Reads a state file saved for `full` (refusing another layout) and returns its step. take(i, src)
// receives buffer i in the full layout, to copy whole or, under expert parallelism, this rank's part.
int64_t read_optimizer_state(const std::string& path, const ParamLayout& full,
                             const std::function<void(int, const float*)>& take);
// The run's settings saved in the state file's metadata "options".
nlohmann::json read_saved_options(const std::string& path);

// Moves every file of tmp into out (fsynced; the file named last goes last) and removes tmp.
void commit_checkpoint(const std::filesystem::path& tmp, const std::filesystem::path& out, const std::string& last);

// Keeps the JSON lines of a log whose "step" is <= step (a resumed run redoes what followed).
void truncate_log(const std::filesystem::path& p, int64_t step);

}  // namespace fathom::train
