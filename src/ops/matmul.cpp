// Dispatch for ops::matmul: picks the kernel table for the ISA, prepares each job's activations, and
// splits rows across the pool. Also holds the scalar kernels, which are the reference ops themselves.
#include "ops/matmul.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "core/assert.h"
#include "core/error.h"
#include "ops/matmul_kernels.h"
#include "ops/reference.h"

namespace fathom::ops {
namespace detail {
namespace {

size_t scalar_prep_bytes(const WeightMatrix&, int64_t) { return 0; }
void scalar_prepare(const WeightMatrix&, const float*, int64_t, void*) {}

// Exactly ref::matmul restricted to rows [r0, r1).
void scalar_rows(const WeightMatrix& W, const float* X, const void*, int64_t n, float* Y, int64_t r0,
                 int64_t r1) {
  std::vector<float> row(W.cols);
  for (int64_t r = r0; r < r1; ++r) {
    dequant_row(W, r, row.data());
    for (int64_t t = 0; t < n; ++t) Y[t * W.rows + r] = ref::dot(row.data(), X + t * W.cols, W.cols);
  }
}

}  // namespace

const MatmulKernels& scalar_kernels() {
  static const MatmulKernels k{scalar_prep_bytes, scalar_prepare, scalar_rows};
  return k;
}

}  // namespace detail

namespace {

const detail::MatmulKernels& kernels_for(cpu::Isa isa) {
  if (!cpu::isa_supported(isa)) fail("matmul: this CPU does not support {}", cpu::isa_name(isa));
  switch (isa) {
    case cpu::Isa::Scalar: return detail::scalar_kernels();
    case cpu::Isa::Avx2: return detail::avx2_kernels();
    case cpu::Isa::Avx512: return detail::avx512_kernels();
  }
  fail("matmul: unknown ISA");
}

// Scratch for prepared activations, reused across calls (grows to the largest seen).
struct Scratch {
  // Allocated 64-byte aligned, so it must be freed by the aligned operator delete[].
  struct AlignedDelete {
    void operator()(uint8_t* p) const { ::operator delete[](p, std::align_val_t(64)); }
  };
  std::unique_ptr<uint8_t[], AlignedDelete> buf;
  size_t cap = 0;
  uint8_t* get(size_t bytes) {
    if (bytes > cap) {
      buf.reset(new (std::align_val_t(64)) uint8_t[bytes]);
      cap = bytes;
    }
    return buf.get();
  }
};

}  // namespace

namespace {

// True for a job matmul_batch cuts into GEMVs of at most kGemvMaxTokens tokens (matmul.h).
bool split_into_gemvs(const MatmulJob& job) {
  return job.W->format == WFormat::F8_E4M3 && job.n > kGemvMaxTokens && job.n <= kFp8GemvSplitMaxTokens;
}

}  // namespace

void matmul_batch(cpu::Isa isa, std::span<const MatmulJob> jobs, cpu::ThreadPool* pool) {
  if (std::any_of(jobs.begin(), jobs.end(), [](const MatmulJob& j) { return j.W && split_into_gemvs(j); })) {
    // Token groups of one product are independent products (Y's rows are tokens): run them as jobs
    // of one batch, so the threads still split the union of their rows.
    thread_local std::vector<MatmulJob> split;
    split.clear();
    for (const MatmulJob& job : jobs) {
      if (!split_into_gemvs(job)) {
        split.push_back(job);
        continue;
      }
      for (int64_t t = 0; t < job.n; t += kGemvMaxTokens)
        split.push_back({job.W, job.X + t * job.W->cols, std::min(kGemvMaxTokens, job.n - t), job.Y + t * job.W->rows});
    }
    // No job of `split` is split again, so the call below leaves `split` alone.
    return matmul_batch(isa, std::span<const MatmulJob>(split), pool);
  }
  for (const MatmulJob& job : jobs) {
    FATHOM_ASSERT(job.W && job.n >= 0 && job.W->rows >= 0 && job.W->cols >= 0, "matmul: job of {} tokens",
                  job.n);
    if (job.n == 0 || job.W->rows == 0) continue;
    FATHOM_ASSERT(job.W->data && job.X && job.Y, "matmul: null weights, input or output ([{}, {}] x {} tokens)",
                  job.W->rows, job.W->cols, job.n);
    FATHOM_ASSERT(job.W->format != WFormat::F8_E4M3 || (job.W->scale_inv && job.W->block_rows > 0 &&
                                                         job.W->block_cols > 0),
                  "matmul: fp8 weights without their block scales");
  }
  const detail::MatmulKernels& k = kernels_for(isa);
  thread_local Scratch scratch;
  // Activations are prepared once per job (cheap: O(n * cols)).
  // thread_local: no allocation once warm. Worker threads reach them through these references.
  thread_local std::vector<size_t> offset_storage;
  std::vector<size_t>& offset = offset_storage;
  offset.assign(jobs.size() + 1, 0);
  for (size_t j = 0; j < jobs.size(); ++j)
    offset[j + 1] = offset[j] + (k.prep_bytes(*jobs[j].W, jobs[j].n) + 63) / 64 * 64;
  uint8_t* prep = scratch.get(std::max<size_t>(offset.back(), 64));
  const int threads = pool ? pool->size() : 1;
  // Several jobs (a MoE layer's experts) prepare their activations in parallel.
  auto prepare_job = [&](int64_t j, int) {
    if (offset[j + 1] > offset[j]) k.prepare(*jobs[j].W, jobs[j].X, jobs[j].n, prep + offset[j]);
  };
  if (pool && threads > 1 && jobs.size() > 1 && offset.back() >= (size_t(1) << 16))
    pool->parallel_for(int64_t(jobs.size()), prepare_job);
  else
    for (size_t j = 0; j < jobs.size(); ++j) prepare_job(int64_t(j), 0);

  // Rows are cut into aligned chunks of shrinking size ("guided"), over the batch as a whole: each
  // chunk takes a 1 / (2 * threads) share of the work left in the batch (never past its job's end),
  // down to the row alignment (below). Early chunks stream long contiguous ranges (a MoE layer's
  // experts go whole); only the batch's last stretch is cut fine, so threads that the (shared)
  // machine runs at different speeds finish within a small chunk of each other. With equal chunks,
  // a few per thread, a large matrix's (the lm_head's) chunks were tens of MB and the first thread
  // done waited for up to one. Cut per batch rather than per job, a decode MoE batch makes several
  // times fewer chunks, each start a fresh stream for the prefetcher (no change beyond noise in
  // BM_MoeGemv, kept for the fewer task claims).
  struct Chunk {
    int job;
    int64_t r0, r1;
  };
  thread_local std::vector<Chunk> chunk_storage;
  std::vector<Chunk>& chunks = chunk_storage;
  chunks.clear();
  // Work per row: its weights (a GEMV streams them once, whatever its few tokens) or, for a GEMM,
  // its multiply-adds.
  auto row_work = [](const MatmulJob& job) {
    return std::max<int64_t>(1, job.W->cols) * (job.n <= kGemvMaxTokens ? 1 : job.n);
  };
  int64_t left = 0;
  for (const MatmulJob& job : jobs)
    if (job.n > 0) left += job.W->rows * row_work(job);
  for (size_t j = 0; j < jobs.size(); ++j) {
    const int64_t rows = jobs[j].W->rows, work = row_work(jobs[j]);
    if (rows == 0 || jobs[j].n == 0) continue;
    if (threads == 1) {
      chunks.push_back({int(j), 0, rows});
      continue;
    }
    // A GEMM wants whole 64-row panels; a GEMV walks rows one by one, and 16-row steps let a small
    // product (the router's 64-row gate) run on every thread instead of on one while the rest wait.
    const int64_t align = jobs[j].n <= kGemvMaxTokens ? detail::kGemvRowAlign : detail::kRowAlign;
    for (int64_t r = 0; r < rows;) {
      int64_t step = (left / work + 2 * threads - 1) / (2 * threads);  // rows of this job
      step = std::max<int64_t>(align, (step + align - 1) / align * align);
      const int64_t r1 = std::min(rows, r + step);
      chunks.push_back({int(j), r, r1});
      left -= (r1 - r) * work;
      r = r1;
    }
  }
  auto run_chunk = [&](int64_t c, int) {
    const Chunk& ch = chunks[c];
    const MatmulJob& job = jobs[ch.job];
    k.rows(*job.W, job.X, prep + offset[ch.job], job.n, job.Y, ch.r0, ch.r1);
  };
  if (pool && threads > 1)
    pool->parallel_for(int64_t(chunks.size()), run_chunk);
  else
    for (size_t c = 0; c < chunks.size(); ++c) run_chunk(int64_t(c), 0);
}

void matmul_batch(std::span<const MatmulJob> jobs, cpu::ThreadPool* pool) {
  matmul_batch(cpu::active_isa(), jobs, pool);
}

void matmul(cpu::Isa isa, const WeightMatrix& W, const float* X, int64_t n, float* Y,
            cpu::ThreadPool* pool) {
  const MatmulJob job{&W, X, n, Y};
  matmul_batch(isa, std::span<const MatmulJob>(&job, 1), pool);
}

void matmul(const WeightMatrix& W, const float* X, int64_t n, float* Y, cpu::ThreadPool* pool) {
  matmul(cpu::active_isa(), W, X, n, Y, pool);
}

}  // namespace fathom::ops
