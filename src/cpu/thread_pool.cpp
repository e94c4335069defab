#include "cpu/thread_pool.h"

#include <sched.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace fathom::cpu {
namespace {

inline void cpu_relax() { __builtin_ia32_pause(); }

void futex_wait(std::atomic<uint32_t>* addr, uint32_t expected) {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
#else
  addr->wait(expected);
#endif
}

void futex_wake_all(std::atomic<uint32_t>* addr) {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
#else
  addr->notify_all();
#endif
}

// How long an idle worker spins before sleeping: long enough to cover the gap between the ops of
// one decode step, short enough that a pool idle between requests costs nothing.
constexpr auto kSpinTime = std::chrono::microseconds(200);

// The pool thread index of the calling thread (0 for threads the pool did not create), so a nested
// parallel_for that runs serially still passes its caller's own index.
thread_local int tls_thread = 0;

}  // namespace

int available_cores() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? int(n) : 1;
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads > 0 ? n_threads : available_cores()) {
  workers_.reserve(n_threads_ - 1);
  try {
    for (int t = 1; t < n_threads_; ++t) workers_.emplace_back([this, t] { worker_loop(t); });
  } catch (const std::system_error& e) {
    // The threads already started must be joined before the error leaves the constructor: a
    // joinable std::thread destroyed ends the process ("terminate called").
    stop_.store(true);
    generation_.fetch_add(1, std::memory_order_release);
    futex_wake_all(&generation_);
    for (auto& w : workers_) w.join();
    throw std::runtime_error("cannot start " + std::to_string(n_threads_) + " threads (" + e.what() +
                             "); ask for fewer with --threads");
  }
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1, std::memory_order_release);
  futex_wake_all(&generation_);
  for (auto& w : workers_) w.join();
}

void ThreadPool::work(int thread) {
  for (;;) {
    const int64_t task = next_.fetch_add(1, std::memory_order_relaxed);
    if (task >= n_tasks_) break;
    fn_(ctx_, task, thread);
  }
}

void ThreadPool::worker_loop(int thread) {
  tls_thread = thread;
  uint32_t seen = 0;
  for (;;) {
    // Wait for a new generation: spin first, then sleep.
    uint32_t gen = generation_.load(std::memory_order_acquire);
    if (gen == seen) {
      const auto until = std::chrono::steady_clock::now() + kSpinTime;
      int spins = 0;
      while ((gen = generation_.load(std::memory_order_acquire)) == seen) {
        cpu_relax();
        if (++spins % 64 == 0 && std::chrono::steady_clock::now() > until) {
          sleepers_.fetch_add(1, std::memory_order_seq_cst);
          // Re-check after announcing ourselves, so a bump between the load and the wait is not lost.
          if (generation_.load(std::memory_order_seq_cst) == seen) futex_wait(&generation_, seen);
          sleepers_.fetch_sub(1, std::memory_order_relaxed);
        }
      }
    }
    seen = gen;
    if (stop_.load(std::memory_order_acquire)) return;
    work(thread);
    running_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run(int64_t n_tasks, TaskFn fn, void* ctx) {
  if (n_tasks <= 0) return;
  bool expected = false;
  if (n_threads_ == 1 || n_tasks == 1 || !busy_.compare_exchange_strong(expected, true)) {
    // Single thread, a single task, or a nested call: run on the caller.
    for (int64_t t = 0; t < n_tasks; ++t) fn(ctx, t, tls_thread);
    return;
  }
  fn_ = fn;
  ctx_ = ctx;
  n_tasks_ = n_tasks;
  next_.store(0, std::memory_order_relaxed);
  running_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) futex_wake_all(&generation_);
  work(0);
  // Wait for the workers; yield now and then in case one of them is waiting for this core.
  for (int spins = 1; running_.load(std::memory_order_acquire) != 0; ++spins) {
    cpu_relax();
    if (spins % 4096 == 0) sched_yield();
  }
  busy_.store(false, std::memory_order_release);
}

}  // namespace fathom::cpu
