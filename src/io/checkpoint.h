// A Hugging Face model directory: config.json plus either model.safetensors.index.json and its
// shards or a single model.safetensors. Every shard is memory-mapped and validated on open.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace fathom::io {

class Checkpoint {
 public:
  explicit Checkpoint(const std::string& dir);  // throws fathom::Error naming the file at fault

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
