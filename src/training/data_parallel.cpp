#include "training/data_parallel.h"

#include <algorithm>

#include "core/error.h"
#include "cpu/thread_pool.h"
#include "dist/comm.h"

namespace fathom::train {

DataParallel::DataParallel(int64_t global_batch) : ranks_(dist::size()) {
  if (global_batch % ranks_ != 0)
    fail("--batch {} does not split evenly over {} ranks: give a multiple of {}", global_batch, ranks_, ranks_);
  local_ = global_batch / ranks_;
  first_ = int64_t(dist::rank()) * local_;
}

int DataParallel::threads(int requested) {
  if (requested > 0 || dist::local_size() <= 1) return requested;
  return std::max(1, cpu::available_cores() / dist::local_size());
}

void DataParallel::reduce_losses(StepLosses* l) const {
  if (ranks_ == 1) return;
  double v[4] = {l->loss, l->mtp_loss, l->balance, l->total};
  dist::allreduce_sum(v, 4);
  const double inv = 1.0 / double(ranks_);
  l->loss = v[0] * inv;
  l->mtp_loss = v[1] * inv;
  l->balance = v[2] * inv;
  l->total = v[3] * inv;
}

void DataParallel::reduce_step(StepLosses* losses, const ParamLayout& layout, float* grads) const {
  if (ranks_ == 1) return;
  reduce_losses(losses);
  // One allreduce per run of consecutive replicated tensors (all of them without expert parallelism).
  const auto& ts = layout.tensors();
  for (size_t i = 0; i < ts.size();) {
    size_t j = i;
    while (j < ts.size() && ts[j].sharded == ts[i].sharded) ++j;
    if (!ts[i].sharded) dist::allreduce_sum(grads + ts[i].offset, ts[j - 1].offset + ts[j - 1].numel - ts[i].offset);
    i = j;
  }
  const float inv = 1.0f / float(ranks_);
  for (int64_t i = 0; i < layout.numel(); ++i) grads[i] *= inv;
}

void DataParallel::sum_load(std::vector<std::vector<int32_t>>* load) const {
  if (ranks_ == 1 || load->empty()) return;
  std::vector<int32_t> flat;
  for (const auto& l : *load) flat.insert(flat.end(), l.begin(), l.end());
  dist::allreduce_sum(flat.data(), int64_t(flat.size()));
  size_t at = 0;
  for (auto& l : *load)
    for (auto& c : l) c = flat[at++];
}

int DataParallel::agree_stop(int signal) { return dist::allreduce_max(signal); }

}  // namespace fathom::train
