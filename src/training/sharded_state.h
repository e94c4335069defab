// Training state under expert parallelism (docs/DISTRIBUTED.md): each rank holds the parameters,
// gradients and AdamW moments of its own routed experts plus every replicated tensor, laid out by
// its sharded ParamLayout. Checkpoints stay whole (the full layout, what one process writes), so
// --resume may change the rank count and turn expert parallelism on or off: rank 0 gathers the
// experts before it writes, and a resuming rank takes its part of the saved buffers.
#pragma once
#include "training/params.h"

namespace fathom::train {

// A collective. dst (full.numel() floats, read on rank 0 only; may be null elsewhere) receives every
// rank's src (laid out by that rank's `local`): the replicated tensors from rank 0, each routed
// expert from its owner. One all-to-all per MoE layer.
void gather_full(const ParamLayout& local, const ParamLayout& full, const float* src, float* dst);
// This rank's tensors (those of `local`) out of a buffer laid out by `full`.
void take_local(const ParamLayout& local, const ParamLayout& full, const float* src, float* dst);

}  // namespace fathom::train
