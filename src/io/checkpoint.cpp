#include "io/checkpoint.h"

#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/json.h"

namespace fathom::io {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json_file(const std::string& path) { return fathom::read_json_file(path); }

Checkpoint::Checkpoint(const std::string& dir, const Options& opt) : dir_(dir) {
  if (!fs::is_directory(dir)) fail("{}: not a model directory", dir);
  const std::string config_path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(config_path)) fail("{}: missing config.json", dir);
  config_ = read_json_file(config_path);
  if (!config_.is_object()) fail("{}: expected a JSON object", config_path);

  const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
  const fs::path single_path = fs::path(dir) / "model.safetensors";
  std::vector<std::string> shard_names;
  json weight_map;
  if (fs::exists(index_path)) {
    json idx = read_json_file(index_path.string());
    if (!idx.contains("weight_map") || !idx["weight_map"].is_object())
      fail("{}: no weight_map object", index_path.string());
    weight_map = idx["weight_map"];
    std::set<std::string> seen;
    for (auto& [name, shard] : weight_map.items()) {
      if (!shard.is_string()) fail("{}: weight_map entry '{}' is not a file name", index_path.string(), name);
      std::string s = shard.get<std::string>();
      if (s.empty() || s.find('/') != std::string::npos || s == "." || s == "..")
        fail("{}: shard name '{}' must be a plain file name", index_path.string(), s);
      if (seen.insert(s).second) shard_names.push_back(s);
    }
  } else if (fs::exists(single_path)) {
    shard_names.push_back("model.safetensors");
  } else {
    fail("{}: no model.safetensors.index.json and no model.safetensors", dir);
  }

  uint64_t total = 0, before = 0;
  for (auto& s : shard_names) {
    std::string p = (fs::path(dir) / s).string();
    if (!fs::exists(p)) fail("{}: shard listed in the index is missing", p);
    if (!fs::is_regular_file(p)) fail("{}: shard listed in the index is not a file", p);
    total += fs::file_size(p);
  }
  for (auto& s : shard_names) {
    std::string p = (fs::path(dir) / s).string();
    MappedFile::Progress prog;
    if (opt.progress) prog = [&](uint64_t done) { opt.progress(before + done, total); };
    shards_.push_back(std::make_unique<SafetensorsFile>(p, opt.in_memory, prog));
    before += fs::file_size(p);
  }
  for (auto& shard : shards_)
    for (auto& [name, t] : shard->tensors()) {
      if (index_.count(name)) fail("{}: tensor '{}' also appears in {}", shard->path(), name, *index_[name]->file);
      index_[name] = &t;
    }
  // Every tensor the index promises must be in the shard it names.
  for (auto& [name, shard] : weight_map.items()) {
    auto it = index_.find(name);
    if (it == index_.end())
      fail("{}: tensor '{}' is listed in the index but not present in {}", dir, name, shard.get<std::string>());
    if (fs::path(*it->second->file).filename() != shard.get<std::string>())
      fail("{}: tensor '{}' is in {}, but the index says {}", dir, name, *it->second->file, shard.get<std::string>());
  }
}

const TensorView* Checkpoint::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const TensorView& Checkpoint::get(const std::string& name, const std::string& expectation) const {
  const TensorView* t = find(name);
  if (!t) fail("{}: missing tensor '{}'{}", dir_, name, expectation.empty() ? "" : " (expected " + expectation + ")");
  return *t;
}

uint64_t Checkpoint::total_bytes() const {
  uint64_t n = 0;
  for (auto& s : shards_)
    for (auto& [_, t] : s->tensors()) n += t.nbytes;
  return n;
}

}  // namespace fathom::io
