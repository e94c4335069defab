// comm.h for a build without MPI: one process, rank 0 of 1. Collectives over one rank are
// identities. Started by mpirun with several ranks, this build refuses: each copy would believe it
// is the only one and they would all write the same outputs.
#include <algorithm>
#include <cstdlib>

#include "core/error.h"
#include "dist/comm.h"
#include "dist/launcher.h"

namespace fathom::dist {

void init(int*, char***) {
  const int n = launcher_world_size();
  if (n > 1)
    fail("this fathom was built without MPI, but it was started as one of {} ranks; install libopenmpi-dev "
         "(scripts/install-deps.sh), configure again and rebuild",
         n);
}
void finalize() {}
void abort_all(int code) { std::exit(code); }
int rank() { return 0; }
int size() { return 1; }
int local_size() { return 1; }
void allreduce_sum(float*, int64_t) {}
void allreduce_sum(double*, int64_t) {}
void allreduce_sum(int32_t*, int64_t) {}
int allreduce_max(int value) { return value; }
void broadcast(void*, size_t, int) {}
void alltoallv(const void* send, const int64_t* send_counts, const int64_t* send_offsets, void* recv,
               const int64_t*, const int64_t* recv_offsets, size_t elem_bytes) {
  // copy_n, not memcpy: an empty exchange may pass null buffers.
  std::copy_n(static_cast<const char*>(send) + send_offsets[0] * int64_t(elem_bytes),
              size_t(send_counts[0]) * elem_bytes, static_cast<char*>(recv) + recv_offsets[0] * int64_t(elem_bytes));
}
void alltoall_counts(const int64_t* counts_in, int64_t* counts_out) { counts_out[0] = counts_in[0]; }

}  // namespace fathom::dist
