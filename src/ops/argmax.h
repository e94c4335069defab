// Index of the largest value (the lowest index among equal ones; NaN never wins, an all-NaN or empty
// input gives 0). Greedy decoding runs this over the whole vocabulary every token: written as 16
// independent lanes so the compiler vectorizes it (a plain scan is a chain of dependent compares and
// moves, slow enough over DeepSeek's 102,400 logits to show in the time per decoded token).
#pragma once
#include <cstdint>
#include <limits>

namespace fathom::ops {

inline int64_t argmax(const float* x, int64_t n) {
  constexpr int L = 16;
  float best[L];
  int32_t at[L];
  for (int l = 0; l < L; ++l) {
    best[l] = -std::numeric_limits<float>::infinity();
    at[l] = -1;
  }
  const int64_t whole = n / L * L;
  for (int64_t i = 0; i < whole; i += L)
    for (int l = 0; l < L; ++l) {
      const bool take = x[i + l] > best[l];  // strict: a lane keeps its first maximum
      best[l] = take ? x[i + l] : best[l];
      at[l] = take ? int32_t(i + l) : at[l];
    }
  float b = -std::numeric_limits<float>::infinity();
  int64_t a = -1;
  for (int l = 0; l < L; ++l)
    if (at[l] >= 0 && (best[l] > b || (best[l] == b && at[l] < a))) {
      b = best[l];
      a = at[l];
    }
  for (int64_t j = whole; j < n; ++j)
    if (x[j] > b) {
      b = x[j];
      a = j;
    }
  if (a < 0) {  // nothing above -inf: the first -inf if there is one, else 0
    for (int64_t j = 0; j < n; ++j)
      if (x[j] == b) return j;
    return 0;
  }
  return a;
}

}  // namespace fathom::ops
