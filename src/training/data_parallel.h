// Data-parallel training over the ranks of an MPI run (dist/comm.h; one process is the case of one
// rank, where every call here is an identity). The global batch of B sequences is split into equal
// slices of B/N consecutive rows, one per rank; each rank runs forward and backward on its slice
// alone, then
//   gradients  g = (1/N) Σ_r g_r    (each g_r is of its slice's mean loss, so g is of the global one;
//                                    under expert parallelism a routed expert's gradient is already
//                                    the sum over every rank's rows on its one owner: only scaled)
//   losses     the same mean over ranks (what is logged is the global batch's loss)
//   loads      Σ_r load_r           (the router-bias update sees the global expert load)
// with MPI_Allreduce. Every rank then takes the same clip and AdamW step on the same numbers, so
// parameters and optimizer state stay identical everywhere without ever being sent; rank 0 alone
// writes them. The checkpoint is the same as one process's, so --resume may change the rank count.
// The result equals one process with the same global batch up to f32 summation order.
#pragma once
#include <cstdint>
#include <vector>

#include "training/transformer.h"

namespace fathom::train {

class DataParallel {
 public:
  // Fails (naming --batch and the rank count) unless the global batch splits evenly.
  explicit DataParallel(int64_t global_batch);
  int ranks() const { return ranks_; }
  int64_t local_batch() const { return local_; }
  int64_t first_row() const { return first_; }  // this rank's first row of the global batch

  // Threads for this rank's pool: `requested`, or when 0 the machine's cores shared evenly among
  // the ranks on it.
  static int threads(int requested);

  // After a backward pass: grads (laid out by `layout`) and losses become the global batch's, on
  // every rank.
  void reduce_step(StepLosses* losses, const ParamLayout& layout, float* grads) const;
  void reduce_losses(StepLosses* losses) const;
  void sum_load(std::vector<std::vector<int32_t>>* load) const;
  // Whether any rank was asked to stop (the signal's number, or 0), so all stop after the same step.
  static int agree_stop(int signal);

 private:
  int ranks_ = 1;
  int64_t local_ = 0, first_ = 0;
};

}  // namespace fathom::train
