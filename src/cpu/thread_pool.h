// A persistent thread pool: N-1 worker threads created once plus the calling thread, which takes part.
// parallel_for hands out task indices and returns as soon as every task has run, without waiting for
// workers that never arrived: on a busy machine a worker the OS has descheduled simply misses the job
// (a decode step issues hundreds of jobs a few µs apart, so waiting for it would stall every one).
// Each job is tagged with a generation, and a worker can only claim a task of the generation it
// woke for, so a late worker finds no work and never touches the next job.
// Idle workers spin briefly, then sleep on a futex. A worker that the OS has preempted lately (the
// machine has more runnable threads than cores) sleeps at once instead of spinning, and the caller
// wakes sleeping workers only for jobs long enough to be worth it, so on a busy machine the pool
// degrades towards one thread's speed instead of stalling on threads that are not running.
#pragma once
#include <atomic>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

namespace fathom::cpu {

// Number of CPUs this process may run on (sched_getaffinity), at least 1.
int available_cores();

class ThreadPool {
 public:
  // n_threads <= 0: available_cores(). n_threads == 1 runs everything on the caller.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(task, thread) for every task in [0, n_tasks), thread in [0, size()). Tasks are claimed
  // dynamically, so uneven tasks balance; a thread index is unique among concurrently running calls
  // (use it to pick per-thread scratch). Must not be called from inside fn (runs serially if it is).
  template <typename Fn>
  void parallel_for(int64_t n_tasks, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    run(n_tasks, [](void* ctx, int64_t task, int thread) { (*static_cast<F*>(ctx))(task, thread); },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }

  // Tests only: called by every worker, with its thread index, after it wakes for a job and before
  // each task it claims, so a test can deschedule workers (sleep, sched_yield) at the worst moments.
  using Hook = void (*)(int thread);
  void set_test_hook(Hook hook) { test_hook_.store(hook, std::memory_order_relaxed); }

 private:
  using TaskFn = void (*)(void* ctx, int64_t task, int thread);
  void run(int64_t n_tasks, TaskFn fn, void* ctx);
  void run_round(uint32_t n_tasks, int64_t base);
  void worker_loop(int thread);
  // Claims and runs tasks of job `generation`; the caller passes wake_at (see kWakeDelayNs), workers 0.
  uint32_t claim_tasks(uint32_t generation, int thread, int64_t wake_at);

  int n_threads_;
  std::vector<std::thread> workers_;
  // The job in flight. Written by the caller only while no task of the previous job is running, and
  // read by a worker only after it has claimed a task of this job, so a worker never sees them change.
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t base_ = 0;       // first task index of this round (jobs of more than 2^32-1 tasks run in rounds)
  uint32_t n_tasks_ = 0;   // tasks in this round
  uint32_t last_generation_ = 0;  // caller only
  int64_t last_wake_ns_ = 0;      // caller only: when it last woke sleeping workers
  // generation << 32 | tasks not yet claimed. A worker claims a task by decrementing it with a
  // compare-exchange that also checks the generation, so a worker late for a job cannot claim (or
  // even decrement the counter of) the next one.
  alignas(64) std::atomic<uint64_t> job_{0};
  alignas(64) std::atomic<uint32_t> generation_{0};  // the job's generation, for futex waits
  alignas(64) std::atomic<uint32_t> done_{0};        // tasks of this job finished; the caller's futex
  alignas(64) std::atomic<int> sleepers_{0};         // workers parked in futex wait
  std::atomic<bool> caller_sleeping_{false};         // the caller parked on done_
  std::atomic<bool> stop_{false};
  std::atomic<bool> busy_{false};                    // a job is in flight (nested calls run serially)
  std::atomic<Hook> test_hook_{nullptr};
};

}  // namespace fathom::cpu
