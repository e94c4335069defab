#include "generation/verify_cost.h"

#include <algorithm>

#include "model/model.h"

namespace fathom {

namespace {

// Collects the routes Model::observe_routing reports while it lives.
class RouteRecorder {
 public:
  RouteRecorder(const Model& m, TokenRoutes& r) : m_(m) {
    r.k = m.config().num_experts_per_tok;
    r.experts.assign(size_t(m.config().num_hidden_layers), {});
    m.observe_routing([&r](int64_t layer, const int32_t* e, int64_t T) {
      auto& v = r.experts[size_t(layer)];
      v.insert(v.end(), e, e + T * r.k);
    });
  }
  ~RouteRecorder() { m_.observe_routing({}); }
  RouteRecorder(const RouteRecorder&) = delete;
  RouteRecorder& operator=(const RouteRecorder&) = delete;

 private:
  const Model& m_;
};

}  // namespace

int64_t TokenRoutes::distinct(int64_t layer, int64_t n) const {
  const auto& v = experts[size_t(layer)];
  std::vector<int32_t> u(v.begin(), v.begin() + std::min<int64_t>(n * k, int64_t(v.size())));
  std::sort(u.begin(), u.end());
  return int64_t(std::unique(u.begin(), u.end()) - u.begin());
}

int64_t TokenRoutes::distinct_total(int64_t n) const {
  int64_t d = 0;
  for (size_t l = 0; l < experts.size(); ++l) d += distinct(int64_t(l), n);
  return d;
}

double TokenRoutes::consecutive_share(int64_t* pairs) const {
  double sum = 0;
  int64_t n = 0;
  for (size_t l = 0; l < experts.size(); ++l)
    for (int64_t t = 1; t < tokens(int64_t(l)); ++t) {
      const int32_t* a = experts[l].data() + (t - 1) * k;
      const int32_t* b = a + k;
      int64_t common = 0;
      for (int64_t i = 0; i < k; ++i) common += std::count(a, a + k, b[i]);  // a token's k picks are distinct
      sum += double(common) / double(k);
      ++n;
    }
  if (pairs) *pairs = n;
  return n ? sum / double(n) : 0.0;
}

void verify_step(const Model& m, const Exec& ex, const int32_t* tokens, int64_t n, LatentCache& cache, float* logits,
                 TokenRoutes* routes) {
  const int64_t L0 = cache.length();
  LatentCache* one = &cache;
  if (routes) {
    RouteRecorder rec(m, *routes);
    m.decode_batch(ex, tokens, &n, 1, &one, logits);
  } else {
    m.decode_batch(ex, tokens, &n, 1, &one, logits);
  }
  cache.truncate(L0);
}

TokenRoutes route_one_by_one(const Model& m, const Exec& ex, const int32_t* tokens, int64_t n, LatentCache& cache) {
  const int64_t L0 = cache.length();
  TokenRoutes r;
  {
    RouteRecorder rec(m, r);
    LatentCache* one = &cache;
    for (int64_t t = 0; t < n; ++t) m.decode_batch(ex, tokens + t, 1, &one, nullptr);
  }
  cache.truncate(L0);
  return r;
}

}  // namespace fathom
