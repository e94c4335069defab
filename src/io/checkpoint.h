// A Hugging Face model directory: config.json plus either model.safetensors.index.json and its
// shards or a single model.safetensors. Every shard is memory-mapped and validated on open.
#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace fathom::io {

struct CheckpointOptions {
  bool in_memory = false;  // read shards into huge-page memory instead of mapping them
  std::function<void(uint64_t done, uint64_t total)> progress;  // bytes read (in_memory)
};

class Checkpoint {
 public:
  using Options = CheckpointOptions;
  explicit Checkpoint(const std::string& dir, const Options& opt = CheckpointOptions());  // throws fathom::Error naming the file

  const std::string& dir() const { return dir_; }
  const nlohmann::json& config_json() const { return config_; }
  const TensorView* find(const std::string& name) const;
  // The tensor or an error "MODEL_DIR: missing tensor NAME (expected SHAPE)".
  const TensorView& get(const std::string& name, const std::string& expectation = "") const;
  uint64_t total_bytes() const;  // of all shards
  size_t num_tensors() const { return index_.size(); }
  const std::vector<std::unique_ptr<SafetensorsFile>>& shards() const { return shards_; }

 private:
  std::string dir_;
  nlohmann::json config_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::map<std::string, const TensorView*> index_;
};

// Reads and parses a JSON file, with the path in any error.
nlohmann::json read_json_file(const std::string& path);

}  // namespace fathom::io
