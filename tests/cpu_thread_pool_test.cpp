#include "cpu/thread_pool.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace fathom::cpu {
namespace {

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

TEST(ThreadPool, EveryTaskRunsOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> hits(size_t(n + 1));
      std::atomic<bool> bad_thread{false};
      pool.parallel_for(n, [&](int64_t task, int thread) {
        hits[size_t(task)].fetch_add(1);
        if (thread < 0 || thread >= threads) bad_thread = true;
      });
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[size_t(i)].load(), 1) << "threads " << threads << " task " << i;
      EXPECT_FALSE(bad_thread.load());
    }
  }
}

TEST(ThreadPool, DefaultSizeIsCoreCount) {
  ThreadPool pool;
  EXPECT_EQ(pool.size(), available_cores());
  EXPECT_GE(pool.size(), 1);
}

// Many back-to-back jobs: the barrier must neither lose a wake-up nor let a job overlap the next.
TEST(ThreadPool, ManySmallJobs) {
  ThreadPool pool(2);
  std::vector<int64_t> slots(64, 0);
  for (int iter = 0; iter < 3000; ++iter)
    pool.parallel_for(64, [&](int64_t task, int) { slots[size_t(task)] += 1; });
  for (int64_t v : slots) EXPECT_EQ(v, 3000);
}

// Jobs separated by pauses longer than the spin time: workers must wake from sleep every time.
TEST(ThreadPool, WakesAfterSleeping) {
  ThreadPool pool(3);
  for (int iter = 0; iter < 5; ++iter) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::atomic<int> sum{0};
    pool.parallel_for(100, [&](int64_t task, int) { sum += int(task); });
    EXPECT_EQ(sum.load(), 4950);
  }
}

TEST(ThreadPool, NestedCallRunsSerially) {
  ThreadPool pool(2);
  std::atomic<int> inner{0};
  pool.parallel_for(4, [&](int64_t, int thread) {
    pool.parallel_for(3, [&](int64_t, int inner_thread) {
      EXPECT_EQ(inner_thread, thread);
      inner += 1;
    });
  });
  EXPECT_EQ(inner.load(), 12);
}

// An idle pool sleeps: its workers must not burn a core each.
TEST(ThreadPool, IdlePoolDoesNotSpin) {
  ThreadPool pool(2);
  pool.parallel_for(2, [](int64_t, int) {});
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past the spin window
  const double before = process_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_LT(process_cpu_seconds() - before, 0.05);
}

}  // namespace
}  // namespace fathom::cpu
