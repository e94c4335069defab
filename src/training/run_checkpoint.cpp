#include "training/run_checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "io/safetensors.h"

namespace fathom::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// fsync of a file, or of a directory (which makes the renames into it durable).
void fsync_path(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) fail("{}: could not open to sync: {}", p.string(), std::strerror(errno));
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) fail("{}: fsync failed: {}", p.string(), std::strerror(errno));
}

}  // namespace

std::string layout_fingerprint(const ParamLayout& layout) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over names and shapes
  auto eat = [&](const std::string& s) {
    for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  };
  for (const auto& t : layout.tensors()) {
    eat(t.name);
    for (int64_t d : t.shape) eat(std::to_string(d) + ",");
  }
  return fmt::format("{:016x}-{}", h, layout.numel());
}

void write_text(const fs::path& p, const std::string& s) {
  std::ofstream f(p);
  f << s;
  if (!f) fail("{}: could not write", p.string());
}

void replace_text(const fs::path& p, const std::string& s) {
  const fs::path tmp = p.string() + ".tmp";
  write_text(tmp, s);
  fsync_path(tmp);
  fs::rename(tmp, p);
}

void write_model_config(const fs::path& dir, const ModelConfig& c) {
  write_text(dir / "config.json", c.to_json().dump(2) + "\n");
  json gen = {{"_from_model_config", true}};
  if (c.bos_token_id >= 0) gen["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_id >= 0) gen["eos_token_id"] = c.eos_token_id;
  write_text(dir / "generation_config.json", gen.dump(2) + "\n");
}

void write_optimizer_state(const fs::path& path, const ParamLayout& full, const StatePart& part, int64_t step,
                           const json& options) {
  io::SafetensorsWriter w(path.string());
  w.set_metadata("step", std::to_string(step));
  w.set_metadata("layout", layout_fingerprint(full));
  w.set_metadata("options", options.dump());
  const int64_t n = full.numel();
  const char* names[3] = {"params", "adam_m", "adam_v"};
  for (const char* name : names) w.add(name, DType::F32, {n});
  w.begin();
  for (int i = 0; i < 3; ++i) w.write(names[i], part(i), size_t(n) * 4);
  w.finish();
}

int64_t read_optimizer_state(const std::string& path, const ParamLayout& full,
                             const std::function<void(int, const float*)>& take) {
  io::SafetensorsFile f(path);
  const auto& md = f.metadata();
  auto meta = [&](const std::string& k) {
    auto it = md.find(k);
    if (it == md.end()) fail("{}: metadata '{}' is missing", path, k);
    return it->second;
  };
  if (meta("layout") != layout_fingerprint(full))
    fail("{}: saved for a different model layout than config.json describes", path);
  const int64_t n = full.numel();
  const char* names[3] = {"params", "adam_m", "adam_v"};
  for (int i = 0; i < 3; ++i) {
    const io::TensorView* t = f.find(names[i]);
    if (!t || t->dtype != DType::F32 || t->numel() != n)
      fail("{}: tensor '{}' missing or not F32 [{}]", path, names[i], n);
    take(i, reinterpret_cast<const float*>(t->data));
  }
  const std::string step = meta("step");
  int64_t v = -1;
  try {
    v = std::stoll(step);
  } catch (const std::exception&) {
    fail("{}: metadata 'step' is not an integer: '{}'", path, step);
  }
  if (v < 0) fail("{}: metadata 'step' is negative: {}", path, v);
  return v;
}

json read_saved_options(const std::string& path) {
  io::SafetensorsFile f(path);
  auto it = f.metadata().find("options");
  if (it == f.metadata().end()) fail("{}: metadata 'options' is missing", path);
  json j = json::parse(it->second, nullptr, false);
  if (!j.is_object()) fail("{}: metadata 'options' is not a JSON object", path);
  return j;
}

void commit_checkpoint(const fs::path& tmp, const fs::path& out, const std::string& last) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(tmp)) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end(), [&](const std::string& a, const std::string& b) {
    return (a == last) < (b == last) || ((a == last) == (b == last) && a < b);
  });
  for (const auto& f : files) fsync_path(tmp / f);
  for (const auto& f : files) fs::rename(tmp / f, out / f);
  fsync_path(out);
  fs::remove_all(tmp);
}

void truncate_log(const fs::path& p, int64_t step) {
  if (!fs::exists(p)) return;
  std::ifstream in(p);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    const auto s = j.find("step");
    if (s != j.end() && s->is_number_integer() && s->get<int64_t>() <= step) kept += line + "\n";
  }
  in.close();
  replace_text(p, kept);  // a kill during the rewrite must not lose the lines kept
}

}  // namespace fathom::train
