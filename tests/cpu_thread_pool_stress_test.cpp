// The pool on a busy machine: many more threads than cores, and workers descheduled (sleeps and
// yields injected through the test hook) right after they wake and between claiming a task and
// running it. Every task of every job must run exactly once, on the job it belongs to, and a late
// worker must never reach into the next job. Each job's state lives on the heap and is freed as soon
// as parallel_for returns, so under ASan a worker touching a finished job is a use-after-free.
#include "cpu/thread_pool.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace fathom::cpu {
namespace {

// Deschedules the calling worker now and then: mostly a yield, sometimes a sleep of up to 0.2 ms.
void random_delay(int thread) {
  thread_local std::minstd_rand rng(uint32_t(thread) * 7919u + 1u);
  const uint32_t r = rng() % 16;
  if (r < 4) sched_yield();
  else if (r == 4) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
}

// A task's work: long enough (about a microsecond) that workers join most jobs.
int64_t busy_work(int64_t seed) {
  uint64_t x = uint64_t(seed) + 1;
  for (int i = 0; i < 400; ++i) x = x * 6364136223846793005u + 1442695040888963407u;
  return int64_t(x >> 40);
}

// One job's state and its task function, on the heap: parallel_for is handed the Job itself, so a
// worker holding on to a finished job's function or context reads freed memory.
struct Checks {
  std::atomic<int64_t> current{-1};  // the job in flight
  std::atomic<int64_t> wrong_job{0}, bad_thread{0}, shared_scratch{0};
  std::vector<std::atomic<int>> in_use;  // per thread index: a task is running with it
  explicit Checks(int threads) : in_use(static_cast<size_t>(threads)) {}
};

struct Job {
  Checks& checks;
  int64_t id;
  std::vector<std::atomic<int>> hits;
  std::vector<int64_t> out;
  Job(Checks& checks, int64_t id, int64_t n) : checks(checks), id(id), hits(size_t(n)), out(size_t(n), 0) {}

  void operator()(int64_t task, int thread) {
    if (checks.current.load() != id) checks.wrong_job.fetch_add(1);
    if (thread < 0 || size_t(thread) >= checks.in_use.size()) {
      checks.bad_thread.fetch_add(1);
      return;
    }
    // The thread index is per-thread scratch: no two running tasks may share it.
    if (checks.in_use[size_t(thread)].exchange(1) != 0) checks.shared_scratch.fetch_add(1);
    hits[size_t(task)].fetch_add(1);
    out[size_t(task)] = busy_work(task) + id;
    checks.in_use[size_t(thread)].store(0);
  }
};

TEST(ThreadPoolStress, LateWorkersNeverTouchTheNextJob) {
  const int threads = 4 * available_cores() + 3;  // oversubscribed on any machine
  ThreadPool pool(threads);
  pool.set_test_hook(random_delay);
  std::minstd_rand rng(42);
  Checks checks(threads);
  for (int64_t j = 0; j < 3000; ++j) {
    const int64_t n = 1 + int64_t(rng() % (j % 5 == 0 ? 200 : 8));  // mostly tiny jobs
    auto job = std::make_unique<Job>(checks, j, n);
    checks.current.store(j);
    pool.parallel_for(n, *job);
    checks.current.store(-1);
    for (int64_t t = 0; t < n; ++t) {
      ASSERT_EQ(job->hits[size_t(t)].load(), 1) << "job " << j << " task " << t << " of " << n;
      ASSERT_EQ(job->out[size_t(t)], busy_work(t) + j) << "job " << j << " task " << t;
    }
    // The job is freed here, while late workers may still be waking up for it.
  }
  EXPECT_EQ(checks.wrong_job.load(), 0);
  EXPECT_EQ(checks.bad_thread.load(), 0);
  EXPECT_EQ(checks.shared_scratch.load(), 0);
}

// A worker that never gets to run must not hold up the caller: it does every task itself. The worker
// is held at its wake-up (before it claims anything) until the job has returned.
std::atomic<bool> g_release{false};
std::atomic<int> g_held{0};
void hold_until_released(int) {
  thread_local bool held_once = false;
  if (held_once) return;
  held_once = true;
  g_held.fetch_add(1);
  while (!g_release.load()) std::this_thread::sleep_for(std::chrono::microseconds(100));
}

TEST(ThreadPoolStress, CallerDoesNotWaitForWorkersThatHaveNotStarted) {
  ThreadPool pool(2);
  pool.set_test_hook(hold_until_released);
  for (int round = 0; round < 2; ++round) {
    std::vector<int> hits(1000, 0);
    std::vector<int> by_thread(2, 0);
    pool.parallel_for(1000, [&](int64_t task, int thread) {
      hits[size_t(task)] += 1;
      by_thread[size_t(thread)] += 1;
    });
    for (int h : hits) ASSERT_EQ(h, 1);
    // The worker is held at its first wake-up, so on the first job the caller ran every task.
    if (round == 0) {
      EXPECT_EQ(by_thread[0], 1000);
      while (g_held.load() == 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
      g_release.store(true);
    }
  }
}

// Jobs from several pools at once, each pool oversubscribed: the pools must not interfere.
TEST(ThreadPoolStress, SeveralPoolsAtOnce) {
  std::vector<std::thread> drivers;
  std::atomic<int64_t> errors{0};
  for (int p = 0; p < 3; ++p)
    drivers.emplace_back([&errors, p] {
      ThreadPool pool(available_cores() + 2);
      pool.set_test_hook(random_delay);
      for (int j = 0; j < 400; ++j) {
        const int64_t n = 1 + (j * 7 + p) % 50;
        std::atomic<int64_t> sum{0};
        pool.parallel_for(n, [&](int64_t task, int) { sum.fetch_add(task + 1); });
        if (sum.load() != n * (n + 1) / 2) errors.fetch_add(1);
      }
    });
  for (auto& d : drivers) d.join();
  EXPECT_EQ(errors.load(), 0);
}

}  // namespace
}  // namespace fathom::cpu
