#include "model/mtp_draft_weights.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "model/expert_parallel.h"
#include "model/model.h"
#include "ops/quant/q8_0.h"

namespace fathom {
namespace {

bool wide_float(ops::WFormat f) {
  return f == ops::WFormat::F32 || f == ops::WFormat::F16 || f == ops::WFormat::BF16;
}

// Every matrix of a module the drafter multiplies by (kv_b excepted: its absorbed split is derived
// from it, and both must stay one matrix).
template <typename Fn>
void for_each_matrix(MtpWeights& m, Fn&& fn) {
  fn(m.eh_proj);
  AttentionWeights& a = m.layer.attn;
  for (ops::WeightMatrix* w : {&a.q_proj, &a.q_a_proj, &a.q_b_proj, &a.kv_a_proj_with_mqa, &a.o_proj})
    if (!w->empty()) fn(*w);
  auto mlp = [&](MlpWeights& p) {
    for (ops::WeightMatrix* w : {&p.gate_proj, &p.up_proj, &p.down_proj})
      if (!w->empty()) fn(*w);
  };
  if (!m.layer.is_moe) mlp(m.layer.mlp);
  for (MlpWeights& e : m.layer.moe.experts) mlp(e);
  if (m.layer.moe.has_shared) mlp(m.layer.moe.shared_experts);
}

}  // namespace

ops::WeightMatrix DraftWeights::copy_rows(const ops::WeightMatrix& W, const std::vector<int32_t>& ids, bool q8) {
  const int64_t n = ids.empty() ? W.rows : int64_t(ids.size());
  auto row_of = [&](int64_t i) { return ids.empty() ? i : int64_t(ids[size_t(i)]); };
  ops::WeightMatrix out = W;
  out.rows = n;
  if (q8) {
    const int64_t rb = ops::quant::q8_0_row_bytes(W.cols);
    std::vector<uint8_t>& dst = bytes_.emplace_back(size_t(n * rb));
    std::vector<float> row(size_t(W.cols));
    for (int64_t i = 0; i < n; ++i) {
      ops::dequant_row(W, row_of(i), row.data());
      ops::quant::q8_0_quantize_row(row.data(), W.cols, dst.data() + i * rb);
    }
    out.format = ops::WFormat::Q8_0;
    out.data = dst.data();
    out.scale_inv = nullptr;
    return out;
  }
  const int64_t rb = ops::weight_row_bytes(W.format, W.cols);
  std::vector<uint8_t>& dst = bytes_.emplace_back(size_t(n * rb));
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(dst.data() + i * rb, static_cast<const uint8_t*>(W.data) + row_of(i) * rb, size_t(rb));
  out.data = dst.data();
  if (W.format == ops::WFormat::F8_E4M3) {
    const int64_t nbc = (W.cols + W.block_cols - 1) / W.block_cols;
    std::vector<float>& sc = scales_.emplace_back(size_t(n * nbc));
    for (int64_t i = 0; i < n; ++i)
      std::copy_n(W.scale_inv + (row_of(i) / W.block_rows) * nbc, nbc, sc.begin() + i * nbc);
    out.scale_inv = sc.data();
    out.block_rows = 1;
  }
  return out;
}

DraftWeights::DraftWeights(const Model& model, Options opt)
    : model_(model), vocab_(model.config().vocab_size), ids_(std::move(opt.vocab)) {
  std::vector<bool> seen(size_t(vocab_), false);
  for (int32_t id : ids_) {
    if (id < 0 || id >= vocab_) fail("MTP draft vocabulary: token id {} is outside the vocabulary [0, {})", id, vocab_);
    if (seen[size_t(id)]) fail("MTP draft vocabulary: token id {} listed twice", id);
    seen[size_t(id)] = true;
  }
  if (int64_t(ids_.size()) == vocab_) ids_.clear();  // all of it: the heads themselves
  const std::vector<MtpWeights>& own = model.weights().mtp;
  // Expert parallelism finds an MoE layer by its address among the model's: keep the model's own.
  if (opt.q8 && !expert_parallel::active()) {  // and only when the copy stays small (kMaxCopyBytes)
    std::vector<MtpWeights> copy = own;
    int64_t bytes = 0;
    for (MtpWeights& m : copy)
      for_each_matrix(m, [&](ops::WeightMatrix& w) {
        if (wide_float(w.format)) bytes += w.rows * ops::quant::q8_0_row_bytes(w.cols);
      });
    if (bytes <= kMaxCopyBytes) {
      for (MtpWeights& m : copy)
        for_each_matrix(m, [&](ops::WeightMatrix& w) {
          if (wide_float(w.format)) w = copy_rows(w, {}, true);
        });
      modules_ = std::move(copy);
    }
  }
  const bool q8_head = opt.q8 && !modules_.empty();
  for (const MtpWeights& m : own) {
    const ops::WeightMatrix& head = m.shared_head_head;
    const bool q8 = q8_head && wide_float(head.format);
    heads_.push_back(ids_.empty() && !q8 ? head : copy_rows(head, ids_, q8));
  }
}

const MtpWeights& DraftWeights::module(int64_t m) const {
  return modules_.empty() ? model_.weights().mtp.at(size_t(m)) : modules_.at(size_t(m));
}

void DraftWeights::logits(const Exec& ex, int64_t m, const float* hidden, std::vector<float>& scratch,
                          float* logits) const {
  const ops::WeightMatrix& W = heads_.at(size_t(m));
  if (ids_.empty()) return linear(ex, W, hidden, 1, logits);
  scratch.resize(ids_.size());
  linear(ex, W, hidden, 1, scratch.data());
  std::fill(logits, logits + vocab_, -std::numeric_limits<float>::infinity());
  for (size_t i = 0; i < ids_.size(); ++i) logits[ids_[i]] = scratch[i];
}

}  // namespace fathom
