// The prepared token data `fathom prepare` writes: DIR/train.bin and DIR/val.bin (little-endian
// uint32 token ids, documents separated by eos_id) and DIR/meta.json
// {"vocab_size", "eos_id", "bos_id", "tokenizer", "train_tokens", "val_tokens"}.
// With "loss_mask": true (`fathom prepare --chat`), DIR/train.mask and DIR/val.mask hold one byte
// per token (1: a loss target) and the batches come with the matching mask windows.
// Training windows are random but a pure function of (seed, step, row), so a resumed run reads
// exactly the batches an uninterrupted one would. Validation windows are fixed: consecutive,
// stride T, from the start of val.bin.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "io/mapped_file.h"

namespace fathom::train {

struct DataMeta {
  int64_t vocab_size = 0, eos_id = -1, bos_id = -1, train_tokens = 0, val_tokens = 0;
  std::string tokenizer;
  bool loss_mask = false;
};

class TokenData {
 public:
  explicit TokenData(const std::string& dir);
  const DataMeta& meta() const { return meta_; }
  int64_t train_size() const { return n_train_; }
  int64_t val_size() const { return n_val_; }

  // out [B, W]: row b is the window starting at a position drawn from (seed, step, b); mask [B, W]
  // (when given: the data must have a loss mask) the same windows of the mask.
  void train_batch(uint64_t seed, int64_t step, int64_t B, int64_t W, int32_t* out, uint8_t* mask = nullptr) const;
  // How many validation windows of W tokens at stride T exist (0 if val.bin is too short).
  int64_t val_windows(int64_t T, int64_t W) const;
  // out [B, W]: validation windows first, first+1, ... (modulo val_windows).
  void val_batch(int64_t first, int64_t B, int64_t T, int64_t W, int32_t* out, uint8_t* mask = nullptr) const;

 private:
  DataMeta meta_;
  std::unique_ptr<io::MappedFile> train_, val_, train_mask_, val_mask_;
  const uint32_t* train_tok_ = nullptr;
  const uint32_t* val_tok_ = nullptr;
  int64_t n_train_ = 0, n_val_ = 0;
};

}  // namespace fathom::train
