#include "training/data.h"

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "io/checkpoint.h"

namespace fathom::train {

namespace {
uint64_t mix(uint64_t z) {  // splitmix64 finaliser
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void copy_window(const uint32_t* src, int64_t W, int32_t* out) {
  for (int64_t i = 0; i < W; ++i) out[i] = int32_t(src[i]);
}
}  // namespace

TokenData::TokenData(const std::string& dir) {
  namespace fs = std::filesystem;
  const nlohmann::json j = io::read_json_file((fs::path(dir) / "meta.json").string());
  auto get = [&](const char* k, int64_t def) {
    return j.contains(k) && j[k].is_number_integer() ? j[k].get<int64_t>() : def;
  };
  meta_.vocab_size = get("vocab_size", 0);
  meta_.eos_id = get("eos_id", -1);
  meta_.bos_id = get("bos_id", -1);
  meta_.train_tokens = get("train_tokens", -1);
  meta_.val_tokens = get("val_tokens", -1);
  if (j.contains("tokenizer") && j["tokenizer"].is_string()) meta_.tokenizer = j["tokenizer"];
  meta_.loss_mask = j.contains("loss_mask") && j["loss_mask"].is_boolean() && j["loss_mask"].get<bool>();
  if (meta_.vocab_size <= 0) fail("{}/meta.json: vocab_size must be a positive integer", dir);

  auto open = [&](const char* name, std::unique_ptr<io::MappedFile>& f, const uint32_t*& tok, int64_t& n,
                  int64_t expect) {
    const std::string path = (fs::path(dir) / name).string();
    f = std::make_unique<io::MappedFile>(path);
    if (f->size() % 4) fail("{}: size {} is not a multiple of 4 (uint32 token ids)", path, f->size());
    tok = reinterpret_cast<const uint32_t*>(f->data());
    n = int64_t(f->size() / 4);
    if (expect >= 0 && expect != n) fail("{}: holds {} tokens but meta.json says {}", path, n, expect);
  };
  open("train.bin", train_, train_tok_, n_train_, meta_.train_tokens);
  open("val.bin", val_, val_tok_, n_val_, meta_.val_tokens);
  if (meta_.loss_mask)
    for (auto [name, f, n] : {std::tuple{"train.mask", &train_mask_, n_train_}, std::tuple{"val.mask", &val_mask_, n_val_}}) {
      const std::string path = (fs::path(dir) / name).string();
      *f = std::make_unique<io::MappedFile>(path);
      if (int64_t((*f)->size()) != n) fail("{}: holds {} bytes, one per token of {} tokens expected", path, (*f)->size(), n);
    }
}

namespace {
void copy_mask(const std::unique_ptr<io::MappedFile>& f, int64_t start, int64_t W, uint8_t* out) {
  if (!f) fail("the data has no loss mask (meta.json \"loss_mask\" is not true)");
  std::memcpy(out, f->data() + start, size_t(W));
}
}  // namespace

void TokenData::train_batch(uint64_t seed, int64_t step, int64_t B, int64_t W, int32_t* out, uint8_t* mask) const {
  if (n_train_ < W) fail("train.bin holds {} tokens, fewer than one window of {}", n_train_, W);
  const uint64_t starts = uint64_t(n_train_ - W + 1);
  for (int64_t b = 0; b < B; ++b) {
    const uint64_t h = mix(seed ^ mix(uint64_t(step) ^ mix(uint64_t(b) + 0x5eedull)));
    copy_window(train_tok_ + h % starts, W, out + b * W);
    if (mask) copy_mask(train_mask_, int64_t(h % starts), W, mask + b * W);
  }
}

int64_t TokenData::val_windows(int64_t T, int64_t W) const { return n_val_ < W ? 0 : (n_val_ - W) / T + 1; }

void TokenData::val_batch(int64_t first, int64_t B, int64_t T, int64_t W, int32_t* out, uint8_t* mask) const {
  const int64_t n = val_windows(T, W);
  if (n == 0) fail("val.bin holds {} tokens, fewer than one window of {}", n_val_, W);
  for (int64_t b = 0; b < B; ++b) {
    copy_window(val_tok_ + ((first + b) % n) * T, W, out + b * W);
    if (mask) copy_mask(val_mask_, ((first + b) % n) * T, W, mask + b * W);
  }
}

}  // namespace fathom::train
