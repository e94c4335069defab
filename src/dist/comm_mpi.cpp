// comm.h over MPI (compiled only when CMake finds it): MPI_COMM_WORLD, errors returned rather than
// fatal, so a failed collective becomes a fathom::Error naming the operation (and then abort_all
// ends every rank). MPI is started only when a launcher started this process: a plain `fathom`
// needs no MPI daemon and behaves exactly as a build without MPI.
// The C API only: mpi.h would otherwise pull in the deprecated C++ bindings, which need a library
// fathom does not link.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <vector>

#include "core/error.h"
#include "dist/comm.h"
#include "dist/launcher.h"

namespace fathom::dist {

namespace {

bool g_started = false;
int g_rank = 0, g_size = 1, g_local_size = 1;

void check(int rc, const char* op) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  fail("{} failed on rank {} of {}: {} (a peer rank may have exited; see the other ranks' messages)", op, g_rank,
       g_size, std::string(msg, size_t(len)));
}

// MPI counts are int: a large buffer is reduced in pieces.
constexpr int64_t kChunk = int64_t(1) << 28;

template <typename T>
void allreduce_sum_chunked(T* data, int64_t n, MPI_Datatype type) {
  if (!g_started || g_size == 1) return;
  for (int64_t at = 0; at < n; at += kChunk) {
    const int len = int(std::min(kChunk, n - at));
    check(MPI_Allreduce(MPI_IN_PLACE, data + at, len, type, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
  }
}

int to_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) fail("MPI_Alltoallv: {} {} does not fit MPI's int counts", what, v);
  return int(v);
}

}  // namespace

void init(int* argc, char*** argv) {
  if (launcher_world_size() <= 1) return;
  int provided = 0;
  // One thread at a time calls MPI, not always the main one (the server's model thread); the
  // thread pool's workers never do.
  if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) fail("MPI_Init_thread failed");
  g_started = true;
  if (provided < MPI_THREAD_SERIALIZED) fail("this MPI library does not allow calls from more than one thread");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check(MPI_Comm_rank(MPI_COMM_WORLD, &g_rank), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &g_size), "MPI_Comm_size");
  MPI_Comm node;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &node),
        "MPI_Comm_split_type");
  check(MPI_Comm_size(node, &g_local_size), "MPI_Comm_size");
  MPI_Comm_free(&node);
}

void finalize() {
  if (!g_started) return;
  MPI_Finalize();
  g_started = false;
}

void abort_all(int code) {
  if (g_started && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

int rank() { return g_rank; }
int size() { return g_size; }
int local_size() { return g_local_size; }

void allreduce_sum(float* data, int64_t n) { allreduce_sum_chunked(data, n, MPI_FLOAT); }
void allreduce_sum(double* data, int64_t n) { allreduce_sum_chunked(data, n, MPI_DOUBLE); }
void allreduce_sum(int32_t* data, int64_t n) { allreduce_sum_chunked(data, n, MPI_INT32_T); }

int allreduce_max(int value) {
  if (!g_started || g_size == 1) return value;
  check(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  return value;
}

void broadcast(void* data, size_t bytes, int root) {
  if (!g_started || g_size == 1) return;
  auto* p = static_cast<char*>(data);
  for (size_t at = 0; at < bytes; at += size_t(kChunk)) {
    const int len = int(std::min(size_t(kChunk), bytes - at));
    check(MPI_Bcast(p + at, len, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
  }
}

void alltoall_counts(const int64_t* counts_in, int64_t* counts_out) {
  if (!g_started || g_size == 1) {
    counts_out[0] = counts_in[0];
    return;
  }
  check(MPI_Alltoall(counts_in, 1, MPI_INT64_T, counts_out, 1, MPI_INT64_T, MPI_COMM_WORLD), "MPI_Alltoall");
}

void alltoallv(const void* send, const int64_t* send_counts, const int64_t* send_offsets, void* recv,
               const int64_t* recv_counts, const int64_t* recv_offsets, size_t elem_bytes) {
  const int n = g_started ? g_size : 1;
  std::vector<int> sc(n), so(n), rc(n), ro(n);
  const auto eb = int64_t(elem_bytes);
  for (int r = 0; r < n; ++r) {
    sc[r] = to_int(send_counts[r] * eb, "send bytes");
    so[r] = to_int(send_offsets[r] * eb, "send offset");
    rc[r] = to_int(recv_counts[r] * eb, "receive bytes");
    ro[r] = to_int(recv_offsets[r] * eb, "receive offset");
  }
  if (n == 1) {
    std::copy_n(static_cast<const char*>(send) + so[0], sc[0], static_cast<char*>(recv) + ro[0]);
    return;
  }
  check(MPI_Alltoallv(send, sc.data(), so.data(), MPI_BYTE, recv, rc.data(), ro.data(), MPI_BYTE, MPI_COMM_WORLD),
        "MPI_Alltoallv");
}

}  // namespace fathom::dist
