// The settings of a training run as training_state.safetensors keeps them (metadata "options"), and
// how `fathom train --resume` takes them back: every saved setting is restored, and one typed again
// with a different value is refused by name, so a resumed run is the run that was started (same
// schedule, same data, same loss weights) and never silently a different one.
//
// Saved and fixed (refused when typed differently): what the run computes (steps, batch, seq, lr,
// min-lr-ratio, warmup, weight-decay, the AdamW betas and eps, clip, mtp-weight, balance-alpha,
// bias-update, seed, precision), what it writes (eval-every, eval-batches, save-dtype) and the data (its
// directory, and a fingerprint of its sizes and sampled tokens). Saved but free (restored unless
// typed again): save-every, save-minutes, log-every, which change nothing the run computes. Not
// saved: threads (results do not depend on it).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "training/data.h"
#include "training/trainer.h"

namespace fathom::train {

nlohmann::json saved_settings(const TrainOptions& o, const TokenData& data);

// Overwrites o's saved settings with `saved`'s (those of an older checkpoint that lacks a key keep
// o's value); fails naming the option when one in o.given differs. `source` names the file.
// The data directory is restored when --data was not given; its fingerprint is checked separately
// (check_saved_data) once the data is open.
void restore_settings(TrainOptions& o, const nlohmann::json& saved, const std::string& source);
void check_saved_data(const TrainOptions& o, const nlohmann::json& saved, const TokenData& data,
                      const std::string& source);

}  // namespace fathom::train
