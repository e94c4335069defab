// The process group of a distributed run: the ranks `mpirun -np N fathom ...` starts, and the few
// collectives fathom uses between them. This header is the whole of fathom's view of MPI: only
// comm_mpi.cpp includes mpi.h, and it is compiled only when CMake finds MPI. Otherwise
// comm_local.cpp provides the same functions for one process (rank 0 of 1, collectives are
// identities), so callers never test for MPI themselves. See docs/DISTRIBUTED.md.
//
// Every collective must be called by all ranks in the same order. A failure inside one (a peer
// that died, a network error) throws fathom::Error naming the operation; the command-line front
// end then calls abort_all(), so no rank waits forever on a peer that will never answer.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fathom::dist {

// Starts MPI when the process was launched by mpirun (a no-op otherwise, and in a build without
// MPI, where being launched by mpirun with N > 1 is refused with a clear error). Call once, first.
void init(int* argc, char*** argv);
// Ends MPI after a normal exit of every rank.
void finalize();
// Ends every rank of the run at once with `code` (after an error on this rank): the others may be
// blocked in a collective that this rank will never join.
[[noreturn]] void abort_all(int code);

int rank();  // 0 .. size()-1; 0 without mpirun
int size();  // ranks in the run; 1 without mpirun
inline bool is_root() { return rank() == 0; }
// Ranks sharing this rank's machine (for a default thread count that does not oversubscribe it).
int local_size();

// In place, every rank receives the element-wise sum over all ranks.
void allreduce_sum(float* data, int64_t n);
void allreduce_sum(double* data, int64_t n);
void allreduce_sum(int32_t* data, int64_t n);
// The largest of every rank's value (an agreement: e.g. "did any rank get a stop signal?").
int allreduce_max(int value);
// Root's `bytes` bytes are copied to every other rank's `data`.
void broadcast(void* data, size_t bytes, int root = 0);
// Personalized all-to-all of variable-size blocks of `elem_bytes`-byte elements: block r of send
// (send_counts[r] elements at send_offsets[r]) goes to rank r, and block r of recv comes from rank
// r. Counts and offsets are in elements, one per rank.
void alltoallv(const void* send, const int64_t* send_counts, const int64_t* send_offsets, void* recv,
               const int64_t* recv_counts, const int64_t* recv_offsets, size_t elem_bytes);
// Every rank's count for every rank: counts_in[r] is what this rank sends to r; counts_out[r]
// what r sends to this rank.
void alltoall_counts(const int64_t* counts_in, int64_t* counts_out);

}  // namespace fathom::dist
