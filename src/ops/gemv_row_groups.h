// Internal, for the AVX-512 decode GEMVs (BF16 in gemv_float_avx512.cpp, F8_E4M3 in
// gemv_fp8_avx512vbmi.cpp): which R rows of [r0, r1) a kernel reads together.
//
// R rows at a time give 2 * R * NT independent FMA chains (one row alone is latency-bound when it is
// short, as in small models), and each activation load serves R rows. Which R rows: in a short row
// (under kStripeMinCols columns, as in small models, whose weights sit in cache) R neighbouring rows.
// In a longer row, [r0, r1) is cut into R stripes of consecutive rows and slot i walks stripe i, so
// each slot reads one sequential stream across row ends, which the hardware prefetcher and the
// software prefetch distance follow into the slot's next row; R neighbouring rows would be R short
// streams restarting at every group (a 2048-column BF16 row is one 4 KB page), measured 15-20% below
// the stripes' DRAM read rate. A row's sum must not depend on R, on the slot or on the layout (the
// kernels keep its order), so a batch of tokens equals one-token products bit for bit.
#pragma once
#include <cstdint>

namespace fathom::ops::detail {

constexpr int64_t kStripeMinCols = 1024;

// The number of groups of R rows in [r0, r1).
inline int64_t gemv_row_groups(int64_t r0, int64_t r1, int R) { return (r1 - r0 + R - 1) / R; }

// row[i] = the row slot i reads in group j of `groups`, or -1 past r1 (the kernel then reads
// row r1 - 1 again and stores nothing).
template <int R, bool kStripes>
inline void gemv_group_rows(int64_t r0, int64_t r1, int64_t groups, int64_t j, int64_t* row) {
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i) {
    row[i] = kStripes ? r0 + i * groups + j : r0 + j * R + i;
    if (row[i] >= r1) row[i] = -1;
  }
}

}  // namespace fathom::ops::detail
