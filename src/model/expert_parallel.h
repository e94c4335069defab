// Expert parallelism for inference (`mpirun -np N fathom run|chat|serve|bench|logits|perplexity
// --expert-parallel`, docs/DISTRIBUTED.md). Each MoE layer's routed experts are spread over the N
// ranks in contiguous blocks (expert e lives on rank ⌊e·N/E⌋); a rank keeps views of its own
// experts only, and since the checkpoint is memory-mapped, never touching the others means never
// reading them: a model whose experts do not fit one machine runs on several.
//
// Rank 0 is the model everyone else sees: it runs embedding, attention, dense layers, router,
// shared experts and the head, and owns tokenizer, sampling and output. In every MoE layer it sends
// each (token, chosen expert) row to the expert's rank with MPI_Alltoallv (dispatch), every rank
// runs its experts over the rows it received, and a second MPI_Alltoallv brings the outputs back
// (combine), where rank 0 weights and sums them in the same order as one process does, so results
// equal one process's. The other ranks hold no attention, no cache, no tokenizer: once their model
// is loaded they serve expert requests until rank 0 ends the run (a loop inside Model::load that
// does not return).
#pragma once
#include <cstdint>

#include "io/checkpoint.h"
#include "model/compute.h"
#include "model/config.h"
#include "model/weights.h"

namespace fathom::expert_parallel {

// Turns expert parallelism on for this process (the command line's --expert-parallel; before any
// model is loaded). With one rank it still runs the dispatch path, over a single rank.
void enable();
bool active();

// The rank that holds routed expert e of E over `ranks` ranks.
inline int owner(int64_t e, int64_t E, int ranks) { return int(e * ranks / E); }

// Model::load's hooks. Checkpoint options: the weights stay mapped (reading them whole would
// defeat the purpose). place_experts: drops the views of other ranks' experts; on ranks other than
// 0 it then serves rank 0's MoE layers and ends the process when rank 0 finishes (never returns).
io::CheckpointOptions checkpoint_options(const io::CheckpointOptions& given);
void place_experts(const ModelConfig& cfg, ModelWeights& w);

// moe_forward (model/experts.h) of rank 0 under expert parallelism.
void moe_forward(const Exec& ex, const ModelConfig& cfg, const MoeWeights& w, const float* x, int64_t T, float* out);

// Rank 0 at the end of a run: releases the serving ranks (they exit). A no-op elsewhere.
void finish();

}  // namespace fathom::expert_parallel
