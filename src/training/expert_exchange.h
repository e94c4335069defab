// Expert-parallel training's all-to-all (`mpirun -np N fathom train --expert-parallel`,
// docs/DISTRIBUTED.md). Each rank routes its own tokens (its slice of the global batch) and sorts
// the (token, expert) rows into slots by expert (MoeActs); rank r owns experts e with
// expert_parallel::owner(e, E, N) == r, so the slots bound for each rank are one contiguous block.
//
//   forward   dispatch   slots -> owners (MPI_Alltoallv)    xs -> xe   the experts' inputs
//             combine    owners -> slots                    ye -> y    the experts' outputs
//   backward  dispatch   slots -> owners                    dy -> dye  ∂L/∂(expert output)
//             combine    owners -> slots                    dxe -> dxs ∂L/∂(expert input)
//
// An owner receives blocks in (sending rank, expert) order and reorders them expert-major (expert,
// sending rank, the sender's slot order): with the global batch split over the ranks in order, that
// is exactly the order of one process, so each expert's weight gradient sums its rows as one
// process does. Without expert parallelism (shard inactive) the slots are the expert rows
// (xe = xs and so on alias) and every call here only copies the slot offsets.
#pragma once
#include "training/layer.h"
#include "training/moe.h"

namespace fathom::train {

// Forward, after routing: exchanges each rank's per-expert counts (a.count -> a.recv_count, and the
// expert row ranges a.e_offset), then dispatches the inputs a.xs to a.xe.
void expert_dispatch(const LayerCtx& ctx, MoeActs& a);
// Rows in slot order [N*K, H] to the owners' expert-major rows [rows, H] (the layout a.e_offset
// describes), with the counts of the last expert_dispatch of this layer.
void to_experts(const LayerCtx& ctx, const MoeActs& a, const float* slots, float* rows);
// The reverse: expert-major rows back to the slots of the ranks that sent them.
void from_experts(const LayerCtx& ctx, const MoeActs& a, const float* rows, float* slots);

}  // namespace fathom::train
