#include "cpu/thread_pool.h"

#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <limits>
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

// Involuntary context switches of the calling thread so far: how often the OS took its core away.
uint64_t preemptions() {
#if defined(__linux__)
  rusage u{};
  if (getrusage(RUSAGE_THREAD, &u) == 0) return uint64_t(u.ru_nivcsw);
#endif
  return 0;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// How long an idle worker spins before sleeping: long enough to cover the gap between the jobs of
// one decode step, short enough that a pool idle between requests costs nothing.
constexpr int64_t kSpinNs = 200'000;
// A worker the OS has preempted (the machine has more runnable threads than cores) sleeps instead of
// spinning until it has gone this long without being preempted: a spinning thread burns its share
// of the core and is then preempted at a random point, often holding a task the caller must wait
// for; a thread that wakes from sleep usually runs its task to the end.
constexpr int64_t kQuietNs = 20'000'000;
// How often a worker asks the OS whether it was preempted (a system call: too dear after every job).
constexpr int64_t kPreemptionCheckNs = 1'000'000;
// Spin-wait iterations between two clock reads.
constexpr int kPollEvery = 32;
// Sleeping workers are woken only for a job that is still running this long after it started (a
// futex wake costs the caller more than a tiny job), and at least once per kQuietNs.
constexpr int64_t kWakeDelayNs = 10'000;
// The caller, out of tasks, spins for the job's stragglers for twice its own mean task time, within
// these bounds, then sleeps: a worker still holding a task after that was most likely descheduled,
// and a caller that sleeps leaves its core idle, so the OS can move that worker onto it.
constexpr int64_t kMinCallerSpinNs = 20'000;
constexpr int64_t kMaxCallerSpinNs = 500'000;
// Task counts travel in the low half of job_.
constexpr int64_t kMaxRoundTasks = std::numeric_limits<uint32_t>::max();

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
    generation_.fetch_add(1, std::memory_order_seq_cst);
    futex_wake_all(&generation_);
    for (auto& w : workers_) w.join();
    throw std::runtime_error("cannot start " + std::to_string(n_threads_) + " threads (" + e.what() +
                             "); ask for fewer with --threads");
  }
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1, std::memory_order_seq_cst);
  futex_wake_all(&generation_);
  for (auto& w : workers_) w.join();
}

// Claims and runs tasks of job `generation` until none is left; returns how many it ran. The
// compare-exchange fails once the caller has published a newer job, so a late worker stops there.
uint32_t ThreadPool::claim_tasks(uint32_t generation, int thread, int64_t wake_at) {
  uint32_t ran = 0;
  uint64_t job = job_.load(std::memory_order_acquire);
  for (;;) {
    const auto remaining = uint32_t(job);
    if (uint32_t(job >> 32) != generation || remaining == 0) break;
    if (wake_at > 0 && sleepers_.load(std::memory_order_relaxed) > 0) {
      const int64_t t = now_ns();
      if (t >= wake_at || t - last_wake_ns_ > kQuietNs) {
        futex_wake_all(&generation_);
        last_wake_ns_ = t;
        wake_at = 0;
      }
    }
    if (!job_.compare_exchange_weak(job, job - 1, std::memory_order_acquire, std::memory_order_acquire)) continue;
    // This task is claimed and not done, so the caller is still waiting on this job: fn_, ctx_,
    // base_ and n_tasks_ are this job's and stay so until done_ counts the task.
    if (thread != 0)
      if (Hook hook = test_hook_.load(std::memory_order_relaxed)) hook(thread);
    fn_(ctx_, base_ + int64_t(n_tasks_ - remaining), thread);
    ++ran;
    job = job_.load(std::memory_order_acquire);
  }
  return ran;
}

void ThreadPool::worker_loop(int thread) {
  tls_thread = thread;
  uint32_t seen = 0;
  uint64_t preempted = preemptions();
  int64_t checked_at = now_ns(), preempted_at = checked_at - kQuietNs;
  for (;;) {
    uint32_t gen = generation_.load(std::memory_order_acquire);
    int64_t now = now_ns();
    if (now - checked_at > kPreemptionCheckNs) {
      checked_at = now;
      if (const uint64_t p = preemptions(); p != preempted) {
        preempted = p;
        preempted_at = now;
      }
    }
    if (gen == seen && now - preempted_at > kQuietNs) {
      const int64_t until = now + kSpinNs;
      do {
        for (int i = 0; i < kPollEvery && (gen = generation_.load(std::memory_order_acquire)) == seen; ++i) cpu_relax();
      } while (gen == seen && (now = now_ns()) < until);
      // Missing a whole job while spinning means the OS ran something else on this core meanwhile.
      if (gen - seen > 1) preempted_at = now;
    }
    while (gen == seen) {
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      // Re-check after announcing ourselves, so a bump between the load and the wait is not lost.
      if (generation_.load(std::memory_order_seq_cst) == seen) futex_wait(&generation_, seen);
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      gen = generation_.load(std::memory_order_acquire);
    }
    seen = gen;
    if (stop_.load(std::memory_order_acquire)) return;
    if (Hook hook = test_hook_.load(std::memory_order_relaxed)) hook(thread);
    if (const uint32_t ran = claim_tasks(gen, thread, 0)) {
      // Publish the tasks run only after the last of them has finished: the caller may start the
      // next job (rewrite fn_ and friends) the moment done_ reaches the task count.
      const uint32_t n_tasks = n_tasks_;
      if (done_.fetch_add(ran, std::memory_order_seq_cst) + ran == n_tasks &&
          caller_sleeping_.load(std::memory_order_seq_cst))
        futex_wake_all(&done_);
    }
  }
}

void ThreadPool::run_round(uint32_t n_tasks, int64_t base) {
  base_ = base;
  n_tasks_ = n_tasks;
  done_.store(0, std::memory_order_relaxed);
  const uint32_t gen = ++last_generation_;
  job_.store(uint64_t(gen) << 32 | n_tasks, std::memory_order_release);
  generation_.store(gen, std::memory_order_release);

  const int64_t t0 = now_ns();
  const uint32_t mine = claim_tasks(gen, 0, t0 + kWakeDelayNs);
  uint32_t done = done_.fetch_add(mine, std::memory_order_acq_rel) + mine;
  if (done == n_tasks) return;
  // Stragglers: tasks that workers claimed and are still running.
  const int64_t t1 = now_ns();
  const int64_t spin_ns =
      mine > 0 ? std::clamp(2 * (t1 - t0) / int64_t(mine), kMinCallerSpinNs, kMaxCallerSpinNs) : kMaxCallerSpinNs;
  for (int polls = 0; (done = done_.load(std::memory_order_acquire)) != n_tasks; ++polls) {
    cpu_relax();
    if (polls % kPollEvery == 0 && now_ns() - t1 > spin_ns) break;
  }
  while (done != n_tasks) {
    caller_sleeping_.store(true, std::memory_order_seq_cst);
    done = done_.load(std::memory_order_seq_cst);
    if (done != n_tasks) futex_wait(&done_, done);
    caller_sleeping_.store(false, std::memory_order_relaxed);
    done = done_.load(std::memory_order_acquire);
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
  for (int64_t base = 0; base < n_tasks; base += kMaxRoundTasks)
    run_round(uint32_t(std::min(n_tasks - base, kMaxRoundTasks)), base);
  busy_.store(false, std::memory_order_release);
}

}  // namespace fathom::cpu
